"""The lean HTTP path (``http.lean_channel``): the SDKs' hot POSTs answered without twisted.web,
byte for byte as twisted.web answers them, and every other shape handed to twisted.web from the
first byte of that request on.

Connections here are the daemon's own protocol (``service.connections.buildProtocol``) over
``twisted.internet.testing.StringTransport``; every other ingest test reaches the same path over
real loopback sockets.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterator

import pytest
import pytest_twisted
import treq
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.web.resource import Resource

from sentry_daemon.http.lean_channel import LEAN_MAX_BODY, LeanChannel
from sentry_daemon.http.site import SentrySite
from sentry_daemon.testing import start_sentry

PEER = IPv4Address("TCP", "127.0.0.1", 40404)
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
ENVELOPE = (json.dumps({"event_id": EVENT_ID}) + '\n{"type":"event"}\n{"message":"lean"}\n').encode()
AUTH = b"X-Sentry-Auth: Sentry sentry_key=parlel, sentry_version=7, sentry_client=sentry.python/2.75.0\r\n"


def post(path: bytes = b"/api/1/envelope/", body: bytes = ENVELOPE, headers: bytes = AUTH,
         version: bytes = b"HTTP/1.1", length: bytes | None = None) -> bytes:
    length = b"%d" % len(body) if length is None else length
    return (b"POST %s %s\r\nHost: 127.0.0.1\r\nContent-Length: %s\r\nContent-Type: application/x-sentry-envelope\r\n"
            b"%s\r\n%s" % (path, version, length, headers, body))


GET_HEALTH = b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


class Connection:
    """One client connection to the service, in memory."""

    def __init__(self, sentry: Any) -> None:
        self.protocol = sentry.service.connections.buildProtocol(PEER)
        self.transport = StringTransport(peerAddress=PEER)
        self.protocol.makeConnection(self.transport)
        self.channel: LeanChannel = self.protocol.wrappedProtocol

    def send(self, data: bytes) -> None:
        self.protocol.dataReceived(data)

    def answers(self) -> list[bytes]:
        """The responses written so far, each status line to the end of its body."""
        data, found = self.transport.value(), []
        while data:
            head, _, rest = data.partition(b"\r\n\r\n")
            match = re.search(rb"(?im)^content-length: *(\d+)", head)
            size = int(match.group(1)) if match else 0
            found.append(head + b"\r\n\r\n" + rest[:size])
            data = rest[size:]
        return found

    def close(self) -> None:
        if self.channel.connected:
            self.protocol.connectionLost(Failure(ConnectionDone()))


@pytest.fixture
def connections(sentry: Any) -> Iterator[Any]:
    made: list[Connection] = []

    def connect() -> Connection:
        made.append(Connection(sentry))
        return made[-1]

    yield connect
    for connection in made:
        connection.close()


def without_date(answer: bytes) -> bytes:
    return re.sub(rb"\r\nDate: [^\r]*", b"", answer)


@pytest.mark.parametrize("request_bytes", [
    post(),
    post(b"/api/1/store/", body=json.dumps({"event_id": EVENT_ID, "message": "lean"}).encode()),
    post(body=b"not an envelope"),
    post(b"/some/prefix/api/1/envelope/?sentry_key=parlel&sentry_version=7", headers=b""),
    post(headers=AUTH + b"Authorization: Sentry sentry_key=other\r\n"),  # 401: two credentials
    post(b"/api/notanumber/envelope/"),
], ids=["envelope", "store", "bad-envelope", "prefix-and-query-auth", "two-credentials", "bad-project"])
def test_lean_answers_as_twisted_web_does(connections: Any, request_bytes: bytes) -> None:
    lean = connections()
    lean.send(request_bytes)
    assert lean.channel.lean
    web = connections()
    web.send(GET_HEALTH)  # hands the connection to twisted.web
    web.send(request_bytes)
    assert not web.channel.lean
    [lean_answer] = lean.answers()
    [_, web_answer] = web.answers()
    assert lean_answer.startswith(b"HTTP/1.1 ")
    assert without_date(lean_answer) == without_date(web_answer)


@pytest.mark.parametrize("request_bytes, status", [
    (post(b"/api/1/envelope/", headers=AUTH.replace(b"\r\n", b"\r\nTransfer-Encoding: chunked\r\n"),
          body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(ENVELOPE), ENVELOPE), length=b"").replace(b"Content-Length: \r\n", b""),
     200),
    (post(headers=AUTH + b"Expect: 100-continue\r\n"), 200),
    (post(headers=AUTH + b"Connection: close\r\n"), 200),
    (post(version=b"HTTP/1.0"), 200),
    (post(headers=AUTH + b"X-Folded: a\r\n  b\r\n"), 200),  # obs-fold: twisted.web joins the lines
    (post(headers=AUTH + b"Bad Header: x\r\n"), 400),
    (post(headers=AUTH, length=b"+5"), 400),
    (post(path=b"/api/1/envelope/%ff"), 400),
    (post(path=b"/api/0/organizations/"), 401),
    (b"OPTIONS /api/1/envelope/ HTTP/1.1\r\nHost: x\r\n\r\n", 200),
    (GET_HEALTH, 200),
    (post(path=b"/v1/ingest/api/1/envelope/"), 404),
    (post(body=b"x" * (LEAN_MAX_BODY + 1)), 400),
], ids=["chunked", "expect", "connection-close", "http-1.0", "folded-header", "bad-header-name",
        "bad-length", "escaped-path", "web-api", "preflight", "get", "mount", "large-body"])
def test_other_requests_go_to_twisted_web(connections: Any, request_bytes: bytes, status: int) -> None:
    connection = connections()
    connection.send(request_bytes)
    assert not connection.channel.lean
    statuses = re.findall(rb"(?m)^HTTP/1\.[01] (\d{3}) ", connection.transport.value())
    assert statuses and int(statuses[-1]) == status  # after any ``100 Continue``


def handed_over_answer(connections: Any) -> bytes:
    """What a new connection answers an SDK's envelope with, once it has gone to twisted.web."""
    connection = connections()
    connection.send(post())
    assert not connection.channel.lean
    return connection.transport.value()


