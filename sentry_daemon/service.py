"""The service that owns a running sentryfake: its store, its site, its listener, its stop.

``SentryService`` is a ``MultiService`` whose one child listens (``strports.service``, so a failed
bind aborts start-up). Stopping it is graceful: ``/health`` turns 503, the listener closes, requests
already in flight finish (up to ``drain_timeout`` seconds), then the Deferred fires and twistd exits.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import IO, Any

from twisted.application import strports
from twisted.application.service import MultiService
from twisted.internet.defer import Deferred, maybeDeferred, succeed
from twisted.internet.interfaces import IListeningPort, IStreamServerEndpoint
from twisted.logger import ILogObserver, Logger
from twisted.python.components import Componentized
from twisted.web.server import Request
from zope.interface import implementer

from sentry_daemon import __version__
from sentry_daemon.clock import DomainClock
from sentry_daemon.api.routes import ApiRoutes
from sentry_daemon.control import ControlRoutes
from sentry_daemon.http.dispatch import Root
from sentry_daemon.http.site import ConnectionTracker, SentrySite, default_max_connections
from sentry_daemon.ingest.faults import FaultGate
from sentry_daemon.ingest.journal import too_large_observer
from sentry_daemon.ingest.limits import Limits, web_api_body_limits
from sentry_daemon.ingest import open_sentry
from sentry_daemon.ingest.routes import IngestRoutes
from sentry_daemon.metrics import PATH as METRICS_PATH, Metrics
from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.store.persistence import Persistence, Snapshots, load_file
from sentry_daemon.store.snapshot import no_collection
from sentry_daemon.store.records import Seed
from sentry_daemon.store.retention import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, RetentionPolicy
from sentry_daemon.store.store import Store
from sentry_daemon.transform.engine import TransformEngine
from sentry_daemon.transform import routes as transform_routes
from sentry_daemon.ui_routes import PREFIX as UI_PREFIX, PageResource

DEFAULT_PORT = 4773
_READS = frozenset({b"GET", b"HEAD", b"OPTIONS"})
FREEZE_EVERY = 1000
DEFAULT_TOKEN = "sntrys_parlel"


@dataclass(frozen=True)
class Config:
    """Everything the daemon is told at start; ``tap.Options`` builds one from the command line."""

    port: str = f"tcp:{DEFAULT_PORT}:interface=127.0.0.1"
    tokens: tuple[str, ...] = (DEFAULT_TOKEN,)
    # (token, scopes or None for all, organization slug or None): ``--tokens FILE``
    token_specs: tuple[tuple[str, tuple[str, ...] | None, str | None], ...] = ()
    org: str = "parlel"
    project: str = "hello-world"
    project_id: int = 1
    dsn_key: str = "parlel"
    ingest_auth: str = "lenient"
    max_body: int = Limits().max_envelope_size
    drain_timeout: float = 10.0
    idle_timeout: float | None = 5.0  # seconds a connection may send nothing (Relay's keep-alive); None: never
    max_connections: int | None = None  # None: what the descriptor limit leaves room for; 0: no cap
    log_requests: bool = False
    journal_size: int = 1000  # near misses kept (``store.journal``)
    max_events: int = DEFAULT_MAX_EVENTS  # retention (``store.retention``): the oldest go first
    max_bytes: int = DEFAULT_MAX_BYTES
    retention_days: float | None = None
    control_auth: str = "open"  # "token": every /__parlel/ route needs a bearer token (control_auth)
    admin_tokens: tuple[str, ...] = ()  # what acts on everyone with control_auth "token"
    clock: str = "real"  # the domain clock: "real" (the reactor) or "manual" (moved by the test)
    transform: bool = False  # serve /api/transform: runs the beforeSend code it is sent
    transform_timeout: float = 30.0
    transform_node_modules: str | None = None  # where @sentry/node is (None: looked for)
    data_dir: str | None = None  # keep the state there (``store.persistence``); None: memory only
    load: str | None = None  # start from this snapshot file (when ``data_dir`` holds no state yet)
    stream_heartbeat: float = 15.0  # seconds between the live stream's heartbeats (``control_stream``)
    stream_max_buffer: int = 1 << 20  # bytes a lagging stream client may have waiting before it is cut
    limits: Limits = field(default_factory=Limits)

    @property
    def seed(self) -> Seed:
        return Seed(self.org, self.project, self.project_id, self.dsn_key, self.tokens,
                    token_specs=self.token_specs)


@implementer(IStreamServerEndpoint)
class _PortRecorder:
    """Wraps the listening endpoint so the service learns the port it got (``tcp:0``)."""

    def __init__(self, endpoint: IStreamServerEndpoint, service: "SentryService") -> None:
        self._endpoint = endpoint
        self._service = service

    def listen(self, factory: Any) -> Deferred:
        d = self._endpoint.listen(factory)
        d.addCallback(self._service._listening)
        return d


class SentryService(MultiService):
    log = Logger()
    log_observer: ILogObserver | None = None  # for twistd's application (``logs``, ``--log-format``)

    def __init__(self, config: Config = Config(), reactor: Any = None, standalone: bool = False,
                 clock: Any = None) -> None:
        """``standalone``: the service owns its process (twistd), see ``_drained`` and ``_settle_heap``;
        ``clock``: an ``IReactorTime`` for the domain (``sentry_daemon.clock``) instead of ``config.clock``."""
        super().__init__()
        self.standalone = standalone
        self._since_freeze = 0
        if reactor is None:
            from twisted.internet import reactor as default_reactor

            reactor = default_reactor
        self.config = config
        self.reactor = reactor
        self.clock = DomainClock.given(clock) if clock is not None else DomainClock.for_option(config.clock, reactor)
        self.store = Store(config.seed, now=self.clock.seconds, journal_size=config.journal_size,
                           retention=RetentionPolicy(config.max_events, config.max_bytes, config.retention_days))
        # requests that may have changed the state (not GET, HEAD or OPTIONS): persistence re-encodes
        # what the record log does not carry only after one of them
        self.requests_finished = 0
        self.persistence = (Persistence(self.store, config.data_dir, reactor, lambda: self.requests_finished,
                                        self.clock) if config.data_dir else None)
        with self._settling_load():
            loaded = self.persistence.load() if self.persistence is not None else False
            if config.load and not loaded:  # a data directory that holds a state wins over --load
                load_file(self.store, config.load)
                if self.persistence is not None:
                    self.persistence.rewrite()
        self.snapshots = Snapshots(self.store, reactor, self.persistence)
        self.port: IListeningPort | None = None
        self.address: Any = None
        self.stopping = False
        self._in_flight: set[Request] = set()
        self._drain_waiter: Deferred | None = None
        self._port_waiters: list[Deferred] = []

        self.ingest = IngestRoutes(self.store, config, self.base_url_for)
        self.api = ApiRoutes(self.store, self.base_url_for)
        self.control = ControlRoutes(self)
        self.metrics = Metrics(self, self.control.auth)
        self.open_sentry = open_sentry.OpenSentryRoutes(self.store)
        self.transform = (TransformEngine(reactor, config.transform_timeout, config.transform_node_modules)
                          if config.transform else None)
        self.transform_routes = transform_routes.TransformRoutes(self.transform, self.store.now)
        self.faults = FaultGate(self.store, reactor, cors=self.ingest._cors)  # delays run in real time
        root = Root(
            self.api.app.resource(),
            self.ingest.app.resource(),
            self.control.resource(),
            direct=self.ingest.direct_routes(),
            mounts=[(b"/v1/ingest", self.open_sentry.app.resource()),
                    (METRICS_PATH, self.metrics.resource()),
                    (b"/api/transform", self.transform_routes.app.resource()),
                    (UI_PREFIX, PageResource())],
            guard=self.faults.guard,
        )
        self.site = SentrySite(
            root,
            max_body=config.max_body,
            tracker=self,
            reactor=reactor,
            log_requests=config.log_requests,
            path_limits=web_api_body_limits(config.limits),
            capped_bodies=[(open_sentry.PATH, open_sentry.MAX_BODY, open_sentry.TOO_LARGE),
                           *([(transform_routes.PATH, transform_routes.MAX_BODY, transform_routes.TOO_LARGE)]
                             if config.transform else [])],
            on_too_large=too_large_observer(self.store),
            idle_timeout=config.idle_timeout,
            on_finished=self.metrics.requests.observe,
            direct_route=root.direct_route,
            quiet=self.faults.quiet,
        )
        max_connections = default_max_connections() if config.max_connections is None else config.max_connections
        self.connections = ConnectionTracker(self.site, on_close=self.connection_closed,
                                             max_connections=max_connections or None)
        listener = strports.service(config.port, self.connections, reactor=reactor)
        listener.endpoint = _PortRecorder(listener.endpoint, self)
        listener.setServiceParent(self)

    def setServiceParent(self, parent: Any) -> None:
        """twistd asks its application for a log observer after the plugin made this service, so
        the one ``--log-format`` chose is handed over as the service joins the application."""
        if self.log_observer is not None and isinstance(parent, Componentized):
            parent.setComponent(ILogObserver, self.log_observer)
        super().setServiceParent(parent)

    # --- where we listen -------------------------------------------------------------------

    def _listening(self, port: IListeningPort) -> IListeningPort:
        self.port = port
        self.address = host = port.getHost()
        self.log.info(
            "sentryfake {version} listening on {host}; DSN {dsn}",
            version=__version__,
            host=host,
            dsn=self.dsn if self.base_url else None,
        )
        if self.transform is not None:
            self.transform.warn_if_exposed(host)
        waiters, self._port_waiters = self._port_waiters, []
        for waiter in waiters:
            waiter.callback(port)
        return port

    def when_listening(self) -> Deferred:
        """Fires with the listening port once the service listens."""
        if self.port is not None:
            return succeed(self.port)
        d: Deferred = Deferred()
        self._port_waiters.append(d)
        return d

    @property
    def base_url(self) -> str | None:
        """``http://127.0.0.1:4773`` once listening on TCP; None for UNIX sockets or before."""
        host = self.address
        if host is None or not hasattr(host, "port"):
            return None
        address = host.host
        if ":" in address:
            address = f"[{address}]"
        elif address in ("0.0.0.0", ""):
            address = "127.0.0.1"
        return f"http://{address}:{host.port}"

    def base_url_for(self, request: Request) -> str:
        """The root URL as the client addressed us (``Host``), for DSNs and links."""
        host = request.getHeader(b"host")
        if host:
            return f"http://{host.decode('ascii', 'replace')}"
        return self.base_url or f"http://127.0.0.1:{DEFAULT_PORT}"

    @property
    def dsn(self) -> str:
        return dsn_url(self.base_url or "", self.config.project_id, self.config.dsn_key)

    # --- health and graceful stop ----------------------------------------------------------

    def health(self) -> dict[str, str]:
        return {"status": "stopping" if self.stopping else "ok"}

    @property
    def draining(self) -> bool:
        return self.stopping

    def request_started(self, request: Request) -> None:
        self._in_flight.add(request)

    def request_finished(self, request: Request) -> None:
        self._in_flight.discard(request)
        if request.method not in _READS:
            self.requests_finished += 1
        self._check_drained()
        if self.standalone:
            self._since_freeze += 1
            if self._since_freeze >= FREEZE_EVERY:
                self._settle_heap()

    def _settle_heap(self) -> None:
        """Collect the young garbage, then freeze the survivors (mostly the stored state).

        The store only grows between resets, and CPython's full collections rescan all of it:
        at a few thousand events that cost a third of each request. Frozen objects are skipped.
        A request's own cycles die young, so a generation-1 collection finds them without the
        full scan; ``reset`` unfreezes everything so the dropped state is collected.
        """
        self._since_freeze = 0
        gc.collect(1)
        gc.freeze()

    @contextmanager
    def _settling_load(self) -> Iterator[None]:
        """A start-up load (``--data-dir``, ``--load``) frozen as it is made (``_settle_heap``),
        the collector off meanwhile: it would otherwise walk the whole loaded state once first."""
        if not self.standalone:
            yield
            return
        with no_collection():
            yield
            gc.freeze()

    def reset(self) -> None:
        """Back to the seeded state (the control API's ``/__parlel/reset``)."""
        self.store.reset()
        if self.standalone:
            gc.unfreeze()

    def restore(self, data: bytes | IO[bytes]) -> Deferred:
        """Replace the state with a snapshot file's, given as bytes or a request body (the control
        API's ``/__parlel/restore``)."""
        d = self.snapshots.restore(data)
        if self.standalone:
            d.addCallback(lambda _: gc.unfreeze())
        return d

    def connection_closed(self) -> None:
        self._check_drained()

    def in_flight(self) -> int:
        return len(self._in_flight)

    def startService(self) -> None:
        super().startService()
        self.clock.start_ticking(self.store.tick)
        if self.persistence is not None:
            self.persistence.start()
        if self.transform is not None:
            self.transform.start()

    def stopService(self) -> Deferred:
        """Stop listening, let requests in flight finish (bounded), then report stopped."""
        self.stopping = True
        self.clock.stop_ticking()
        self.control.waiters.close()
        self.control.streams.close()
        self.log.info("stopping: draining {count} request(s) in flight", count=len(self._in_flight))
        d = maybeDeferred(super().stopService)
        d.addCallback(lambda _: self._drain())
        if self.transform is not None:  # after the drain: transforms in flight finish first
            d.addCallback(lambda _: self.transform.stop())
        if self.persistence is not None:  # after the drain: what the last requests stored is written too
            d.addCallback(lambda _: self.persistence.stop())
        d.addCallback(self._drained)
        return d

    def _drain(self) -> Deferred:
        """Fires once no request is in flight and every connection has closed cleanly.

        Connections are closed with ``loseConnection`` only after their last request finished, so
        each response is flushed to its client before the reactor stops. Bounded by ``drain_timeout``.
        """
        done: Deferred = Deferred()
        self._drain_waiter = done
        timer = self.reactor.callLater(self.config.drain_timeout, self._give_up)
        self._check_drained()

        def finished(result: object) -> object:
            if timer.active():
                timer.cancel()
            return result

        return done.addBoth(finished)

    def _check_drained(self) -> None:
        if self._drain_waiter is None or self._in_flight:
            return
        live = list(self.connections.protocols)
        if live:
            for protocol in live:
                protocol.transport.loseConnection()
            return
        done, self._drain_waiter = self._drain_waiter, None
        done.callback(None)

    def _give_up(self) -> None:
        self.log.warn("drain timed out with {count} request(s) unfinished", count=len(self._in_flight))
        for protocol in list(self.connections.protocols):
            protocol.transport.abortConnection()
        done, self._drain_waiter = self._drain_waiter, None
        if done is not None:
            done.callback(None)

    def _drained(self, _: object) -> None:
        """twistd re-raises SIGTERM after shutdown (exit status -15); a drained stop is a success."""
        if self.standalone and getattr(self.reactor, "_exitSignal", None) is not None:
            self.reactor._exitSignal = None
        self.log.info("stopped")
