"""Out of file descriptors: more connections than the daemon may open, and it keeps going.

A real twistd started with a low ``RLIMIT_NOFILE`` gets more idle connections than its limit.
It keeps answering on a connection it already has (a large body too, spooled to a temporary
file: the descriptors ``--max-connections`` keeps spare), refuses the newcomers (closes them),
stays well under a CPU core (no spinning on a listening socket it cannot accept from), and
accepts again once connections close. Without the cap (``--max-connections 0``) Twisted's own
``EMFILE`` recovery does the refusing, and the daemon neither spins nor dies either. Idle
connections are closed after ``--idle-timeout``.
"""

from __future__ import annotations

import errno
import json
import os
import resource
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from conftest import TWISTD, free_port, wait_until
from sentry_daemon.http.site import default_max_connections
from sentry_daemon.testing import start_sentry
from test_systemd_units import SERVICE_UNITS, last, load_unit

pytestmark = pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads the daemon's CPU time in /proc")

LIMIT = 64  # the daemon's RLIMIT_NOFILE in these tests
FLOOD = LIMIT + 40
CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def ask(sock: socket.socket, request: bytes) -> bytes:
    """Send one request on a keep-alive connection and read its whole answer."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed mid-answer: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lengths = [line.split(b":", 1)[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length:")]
    assert lengths, f"an answer without Content-Length: {data!r}"
    length = int(lengths[0])
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed mid-body"
        body += chunk
    return head.split(b"\r\n", 1)[0] + b"\r\n\r\n" + body


HEALTH = b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n"


def large_envelope() -> bytes:
    """An envelope of 150 KB: Twisted spools a body of 100,000 bytes or more to a temporary file."""
    attachment = os.urandom(150_000)
    return b"\n".join([
        json.dumps({"event_id": uuid.uuid4().hex}).encode(),
        json.dumps({"type": "event"}).encode(), json.dumps({"message": "under pressure"}).encode(),
        json.dumps({"type": "attachment", "filename": "blob.bin", "length": len(attachment)}).encode(), attachment,
    ]) + b"\n"


def post(path: str, body: bytes) -> bytes:
    return (b"POST %s HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-sentry-envelope\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (path.encode(), len(body), body))


def closed_by_peer(sock: socket.socket) -> bool:
    """Whether the daemon has closed (refused) this connection; it never sent anything on it."""
    timeout = sock.gettimeout()
    sock.setblocking(False)  # a socket with a timeout would wait for data first
    try:
        return sock.recv(1, socket.MSG_PEEK) == b""
    except BlockingIOError:
        return False
    except OSError as exc:
        return exc.errno in (errno.ECONNRESET, errno.EPIPE)
    finally:
        sock.settimeout(timeout)


def start_limited(tmp_path: Path, *args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()

    def low_limit() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (LIMIT, LIMIT))

    log = (tmp_path / "daemon.log").open("wb")
    proc = subprocess.Popen(
        [TWISTD, "--nodaemon", "--pidfile=", "--logfile=-", "sentryfake", "--port", f"tcp:{port}:interface=127.0.0.1",
         "--idle-timeout", "60", *args],
        cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT, preexec_fn=low_limit,
    )
    log.close()
    return proc, port


def connect(port: int) -> socket.socket | None:
    try:
        return socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return None


@pytest.mark.parametrize("cap", [None, "0"], ids=["default-cap", "no-cap"])
def test_more_connections_than_descriptors(tmp_path: Path, cap: str | None) -> None:
    proc, port = start_limited(tmp_path, *(["--max-connections", cap] if cap else []))
    flood: list[socket.socket] = []
    existing: socket.socket | None = None
    try:
        def first_connection() -> socket.socket | None:
            assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
            return connect(port)

        existing = wait_until(first_connection, timeout=30)
        assert ask(existing, HEALTH).startswith(b"HTTP/1.1 200")

        for _ in range(FLOOD):
            sock = connect(port)
            if sock is not None:
                flood.append(sock)
        # at most LIMIT descriptors: at least this many are refused, each closed once accepted;
        # with the cap, exactly those beyond it (the existing connection is one of them)
        refused = len(flood) - (LIMIT if cap else default_max_connections(LIMIT) - 1)
        wait_until(lambda: sum(map(closed_by_peer, flood)) >= refused, timeout=15)

        before = cpu_seconds(proc.pid)
        start = time.monotonic()
        time.sleep(1.5)  # a measuring window, not a wait for state
        used = (cpu_seconds(proc.pid) - before) / (time.monotonic() - start)
        assert used < 0.3, f"the daemon used {used:.0%} of a core while out of descriptors"

        assert proc.poll() is None, (tmp_path / "daemon.log").read_text()
        assert ask(existing, HEALTH).startswith(b"HTTP/1.1 200")
        if cap is None:
            expected = default_max_connections(LIMIT)
            assert len(flood) - sum(map(closed_by_peer, flood)) + 1 == expected == LIMIT - 32
            # the spare descriptors at work: a body spooled to a temporary file is still served
            answer = ask(existing, post("/api/1/envelope/", large_envelope()))
            assert answer.startswith(b"HTTP/1.1 200"), answer[:300]
            metrics = ask(existing, b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n\r\n").decode()
            assert f"sentryfake_connections_max {float(expected)}" in metrics
            assert "sentryfake_connections_refused_total 0.0" not in metrics

        for sock in flood:
            sock.close()
        flood.clear()

        def answered_again() -> bool:
            sock = connect(port)
            if sock is None:
                return False
            with sock:
                try:
                    return ask(sock, HEALTH).startswith(b"HTTP/1.1 200")
                except (AssertionError, OSError):
                    return False

        wait_until(answered_again, timeout=15)
        existing.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
    finally:
        for sock in flood:
            sock.close()
        if existing is not None:
            existing.close()
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (tmp_path / "daemon.log").read_text()
    assert "Traceback" not in log, log
    if cap is None:  # one line when the cap is reached, not one per refusal
        assert log.count("refusing new ones until some close") == 1, log


@pytest_twisted.ensureDeferred
async def test_an_idle_connection_is_closed_after_the_idle_timeout() -> None:
    sentry = await start_sentry(idle_timeout=0.3)
    try:
        def idle_then_keep_alive() -> tuple[bytes, bytes]:
            with socket.create_connection(("127.0.0.1", sentry.port), timeout=10) as silent:
                assert silent.recv(1) == b""  # closed by the daemon: nothing was ever sent
            with socket.create_connection(("127.0.0.1", sentry.port), timeout=10) as kept:
                answer = ask(kept, HEALTH)
                return answer, kept.recv(1)  # after one answer, idle again: closed

        answer, after = await deferToThread(idle_then_keep_alive)
        assert answer.startswith(b"HTTP/1.1 200") and after == b""
        assert sentry.service.site.idle_closed == 2
    finally:
        await sentry.stop()


def test_the_cap_leaves_spare_descriptors() -> None:
    assert default_max_connections(64) == 32
    assert default_max_connections(1024) == 896
    assert default_max_connections(16384) == 14336
    assert default_max_connections(resource.RLIM_INFINITY) is None
    assert default_max_connections(10) == 1


@pytest.mark.parametrize("name", SERVICE_UNITS)
def test_units_raise_the_descriptor_limit(name: str) -> None:
    """systemd's default soft limit (1024) would hold the daemon to 896 connections."""
    limit = last(load_unit(name), "Service", "LimitNOFILE")
    assert limit is not None and limit.isdigit(), f"{name}: LimitNOFILE= must be a number"
    assert default_max_connections(int(limit)) >= 10_000


def test_running_out_of_descriptors_is_documented() -> None:
    """The unit's comment names the connections its limit serves."""
    for name in SERVICE_UNITS:
        text = (Path(__file__).resolve().parent.parent / "systemd" / name).read_text()
        limit = int(last(load_unit(name), "Service", "LimitNOFILE") or 0)
        assert f"--max-connections; {default_max_connections(limit)} here" in text, name
