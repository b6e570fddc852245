"""HTTP in: the Twisted ``Site`` and ``Request`` that cap bodies and track requests in flight.

Twisted and Klein have no body limit, so the cap lives here, before the body is buffered: a body
over the cap is discarded as it arrives (never stored) and answered ``413 {"detail": ...}`` once the
client has finished sending, so ordinary HTTP clients read the answer instead of a reset.
"""

from __future__ import annotations

import io
import json
import re
import time
from typing import Any, Callable, Protocol, Sequence

from twisted.logger import Logger
from twisted.protocols.policies import WrappingFactory
from twisted.web.http import HTTPChannel, _GenericHTTPChannelProtocol
from twisted.web.resource import IResource
from twisted.web.server import Request, Site

from sentry_daemon.http.lean_channel import DirectRoute, LeanChannel
from sentry_daemon.http.responses import finish_json


class RequestTracker(Protocol):
    def request_started(self, request: Request) -> None: ...

    def request_finished(self, request: Request) -> None: ...

    @property
    def draining(self) -> bool: ...


class LimitedRequest(Request):
    """A request whose body may not exceed ``site.max_body`` bytes (or its path's own limit)."""

    _too_large = False
    _tracked = False
    _body_limit: int | None = None
    route: str | None = None  # the template of the route that answered (``http.routing``)
    started = 0.0  # ``time.perf_counter()`` when the headers were in: a duration, not a date

    def _limit(self) -> int:
        """Decided once, when the headers are in: the channel still holds the request target then."""
        if self._body_limit is None:
            site = self.channel.site
            body_limit = getattr(site, "body_limit", None)
            target = getattr(self.channel, "_path", None) or getattr(self, "uri", None)
            self._body_limit = body_limit(target) if body_limit else (getattr(site, "max_body", 0) or 0)
        return self._body_limit

    def _discard_body(self) -> None:
        self._too_large = True
        old, self.content = self.content, io.BytesIO()
        if old is not None:
            old.close()

    def gotLength(self, length: int | None) -> None:
        self.started = time.perf_counter()
        self._track()
        super().gotLength(length)
        limit = self._limit()
        if limit and length is not None and length > limit:
            self._discard_body()

    def handleContentChunk(self, data: bytes) -> None:
        if self._too_large:
            return
        limit = self._limit()
        if limit and self.content.tell() + len(data) > limit:
            self._discard_body()
            return
        super().handleContentChunk(data)

    _tracker: RequestTracker | None = None

    def _track(self) -> None:
        """Tell the tracker about this request, and (once) about its end, as ``notifyFinish`` would.

        The end is reported from the two places Twisted fires ``notifyFinish`` (``_cleanup``
        after the response, ``connectionLost`` on a disconnect), without a Deferred per request.
        """
        tracker: RequestTracker | None = getattr(self.channel.site, "tracker", None)
        if tracker is None or self._tracked:
            return
        self._tracked = True
        self._tracker = tracker
        tracker.request_started(self)

    def _untrack(self) -> None:
        tracker, self._tracker = self._tracker, None
        if tracker is not None:
            tracker.request_finished(self)

    def _cleanup(self) -> None:
        super()._cleanup()
        self._untrack()

    def connectionLost(self, reason: Any) -> None:
        super().connectionLost(reason)
        self._untrack()

    def process(self) -> None:
        self._track()
        self.site = self.channel.site
        tracker = getattr(self.site, "tracker", None)
        if tracker is not None and tracker.draining:
            self.channel.persistent = False
            self.setHeader(b"Connection", b"close")
        if self._too_large:
            answer = getattr(self.site, "too_large_answer", None)
            body = answer(self.uri) if answer else None
            body = body or {"detail": f"request body exceeds the size limit of {self._limit()} bytes"}
            observer = getattr(self.site, "on_too_large", None)
            if observer is not None:
                observer(self, body)
            finish_json(self, 413, body, {"Connection": "close"})
            return
        super().process()


