"""Ingest throughput and latency: error envelopes against the daemon and a bare twisted.web floor.

    python bench/ingest.py [--preload 100000] [--events 1200] [--rounds 5] [--concurrency 8] [--json]

Starts the daemon (``twistd -n sentryfake``) and, as the baseline measured in the same run, the floor
(``bench/floor.py``: a bare ``twisted.web`` ``Site`` whose resource only reads the body and answers
``{"id": …}``), both as subprocesses on loopback. The load comes from this process: ``--concurrency``
keep-alive connections over raw sockets and one selector, each sending the next request as soon as
its previous answer is complete, so the servers (one core each at most) are kept busy while the
client stays cheap. Every request is a Python-SDK-shaped error envelope (``X-Sentry-Auth``, item
``length``, a distinct ``event_id`` and exception value), built and compressed (gzip level 9, brotli
quality 4, as sentry-sdk does) before any clock starts. Real grouping puts a run's events into
``ISSUES_PER_RUN`` issues (exception type x innermost function), so most events join an issue and
some open one.

Before anything is timed, ``--preload`` events (default 100,000, in 10,000 issues) are sent to the
daemon through the same ingest endpoint: the figures are those of a daemon that already holds them.

For each body encoding (plain, gzip, br) and each round, the same requests go to the floor and to
the daemon, in alternating order; events/s is the median over rounds, p50/p99 are over all of a
cell's requests, and the ratio is daemon/floor. Target: plain ≥ 0.6 of the floor, no errors.

Read-your-write: every ``--check-every``-th envelope goes to a fresh project id (lenient ingest
creates it); the moment its ``200`` arrives, a separate connection sends ``GET
/__parlel/events?project=<id>`` and the event must be there (the floor gets the same GETs, so both
servers handle the same request mix). Each daemon ``200`` must also carry the envelope's
``{"id": "<event_id>"}``.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import random
import selectors
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
import uuid
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import brotli

TWISTD = str(Path(sys.executable).parent / "twistd")
FLOOR = str(Path(__file__).resolve().parent / "floor.py")
ENCODINGS = ("plain", "gzip", "br")
TARGET_RATIO = 0.6
CHECK_PROJECT_BASE = 100_000
CLK_TCK = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100

# --- servers ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, name: str, argv: list[str], port: int, log_path: str | None = None) -> None:
        self.name = name
        self.port = port
        self._log = open(log_path, "ab") if log_path else subprocess.DEVNULL
        self.proc = subprocess.Popen(argv, stdout=self._log, stderr=self._log)

    def wait_ready(self, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/health", timeout=1) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise SystemExit(f"{self.name} exited with {self.proc.returncode} before answering /health")
            time.sleep(0.02)
        raise SystemExit(f"{self.name}: no /health answer within {timeout:.0f} s")

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process so far (Linux ``/proc``), or None."""
        try:
            fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def rss_mib(self) -> float | None:
        try:
            for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def stop(self) -> int | None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self._log is not subprocess.DEVNULL:
            self._log.close()
        return self.proc.returncode


def start_daemon(log_path: str | None, profile_path: str | None) -> Server:
    port = free_port()
    argv = [TWISTD, "--nodaemon", "--pidfile=", f"--logfile={log_path or '/dev/null'}"]
    if profile_path:
        argv += [f"--profile={profile_path}", "--profiler=cprofile", "--savestats"]
    argv += ["sentryfake", "--port", f"tcp:{port}:interface=127.0.0.1"]
    return Server("daemon", argv, port)


def start_floor() -> Server:
    port = free_port()
    return Server("floor", [sys.executable, FLOOR, "--port", str(port)], port)


# --- requests --------------------------------------------------------------------------------

