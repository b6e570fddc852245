"""The python transform worker: the real ``sentry_sdk``, imported and initialised once, kept warm.

    python python_worker.py CPU_SECONDS MEMORY_BYTES

Run by the daemon as a child process (never imported by it). It reads one job a line on stdin,
``{"id", "event", "code"}``, and answers one line on stdout per job, in order:
``{"id", "ok": true, "event": <what the transport would have sent, or null>}`` or
``{"id", "ok": false, "kind", "message", "traceback"}``.

The SDK is initialised once, here, with ``before_send``/``before_send_transaction`` set to a
dispatcher and with a transport that keeps the serialized envelope instead of sending it. Each job
then runs in a child forked from this warm process: the child sets its own CPU-time and memory
limits, compiles the job's callback, captures the job's event through the SDK
(``sentry_sdk.capture_event``: scope, defaults, serialization, ``before_send``, envelope), and
reads the event back out of the envelope's bytes. A job never runs in this process, so nothing a
callback does (monkeypatching the SDK, setting tags, exhausting memory) outlives its job.

No integrations are enabled: the default ones instrument this process (logging, threading,
excepthook, atexit) or describe it (modules, argv) rather than the application the event came
from, and Dedupe would drop a repeated event.
"""

from __future__ import annotations

from launch import detach, die_with_parent, limit

detach()  # first, before the slow imports: a timeout may kill this process group at any time

import builtins  # noqa: E402
import gc  # noqa: E402
import json  # noqa: E402
import linecache  # noqa: E402
import os  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import sys  # noqa: E402
import traceback  # noqa: E402
from typing import Any, Callable  # noqa: E402

import sentry_sdk  # noqa: E402
from sentry_sdk.envelope import Envelope  # noqa: E402
from sentry_sdk.transport import Transport  # noqa: E402

CODE_FILE = "<beforeSend>"
DSN = "http://transform@127.0.0.1:9/0"  # never contacted: the transport below sends nothing
RETURN_TYPES = "the event (a dict) or None"


class CapturingTransport(Transport):
    """Keeps the bytes of each envelope the SDK hands over; nothing leaves the process."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[bytes] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        self.sent.append(envelope.serialize())


class Job:
    """The callback of the job being run, and what went wrong in it."""

    callback: Callable[[Any, Any], Any] | None = None
    error: BaseException | None = None
    bad_return: str | None = None


def dispatch(event: Any, hint: Any) -> Any:
    """The SDK's ``before_send``: runs the job's callback and notes a raise or a wrong return."""
    try:
        result = Job.callback(event, hint)
    except BaseException as exc:
        Job.error = exc
        raise
    if result is not None and not isinstance(result, dict):
        Job.bad_return = type(result).__name__
    return result


transport = CapturingTransport()
sentry_sdk.init(
    dsn=DSN,
    transport=transport,
    before_send=dispatch,
    before_send_transaction=dispatch,
    default_integrations=False,
    auto_enabling_integrations=False,
    enable_backpressure_handling=False,
)


def user_frames(exc: BaseException) -> Any:
    """The traceback from the callback's first frame on (the worker's and SDK's frames cut)."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename != CODE_FILE:
        tb = tb.tb_next
    return tb or exc.__traceback__


def describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure(kind: str, message: str, trace: str = "") -> dict[str, Any]:
    return {"ok": False, "kind": kind, "message": message, "traceback": trace}


def raised(exc: BaseException) -> dict[str, Any]:
    trace = "".join(traceback.format_exception(type(exc), exc, user_frames(exc)))
    return failure("Transformation error", describe(exc), trace)


def compile_callback(code: str) -> Callable[[Any, Any], Any] | dict[str, Any]:
    """A lambda expression, or statements that define ``before_send(event, hint)``."""
    linecache.cache[CODE_FILE] = (len(code), None, code.splitlines(True), CODE_FILE)
    namespace: dict[str, Any] = {"__builtins__": builtins, "__name__": "before_send_code", "re": re, "json": json}
    try:
        compiled = compile(code, CODE_FILE, "eval")
        is_expression = True
    except SyntaxError:
        try:
            compiled = compile(code, CODE_FILE, "exec")
        except SyntaxError as exc:
            trace = "".join(traceback.format_exception_only(type(exc), exc))
            return failure("Compilation failed", f"SyntaxError: {exc.msg} (line {exc.lineno})", trace)
        is_expression = False
    except (ValueError, OverflowError, RecursionError, MemoryError) as exc:  # NUL bytes, too deep
        return failure("Compilation failed", describe(exc))
    before_defined = set(namespace)
    try:
        if is_expression:
            callback = eval(compiled, namespace)
        else:
            exec(compiled, namespace)
            callback = namespace.get("before_send")
            if callback is None:
                defined = [v for k, v in namespace.items() if k not in before_defined and callable(v)
                           and not k.startswith("_")]
                callback = defined[0] if defined else None
    except BaseException as exc:
        return raised(exc)
    if not callable(callback):
        return failure("Compilation failed", "the code defines no function: give a lambda expression or "
                       "statements that define before_send(event, hint)")
    return callback