MALFORMED_HTTP = json.dumps({"detail": "malformed HTTP request"}).encode()


class SentryChannel(HTTPChannel):
    """Twisted answers a request it cannot parse (bad chunking, request line, Content-Length,
    headers) with a bare ``400`` and hangs up; ours says so in Sentry's JSON shape first."""

    _host: Any = None

    def getHost(self) -> Any:
        """Every request asks (``Request.__init__``); the socket's own address never changes, so
        one ``getsockname`` per connection serves them all."""
        if self._host is None:
            self._host = super().getHost()
        return self._host

    def _respondToBadRequestAndDisconnect(self) -> None:
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n%s" % (len(MALFORMED_HTTP), MALFORMED_HTTP)
        )
        self.loseConnection()

    def timeoutConnection(self) -> None:
        """An idle connection (``--idle-timeout``) is closed as Twisted closes it, counted instead
        of logged: every SDK's pooled keep-alive connection ends this way, one line each."""
        site = getattr(self, "site", None)
        if site is not None:
            site.idle_closed += 1
        if self.abortTimeout is not None:
            self._abortingCall = self.callLater(self.abortTimeout, self.forceAbortClient)
        self.loseConnection()


class SentrySite(Site):
    """The site every request of the daemon goes through; no tracebacks ever reach a client."""

    def protocol(self) -> _GenericHTTPChannelProtocol:  # type: ignore[override]
        return _GenericHTTPChannelProtocol(SentryChannel())

    displayTracebacks = False
    _logger = Logger()
    idle_closed = 0  # connections closed for idling (``SentryChannel.timeoutConnection``)

    def __init__(
        self,
        resource: IResource,
        *,
        max_body: int,
        tracker: RequestTracker | None = None,
        reactor: Any = None,
        log_requests: bool = False,
        path_limits: Sequence[tuple[re.Pattern[bytes], int]] = (),
        capped_bodies: Sequence[tuple[re.Pattern[bytes], int, dict[str, Any]]] = (),
        on_too_large: Callable[[Request, dict[str, Any]], None] | None = None,
        idle_timeout: float | None = None,
        on_finished: Callable[[Request], None] | None = None,
        direct_route: DirectRoute | None = None,
        quiet: Callable[[], bool] | None = None,
    ) -> None:
        """``path_limits``: (path pattern, limit) for routes with a limit of their own, above or
        below ``max_body`` (the first pattern that matches decides); ``capped_bodies``: (path
        pattern, limit, 413 body) for routes of an API with a smaller cap and its own error shape
        (never more than ``max_body`` either); ``on_too_large``: told of
        each such 413 and its body (the near-miss journal); ``idle_timeout``: seconds a connection
        may send nothing, between requests or within one, before it is closed (None: never; a
        response being written is never cut); ``on_finished``: told of each request answered
        (the metrics); ``direct_route`` and ``quiet``: the hot ingest routes (``dispatch.Root``) and
        whether they may skip the guard now (no fault set), for connections to answer them on the
        lean path (``http.lean_channel``); without them every request goes through twisted.web."""
        # Form bodies are never parsed eagerly: ingest reads raw bytes and parses multipart itself
        # (Twisted would answer a malformed one with a bare 400 and a disconnect).
        super().__init__(resource, requestFactory=LimitedRequest, reactor=reactor, parsePOSTFormSubmission=False,
                         timeout=idle_timeout or None)
        self.max_body = max_body
        # (path pattern, body limit, its own 413 body or None), the first match decides: built once,
        # as every request's limit is looked up here
        self._body_rules: tuple[tuple[re.Pattern[bytes], int, dict[str, Any] | None], ...] = (
            *((pattern, min(cap, max_body) if max_body else cap, body) for pattern, cap, body in capped_bodies),
            *((pattern, limit, None) for pattern, limit in path_limits),
        )
        self.on_too_large = on_too_large
        self.tracker = tracker
        self._log_requests = log_requests
        self._on_finished = on_finished
        self._direct_route = direct_route
        self._quiet = quiet or (lambda: True)

    def buildProtocol(self, addr: Any) -> Any:
        channel = super().buildProtocol(addr)
        if self._direct_route is None:
            return channel
        return LeanChannel(channel, self, self._direct_route, self._quiet)

    def body_limit(self, target: bytes | None) -> int:
        """The largest body a request for ``target`` may send (0: no limit)."""
        rule = self._body_rule(target)
        return rule[1] if rule is not None else self.max_body

    def too_large_answer(self, target: bytes | None) -> dict[str, Any] | None:
        """The 413 body for ``target`` when its API has its own (None: Sentry's ``{"detail": ...}``)."""
        rule = self._body_rule(target)
        return rule[2] if rule is not None else None

    def _body_rule(self, target: bytes | None) -> tuple[re.Pattern[bytes], int, dict[str, Any] | None] | None:
        if target:
            path = target.split(b"?", 1)[0]
            for rule in self._body_rules:
                if rule[0].match(path):
                    return rule
        return None

    def log(self, request: Request) -> None:  # type: ignore[override]
        """Twisted's access log, called once a response is complete."""
        if self._on_finished is not None:
            self._on_finished(request)
        if self._log_requests:
            self._logger.info(
                "{method} {uri} {code}",
                method=request.method.decode("ascii", "replace"),
                uri=request.uri.decode("ascii", "replace"),
                code=request.code,
            )