MODULES = {
    name: version
    for name, version in [
        ("sentry-sdk", "2.75.0"), ("urllib3", "2.8.0"), ("certifi", "2026.1.4"), ("brotli", "1.2.1"),
        ("requests", "2.33.0"), ("idna", "3.10"), ("charset-normalizer", "3.4.2"), ("pip", "25.1"),
        ("setuptools", "80.9.0"), ("flask", "3.1.1"), ("werkzeug", "3.1.3"), ("jinja2", "3.1.6"),
        ("markupsafe", "3.0.2"), ("itsdangerous", "2.2.0"), ("click", "8.2.1"), ("blinker", "1.9.0"),
        ("sqlalchemy", "2.0.41"), ("greenlet", "3.2.3"), ("typing-extensions", "4.14.0"),
        ("attrs", "25.3.0"), ("packaging", "25.0"), ("python-dateutil", "2.9.0"), ("six", "1.17.0"),
    ]
}
EXCEPTION_TYPES = ("KeyError", "ValueError", "RuntimeError", "LookupError", "TypeError")
ISSUES_PER_RUN = 100  # distinct issues among one run's events (the rest join them)
PRELOAD_ISSUES = 10_000
PRELOAD_CHUNK = 5_000


@dataclass
class Job:
    raw: bytes  # the whole HTTP request
    event_id: str
    check_project: int | None  # a fresh project id whose events are read back right after the 200


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _frame(function: str, module: str, lineno: int, rng: random.Random) -> dict[str, Any]:
    return {
        "filename": f"{module.replace('.', '/')}.py",
        "abs_path": f"/srv/app/{module.replace('.', '/')}.py",
        "function": function,
        "module": module,
        "lineno": lineno,
        "pre_context": ["", f"def {function}(request, key):", "    data = load(request)"],
        "context_line": "    return data[key]",
        "post_context": ["", ""],
        "vars": {"request": "<Request 'GET /orders'>", "key": repr(f"k{rng.randrange(10**6)}"),
                 "data": "{'a': 1, 'b': 2}"},
        "in_app": True,
    }


def error_event(tag: str, n: int, rng: random.Random, issues: int = ISSUES_PER_RUN) -> dict[str, Any]:
    """One Python-SDK-shaped exception event. Its value is unique (``tag`` + ``n``), which real
    grouping ignores (the stack contributes): its issue is its exception type and the name of its
    innermost function, one of ``issues`` per ``tag``."""
    now = time.time()
    exc_type = EXCEPTION_TYPES[n % len(EXCEPTION_TYPES)]
    culprit = f"lookup_{tag.replace('-', '_')}_{(n // len(EXCEPTION_TYPES)) % max(1, issues // len(EXCEPTION_TYPES))}"
    return {
        "level": "error",
        "exception": {"values": [{
            "mechanism": {"type": "generic", "handled": True},
            "module": None,
            "type": exc_type,
            "value": f"'missing-key-{tag}-{n}'",
            "stacktrace": {"frames": [
                _frame("main", "app.main", 12 + n % 7, rng),
                _frame("handle", "app.views", 40 + n % 11, rng),
                _frame(culprit, "app.store", 88 + n % 13, rng),
            ]},
        }]},
        "event_id": uuid.uuid4().hex,
        "timestamp": _iso(now),
        "contexts": {
            "trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16], "parent_span_id": None},
            "runtime": {"name": "CPython", "version": "3.11.7", "build": "3.11.7 (main) [GCC 12.2.0]"},
        },
        "user": {"id": str(n % 97), "email": f"user{n % 97}@example.com"},
        "transaction_info": {},
        "tags": {"region": ("eu", "us", "ap")[n % 3], "bench": "ingest"},
        "breadcrumbs": {"values": [
            {"type": "default", "category": "auth", "message": f"user {n % 97} logged in", "level": "info",
             "timestamp": _iso(now - 2)},
            {"type": "http", "category": "httplib", "data": {"method": "GET", "url": "http://db/orders",
             "status_code": 200}, "level": "info", "timestamp": _iso(now - 1)},
        ]},
        "extra": {"sys.argv": ["app.py", "--serve"]},
        "modules": MODULES,
        "release": "myapp@1.0.0",
        "environment": "bench",
        "server_name": "bench-host",
        "sdk": {"name": "sentry.python", "version": "2.75.0",
                "packages": [{"name": "pypi:sentry-sdk", "version": "2.75.0"}],
                "integrations": ["argv", "atexit", "dedupe", "excepthook", "logging", "modules", "stdlib",
                                 "threading"]},
        "platform": "python",
    }


