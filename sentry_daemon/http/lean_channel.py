"""HTTP in, the short way: the SDKs' ``POST …/envelope/`` and ``…/store/`` without twisted.web.

twisted.web's request machinery (``HTTPChannel``, ``Request``, ``Headers``, producers,
notifications) costs more per request than everything ingest does with it (README, "Benchmarks").
Nearly every request an SDK sends is one shape: an HTTP/1.1 ``POST`` to a hot ingest route, with a
``Content-Length`` and a small body, on a keep-alive connection. ``LeanChannel`` reads those itself
and calls the same handlers ``web.Root`` calls (``Root.direct_route``), with a :class:`LeanRequest`
that offers what they read and write. The moment a connection sends anything else (another route
or method, chunked bodies, ``Expect``, ``Connection: close``, HTTP/1.0, a body over the lean size
or its route's limit, a malformed request line or header, injected faults, a stop in progress),
the connection is handed, from the start of that request, to the ``HTTPChannel`` built beside it,
and stays with it: everything beyond the fast case is twisted.web's, as before.

The lean path keeps what twisted.web's gives the rest of the daemon: the tracker's
``request_started``/``request_finished`` (graceful stop, the heap settling), the site's ``log``
(metrics, ``--log-requests``), the idle timeout (counted in ``site.idle_closed``), the same answer
bytes (``Server``, ``Date``, header names as twisted.web writes them).
"""

from __future__ import annotations

import io
import re
import time
from functools import lru_cache
from typing import Any, Callable

from twisted.internet.protocol import Protocol
from twisted.internet.tcp import Connection
from twisted.protocols.policies import ProtocolWrapper
from twisted.web.http import RESPONSES, HTTPChannel, datetimeToString
from twisted.web.http_headers import Headers
from twisted.web.server import version as SERVER_VERSION

from sentry_daemon.http.dispatch import render_direct

# Bodies up to this size are read into memory here; larger ones go to twisted.web, which spools them.
LEAN_MAX_BODY = 1 << 20

# (method, path) -> (handler, its argument, route template), or None when the request is not lean
DirectRoute = Callable[[bytes, bytes], "tuple[Callable[[Any, str], bytes], str, str] | None"]

_TOKEN = rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+"
# The one head the lean path reads: a POST of an ASCII origin-form target over HTTP/1.1, its header
# names tokens, no folded or bare-CR/LF lines (anything else is twisted.web's to answer).
_HEAD = re.compile(rb"POST (/[!-~]*) HTTP/1\.1((?:\r\n" + _TOKEN + rb":[^\r\n]*)*)")
_SINGLE = frozenset((b"content-length", b"host"))  # twisted.web refuses these twice


@lru_cache(maxsize=256)
def canonical_name(name: bytes) -> bytes:
    """A header name as twisted.web writes it (``x-sentry-rate-limits`` → ``X-Sentry-Rate-Limits``)."""
    return next(iter(Headers({name: [b""]}).getAllRawHeaders()))[0]


class _Date:
    """The ``Date`` header, formatted once a second rather than once a request."""

    second = -1
    value = b""

    def now(self) -> bytes:
        second = int(time.time())
        if second != self.second:
            self.second, self.value = second, datetimeToString(second)
        return self.value


_DATE = _Date()


class LeanRequest:
    """What the hot ingest handlers, the journal, the metrics and the tracker read of a request."""

    route: str | None = None
    code = 200
    defaultContentType: bytes | None = b"text/html"

    def __init__(self, method: bytes, uri: bytes, path: bytes, headers: dict[bytes, bytes], client: Any) -> None:
        self.method = method
        self.uri = uri
        self.path = path
        self._headers = headers
        self._client = client
        self.content: io.BytesIO | None = None
        self.started = time.perf_counter()
        # lowercased name -> (name as written, value), in the order set (as twisted.web keeps them)
        self._response: dict[bytes, tuple[bytes, bytes]] = {}

    def getHeader(self, name: bytes) -> bytes | None:
        return self._headers.get(name.lower())

    def getClientAddress(self) -> Any:
        return self._client

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        self.code = code

    def setHeader(self, name: bytes, value: bytes) -> None:
        self._response[name.lower()] = (name, value)

    def answer(self, body: bytes) -> bytes:
        """The whole response, as twisted.web's ``Request`` would write it for ``body``."""
        response = self._response
        if b"content-type" not in response and self.defaultContentType is not None:
            response[b"content-type"] = (b"Content-Type", self.defaultContentType)
        response[b"content-length"] = (b"Content-Length", b"%d" % len(body))
        lines = [b"HTTP/1.1 %d %s\r\nServer: %s\r\nDate: %s\r\n"
                 % (self.code, RESPONSES.get(self.code, b"Unknown Status"), SERVER_VERSION, _DATE.now())]
        lines.extend(b"%s: %s\r\n" % (canonical_name(name), value) for name, value in response.values())
        lines.append(b"\r\n")
        lines.append(body)
        return b"".join(lines)


