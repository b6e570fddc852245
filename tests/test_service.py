"""Graceful stop: in-flight requests finish, new connections are refused, the daemon exits 0."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import urllib.request

import pytest_twisted
from twisted.internet import reactor
from twisted.internet.task import deferLater
from twisted.internet.threads import deferToThread

from conftest import free_port, reaped, start_twistd, wait_until

BODY = json.dumps({"message": "in flight"}).encode()
HEAD = (
    b"POST /api/1/store/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
    b"Content-Type: application/json\r\n"
    b"Content-Length: " + str(len(BODY)).encode() + b"\r\n\r\n"
)


def open_partial_request(port: int) -> socket.socket:
    """A store request whose headers and half its body have been sent."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(HEAD + BODY[:10])
    return sock


def read_until_closed(sock: socket.socket) -> bytes:
    response = b""
    while chunk := sock.recv(65536):
        response += chunk
    sock.close()
    return response


def finish_request(sock: socket.socket) -> bytes:
    sock.sendall(BODY[10:])
    return read_until_closed(sock)


def refuses_connections(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return True
    return False


async def poll(predicate, timeout: float = 10.0) -> None:
    deadline = reactor.seconds() + timeout
    while not predicate():
        assert reactor.seconds() < deadline, "condition not met in time"
        await deferLater(reactor, 0.01, lambda: None)


@pytest_twisted.ensureDeferred
async def test_stop_finishes_in_flight_requests():
    from sentry_daemon.testing import start_sentry

    sentry = await start_sentry()
    sock = await deferToThread(open_partial_request, sentry.port)
    await poll(lambda: sentry.service.in_flight() == 1)

    stopped = []
    d = sentry.stop()
    d.addCallback(stopped.append)
    assert sentry.service.health() == {"status": "stopping"}
    deadline = reactor.seconds() + 10
    while not await deferToThread(refuses_connections, sentry.port):
        assert reactor.seconds() < deadline, "the port stayed open while stopping"
    assert stopped == [], "stop must wait for the request in flight"

    response = await deferToThread(finish_request, sock)
    assert response.startswith(b"HTTP/1.1 200"), response
    assert b'"id"' in response
    await d
    assert stopped == [None]
    assert [e["logentry"]["formatted"] for e in (sentry.store.events[0].data,)] == ["in flight"]


@pytest_twisted.ensureDeferred
async def test_health_is_503_while_draining():
    from sentry_daemon.testing import start_sentry

    sentry = await start_sentry()
    slow = await deferToThread(open_partial_request, sentry.port)
    keep_alive = await deferToThread(socket.create_connection, ("127.0.0.1", sentry.port), 30)
    await poll(lambda: sentry.service.in_flight() == 1)
    d = sentry.stop()

    def ask_health() -> bytes:
        keep_alive.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        return read_until_closed(keep_alive)

    answer = await deferToThread(ask_health)
    assert answer.startswith(b"HTTP/1.1 503"), answer
    assert b"connection: close" in answer.lower(), answer
    assert b'{"status":"stopping"}' in answer
    await deferToThread(finish_request, slow)
    await d


def test_twistd_subprocess_sigterm_with_request_in_flight():
    port = free_port()
    proc = start_twistd("--port", f"tcp:{port}:interface=127.0.0.1")
    with reaped(proc):
        def healthy():
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as r:
                    return json.load(r) == {"status": "ok"}
            except OSError:
                return proc.poll() is not None and pytest_fail(proc)

        wait_until(healthy, timeout=30)
        sock = open_partial_request(port)

        def in_flight() -> int:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5) as r:
                return json.load(r)["requests_in_flight"]

        wait_until(lambda: in_flight() == 1, timeout=15)
        proc.send_signal(signal.SIGTERM)
        wait_until(lambda: refuses_connections(port), timeout=15)
        assert proc.poll() is None, "the daemon must wait for the request in flight"
        response = finish_request(sock)
        assert response.startswith(b"HTTP/1.1 200"), response
        assert proc.wait(timeout=30) == 0
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    assert "Traceback" not in output, output


def pytest_fail(proc: subprocess.Popen) -> bool:
    output = proc.stdout.read().decode(errors="replace") if proc.stdout else ""
    raise AssertionError(f"twistd exited early ({proc.returncode}):\n{output}")


def test_twistd_listens_on_a_unix_socket(tmp_path):
    path = tmp_path / "sentry.sock"
    proc = start_twistd("--port", f"unix:{path}")

    def health() -> bytes | None:
        if proc.poll() is not None:
            pytest_fail(proc)
        try:
            sock = socket.socket(socket.AF_UNIX)
            sock.connect(str(path))
        except OSError:
            return None
        sock.sendall(b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        return read_until_closed(sock)

    with reaped(proc):
        answer = wait_until(health, timeout=30)
        assert answer.startswith(b"HTTP/1.1 200") and answer.endswith(b'{"status":"ok"}')
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


class _CountingTracker:
    """A ``RequestTracker`` that counts each request's start and end."""

    draining = False

    def __init__(self) -> None:
        self.started: list[object] = []
        self.finished: list[object] = []

    def request_started(self, request: object) -> None:
        self.started.append(request)

    def request_finished(self, request: object) -> None:
        self.finished.append(request)


def _tracked_connection(tracker: _CountingTracker) -> tuple[object, object]:
    from twisted.internet.address import IPv4Address
    from twisted.internet.testing import StringTransport
    from twisted.web.resource import Resource

    from sentry_daemon.http.site import SentrySite

    class Answer(Resource):
        isLeaf = True

        def render(self, request: object) -> bytes:
            return b"ok"

    peer = IPv4Address("TCP", "127.0.0.1", 5555)
    protocol = SentrySite(Answer(), max_body=1000, tracker=tracker).buildProtocol(peer)
    transport = StringTransport(peerAddress=peer)
    protocol.makeConnection(transport)
    return protocol, transport


def test_tracker_hears_once_of_each_finished_request():
    from twisted.python.failure import Failure

    tracker = _CountingTracker()
    protocol, transport = _tracked_connection(tracker)
    protocol.dataReceived(HEAD.replace(b"Connection: close\r\n", b"") + BODY)
    protocol.dataReceived(HEAD.replace(b"Connection: close\r\n", b"") + BODY)
    assert transport.value().count(b"HTTP/1.1 200") == 2
    protocol.connectionLost(Failure(ConnectionError("gone")))
    assert len(tracker.started) == 2
    assert tracker.finished == tracker.started


def test_tracker_hears_of_a_request_whose_client_went_away():
    from twisted.python.failure import Failure

    tracker = _CountingTracker()
    protocol, _ = _tracked_connection(tracker)
    protocol.dataReceived(HEAD + BODY[:10])
    assert len(tracker.started) == 1 and tracker.finished == []
    protocol.connectionLost(Failure(ConnectionError("gone")))
    assert tracker.finished == tracker.started