def envelope_body(event: dict[str, Any]) -> bytes:
    """Framed as sentry-sdk frames it: header, item header with ``length``, payload, trailing newline."""
    dumps = lambda o: json.dumps(o, separators=(",", ":")).encode()  # noqa: E731
    payload = dumps(event)
    header = {
        "event_id": event["event_id"],
        "sent_at": event["timestamp"],
        "trace": {"trace_id": event["contexts"]["trace"]["trace_id"], "environment": "bench",
                  "release": "myapp@1.0.0", "public_key": "parlel"},
    }
    item = {"type": "event", "content_type": "application/json", "length": len(payload)}
    return dumps(header) + b"\n" + dumps(item) + b"\n" + payload + b"\n"


def http_request(project: int, body: bytes, encoding: str) -> bytes:
    """The request sentry-sdk's urllib3 transport sends (CLIENTS.md §2.1). ``Host`` has no port, so
    the very same bytes go to both servers."""
    headers = [
        f"POST /api/{project}/envelope/ HTTP/1.1",
        "Host: 127.0.0.1",
        "Accept-Encoding: identity",
        f"Content-Length: {len(body)}",
        "Content-Type: application/x-sentry-envelope",
    ]
    if encoding != "plain":
        headers.append(f"Content-Encoding: {encoding}")
    headers += [
        "User-Agent: sentry.python/2.75.0",
        "X-Sentry-Auth: Sentry sentry_key=parlel, sentry_version=7, sentry_client=sentry.python/2.75.0",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


class JobFactory:
    def __init__(self, check_every: int, seed: int = 1) -> None:
        self.check_every = check_every
        self.rng = random.Random(seed)
        self.next_check_project = CHECK_PROJECT_BASE
        self.plain_bytes = 0
        self.count = {e: 0 for e in ENCODINGS}
        self.encoded_bytes = {e: 0 for e in ENCODINGS}

    def jobs(self, tag: str, count: int, encoding: str, issues: int = ISSUES_PER_RUN, start: int = 0) -> list[Job]:
        out = []
        for n in range(start, start + count):
            event = error_event(tag, n, self.rng, issues)
            body = envelope_body(event)
            self.plain_bytes += len(body)
            if encoding == "gzip":
                body = gzip.compress(body, compresslevel=9)
            elif encoding == "br":
                body = brotli.compress(body, quality=4)
            self.encoded_bytes[encoding] += len(body)
            self.count[encoding] += 1
            check = None
            if self.check_every and n % self.check_every == self.check_every - 1:
                self.next_check_project += 1
                check = self.next_check_project
            out.append(Job(http_request(check or 1, body, encoding), event["event_id"], check))
        return out


# --- the load generator ----------------------------------------------------------------------


def parse_response(buf: bytearray) -> tuple[int, bytes, int, bool] | None:
    """``(status, body, bytes consumed, connection: close)`` of the first complete response, or None."""
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, chunked, close = 0, False, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value)
        elif name == "transfer-encoding":
            chunked = "chunked" in value.lower()
        elif name == "connection":
            close = value.strip().lower() == "close"
    pos = end + 4
    if not chunked:
        if len(buf) < pos + length:
            return None
        return status, bytes(buf[pos:pos + length]), pos + length, close
    body = bytearray()
    while True:
        nl = buf.find(b"\r\n", pos)
        if nl < 0:
            return None
        size = int(bytes(buf[pos:nl]).split(b";")[0], 16)
        pos = nl + 2
        if size == 0:
            while True:  # trailers, then the empty line
                nl = buf.find(b"\r\n", pos)
                if nl < 0:
                    return None
                if nl == pos:
                    return status, bytes(body), nl + 2, close
                pos = nl + 2
        if len(buf) < pos + size + 2:
            return None
        body += buf[pos:pos + size]
        pos += size + 2


