"""``GET /metrics``: the daemon's health in Prometheus's text format (``prometheus_client``).

Every name starts ``sentryfake_``. What is counted, and what it costs:

- requests by route, method and status, and their durations by route: the route is the matched
  route's template (``http.routing``), never the raw path, so the label set is bounded by the
  route table; a request no route matched is ``unmatched``. ``SentrySite`` reports each answered
  request: two dict updates and a bisect, no lock and no ``prometheus_client`` object on the
  ingest path.
- outcomes by category, outcome and reason (their quantity, as Sentry's stats sum it: items, or
  bytes for attachments), records by kind and evictions: a subscriber of the store's record log,
  one dict update per record. These count for the life of the process: a reset empties the
  store, not the counters, as Prometheus expects of a counter.
- the rest is read when scraped (a custom collector): stored records and payload bytes, the
  retention limits, waiters, connections (open, the most allowed, refused, closed idle),
  requests in flight, and the process itself (resident memory, descriptors, CPU seconds:
  ``prometheus_client``'s ``ProcessCollector``, on Linux).

The registry is the service's own, never ``prometheus_client``'s global one, so two daemons in
one process (tests, embedding) never share a figure.

Who may read it follows the control API (``control_auth``): with ``--control-auth open`` anyone;
with ``token`` only an admin token (``--admin-token``), since the figures add up every tenant;
an organization's or a tenant's token is ``403``, none ``401``. Prometheus sends one with
``authorization: {credentials_file: …}`` (or ``bearer_token_file``) in its scrape config.
"""

from __future__ import annotations

from bisect import bisect_left
from time import perf_counter
from typing import Any, Iterator, Protocol

from prometheus_client import ProcessCollector
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry
from twisted.web.server import Request

from sentry_daemon import __version__
from sentry_daemon.control_auth import ControlAuth, require_admin
from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.routing import Klein
from sentry_daemon.store.outcomes import CATEGORIES
from sentry_daemon.store.record_log import RecordLog
from sentry_daemon.store.store import Store

PATH = b"/metrics"
NAMESPACE = "sentryfake"
UNMATCHED = "unmatched"
# seconds; the ingest path answers in a millisecond or two, a chunk upload or a wait in seconds
DURATION_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_BUCKET_LABELS = tuple(f"{b:g}" for b in DURATION_BUCKETS) + ("+Inf",)
_METHODS = frozenset({b"GET", b"HEAD", b"POST", b"PUT", b"PATCH", b"DELETE", b"OPTIONS"})
_CATEGORIES = frozenset(CATEGORIES)
# Client reports name their own categories and reasons: past this many (category, outcome,
# reason) series, a new reason counts as "other" and an unknown category as "unknown".
MAX_OUTCOME_SERIES = 500


class RequestCounts:
    """Requests answered, by (route, method, status), and their durations by route."""

    def __init__(self) -> None:
        self.counts: dict[tuple[str, bytes, int], int] = {}
        # route -> [observations per bucket (not cumulative; the last is +Inf)..., sum of seconds]
        self.durations: dict[str, list[float]] = {}

    def observe(self, request: Request) -> None:
        """One answered request (``SentrySite``'s ``on_finished``)."""
        elapsed = perf_counter() - request.started  # type: ignore[attr-defined]
        route = request.route or UNMATCHED  # type: ignore[attr-defined]
        method = request.method if request.method in _METHODS else b"other"
        key = (route, method, request.code)
        counts = self.counts
        counts[key] = counts.get(key, 0) + 1
        cells = self.durations.get(route)
        if cells is None:
            cells = self.durations[route] = [0] * (len(_BUCKET_LABELS) + 1)
        cells[bisect_left(DURATION_BUCKETS, elapsed)] += 1
        cells[-1] += elapsed


