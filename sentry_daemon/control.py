"""Service and inspection endpoints: ``/``, ``/health`` and the ``/__parlel/`` control API.

The control API is what tests use to see what clients sent (every list is
``{"<plural>": [...], "count": N}``, oldest first) and to reset state between tests.
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from klein import Klein
from twisted.web.server import Request

from sentry_daemon import __version__
from sentry_daemon.api.routes import app as api_app
from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.params import query_arg, query_args
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers import captured
from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.serializers.grouping_info import grouping_info
from sentry_daemon.store.store import Store


class ControlledService(Protocol):
    """What the control API needs of the service that owns it (``service.SentryService``)."""

    store: Store
    config: Any
    address: Any

    def base_url_for(self, request: Request) -> str: ...

    def health(self) -> dict[str, str]: ...

    def in_flight(self) -> int: ...

    def reset(self) -> None: ...


def _klein_endpoints(app: Klein) -> list[str]:
    """``"GET|PUT /api/0/projects/{org}/{project}/"`` for every route of a Klein app, in path order."""
    methods: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z_]+:)?([a-z_]+)>", r"{\1}", rule.rule)
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
    *_klein_endpoints(api_app),
    "GET /health",
    "POST /__parlel/reset",
    "GET /__parlel/events",
    "GET /__parlel/events/{event_id}/grouping",
    "GET /__parlel/items",
    "GET /__parlel/envelopes",
    "GET /__parlel/envelopes/{id}/raw",
    "GET /__parlel/attachments/{id}",
    "GET /__parlel/outcomes",
    "GET /__parlel/release-health",
]


def _int_arg(request: Request, name: str) -> int | None:
    value = query_arg(request, name)
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise ApiError(400, f"invalid {name}: {value!r} is not a whole number")
    return int(value)


def _listing(request: Request, plural: str, rows: list) -> bytes:
    """Every control-API list has one shape: ``{"<plural>": [...], "count": N}``, oldest first."""
    return json_response(request, 200, {plural: rows, "count": len(rows)})


class ControlRoutes:
    app = Klein()
    install_error_handlers(app)

    def __init__(self, service: ControlledService) -> None:
        self.service = service
        self.store = service.store

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

    @app.route("/__parlel/events", methods=["GET"], strict_slashes=False)
    def events(self, request: Request) -> bytes:
        events = self.store.query_events(_int_arg(request, "project"), query_args(request, "type") or None)
        return _listing(request, "events", [captured.captured_event(e) for e in events])

    @app.route("/__parlel/events/<event_id>/grouping", methods=["GET"], strict_slashes=False)
    def event_grouping(self, request: Request, event_id: str) -> bytes:
        """Why the event is in its issue: every grouping variant, its hash, its components and hints."""
        event = self.store.event(event_id)
        if event is None or event.type in ("transaction", "feedback"):
            raise not_found()
        return json_response(request, 200, grouping_info(event))

    @app.route("/__parlel/items", methods=["GET"], strict_slashes=False)
    def items(self, request: Request) -> bytes:
        project = _int_arg(request, "project")
        types = set(query_args(request, "type"))
        items = [
            i for i in self.store.items
            if (project is None or i.project.id == project) and (not types or i.type in types)
        ]
        return _listing(request, "items", [captured.captured_item(i) for i in items])

    @app.route("/__parlel/envelopes", methods=["GET"], strict_slashes=False)
    def envelopes(self, request: Request) -> bytes:
        project = _int_arg(request, "project")
        envelopes = [e for e in self.store.envelopes.values() if project is None or e.project.id == project]
        return _listing(request, "envelopes", [captured.captured_envelope(e) for e in envelopes])

    @app.route("/__parlel/envelopes/<int:envelope_id>/raw", methods=["GET"], strict_slashes=False)
    def envelope_raw(self, request: Request, envelope_id: int) -> bytes:
        record = self.store.envelopes.get(envelope_id)
        if record is None:
            raise not_found()
        request.setHeader(b"Content-Type", b"application/x-sentry-envelope")
        return record.raw

    @app.route("/__parlel/outcomes", methods=["GET"], strict_slashes=False)
    def outcomes(self, request: Request) -> bytes:
        """Accepted/invalid items and the losses SDKs reported (client reports), by category."""
        project = _int_arg(request, "project")
        rows = [
            {"project": pid, "category": category, "outcome": outcome, "reason": reason, "quantity": quantity}
            for (pid, category, outcome, reason), quantity in self.store.outcomes.totals().items()
            if project is None or pid == project
        ]
        return _listing(request, "outcomes", rows)

    @app.route("/__parlel/release-health", methods=["GET"], strict_slashes=False)
    def release_health(self, request: Request) -> bytes:
        """Session counts per project, release and environment, from session updates and aggregates."""
        project = _int_arg(request, "project")
        rows = [
            {"project": pid, "release": release, "environment": environment, **counts}
            for (pid, release, environment), counts in self.store.release_health().items()
            if project is None or pid == project
        ]
        return _listing(request, "releases", rows)

    @app.route("/__parlel/attachments", methods=["GET"], strict_slashes=False)
    def attachments(self, request: Request) -> bytes:
        event_id = query_arg(request, "event_id")
        found = [a for a in self.store.attachments.values() if event_id is None or a.event_id == event_id]
        return _listing(request, "attachments", [captured.captured_attachment(a) for a in found])

    @app.route("/__parlel/attachments/<attachment_id>", methods=["GET"], strict_slashes=False)
    def attachment(self, request: Request, attachment_id: str) -> bytes:
        found = self.store.attachments.get(attachment_id)
        if found is None:
            raise not_found()
        request.setHeader(b"Content-Type", found.content_type.encode("latin-1", "replace"))
        request.setHeader(b"Content-Disposition", f'attachment; filename="{found.filename}"'.encode("latin-1", "replace"))
        return found.data
