"""Warm worker processes for one SDK, fed one job at a time over stdin/stdout as JSON lines.

A worker is a child process (``reactor.spawnProcess``; the reactor only ever reads and writes its
pipes) that has already imported and initialised its SDK. It answers each job line with one reply
line, in order. The pool keeps ``size`` of them alive, queues jobs while all are busy, and starts
each job's timeout when the job is handed to a worker. A job over its timeout has its worker's
whole process group killed (the worker and anything the callback started) and the worker
replaced; so is a worker that died, or that asked to be retired after its reply.
"""

from __future__ import annotations

import json
import os
import signal
from collections import deque
from itertools import count
from typing import Any

from twisted.internet import error as twisted_errors
from twisted.internet.defer import Deferred, DeferredList, succeed
from twisted.internet.protocol import ProcessProtocol
from twisted.logger import Logger
from twisted.python.failure import Failure

from sentry_daemon.transform.sdks import Runtime

log = Logger()

MAX_REPLY = 64 * 1024 * 1024  # one reply line: the transformed event
STDERR_TAIL = 8 * 1024  # what a worker logged (stderr, and stdout when replies use another fd)


class TransformTimeout(Exception):
    """The callback ran past the timeout; its process was killed."""


class CallbackCrashed(Exception):
    """The worker died while running a callback (it exited, or was killed by a limit)."""

    def __init__(self, message: str, stderr: str) -> None:
        super().__init__(message)
        self.stderr = stderr


class WorkerFault(Exception):
    """The daemon's fault, not the callback's: a worker that would not start or broke protocol."""

    def __init__(self, message: str, stderr: str = "") -> None:
        super().__init__(message)
        self.stderr = stderr


class _Job:
    __slots__ = ("id", "line", "deferred", "timer")

    def __init__(self, job_id: int, line: bytes, deferred: Deferred) -> None:
        self.id = job_id
        self.line = line
        self.deferred = deferred
        self.timer: Any = None


class Worker(ProcessProtocol):
    """One child process: ``starting`` until its ready line, then ``idle``/``busy``; ``retiring``
    once it asked to go; ``dead`` after ``processEnded``."""

    def __init__(self, pool: "WorkerPool") -> None:
        self.pool = pool
        self.state = "starting"
        self.job: _Job | None = None
        self.jobs_done = 0
        self._buffer = bytearray()
        self._stderr = bytearray()
        self.ended: Deferred = Deferred()

    @property
    def stderr(self) -> str:
        return self._stderr.decode("utf-8", "replace")

    def childDataReceived(self, fd: int, data: bytes) -> None:
        if fd != self.pool.runtime.reply_fd:
            self._stderr += data
            del self._stderr[:-STDERR_TAIL]
            return
        self._buffer += data
        while True:
            end = self._buffer.find(b"\n")
            if end < 0:
                break
            line = bytes(self._buffer[:end])
            del self._buffer[:end + 1]
            if line.strip():
                self.pool.line_received(self, line)
        if len(self._buffer) > MAX_REPLY:
            self._buffer.clear()
            self.pool.reply_too_large(self)

    def send(self, job: _Job) -> None:
        self.state = "busy"
        self.job = job
        self.transport.write(job.line)

    def kill(self) -> None:
        """SIGKILL the worker's process group (it made itself leader), or the worker itself."""
        pid = getattr(self.transport, "pid", None)
        if pid is None:
            return
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            try:
                self.transport.signalProcess("KILL")
            except (OSError, twisted_errors.ProcessExitedAlready):
                pass

    def processEnded(self, reason: Failure) -> None:
        previous, self.state = self.state, "dead"
        self.pool.worker_ended(self, previous, reason.value)
        self.ended.callback(None)


def _exit_description(value: Any) -> str:
    if getattr(value, "signal", None):
        number = value.signal
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        return f"killed by {name}"
    return f"exit code {getattr(value, 'exitCode', None)}"


