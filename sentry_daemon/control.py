"""Service and inspection endpoints: ``/``, ``/health`` and the ``/__parlel/`` control API.

The control API is what tests use to see what clients sent (every list is
``{"<plural>": [...], "count": N}``, oldest first, described once in ``control_lists``), to wait
for it (``control_wait``), to reset state between tests, and to give each test its own tenant.
``control_auth`` decides who may do what, before any ``/__parlel/`` route runs.
"""

from __future__ import annotations

from typing import IO, Any, Protocol

from twisted.internet.defer import Deferred
from twisted.web.server import Request

from sentry_daemon import __version__
from sentry_daemon.api.routes import app as api_app
from sentry_daemon.clock import ClockError, DomainClock, move
from sentry_daemon.control_auth import ControlAuth, GuardedControl, control_scope, require_org
from sentry_daemon.control_faults import one_fault, read_fault, select_faults
from sentry_daemon.control_lists import LISTINGS, whole_number
from sentry_daemon.control_stream import Streams
from sentry_daemon.control_wait import Waiters, read_wait
from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.params import read_json_object
from sentry_daemon.http.responses import bytes_response, empty_response, json_response
from sentry_daemon.http.routing import Klein, route_template
from sentry_daemon.http.validation import Field, validate
from sentry_daemon.serializers.batches import captured_batch
from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.serializers.faults import fault as fault_body
from sentry_daemon.serializers.grouping_info import grouping_info
from sentry_daemon.serializers.tenants import tenant as tenant_body
from sentry_daemon.store.snapshot import SnapshotError
from sentry_daemon.store.store import Store
from sentry_daemon.store.tenants import MAX_NAME, Tenant


class ControlledService(Protocol):
    """What the control API needs of the service that owns it (``service.SentryService``)."""

    store: Store
    config: Any
    address: Any
    clock: DomainClock
    reactor: Any  # real time: waiters time out by it, never by the domain clock
    snapshots: Any  # ``store.persistence.Snapshots``: the state as one file, and back

    def base_url_for(self, request: Request) -> str: ...

    def health(self) -> dict[str, str]: ...

    def in_flight(self) -> int: ...

    def reset(self) -> None: ...

    def restore(self, data: bytes | IO[bytes]) -> Deferred: ...


def _klein_endpoints(app: Klein) -> list[str]:
    """``"GET|PUT /api/0/projects/{org}/{project}/"`` for every route of a Klein app, in path order."""
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = route_template(rule.rule)
        methods.setdefault(path, set()).update(rule.methods - {"HEAD", "OPTIONS"})
    order = ("GET", "POST", "PUT", "DELETE")
    return [f"{'|'.join(m for m in order if m in found)} {path}" for path, found in sorted(methods.items())]


# what the service metadata lists: ingest, the whole web API (read off its app), the control API
ENDPOINTS = [
    "POST /api/{project_id}/envelope/",
    "POST /api/{project_id}/store/",
    "POST /api/{project_id}/security/",
    "POST /api/{project_id}/csp-report/",
    "POST /api/{project_id}/minidump/",
    "GET|POST /api/{project_id}/cron/{monitor_slug}/{sentry_key}/",
    "POST /v1/ingest",
    *_klein_endpoints(api_app),
    "GET /health",
    "GET /metrics",
    "GET /ui/",
    "POST /__parlel/reset",
    "GET /__parlel/events",
    "GET /__parlel/events/{event_id}/grouping",
    "GET /__parlel/transactions",
    "GET /__parlel/issues",
    "GET /__parlel/items",
    "GET /__parlel/envelopes",
    "GET /__parlel/envelopes/{id}/raw",
    "GET /__parlel/attachments",
    "GET /__parlel/attachments/{id}",
    "GET /__parlel/check_ins",
    "GET /__parlel/outcomes",
    "GET /__parlel/release-health",
    "GET /__parlel/wait",
    "GET /__parlel/stream",
    "GET|POST /__parlel/tenants",
    "GET|DELETE /__parlel/tenants/{id}",
    "POST /__parlel/tenants/{id}/reset",
    "GET|POST /__parlel/clock",
    "GET /__parlel/batches",
    "GET /__parlel/batches/{id}",
    "GET|POST|DELETE /__parlel/faults",
    "GET|DELETE /__parlel/faults/{id}",
    "GET /__parlel/journal",
    "GET /__parlel/retention",
    "GET /__parlel/snapshot",
    "POST /__parlel/restore",
]


TENANT_POST = {"name": Field(null=True, blank=True, max_length=MAX_NAME)}