class LeanChannel(Protocol):
    """One connection: lean requests answered here, the rest handed to ``channel`` (twisted.web's)."""

    def __init__(self, channel: Any, site: Any, direct_route: DirectRoute, quiet: Callable[[], bool]) -> None:
        self._channel = channel  # the ``_GenericHTTPChannelProtocol`` the site built, not yet connected
        self._site = site
        self._direct_route = direct_route
        self._quiet = quiet
        self._buffer = b""
        self._request: LeanRequest | None = None  # headers in, body still arriving
        self._handler: Any = None
        self._argument = ""
        self._length = 0
        self._handed = False
        self._peer: Any = None
        self._socket: Any = None  # the TCP transport under the wrappers, written to directly
        self._path: bytes | None = None
        self._route: tuple[Any, int] = (None, 0)
        self._timeout: float | None = site.timeOut
        self._reactor: Any = site.reactor
        self._timer: Any = None
        self._abort: Any = None
        self._active = 0.0

    @property
    def lean(self) -> bool:
        """Whether this connection is still answered here (False once twisted.web has it)."""
        return not self._handed

    # --- IProtocol ----------------------------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        self.connected = 1
        self.transport = transport
        self._peer = transport.getPeer()
        under = transport
        while type(under) is ProtocolWrapper:  # the connection tracker's; never TLS (a subclass)
            under = under.transport
        if isinstance(under, Connection):
            self._socket = under
        if self._timeout:
            self._active = self._reactor.seconds()
            self._timer = self._reactor.callLater(self._timeout, self._idle)

    def dataReceived(self, data: bytes) -> None:
        if self._handed:
            self._channel.dataReceived(data)
            return
        if self._timer is not None:
            self._active = self._reactor.seconds()
        buffer = self._buffer + data if self._buffer else data
        while True:
            if self._request is None:
                if not buffer:
                    break
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > HTTPChannel.totalHeadersSize or b"\n\n" in buffer:
                        self._hand_over(buffer)
                        return
                    break
                if not self._begin(buffer[:end]):
                    self._hand_over(buffer)
                    return
                buffer = buffer[end + 4:]
            if len(buffer) < self._length:
                break
            body, buffer = buffer[:self._length], buffer[self._length:]
            self._finish(body)
            if not self.connected:
                return
        self._buffer = buffer

    def connectionLost(self, reason: Any = None) -> None:
        self.connected = 0
        self._stop_timers()
        if self._handed:
            self._channel.connectionLost(reason)
            return
        request, self._request = self._request, None
        if request is not None:
            self._untrack(request)

    # --- one request --------------------------------------------------------------------------

    def _begin(self, head: bytes) -> bool:
        """Read a request's head; False when it is not a lean one (twisted.web takes it then)."""
        site = self._site
        match = _HEAD.fullmatch(head)
        if match is None:
            return False
        uri = match.group(1)
        path = uri.split(b"?", 1)[0]
        if b"%" in path:
            return False
        if path == self._path:  # an SDK's connection sends to one path: its route and limit, once
            route, limit = self._route
        else:
            route = self._direct_route(b"POST", path)
            limit = site.body_limit(uri)
            self._path, self._route = path, (route, limit)
        if route is None or not self._quiet():
            return False
        headers: dict[bytes, bytes] = {}
        for line in match.group(2).split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            name = name.lower()
            if name in headers and name in _SINGLE:
                return False
            headers[name] = value.strip(b" \t")
        length = headers.get(b"content-length")
        if (length is None or not length.isdigit() or b"transfer-encoding" in headers or b"expect" in headers
                or b"upgrade" in headers):
            return False
        connection = headers.get(b"connection")
        if connection is not None and connection.lower() != b"keep-alive":
            return False
        self._length = int(length)
        if self._length > LEAN_MAX_BODY or (limit and self._length > limit):
            return False
        tracker = site.tracker
        if tracker is not None and tracker.draining:
            return False
        request = LeanRequest(b"POST", uri, path, headers, self._peer)
        self._handler, self._argument, request.route = route
        self._request = request
        if tracker is not None:
            tracker.request_started(request)
        return True

    def _finish(self, body: bytes) -> None:
        request, self._request = self._request, None
        assert request is not None
        request.content = io.BytesIO(body)
        payload = render_direct(request, self._handler, self._argument)
        self._write(request.answer(payload))
        self._site.log(request)
        self._untrack(request)

    def _untrack(self, request: LeanRequest) -> None:
        tracker = self._site.tracker
        if tracker is not None:
            tracker.request_finished(request)

    def _write(self, data: bytes) -> None:
        """Sent at once when nothing is queued before it, as the reactor's next turn would send it:
        a small answer then costs one ``send`` instead of a writer registration, a poll and a
        ``send``. What the socket does not take (or any error) goes through the transport as usual."""
        connection = self._socket
        if (connection is None or connection.dataBuffer or connection._tempDataBuffer
                or connection.disconnecting or connection.producer is not None):
            self.transport.write(data)
            return
        try:
            sent = connection.socket.send(data)
        except OSError:
            sent = 0  # EAGAIN, or an error the transport meets and reports on its own
        if sent < len(data):
            self.transport.write(data[sent:] if sent else data)

    # --- handing over, idling -----------------------------------------------------------------

    def _hand_over(self, buffer: bytes) -> None:
        """From here on the connection is twisted.web's, starting with the request in ``buffer``."""
        self._handed = True
        self._stop_timers()
        self._buffer = b""
        self._request = None
        channel = self._channel
        channel.makeConnection(self.transport)
        if buffer and self.connected:
            channel.dataReceived(buffer)

    def _idle(self) -> None:
        """``--idle-timeout`` with no byte received: closed as ``SentryChannel.timeoutConnection`` closes."""
        self._timer = None
        elapsed = self._reactor.seconds() - self._active
        if elapsed < self._timeout:
            self._timer = self._reactor.callLater(self._timeout - elapsed, self._idle)
            return
        self._site.idle_closed += 1
        self._abort = self._reactor.callLater(HTTPChannel.abortTimeout, self.transport.abortConnection)
        self.transport.loseConnection()

    def _stop_timers(self) -> None:
        for call in (self._timer, self._abort):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._abort = None