def test_a_body_over_the_limit_is_twisted_webs_413(connections: Any, sentry: Any) -> None:
    sentry.service.site.max_body = 64
    assert handed_over_answer(connections).startswith(b"HTTP/1.1 413 ")


def test_pipelined_and_split_requests(connections: Any, sentry: Any) -> None:
    connection = connections()
    connection.send(post() + post(b"/api/1/store/", body=b'{"message": "two"}'))
    assert [a.split(b"\r\n", 1)[0] for a in connection.answers()] == [b"HTTP/1.1 200 OK"] * 2
    for byte in post():  # one byte at a time
        connection.send(bytes([byte]))
    assert len(connection.answers()) == 3 and connection.channel.lean
    connection.send(post() + GET_HEALTH + post())  # handed over at the GET, the rest answered there
    answers = connection.answers()
    assert len(answers) == 6 and not connection.channel.lean
    assert answers[4].endswith(b'{"status":"ok"}')
    assert all(a.startswith(b"HTTP/1.1 200 OK\r\n") for a in answers)


@pytest_twisted.ensureDeferred
async def test_lean_requests_are_tracked_and_counted(connections: Any, sentry: Any) -> None:
    connection = connections()
    request = post()
    connection.send(request[:-5])
    assert sentry.service.in_flight() == 1
    connection.send(request[-5:])
    assert sentry.service.in_flight() == 0
    connection.send(request[:-5])
    connection.close()  # the client went away mid-body: nothing left in flight
    assert sentry.service.in_flight() == 0
    body = await (await treq.get(sentry.url + "/metrics")).text()
    assert re.search(r'sentryfake_requests_total\{method="POST",route="/api/\{project_id\}/envelope/",'
                     r'status="200"\} 1\.0', body), body


@pytest_twisted.ensureDeferred
async def test_a_fault_sends_the_connection_to_the_guard(connections: Any, sentry: Any) -> None:
    await sentry.add_fault(action="status", status=503, endpoint="envelope")
    assert handed_over_answer(connections).startswith(b"HTTP/1.1 503 ")


def test_stopping_hands_over_and_closes(connections: Any, sentry: Any) -> None:
    sentry.service.stopping = True
    try:
        answer = handed_over_answer(connections)
    finally:
        sentry.service.stopping = False
    assert b"\r\nConnection: close\r\n" in answer


class _Answer(Resource):
    isLeaf = True

    def render(self, request: Any) -> bytes:
        return b"web"


def _clocked_connection(clock: Clock) -> tuple[SentrySite, Any, StringTransport]:
    """A connection to a site whose one lean route answers ``lean:7``, idling out after 5 s on ``clock``."""
    route = (lambda request, argument: b"lean:" + argument.encode(), "7", "/api/{project_id}/envelope/")
    site = SentrySite(_Answer(), max_body=1000, reactor=clock, idle_timeout=5,
                      direct_route=lambda method, path: route if path.endswith(b"/envelope/") else None)
    protocol = site.buildProtocol(PEER)
    transport = StringTransport(peerAddress=PEER)
    protocol.makeConnection(transport)
    return site, protocol, transport