class WorkerPool:
    def __init__(self, reactor: Any, runtime: Runtime, size: int, timeout: float, cwd: str,
                 env: dict[str, str]) -> None:
        self.reactor = reactor
        self.runtime = runtime
        self.size = size
        self.timeout = timeout
        self.cwd = cwd
        self.env = env
        self.workers: list[Worker] = []
        self._queue: deque[_Job] = deque()
        self._ids = count(1)
        self._stopping = False
        self._start_failures = 0

    # --- the pool's size -------------------------------------------------------------------

    def start(self) -> None:
        self._fill()

    def _fill(self) -> None:
        while not self._stopping and sum(w.state != "retiring" for w in self.workers) < self.size:
            if not self._spawn():
                return

    def _spawn(self) -> bool:
        worker = Worker(self)
        self.workers.append(worker)
        try:
            self.reactor.spawnProcess(worker, self.runtime.argv[0], list(self.runtime.argv), env=self.env,
                                      path=self.cwd, childFDs={0: "w", 1: "r", 2: "r", self.runtime.reply_fd: "r"})
        except OSError as exc:
            self.workers.remove(worker)
            self._fail_queue(WorkerFault(f"the {self.runtime.sdk} worker could not be started: {exc}"))
            return False
        return True

    def stop(self) -> Deferred:
        """Kill every worker; fires once all have ended. Jobs still queued fail."""
        self._stopping = True
        self._fail_queue(WorkerFault("the daemon is stopping"))
        ended = [w.ended for w in self.workers]
        for worker in list(self.workers):
            worker.kill()
        return DeferredList(ended) if ended else succeed(None)

    # --- jobs ------------------------------------------------------------------------------

    def submit(self, event: Any, code: str) -> Deferred:
        """Fires with the worker's reply (``{"ok": ...}``) or fails with ``TransformTimeout``,
        ``CallbackCrashed`` or ``WorkerFault``. Cancelling it drops a job not yet started."""
        job_id = next(self._ids)
        line = json.dumps({"id": job_id, "event": event, "code": code}, separators=(",", ":")).encode() + b"\n"

        def cancel(_: Deferred) -> None:
            if job in self._queue:
                self._queue.remove(job)

        job = _Job(job_id, line, Deferred(cancel))
        if self._stopping:
            job.deferred.errback(WorkerFault("the daemon is stopping"))
            return job.deferred
        self._queue.append(job)
        self._fill()
        self._dispatch()
        return job.deferred

    def _dispatch(self) -> None:
        for worker in self.workers:
            if not self._queue:
                return
            if worker.state == "idle":
                job = self._queue.popleft()
                job.timer = self.reactor.callLater(self.timeout, self._timed_out, worker, job)
                worker.send(job)

    def _finish(self, worker: Worker, outcome: Any) -> None:
        """End the worker's job with ``outcome`` (a reply, or an exception to fail with)."""
        job, worker.job = worker.job, None
        if job is None:
            return
        if job.timer is not None and job.timer.active():
            job.timer.cancel()
        if job.deferred.called:  # cancelled: the client went away
            return
        if isinstance(outcome, Exception):
            job.deferred.errback(outcome)
        else:
            job.deferred.callback(outcome)

    def _timed_out(self, worker: Worker, job: _Job) -> None:
        if worker.job is not job:
            return
        self._finish(worker, TransformTimeout())
        worker.state = "retiring"
        worker.kill()

    def _fail_queue(self, exc: Exception) -> None:
        queued, self._queue = self._queue, deque()
        for job in queued:
            if not job.deferred.called:
                job.deferred.errback(exc)

    # --- what workers say ------------------------------------------------------------------

    def line_received(self, worker: Worker, line: bytes) -> None:
        try:
            reply = json.loads(line)
        except ValueError:
            reply = None
        if not isinstance(reply, dict):
            self._protocol_error(worker, f"the {self.runtime.sdk} worker wrote a line that is not a JSON object")
            return
        if worker.state == "starting":
            if reply.get("ready") is True:
                worker.state = "idle"
                self._start_failures = 0
                self._dispatch()
            else:
                self._protocol_error(worker, f"the {self.runtime.sdk} worker did not say it was ready")
            return
        job = worker.job
        if job is None or reply.get("id") != job.id:
            self._protocol_error(worker, f"the {self.runtime.sdk} worker answered a job it was not given")
            return
        worker.jobs_done += 1
        self._finish(worker, reply)
        if reply.get("retire"):
            worker.state = "retiring"
            worker.transport.closeStdin()  # it exits once it reads the end of its input
        else:
            worker.state = "idle"
        self._dispatch()

    def reply_too_large(self, worker: Worker) -> None:
        self._finish(worker, {"ok": False, "kind": "Transformation error",
                              "message": f"the transformed event is larger than {MAX_REPLY // (1024 * 1024)} MiB",
                              "traceback": ""})
        worker.state = "retiring"
        worker.kill()

    def _protocol_error(self, worker: Worker, message: str) -> None:
        log.error("transform: {message}; stderr: {stderr}", message=message, stderr=worker.stderr)
        self._finish(worker, WorkerFault(message, worker.stderr))
        worker.state = "retiring"
        worker.kill()

    def worker_ended(self, worker: Worker, previous: str, reason: Any) -> None:
        if worker in self.workers:
            self.workers.remove(worker)
        how = _exit_description(reason)
        if worker.job is not None:
            self._finish(worker, CallbackCrashed(
                f"the {self.runtime.sdk} worker died while running the callback ({how})", worker.stderr))
        if self._stopping:
            return
        if previous == "starting":
            self._start_failures += 1
            log.error("transform: the {sdk} worker did not start ({how}): {stderr}",
                      sdk=self.runtime.sdk, how=how, stderr=worker.stderr)
            if not any(w.state != "starting" for w in self.workers) and self._start_failures >= self.size:
                # Every start failed: answer what is queued instead of retrying in a loop; the next
                # job tries again.
                self._fail_queue(WorkerFault(f"the {self.runtime.sdk} worker did not start ({how})",
                                             worker.stderr))
                return
        self._fill()
        self._dispatch()