class RecordCounts:
    """What the store committed, as its record log tells it: records by kind, outcomes, evictions."""

    def __init__(self, record_log: RecordLog) -> None:
        self.records: dict[str, int] = {}
        self.outcomes: dict[tuple[str, str, str], int] = {}  # (category, outcome, reason) -> quantity
        self.evicted: dict[tuple[str, str], int] = {}  # (kind, reason) -> records
        self.evicted_bytes: dict[str, int] = {}  # reason -> bytes
        record_log.subscribe(self.record)

    def record(self, seq: int, kind: str, record: Any) -> None:
        records = self.records
        records[kind] = records.get(kind, 0) + 1
        if kind == "outcome":
            (_, category, outcome, reason), quantity, _ = record
            key = (category, outcome, reason or "")
            outcomes = self.outcomes
            if key in outcomes:
                outcomes[key] += quantity
            else:
                self._new_outcome(key, quantity)
        elif kind == "evicted":
            self._evicted(record)

    def _new_outcome(self, key: tuple[str, str, str], quantity: int) -> None:
        outcomes = self.outcomes
        if len(outcomes) >= MAX_OUTCOME_SERIES:
            category, outcome, _ = key
            key = (category if category in _CATEGORIES else "unknown", outcome, "other")
        outcomes[key] = outcomes.get(key, 0) + quantity

    def _evicted(self, eviction: Any) -> None:
        """A retention sweep (``store.retention.Eviction``)."""
        reason, evicted = eviction.reason, self.evicted
        for kind, gone in (("event", eviction.events), ("envelope", eviction.envelopes),
                           ("item", eviction.items), ("attachment", eviction.attachments)):
            if gone:
                evicted[(kind, reason)] = evicted.get((kind, reason), 0) + len(gone)
        self.evicted_bytes[reason] = self.evicted_bytes.get(reason, 0) + eviction.bytes


class MeteredService(Protocol):
    """What the metrics read of the service that owns them (``service.SentryService``)."""

    store: Store
    connections: Any  # ``http.site.ConnectionTracker``
    site: Any  # ``http.site.SentrySite``
    control: Any  # ``control.ControlRoutes``: its ``waiters``

    def in_flight(self) -> int: ...


def _name(name: str) -> str:
    return f"{NAMESPACE}_{name}"


def _counter(name: str, documentation: str, labels: tuple[str, ...], values: dict[tuple[str, ...], int]) -> Metric:
    """A counter family with one sample per label values, in label order."""
    family = CounterMetricFamily(_name(name), documentation, labels=labels)
    for key, count in sorted(values.items()):
        family.add_metric(key, count)
    return family