def test_an_idle_lean_connection_is_closed_and_counted() -> None:
    clock = Clock()
    site, protocol, transport = _clocked_connection(clock)
    clock.advance(4)
    protocol.dataReceived(post(body=b"{}"))
    assert transport.value().endswith(b"lean:7") and protocol.lean
    clock.advance(4)  # 4 s since the last byte
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting and site.idle_closed == 1 and not transport.disconnected
    clock.advance(15)  # not closed cleanly in time: aborted, as twisted.web aborts
    assert transport.disconnected
    protocol.connectionLost(Failure(ConnectionDone()))
    assert not clock.getDelayedCalls()


def test_a_stalled_upload_is_closed_too() -> None:
    clock = Clock()
    site, protocol, transport = _clocked_connection(clock)
    protocol.dataReceived(post(body=b"{}")[:-1])
    clock.advance(5)
    assert transport.disconnecting and site.idle_closed == 1
    protocol.connectionLost(Failure(ConnectionDone()))
    assert not clock.getDelayedCalls()


def _read_answers(client: Any, count: int) -> bytes:
    """What the server sent until ``count`` answers with JSON bodies are in (or it closed)."""
    data = b""
    while data.count(b"HTTP/1.1 ") < count or not data.endswith(b"}"):
        chunk = client.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


@pytest_twisted.ensureDeferred
async def test_answers_the_socket_cannot_take_at_once_are_queued_in_order(sentry: Any) -> None:
    """A client that reads nothing until it has sent everything, on a connection whose buffers are
    small: the lean path's direct sends meet a full socket, and what is left waits in the transport,
    every answer whole and in order."""
    import socket

    from twisted.internet.threads import deferToThread

    from conftest import eventually

    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    client.connect(("127.0.0.1", sentry.port))
    connections = sentry.service.connections.protocols
    await eventually(lambda: connections)
    [server] = list(connections)
    server.transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    channel = server.wrappedProtocol
    queued: list[int] = []
    write = channel._write

    def watched(data: bytes) -> None:
        before = server.transport._tempDataLen + len(server.transport.dataBuffer)
        write(data)
        queued.append(server.transport._tempDataLen + len(server.transport.dataBuffer) - before)

    channel._write = watched  # to see that the full socket was met (the answers are the test)
    count = 3000
    client.settimeout(30)
    await deferToThread(client.sendall, post(b"/api/1/store/", body=b'{"message":"m"}') * count)
    # nothing is read until the answers no longer fit the sockets' buffers and wait in the transport
    await eventually(lambda: any(queued), timeout=30)
    data = await deferToThread(_read_answers, client, count)
    client.close()
    assert re.findall(rb"HTTP/1\.1 (\d{3}) ", data) == [b"200"] * count


def _self_signed(directory: Any) -> str:
    """A PEM file with a fresh key and a self-signed certificate for 127.0.0.1."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(1).not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    path = directory / "server.pem"
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())
                     + certificate.public_bytes(serialization.Encoding.PEM))
    return str(path)


def _tls_exchange(port: int, data: bytes, answers: int) -> bytes:
    import socket
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with context.wrap_socket(raw) as client:
            client.sendall(data)
            return _read_answers(client, answers)


@pytest_twisted.ensureDeferred
async def test_lean_answers_go_through_tls(tmp_path: Any) -> None:
    """On an ``ssl:`` port the lean path writes through the TLS transport, never to the socket under it."""
    pytest.importorskip("OpenSSL")
    from twisted.internet.threads import deferToThread

    pem = _self_signed(tmp_path)
    sentry = await start_sentry(port=f"ssl:0:interface=127.0.0.1:privateKey={pem}")
    try:
        received = await deferToThread(_tls_exchange, sentry.port, post() + post(), 2)
    finally:
        await sentry.stop()
    assert received.count(b"HTTP/1.1 200 OK\r\n") == 2
    assert received.endswith(b'{"id":"%s"}' % EVENT_ID.encode())


@pytest_twisted.ensureDeferred
async def test_log_requests_logs_lean_requests_too() -> None:
    from twisted.logger import globalLogPublisher

    logged: list[dict[str, Any]] = []
    globalLogPublisher.addObserver(logged.append)
    sentry = await start_sentry(log_requests=True)
    connection = Connection(sentry)
    try:
        connection.send(post())
        assert connection.channel.lean
    finally:
        connection.close()
        globalLogPublisher.removeObserver(logged.append)
        await sentry.stop()
    lines = [(e.get("method"), e.get("uri"), e.get("code")) for e in logged if e.get("log_format") == "{method} {uri} {code}"]
    assert ("POST", "/api/1/envelope/", 200) in lines