class ConnectionTracker(WrappingFactory):
    """Knows every open connection, so a graceful stop can close them once their responses are out,
    and refuses connections beyond ``max_connections`` (closed as soon as accepted) until some close.

    The cap keeps descriptors free below the process's limit for what the connections already
    open need (request bodies spooled to temporary files, the log, transform workers): out of
    descriptors, the daemon keeps serving them and refuses the newcomers (see
    :func:`default_max_connections`). The first refusal is logged, and the recovery once the
    connections are a tenth below the cap, not each one. Without a cap, Twisted's ``tcp.Port``
    meets ``EMFILE`` with its reserved descriptor (accept, close, reserve again) and does not spin
    on the listening socket (``tests/test_fd_limit.py``).
    """

    _log = Logger()

    def __init__(self, site: Site, on_close: Callable[[], None], max_connections: int | None = None) -> None:
        super().__init__(site)
        self._on_close = on_close
        self.max_connections = max_connections
        self.refused = 0
        self._refusing = False

    def buildProtocol(self, addr: Any) -> Any:
        if self.max_connections is not None and len(self.protocols) >= self.max_connections:
            self.refused += 1
            if not self._refusing:
                self._refusing = True
                self._log.warn("{count} connections open, the most allowed (--max-connections): refusing new "
                               "ones until some close", count=len(self.protocols))
            return None
        return super().buildProtocol(addr)

    def unregisterProtocol(self, protocol: Any) -> None:
        super().unregisterProtocol(protocol)
        # a tenth below the cap before saying so: a host at its limit does not log every close
        if self._refusing and len(self.protocols) <= self.max_connections * 9 // 10:
            self._refusing = False
            self._log.info("accepting connections again ({count} refused so far)", count=self.refused)
        self._on_close()


# Descriptors kept free beyond the connections: at least this many, and an eighth of the limit.
SPARE_DESCRIPTORS = 32


def default_max_connections(soft_limit: int | None = None) -> int | None:
    """The connections the descriptor limit (``RLIMIT_NOFILE``'s soft limit) leaves room for,
    keeping ``max(32, limit / 8)`` descriptors spare; None when there is no limit to speak of."""
    if soft_limit is None:
        try:
            import resource
        except ImportError:  # not a POSIX system
            return None
        soft_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if soft_limit < 0 or soft_limit >= 1 << 30:  # RLIM_INFINITY
        return None
    return max(1, soft_limit - max(SPARE_DESCRIPTORS, soft_limit // 8))