def request_args(request: Request) -> dict[str, list[str]]:
    """The query string as text: name -> every value given."""
    return {name.decode("utf-8", "replace"): [v.decode("utf-8", "replace") for v in values]
            for name, values in request.args.items()}


def _visible(request: Request, found: Any) -> Any:
    """The record a route names: 404 when there is none, 403 when its project's organization is
    outside the caller's scope (``control_auth``)."""
    if found is None:
        raise not_found()
    require_org(request, found.project.organization)
    return found


def _listing(request: Request, plural: str, rows: list) -> bytes:
    """Every control-API list has one shape: ``{"<plural>": [...], "count": N}``, oldest first."""
    return json_response(request, 200, {plural: rows, "count": len(rows)})


class ControlRoutes:
    app = Klein()
    install_error_handlers(app)

    def __init__(self, service: ControlledService) -> None:
        self.service = service
        self.store = service.store
        self.auth = ControlAuth(self.store, service.config.control_auth, service.config.admin_tokens)
        self.waiters = Waiters(self.store, service.reactor)
        self.streams = Streams(self.store, service.reactor, service.config.stream_heartbeat,
                               service.config.stream_max_buffer)

    def resource(self) -> GuardedControl:
        """The routes behind the control API's policy (``control_auth``)."""
        return GuardedControl(self.app.resource(), self.auth)

    def _list(self, request: Request, name: str) -> bytes:
        """A list as ``control_lists`` describes it, within what the caller may see; ``?limit=N``
        keeps its newest N rows (still oldest first): the web page reads 10,000 events that way."""
        listing = LISTINGS[name]
        args = request_args(request)
        limit = whole_number(args.pop("limit", [None])[0], "limit")
        selection = listing.select(self.store, args, control_scope(request),
                                   base_url=self.service.base_url_for(request))
        rows = listing.matching(self.store, selection)
        if limit is not None and limit < 0:
            raise ApiError(400, f"invalid limit: {limit} is below 0")
        if limit is not None and limit < len(rows):
            rows = rows[len(rows) - limit:]
        return _listing(request, listing.plural, listing.show(self.store, selection, rows))

    def _tenant(self, request: Request, tenant_id: str) -> Tenant:
        found = self.store.tenants.get(tenant_id)
        if found is None:
            raise not_found()
        require_org(request, found.organization)
        return found

    @app.route("/", methods=["GET"])
    def index(self, request: Request) -> bytes:
        port = self.service.address
        return json_response(
            request,
            200,
            {
                "name": "sentry",
                "service": "sentryfake",
                "version": __version__,
                "port": getattr(port, "port", None),
                "protocol": "http",
                "healthcheck": "/health",
                "dsn": dsn_url(
                    self.service.base_url_for(request), self.service.config.project_id, self.service.config.dsn_key
                ),
                "ingest_auth": self.service.config.ingest_auth,
                "requests_in_flight": self.service.in_flight() - 1,
                "endpoints": ENDPOINTS,
            },
        )

    @app.route("/health", methods=["GET", "HEAD"], strict_slashes=False)
    def health(self, request: Request) -> bytes:
        health = self.service.health()
        return json_response(request, 200 if health["status"] == "ok" else 503, health)

    @app.route("/__parlel/reset", methods=["POST"], strict_slashes=False)
    def reset(self, request: Request) -> bytes:
        self.service.reset()
        return json_response(request, 200, {"status": "reset"})

    @app.route("/__parlel/snapshot", methods=["GET"], strict_slashes=False)
    def snapshot(self, request: Request) -> Deferred:
        """The whole state as one file (``store.snapshot``), for ``/__parlel/restore`` or ``--load``."""
        d = self.service.snapshots.take()
        return d.addCallback(lambda data: bytes_response(
            request, 200, data, "application/vnd.sqlite3",
            {"Content-Disposition": 'attachment; filename="sentryfake-snapshot.sqlite3"'}))

    @app.route("/__parlel/restore", methods=["POST"], strict_slashes=False)
    def restore(self, request: Request) -> Deferred:
        """The body (a snapshot file) becomes the whole state, all or nothing: a bad file is a 400
        and the state stays as it was."""
        def refused(failure: Any) -> bytes:
            failure.trap(SnapshotError)
            raise ApiError(400, f"not a snapshot: {failure.value}")

        d = self.service.restore(request.content)
        d.addCallbacks(lambda _: json_response(request, 200, {"status": "restored"}), refused)
        return d

    @app.route("/__parlel/events", methods=["GET"], strict_slashes=False)
    def events(self, request: Request) -> bytes:
        return self._list(request, "events")

    @app.route("/__parlel/transactions", methods=["GET"], strict_slashes=False)
    def transactions(self, request: Request) -> bytes:
        return self._list(request, "transactions")

    @app.route("/__parlel/issues", methods=["GET"], strict_slashes=False)
    def issues(self, request: Request) -> bytes:
        """Issues as the web API shows them (any status unless ``query`` says otherwise)."""
        return self._list(request, "issues")

    @app.route("/__parlel/check_ins", methods=["GET"], strict_slashes=False)
    def check_ins(self, request: Request) -> bytes:
        return self._list(request, "check_ins")

    @app.route("/__parlel/events/<event_id>/grouping", methods=["GET"], strict_slashes=False)
    def event_grouping(self, request: Request, event_id: str) -> bytes:
        """Why the event is in its issue: every grouping variant, its hash, its components and hints."""
        event = self.store.event(event_id)
        grouped = event if event is not None and event.type not in ("transaction", "feedback") else None
        return json_response(request, 200, grouping_info(_visible(request, grouped)))

    @app.route("/__parlel/items", methods=["GET"], strict_slashes=False)
    def items(self, request: Request) -> bytes:
        return self._list(request, "items")

    @app.route("/__parlel/envelopes", methods=["GET"], strict_slashes=False)
    def envelopes(self, request: Request) -> bytes:
        return self._list(request, "envelopes")

    @app.route("/__parlel/envelopes/<int:envelope_id>/raw", methods=["GET"], strict_slashes=False)
    def envelope_raw(self, request: Request, envelope_id: int) -> bytes:
        record = _visible(request, self.store.envelopes.get(envelope_id))
        request.setHeader(b"Content-Type", b"application/x-sentry-envelope")
        return record.raw

    @app.route("/__parlel/outcomes", methods=["GET"], strict_slashes=False)
    def outcomes(self, request: Request) -> bytes:
        """Accepted/invalid items and the losses SDKs reported (client reports), by category."""
        return self._list(request, "outcomes")

    @app.route("/__parlel/clock", methods=["GET"], strict_slashes=False)
    def clock_state(self, request: Request) -> bytes:
        """The domain clock (``sentry_daemon.clock``): ``{"now": "<ISO 8601>", "manual": bool}``."""
        return json_response(request, 200, self.service.clock.state())

    @app.route("/__parlel/clock", methods=["POST"], strict_slashes=False)
    def clock_move(self, request: Request) -> bytes:
        """``{"advance": <seconds>}`` or ``{"set": "<ISO 8601>"}``; the answer is the clock as moved."""
        try:
            move(self.service.clock, read_json_object(request))
        except ClockError as exc:
            raise ApiError(400, str(exc)) from None
        return json_response(request, 200, self.service.clock.state())

    @app.route("/__parlel/retention", methods=["GET"], strict_slashes=False)
    def retention(self, request: Request) -> bytes:
        """``{"max_events", "max_bytes", "retention_days", "stored_events", "stored_bytes",
        "evicted_events", "evicted_bytes"}`` (``store.retention``; bytes of stored payload: raw
        envelopes, packed event payloads, attachments). Figures of the whole store, no one's data:
        any caller the control API lets in may read them."""
        return json_response(request, 200, self.store.retention.figures())

    @app.route("/__parlel/release-health", methods=["GET"], strict_slashes=False)
    def release_health(self, request: Request) -> bytes:
        """Session counts per project, release and environment, from session updates and aggregates."""
        return self._list(request, "releases")

    @app.route("/__parlel/attachments", methods=["GET"], strict_slashes=False)
    def attachments(self, request: Request) -> bytes:
        return self._list(request, "attachments")

    @app.route("/__parlel/attachments/<attachment_id>", methods=["GET"], strict_slashes=False)
    def attachment(self, request: Request, attachment_id: str) -> bytes:
        found = _visible(request, self.store.attachments.get(attachment_id))
        request.setHeader(b"Content-Type", found.content_type.encode("latin-1", "replace"))
        request.setHeader(b"Content-Disposition", f'attachment; filename="{found.filename}"'.encode("latin-1", "replace"))
        return found.data

    @app.route("/__parlel/batches", methods=["GET"], strict_slashes=False)
    def batches(self, request: Request) -> bytes:
        """Open Sentry batches (``POST /v1/ingest``), each with what its items became."""
        return self._list(request, "batches")

    @app.route("/__parlel/batches/<batch_id>", methods=["GET"], strict_slashes=False)
    def batch(self, request: Request, batch_id: str) -> bytes:
        return json_response(request, 200, captured_batch(_visible(request, self.store.batches.get(batch_id))))

    # --- waiting ---------------------------------------------------------------------------

    @app.route("/__parlel/wait", methods=["GET"], strict_slashes=False)
    def wait(self, request: Request) -> Any:
        """Answers once ``count`` rows of the list ``for`` names match its filters (``200``, the
        list's shape), or at ``timeout`` (``408`` with what matched); see ``control_wait``."""
        listing, count, timeout, filters = read_wait(request_args(request))
        selection = listing.select(self.store, filters, control_scope(request), strict=True,
                                   base_url=self.service.base_url_for(request))
        waiting = self.waiters.wait(listing, selection, count, timeout)
        return waiting.addCallback(lambda answer: json_response(request, *answer))

    @app.route("/__parlel/stream", methods=["GET"], strict_slashes=False)
    def stream(self, request: Request) -> Any:
        """Server-Sent Events: every record as it is stored, filtered, resumable (``control_stream``)."""
        return self.streams.stream(request, request_args(request), control_scope(request))

    # --- tenants ---------------------------------------------------------------------------

    @app.route("/__parlel/tenants", methods=["POST"], strict_slashes=False)
    def create_tenant(self, request: Request) -> bytes:
        """A fresh organization, team, project, DSN key and full-scope org token (``store.tenants``)."""
        body = validate(read_json_object(request), TENANT_POST)
        base_url = self.service.base_url_for(request)
        made = self.store.tenants.create(body.get("name") or None, base_url)
        return json_response(request, 201, tenant_body(made, base_url))

    @app.route("/__parlel/tenants", methods=["GET"], strict_slashes=False)
    def tenants(self, request: Request) -> bytes:
        base_url = self.service.base_url_for(request)
        return _listing(request, "tenants", [tenant_body(t, base_url) for t in self.store.tenants.values()])

    @app.route("/__parlel/tenants/<tenant_id>", methods=["GET"], strict_slashes=False)
    def tenant(self, request: Request, tenant_id: str) -> bytes:
        return json_response(request, 200, tenant_body(self._tenant(request, tenant_id),
                                                       self.service.base_url_for(request)))

    @app.route("/__parlel/tenants/<tenant_id>", methods=["DELETE"], strict_slashes=False)
    def delete_tenant(self, request: Request, tenant_id: str) -> bytes:
        self.store.tenants.delete(self._tenant(request, tenant_id))
        return empty_response(request, 204)

    @app.route("/__parlel/tenants/<tenant_id>/reset", methods=["POST"], strict_slashes=False)
    def reset_tenant(self, request: Request, tenant_id: str) -> bytes:
        """Empty the tenant; its DSN and token keep working."""
        made = self.store.tenants.reset(self._tenant(request, tenant_id))
        return json_response(request, 200, tenant_body(made, self.service.base_url_for(request)))

    # --- faults and the journal of near misses ----------------------------------------------

    @app.route("/__parlel/faults", methods=["POST"], strict_slashes=False)
    def create_fault(self, request: Request) -> bytes:
        """A fault (``control_faults``): ``201`` with it as stored."""
        made = self.store.faults.add(**read_fault(self.store, read_json_object(request), control_scope(request)))
        return json_response(request, 201, fault_body(made))

    @app.route("/__parlel/faults", methods=["GET"], strict_slashes=False)
    def faults(self, request: Request) -> bytes:
        found = select_faults(self.store, request, request_args(request))
        return _listing(request, "faults", [fault_body(f) for f in found])

    @app.route("/__parlel/faults", methods=["DELETE"], strict_slashes=False)
    def delete_faults(self, request: Request) -> bytes:
        """Every fault the caller may see (or those ``?tenant=``/``?org=``/``?project=`` name)."""
        for found in select_faults(self.store, request, request_args(request)):
            self.store.faults.remove(found)
        return empty_response(request, 204)

    @app.route("/__parlel/faults/<int:fault_id>", methods=["GET"], strict_slashes=False)
    def fault(self, request: Request, fault_id: int) -> bytes:
        return json_response(request, 200, fault_body(one_fault(self.store, request, fault_id)))

    @app.route("/__parlel/faults/<int:fault_id>", methods=["DELETE"], strict_slashes=False)
    def delete_fault(self, request: Request, fault_id: int) -> bytes:
        self.store.faults.remove(one_fault(self.store, request, fault_id))
        return empty_response(request, 204)

    @app.route("/__parlel/journal", methods=["GET"], strict_slashes=False)
    def journal(self, request: Request) -> bytes:
        """Ingest requests that stored nothing or lost some of what they carried, newest last."""
        return self._list(request, "journal")