class ServiceCollector(Collector):
    """Every ``sentryfake_`` family, built when scraped from the counters and the service's state."""

    def __init__(self, service: MeteredService, requests: RequestCounts, records: RecordCounts) -> None:
        self._service = service
        self._requests = requests
        self._records = records

    def collect(self) -> Iterator[Metric]:
        yield from self._request_families()
        yield from self._record_families()
        yield from self._state_families()

    def _request_families(self) -> Iterator[Metric]:
        requests = CounterMetricFamily(_name("requests"), "HTTP requests answered, by route template, "
                                       "method and status.", labels=("route", "method", "status"))
        for (route, method, status), count in sorted(self._requests.counts.items()):
            requests.add_metric((route, method.decode("ascii"), str(status)), count)
        yield requests
        durations = HistogramMetricFamily(_name("request_duration_seconds"), "Seconds from a request's "
                                          "headers to its last byte answered, by route template.",
                                          labels=("route",))
        for route, cells in sorted(self._requests.durations.items()):
            cumulative, buckets = 0, []
            for label, count in zip(_BUCKET_LABELS, cells):
                cumulative += count
                buckets.append((label, cumulative))
            durations.add_metric((route,), buckets, sum_value=cells[-1])
        yield durations

    def _record_families(self) -> Iterator[Metric]:
        records = self._records
        yield _counter("outcomes", "Ingest outcomes (Sentry's usage stats): their quantity (items, or bytes "
                       "for attachments) by category, outcome and reason.", ("category", "outcome", "reason"),
                       records.outcomes)
        yield _counter("records", "Records the store committed, by kind (event, envelope, item, span, check_in, "
                       "outcome, ...).", ("kind",), {(kind,): n for kind, n in records.records.items()})
        yield _counter("evicted", "Records retention evicted, by kind and the limit that evicted them.",
                       ("kind", "reason"), records.evicted)
        yield _counter("evicted_bytes", "Payload bytes retention evicted, by the limit that evicted them.",
                       ("reason",), {(reason,): n for reason, n in records.evicted_bytes.items()})

    def _state_families(self) -> Iterator[Metric]:
        service = self._service
        store = service.store
        retention = store.retention.figures()
        stored = GaugeMetricFamily(_name("stored_records"), "Records stored now, by kind.", labels=("kind",))
        for kind, count in (("event", retention["stored_events"]), ("envelope", len(store.envelopes)),
                            ("item", len(store.items)), ("attachment", len(store.attachments)),
                            ("issue", len(store.issues.by_id)), ("span", len(store.spans)),
                            ("session", len(store.sessions))):
            stored.add_metric((kind,), count)
        yield stored
        yield GaugeMetricFamily(_name("stored_bytes"), "Stored payload bytes (raw envelopes, packed events "
                                "and attachments), as retention counts them.", value=retention["stored_bytes"])
        yield GaugeMetricFamily(_name("retention_max_events"), "Events kept at most (--max-events).",
                                value=retention["max_events"])
        yield GaugeMetricFamily(_name("retention_max_bytes"), "Payload bytes kept at most (--max-bytes).",
                                value=retention["max_bytes"])
        yield GaugeMetricFamily(_name("waiters"), "Waiters waiting (GET /__parlel/wait).",
                                value=service.control.waiters.pending)
        yield GaugeMetricFamily(_name("requests_in_flight"), "Requests being received or answered.",
                                value=service.in_flight())
        connections = service.connections
        yield GaugeMetricFamily(_name("connections_open"), "Client connections open.",
                                value=len(connections.protocols))
        if connections.max_connections is not None:
            yield GaugeMetricFamily(_name("connections_max"), "Client connections allowed at once "
                                    "(--max-connections); more are refused.", value=connections.max_connections)
        yield CounterMetricFamily(_name("connections_refused"), "Connections refused at --max-connections.",
                                  value=connections.refused)
        yield CounterMetricFamily(_name("connections_idle_closed"), "Connections closed after "
                                  "--idle-timeout seconds without a byte.", value=service.site.idle_closed)
        info = GaugeMetricFamily(_name("info"), "The daemon's version.", labels=("version",))
        info.add_metric((__version__,), 1)
        yield info


class Metrics:
    """A service's metrics: its counters, its registry, and ``GET /metrics``."""

    app = Klein()
    install_error_handlers(app)

    def __init__(self, service: MeteredService, auth: ControlAuth) -> None:
        self.requests = RequestCounts()
        self.records = RecordCounts(service.store.record_log)
        self.registry = CollectorRegistry()
        self.registry.register(ServiceCollector(service, self.requests, self.records))
        ProcessCollector(namespace=NAMESPACE, registry=self.registry)
        self._auth = auth

    def resource(self) -> Any:
        return self.app.resource()

    @app.route("/metrics", methods=["GET"], strict_slashes=False)
    def metrics(self, request: Request) -> bytes:
        if self._auth.mode != "open":
            request.control_scope = self._auth.scope(request)  # type: ignore[attr-defined]  (401/403)
            require_admin(request)
        accept = (request.getHeader(b"accept") or b"").decode("latin-1")
        encoder, content_type = choose_encoder(accept)
        body = encoder(self.registry)
        request.setHeader(b"Content-Type", content_type.encode("ascii"))
        request.setHeader(b"Content-Length", b"%d" % len(body))
        return body