class Conn:
    def __init__(self, port: int, sel: selectors.BaseSelector, is_check: bool = False) -> None:
        self.port = port
        self.sel = sel
        self.is_check = is_check
        self.buf = bytearray()
        self.job: Any = None
        self.t0 = 0.0
        self.sock: socket.socket | None = None
        self.connect()

    def connect(self) -> None:
        self.close()
        sock = socket.create_connection(("127.0.0.1", self.port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buf = bytearray()
        self.sel.register(sock, selectors.EVENT_READ, self)

    def close(self) -> None:
        if self.sock is not None:
            self.sel.unregister(self.sock)
            self.sock.close()
            self.sock = None

    def send(self, raw: bytes, job: Any) -> None:
        self.job = job
        self.t0 = time.perf_counter()
        self.sock.sendall(raw)


@dataclass
class RunResult:
    server: str
    encoding: str
    requests: int
    elapsed: float
    latencies: list[float]
    errors: list[str] = field(default_factory=list)
    checks: int = 0
    check_failures: list[str] = field(default_factory=list)
    server_cpu: float | None = None
    client_cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0


def run_load(server: Server, jobs: list[Job], encoding: str, concurrency: int, verify: bool,
             stall_timeout: float = 30.0) -> RunResult:
    """Send every job over ``concurrency`` keep-alive connections; time until the last answer."""
    sel = selectors.DefaultSelector()
    conns = [Conn(server.port, sel) for _ in range(min(concurrency, len(jobs)))]
    checker = Conn(server.port, sel, is_check=True)
    pending_checks: deque[Job] = deque()
    latencies: list[float] = []
    errors: list[str] = []
    check_failures: list[str] = []
    checks = 0
    next_job = 0
    done = 0
    total = len(jobs)

    def issue(conn: Conn) -> None:
        nonlocal next_job, done
        while next_job < total:
            job = jobs[next_job]
            next_job += 1
            try:
                conn.send(job.raw, job)
                return
            except OSError as exc:
                errors.append(f"send: {exc!r}")
                done += 1
                conn.connect()

    def check(job: Job) -> None:
        raw = (f"GET /__parlel/events?project={job.check_project} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
               "Accept: application/json\r\n\r\n").encode()
        try:
            checker.send(raw, job)
        except OSError as exc:
            check_failures.append(f"{job.event_id}: send: {exc!r}")
            checker.job = None
            checker.connect()

    gc.collect()
    gc.disable()
    cpu0, client0 = server.cpu_seconds(), time.process_time()
    start = last = time.perf_counter()
    try:
        for conn in conns:
            issue(conn)
        while done < total or checker.job is not None or pending_checks:
            ready = sel.select(timeout=stall_timeout)
            if not ready:
                errors.append(f"stalled: no answer for {stall_timeout:.0f} s ({done}/{total} done)")
                break
            for key, _ in ready:
                conn: Conn = key.data
                try:
                    data = conn.sock.recv(262144)
                except OSError as exc:
                    data, failure = b"", repr(exc)
                else:
                    failure = "connection closed by the server"
                if not data:
                    if conn.job is not None:
                        if conn.is_check:
                            check_failures.append(f"{conn.job.event_id}: {failure}")
                        else:
                            errors.append(f"{failure} (request for {conn.job.event_id})")
                            done += 1
                        conn.job = None
                    conn.connect()
                    if not conn.is_check:
                        issue(conn)
                    continue
                conn.buf += data
                while conn.job is not None:
                    parsed = parse_response(conn.buf)
                    if parsed is None:
                        break
                    now = time.perf_counter()
                    status, body, consumed, close = parsed
                    del conn.buf[:consumed]
                    job, conn.job = conn.job, None
                    if conn.is_check:
                        checks += 1
                        _verify_check(job, status, body, verify, check_failures)
                    else:
                        latencies.append(now - conn.t0)
                        last = now
                        done += 1
                        ok = _verify_answer(job, status, body, verify, errors)
                        if ok and job.check_project is not None:
                            pending_checks.append(job)
                    if close:
                        conn.connect()
                    if not conn.is_check:
                        issue(conn)
                if checker.job is None and pending_checks:
                    check(pending_checks.popleft())
    finally:
        cpu1, client1 = server.cpu_seconds(), time.process_time()
        gc.enable()
        for conn in conns + [checker]:
            conn.close()
        sel.close()
    return RunResult(
        server=server.name, encoding=encoding, requests=len(latencies), elapsed=last - start,
        latencies=latencies, errors=errors, checks=checks, check_failures=check_failures,
        server_cpu=(cpu1 - cpu0) if cpu0 is not None and cpu1 is not None else None,
        client_cpu=client1 - client0,
    )


def _verify_answer(job: Job, status: int, body: bytes, verify: bool, errors: list[str]) -> bool:
    if status != 200:
        errors.append(f"HTTP {status} for {job.event_id}: {body[:200]!r}")
        return False
    try:
        answer = json.loads(body)
    except ValueError:
        errors.append(f"non-JSON 200 for {job.event_id}: {body[:200]!r}")
        return False
    if verify and answer != {"id": job.event_id}:
        errors.append(f"200 for {job.event_id} answered {body[:200]!r}")
        return False
    return True


def _verify_check(job: Job, status: int, body: bytes, verify: bool, failures: list[str]) -> None:
    if status != 200:
        failures.append(f"{job.event_id}: GET /__parlel/events answered {status}: {body[:200]!r}")
        return
    if not verify:
        return
    try:
        events = json.loads(body)["events"]
    except (ValueError, KeyError, TypeError):
        failures.append(f"{job.event_id}: unexpected /__parlel/events body {body[:200]!r}")
        return
    if not any(e.get("event_id") == job.event_id for e in events):
        failures.append(f"{job.event_id}: not in /__parlel/events?project={job.check_project} right after its 200 "
                        f"({len(events)} event(s) there)")


# --- the benchmark ---------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))]


def summarize(runs: list[RunResult]) -> dict[str, Any]:
    lat = sorted(x for r in runs for x in r.latencies)
    cpu = [r.server_cpu / r.elapsed for r in runs if r.server_cpu is not None and r.elapsed]
    return {
        "events_per_s": round(statistics.median(r.rate for r in runs), 1),
        "events_per_s_rounds": [round(r.rate, 1) for r in runs],
        "p50_ms": round(percentile(lat, 0.50) * 1000, 3),
        "p99_ms": round(percentile(lat, 0.99) * 1000, 3),
        "requests": sum(r.requests for r in runs),
        "server_cpu": round(statistics.median(cpu), 2) if cpu else None,
        "server_cpu_us_per_event": round(statistics.median(
            r.server_cpu / r.requests * 1e6 for r in runs if r.server_cpu is not None and r.requests), 1)
        if any(r.server_cpu is not None for r in runs) else None,
        "client_cpu": round(statistics.median(r.client_cpu / r.elapsed for r in runs if r.elapsed), 2),
    }


def preload(daemon: Server, args: argparse.Namespace) -> None:
    """Store ``--preload`` events in ``PRELOAD_ISSUES`` issues through the ingest endpoint (not timed,
    not read back, not counted in the figures)."""
    factory = JobFactory(check_every=0, seed=2)
    sent = 0
    while sent < args.preload:
        count = min(PRELOAD_CHUNK, args.preload - sent)
        jobs = factory.jobs("preload", count, "plain", issues=PRELOAD_ISSUES, start=sent)
        result = run_load(daemon, jobs, "plain", args.concurrency, verify=False)
        if result.errors:
            raise SystemExit(f"preload: {result.errors[0]}")
        sent += count


def measure(args: argparse.Namespace) -> dict[str, Any]:
    factory = JobFactory(args.check_every)
    started = time.perf_counter()
    floor = start_floor()
    daemon = start_daemon(args.daemon_log, args.profile)
    servers = {"floor": floor, "daemon": daemon}
    results: dict[str, dict[str, list[RunResult]]] = {e: {"floor": [], "daemon": []} for e in ENCODINGS}
    daemon_exit = None
    warmup_errors: list[str] = []
    try:
        floor.wait_ready()
        daemon.wait_ready()
        preload(daemon, args)
        # warm up both (imports on first use, allocator, caches); not counted
        for encoding in ENCODINGS:
            warm = factory.jobs(f"warm-{encoding}", max(1, args.warmup // len(ENCODINGS)), encoding)
            for name in ("floor", "daemon"):
                warm_result = run_load(servers[name], warm, encoding, args.concurrency, verify=False)
                warmup_errors += [f"{name} {encoding} warm-up: {e}" for e in warm_result.errors]
        for rnd in range(args.rounds):
            for e_index, encoding in enumerate(ENCODINGS):
                jobs = factory.jobs(f"r{rnd}-{encoding}", args.events, encoding)
                order = ("floor", "daemon") if (rnd + e_index) % 2 == 0 else ("daemon", "floor")
                for name in order:
                    result = run_load(servers[name], jobs, encoding, args.concurrency, verify=name == "daemon")
                    results[encoding][name].append(result)
                    if not args.json and args.verbose:
                        print(f"  round {rnd + 1} {encoding:5} {name:6} {result.rate:8.1f} ev/s "
                              f"errors {len(result.errors)} server cpu "
                              f"{(result.server_cpu or 0) / max(result.elapsed, 1e-9):.0%} "
                              f"client cpu {result.client_cpu / max(result.elapsed, 1e-9):.0%}", file=sys.stderr)
                    if daemon.proc.poll() is not None:
                        raise SystemExit(f"the daemon exited with {daemon.proc.returncode} during the run")
        daemon_rss = daemon.rss_mib()
    finally:
        floor.stop()
        daemon_exit = daemon.stop()
    wall = time.perf_counter() - started

    cells: dict[str, Any] = {}
    errors: list[str] = list(warmup_errors)
    check_failures: list[str] = []
    checks = 0
    for encoding in ENCODINGS:
        f = summarize(results[encoding]["floor"])
        d = summarize(results[encoding]["daemon"])
        # Each round runs floor and daemon back to back on the same jobs; the ratio is the median of
        # those paired ratios, which cancels most of a shared machine's drift between rounds.
        pairs = [dr.rate / fr.rate for fr, dr in zip(results[encoding]["floor"], results[encoding]["daemon"])
                 if fr.rate]
        cells[encoding] = {
            "floor": f, "daemon": d,
            "ratio": round(statistics.median(pairs), 3) if pairs else None,
            "ratio_rounds": [round(x, 3) for x in pairs],
            "cpu_ratio": round(f["server_cpu_us_per_event"] / d["server_cpu_us_per_event"], 3)
            if f.get("server_cpu_us_per_event") and d.get("server_cpu_us_per_event") else None,
        }
        for name in ("floor", "daemon"):
            for r in results[encoding][name]:
                errors += [f"{name} {encoding}: {e}" for e in r.errors]
                if name == "daemon":
                    checks += r.checks
                    check_failures += r.check_failures
    events_sent = sum(c["daemon"]["requests"] for c in cells.values())
    target_met = (cells["plain"]["ratio"] or 0) >= TARGET_RATIO and not errors and not check_failures and checks > 0
    return {
        "preloaded_events": args.preload,
        "events_per_run": args.events,
        "rounds": args.rounds,
        "concurrency": args.concurrency,
        "envelope_bytes_mean": {
            "plain": round(factory.plain_bytes / max(1, sum(factory.count.values()))),
            **{e: round(factory.encoded_bytes[e] / max(1, factory.count[e])) for e in ("gzip", "br")},
        },
        "results": cells,
        "daemon_events_answered": events_sent,
        "errors": len(errors),
        "error_samples": errors[:10],
        "read_your_write": {"checks": checks, "failures": len(check_failures), "failure_samples": check_failures[:10]},
        "daemon_rss_mib": round(daemon_rss, 1) if daemon_rss else None,
        "daemon_exit_status": daemon_exit,
        "target_ratio": TARGET_RATIO,
        "target_met": target_met,
        "wall_s": round(wall, 1),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"ingest: {result['preloaded_events']:,} events already stored; {result['rounds']} rounds x "
          f"{result['events_per_run']} distinct error envelopes ({ISSUES_PER_RUN} issues) per server "
          f"and encoding, {result['concurrency']} keep-alive connections, loopback; mean envelope "
          f"{result['envelope_bytes_mean']['plain']} B plain, {result['envelope_bytes_mean']['gzip']} B gzip, "
          f"{result['envelope_bytes_mean']['br']} B br")
    print(f"{'body':6} {'server':7} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'srv cpu':>8} "
          f"{'cpu us/ev':>9} {'ratio':>6} {'cpu ratio':>9}   per round events/s")
    for encoding, cell in result["results"].items():
        for name in ("floor", "daemon"):
            s = cell[name]
            daemon = name == "daemon"
            ratio = f"{cell['ratio']:.2f}" if daemon and cell["ratio"] is not None else ""
            cpu_ratio = f"{cell['cpu_ratio']:.2f}" if daemon and cell["cpu_ratio"] is not None else ""
            cpu = f"{s['server_cpu']:.0%}" if s["server_cpu"] is not None else "?"
            per_event = f"{s['server_cpu_us_per_event']:.0f}" if s["server_cpu_us_per_event"] else "?"
            rounds = " ".join(f"{x:.0f}" for x in s["events_per_s_rounds"])
            print(f"{encoding:6} {name:7} {s['events_per_s']:9.1f} {s['p50_ms']:8.2f} {s['p99_ms']:8.2f} "
                  f"{cpu:>8} {per_event:>9} {ratio:>6} {cpu_ratio:>9}   {rounds}")
    print("ratio: median over rounds of daemon/floor events/s, each round run back to back; "
          "cpu ratio: floor/daemon server CPU per event")
    rw = result["read_your_write"]
    print(f"errors: {result['errors']}; read-your-write: {rw['checks']} checks, {rw['failures']} failures; "
          f"daemon answered {result['daemon_events_answered']} events (RSS {result['daemon_rss_mib']} MiB), "
          f"exit status {result['daemon_exit_status']}; wall {result['wall_s']} s")
    for line in result["error_samples"] + rw["failure_samples"]:
        print(f"  ! {line}")
    plain = result["results"]["plain"]["ratio"]
    print(f"target: plain >= {TARGET_RATIO} of the floor, no errors, read-your-write holds: "
          f"{'met' if result['target_met'] else 'NOT met'} (plain ratio {plain:.2f})")


def print_profile(path: str, limit: int = 25) -> None:
    import pstats

    try:
        stats = pstats.Stats(path)
    except (OSError, TypeError, EOFError) as exc:
        print(f"no profile in {path}: {exc!r}", file=sys.stderr)
        return
    print(f"\nprofile of the daemon ({path}), top {limit} by own time:")
    stats.sort_stats("tottime").print_stats(limit)
    print("sentry_daemon functions by cumulative time:")
    stats.sort_stats("cumulative").print_stats("sentry_daemon", limit)


def load_arguments(parser: argparse.ArgumentParser, preload: int) -> None:
    """The load's options, shared with the benchmarks built on this one (``bench/stream.py``)."""
    parser.add_argument("--events", type=int, default=1200, help="envelopes per timed run (per server, encoding, round)")
    parser.add_argument("--rounds", type=int, default=5, help="timed runs per server and encoding (median reported)")
    parser.add_argument("--concurrency", type=int, default=8, help="keep-alive connections")
    parser.add_argument("--warmup", type=int, default=300, help="untimed envelopes per server first")
    parser.add_argument("--preload", type=int, default=preload,
                        help=f"events stored in the daemon before anything is timed ({PRELOAD_ISSUES:,} issues)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--verbose", "-v", action="store_true", help="print each run as it ends (stderr)")
    parser.add_argument("--daemon-log", help="keep the daemon's twistd log in this file (default /dev/null)")
    parser.add_argument("--profile", metavar="FILE", help="run the daemon under cProfile, save stats to FILE, "
                        "print the hottest functions")


def report(args: argparse.Namespace, result: dict[str, Any], table: Any) -> None:
    """One JSON object with ``--json``, else ``table``'s figures; then the profile if one was taken."""
    if args.json:
        print(json.dumps(result))
    else:
        table(result)
    if args.profile:
        print_profile(args.profile)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_arguments(parser, preload=100_000)
    parser.add_argument("--check-every", type=int, default=50, help="read-your-write check on every Nth envelope")
    args = parser.parse_args()
    if args.check_every < 1:
        parser.error("--check-every must be at least 1")
    report(args, measure(args), print_table)


if __name__ == "__main__":
    main()