def sent_event() -> Any:
    """The event (or transaction) item of what the transport received, parsed from its bytes."""
    for raw in transport.sent:
        envelope = Envelope.deserialize(raw)
        for item in envelope.items:
            if item.headers.get("type") in ("event", "transaction"):
                return json.loads(item.payload.get_bytes())
    return None


def run_job(job: dict[str, Any]) -> dict[str, Any]:
    callback = compile_callback(job["code"])
    if isinstance(callback, dict):
        return callback
    Job.callback = callback
    sentry_sdk.get_isolation_scope().set_new_propagation_context()  # each event its own trace
    try:
        sentry_sdk.capture_event(job["event"], hint={})
    except BaseException as exc:
        if Job.error is None and Job.bad_return is None:
            return raised(exc)
    if Job.error is not None:
        return raised(Job.error)
    if Job.bad_return is not None:
        return failure("Transformation error", f"before_send must return {RETURN_TYPES}, not {Job.bad_return}")
    try:
        return {"ok": True, "event": sent_event()}
    except Exception as exc:
        return failure("Transformation error", f"the event is not JSON: {describe(exc)}")


def encode(reply: dict[str, Any]) -> bytes:
    try:
        return json.dumps(reply, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        return encode({"id": reply.get("id"), **failure("Transformation error", f"the event is not JSON: {exc}")})


def child(job: dict[str, Any], result_fd: int, cpu_seconds: int, memory: int) -> None:
    """A job's own process: it dies with this worker, limits first, no stdin, stdout to
    /dev/null, the reply on ``result_fd``."""
    die_with_parent()
    limit(cpu_seconds, memory)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    sys.stdin = open(os.devnull)
    sys.stdout = open(os.devnull, "w")
    try:
        reply = run_job(job)
    except MemoryError:
        reply = failure("Transformation error", "MemoryError: the callback ran out of memory")
    payload = encode({"id": job["id"], **reply})
    view = memoryview(payload)
    while view:
        view = view[os.write(result_fd, view):]
    os._exit(0)


def died(status: int, cpu_seconds: int) -> dict[str, Any]:
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        if number == signal.SIGXCPU:
            return failure("Timeout", f"the callback used more than {cpu_seconds} s of CPU time")
        name = signal.Signals(number).name if number in signal.Signals._value2member_map_ else str(number)
        return failure("Transformation error", f"the callback's process was killed by {name}")
    return failure("Transformation error", f"the callback's process exited with status {os.WEXITSTATUS(status)}")


def serve(cpu_seconds: int, memory: int) -> None:
    out = sys.stdout.buffer
    out.write(json.dumps({"ready": True, "sdk": "python", "version": sentry_sdk.VERSION}).encode() + b"\n")
    out.flush()
    for line in sys.stdin.buffer:
        if not line.strip():
            continue
        job = json.loads(line)
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:
            os.close(read_fd)
            try:
                child(job, write_fd, cpu_seconds, memory)
            finally:
                os._exit(70)
        os.close(write_fd)
        chunks = []
        with os.fdopen(read_fd, "rb") as result:
            while chunk := result.read(1 << 16):
                chunks.append(chunk)
        _, status = os.waitpid(pid, 0)
        payload = b"".join(chunks)
        if not payload:
            payload = encode({"id": job["id"], **died(status, cpu_seconds)})
        out.write(payload + b"\n")
        out.flush()


def warm_up() -> None:
    """One capture in this process, so the SDK's lazy imports are done before the first job."""
    Job.callback = lambda event, hint: event
    sentry_sdk.capture_event({"message": "warm-up"}, hint={})
    sent_event()
    transport.sent.clear()
    Job.callback = None


if __name__ == "__main__":
    warm_up()
    gc.freeze()  # a forked job neither scans nor copies the warm objects
    serve(int(sys.argv[1]), int(sys.argv[2]))
