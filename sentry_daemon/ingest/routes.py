"""What SDKs send: Relay's ingest routes (SENTRY-PROTOCOL §1.3), thin over the data path.

Each route runs the same path: auth → decode → parse → (normalize → group → store, in
``process``) and answers as Relay does. Any DSN path prefix in front of ``/api/`` works.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any, Callable

from twisted.web.server import Request

from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int
from sentry_daemon.http.responses import empty_response, json_bytes_response, json_response
from sentry_daemon.http.routing import Klein
from sentry_daemon.ingest.auth import (
    IngestAuth,
    authorize_ingest,
    parse_dsn,
    request_ingest_auth,
)
from sentry_daemon.ingest.encoding import decode_body, decode_store_body
from sentry_daemon.ingest.faults import limit_envelope
from sentry_daemon.ingest.journal import journaled
from sentry_daemon.ingest.envelope import (
    Envelope,
    Item,
    normalize_event_id,
    parse_envelope,
)
from sentry_daemon.ingest.limits import Overflow, check_envelope_limits
from sentry_daemon.ingest.multipart import parse_multipart
from sentry_daemon.ingest.process import Context, accept_envelope, reject_envelope
from sentry_daemon.store.store import Store

ALLOW_HEADERS = (
    "x-sentry-auth, x-requested-with, origin, accept, content-type, authorization, content-encoding, "
    "sentry-trace, baggage"
)
EXPOSE_HEADERS = "x-sentry-error, x-sentry-rate-limits, retry-after"
_EXPOSE_HEADERS = EXPOSE_HEADERS.encode()
SECURITY_TYPES = {
    "application/csp-report", "application/json", "application/expect-ct-report",
    "application/expect-ct-report+json", "application/expect-staple-report", "application/reports+json",
}
MONITOR_STATUSES = {"in_progress", "ok", "error"}


def _routes(*suffixes: str) -> list[str]:
    """Each route with and without a DSN path prefix."""
    return [p for s in suffixes for p in (f"/api/<project_id>/{s}", f"/<path:_prefix>/api/<project_id>/{s}")]


def route(app: Klein, suffixes: tuple[str, ...], methods: list[str]) -> Callable:
    """Register one handler under every prefixed and unprefixed form of its paths (the refusals
    it raises are journaled)."""

    def decorate(f: Callable) -> Callable:
        f = journaled(f)
        for n, path in enumerate(_routes(*suffixes)):
            f = app.route(path, methods=methods, strict_slashes=False, endpoint=f"{f.__name__}_{n}")(f)
        return f

    return decorate


class IngestRoutes:
    app = Klein()
    install_error_handlers(app)

    def __init__(self, store: Store, config: Any, base_url: Callable[[Request], str]) -> None:
        self.store = store
        self.config = config
        self.limits = config.limits
        self.base_url = base_url

    def direct_routes(self) -> list[tuple[re.Pattern[bytes], bytes, Callable[[Request, str], bytes], str]]:
        """The hot POST routes, for ``web.Root`` to call without Klein (same handlers), each with
        the template its Klein route has (``http.routing``)."""
        return [
            (re.compile(rb"(?:/.*)?/api/([^/]+)/envelope/?$"), b"POST", self.envelope, "/api/{project_id}/envelope/"),
            (re.compile(rb"(?:/.*)?/api/([^/]+)/store/?$"), b"POST", self.store_event, "/api/{project_id}/store/"),
        ]

    # --- the shared steps ------------------------------------------------------------------

    @staticmethod
    def _project_id(project_id: str) -> int:
        number = parse_int(project_id) if len(project_id) <= 18 else None
        if number is None:
            raise ApiError(400, "bad project path parameter")
        return number

    def _require_auth(self, auth: IngestAuth | None, body: bytes | None = None) -> None:
        """Strict mode answers a request without credentials 401 before looking at its body, as
        Relay's extractor does; an envelope may still carry them in its ``dsn`` header."""
        if auth is not None:
            return
        self_authenticated = body is not None and _has_dsn_header(body)
        if not self_authenticated and self.config.ingest_auth == "strict":
            raise ApiError(401, "missing authorization information")

    def _body(self, request: Request, allow_empty: bool = False, limit: int | None = None) -> bytes:
        """The request body with its ``Content-Encoding`` undone, capped at ``limit`` (default: an envelope's)."""
        raw = request.content.read() if request.content is not None else b""
        encoding = request.getHeader(b"content-encoding")
        body = decode_body(raw, encoding.decode("latin-1") if encoding else None,
                           limit or self.limits.max_envelope_size)
        if not body and not allow_empty:
            raise ApiError(400, "empty request body")
        return body

    def _cors(self, request: Request) -> None:
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        request.setHeader(b"Access-Control-Expose-Headers", _EXPOSE_HEADERS)

    def _accept(self, request: Request, endpoint: str, project_id: int, envelope: Envelope,
                auth: IngestAuth | None, raw: bytes) -> str | None:
        """Authorize, check limits and store one envelope; return the event id it was filed under."""
        auth = self._envelope_auth(project_id, envelope, auth)
        project = authorize_ingest(self.store, self.config.ingest_auth, project_id, auth)
        envelope, refusal = limit_envelope(self.store, request, endpoint, project, envelope)
        try:
            check_envelope_limits(envelope, self.limits)
        except Overflow as exc:  # Relay rejects the whole envelope, counting its items invalid
            reject_envelope(self.store, project, envelope, f"too_large:{exc.discard_type}")
            raise
        client_ip = getattr(request.getClientAddress(), "host", None)
        context = Context(self.store.now(), client_ip, auth.client if auth else None)
        _, event_id = accept_envelope(
            self.store, project, envelope, raw, context,
            endpoint=endpoint,
            client=(auth.client if auth else None) or _header(request, b"user-agent"),
            auth_source=auth.source if auth else None,
            remote_addr=client_ip,
            content_type=_header(request, b"content-type"),
            content_encoding=_header(request, b"content-encoding"),
        )
        if refusal is not None:  # the store endpoint answers any rate limit 429, the rest kept
            raise refusal
        return event_id

    @staticmethod
    def _envelope_auth(project_id: int, envelope: Envelope, auth: IngestAuth | None) -> IngestAuth | None:
        """The envelope's ``dsn`` header authenticates when nothing else does, and must agree when both do."""
        dsn_value = envelope.headers.get("dsn")
        if not dsn_value:
            return auth
        if not isinstance(dsn_value, str):
            raise ApiError(401, "bad envelope authentication header")
        dsn = parse_dsn(dsn_value)
        if dsn.project_id != str(project_id):
            raise ApiError(400, "invalid event envelope", ["project id header mismatch between envelope and request"])
        if auth is None:
            return IngestAuth(dsn.public_key, "envelope")
        if dsn.public_key != auth.public_key:
            raise ApiError(400, "invalid event envelope", ["public key header mismatch between envelope and request"])
        return auth

    @staticmethod
    def _id_response(request: Request, event_id: str | None) -> bytes:
        """``{"id": ...}`` as :func:`json_response` writes it; ids are hex, so nothing needs escaping."""
        return json_bytes_response(request, 200, b'{"id":"%s"}' % event_id.encode() if event_id else b"{}")

    # --- envelope and store ----------------------------------------------------------------

    @route(app, ("envelope/",), ["POST"])
    def envelope(self, request: Request, project_id: str, _prefix: str = "") -> bytes:
        self._cors(request)
        pid = self._project_id(project_id)
        auth = request_ingest_auth(request)
        body = self._body(request, allow_empty=True)
        self._require_auth(auth, body)
        envelope = parse_envelope(body)
        return self._id_response(request, self._accept(request, "envelope", pid, envelope, auth, body))

    @route(app, ("store/",), ["POST"])
    def store_event(self, request: Request, project_id: str, _prefix: str = "") -> bytes:
        self._cors(request)
        pid = self._project_id(project_id)
        auth = request_ingest_auth(request)
        self._require_auth(auth)
        body = self._body(request)
        content_type = (_header(request, b"content-type") or "").split(";")[0].strip().lower()
        if content_type == "application/x-sentry-envelope":
            envelope = parse_envelope(body)
        else:
            event = _json_object(decode_store_body(body, self.limits.max_event_size))
            event_id = normalize_event_id(event.get("event_id")) or uuid.uuid4().hex
            envelope = Envelope({"event_id": event_id}, [Item({"type": _store_item_type(event)}, json.dumps(event).encode())])
        return self._id_response(request, self._accept(request, "store", pid, envelope, auth, body))

    # --- security reports, minidumps, cron check-ins ----------------------------------------

    @route(app, ("security/", "csp-report/"), ["POST"])
    def security_report(self, request: Request, project_id: str, _prefix: str = "") -> bytes:
        """CSP / Expect-CT / HPKP reports: stored as a ``security`` event, answered with an empty 200."""
        self._cors(request)
        pid = self._project_id(project_id)
        content_type = (_header(request, b"content-type") or "").split(";")[0].strip().lower()
        if content_type not in SECURITY_TYPES:
            raise ApiError(415, f"unsupported content type '{content_type}'")
        auth = request_ingest_auth(request)
        self._require_auth(auth)
        body = self._body(request)
        reports = _security_reports(body, content_type)
        release = request.args.get(b"sentry_release", [b""])[0].decode("utf-8", "replace") or None
        environment = request.args.get(b"sentry_environment", [b""])[0].decode("utf-8", "replace") or None
        for report in reports:
            event = _security_event(report, self.store.now(), release, environment)
            envelope = Envelope({"event_id": event["event_id"]}, [Item({"type": "event"}, json.dumps(event).encode())])
            self._accept(request, "security", pid, envelope, auth, body)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b""

    @route(app, ("minidump/", "minidump"), ["POST"])
    def minidump(self, request: Request, project_id: str, _prefix: str = "") -> bytes:
        """Multipart crash upload: the dump becomes an ``event.minidump`` attachment of a new event."""
        self._cors(request)
        pid = self._project_id(project_id)
        auth = request_ingest_auth(request)
        self._require_auth(auth)
        body = self._body(request)
        content_type = _header(request, b"content-type") or ""
        fields, files = parse_multipart(body, content_type)
        dump = files.get("upload_file_minidump")
        if dump is None:
            raise ApiError(400, "missing minidump")
        event = _minidump_event(fields)
        event_id = normalize_event_id(event.get("event_id")) or uuid.uuid4().hex
        event["event_id"] = event_id
        items = [Item({"type": "event"}, json.dumps(event).encode())]
        items.append(Item({"type": "attachment", "filename": dump.filename or "minidump.dmp",
                           "attachment_type": "event.minidump", "content_type": "application/octet-stream",
                           "length": len(dump.data)}, dump.data))
        for name, part in files.items():
            if name != "upload_file_minidump":
                items.append(Item({"type": "attachment", "filename": part.filename or name,
                                   "content_type": part.content_type or "application/octet-stream",
                                   "length": len(part.data)}, part.data))
        envelope = Envelope({"event_id": event_id}, items)
        self._accept(request, "minidump", pid, envelope, auth, body)
        request.setHeader(b"Content-Type", b"text/plain")
        return str(uuid.UUID(event_id)).encode()

    @route(app, ("cron/<monitor_slug>/<sentry_key>/", "cron/<monitor_slug>/"), ["GET", "POST"])
    def cron(self, request: Request, project_id: str, monitor_slug: str, sentry_key: str | None = None,
             _prefix: str = "") -> bytes:
        """HTTP check-ins: query string or JSON body; always 202, as Relay."""
        self._cors(request)
        pid = self._project_id(project_id)
        auth = request_ingest_auth(request, path_key=sentry_key)
        self._require_auth(auth)
        body = b""
        if request.method == b"POST":
            body = self._body(request, allow_empty=True, limit=self.limits.max_check_in_size)
        check_in: dict[str, Any] = _json_object(body) if body.strip() else {}
        for name in ("status", "check_in_id", "environment", "duration"):
            value = request.args.get(name.encode())
            if value and name not in check_in:
                check_in[name] = value[0].decode("utf-8", "replace")
        if "duration" in check_in:
            try:
                check_in["duration"] = float(check_in["duration"])
            except (TypeError, ValueError):
                raise ApiError(400, "invalid duration") from None
        status = check_in.get("status")
        if status not in MONITOR_STATUSES:
            raise ApiError(400, f"invalid check-in status {status!r}")
        check_in["monitor_slug"] = monitor_slug
        if "check_in_id" in check_in:
            check_in_id = normalize_event_id(check_in["check_in_id"])
            if check_in_id is None:
                raise ApiError(400, "invalid check_in_id: expected a UUID")
            check_in["check_in_id"] = check_in_id
        else:
            check_in["check_in_id"] = uuid.uuid4().hex
        envelope = Envelope({}, [Item({"type": "check_in"}, json.dumps(check_in).encode())])
        self._accept(request, "cron", pid, envelope, auth, body)
        return json_response(request, 202, {"id": check_in["check_in_id"]})

    # --- CORS preflight --------------------------------------------------------------------

    @route(app, ("envelope/", "store/", "security/", "csp-report/", "minidump/",
                 "cron/<monitor_slug>/<sentry_key>/", "cron/<monitor_slug>/"), ["OPTIONS"])
    def preflight(self, request: Request, project_id: str, _prefix: str = "", **_: str) -> bytes:
        return empty_response(request, 200, {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET, POST",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Expose-Headers": EXPOSE_HEADERS,
            "Access-Control-Max-Age": "3600",
        })


def _header(request: Request, name: bytes) -> str | None:
    value = request.getHeader(name)
    return value.decode("latin-1") if value is not None else None


def _json_object(body: bytes) -> dict[str, Any]:
    try:
        value = json.loads(body)
    except RecursionError:
        raise ApiError(400, "invalid JSON data", ["recursion limit exceeded"]) from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, "invalid JSON data", [str(exc)]) from None
    if not isinstance(value, dict):
        raise ApiError(400, "invalid JSON data", ["expected a JSON object"])
    return value


def _has_dsn_header(body: bytes) -> bool:
    """Whether the envelope authenticates itself; Relay reads the ``dsn`` before parsing the rest,
    so a bad one is a 401 whatever follows."""
    line = body.split(b"\n", 1)[0]
    try:
        headers = json.loads(line)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return False
    dsn = headers.get("dsn") if isinstance(headers, dict) else None
    if dsn is None:
        return False
    if not isinstance(dsn, str):
        raise ApiError(401, "bad envelope authentication header")
    parse_dsn(dsn)
    return True


def _store_item_type(event: dict[str, Any]) -> str:
    return "transaction" if event.get("type") == "transaction" else "event"


def _security_reports(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The report(s) of a security request: one object, or the Reporting API's array of them."""
    if content_type != "application/reports+json":
        return [_json_object(body)]
    try:
        value = json.loads(body)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise ApiError(400, "invalid JSON data", ["invalid security report"]) from None
    reports = [r.get("body") for r in value if isinstance(r, dict)] if isinstance(value, list) else []
    reports = [r for r in reports if isinstance(r, dict)]
    if not reports:
        raise ApiError(400, "invalid JSON data", ["expected an array of reports"])
    return reports


def _security_event(report: dict[str, Any], now: float, release: str | None,
                    environment: str | None) -> dict[str, Any]:
    """A CSP (or Expect-CT/HPKP) report as the ``csp``-type event Sentry makes of it.

    Both the ``csp-report`` wrapper (``blocked-uri``) and the Reporting API body (``blockedURL``)
    are read; ``?sentry_release=`` and ``?sentry_environment=`` become the event's, as in Relay.
    """
    body = report.get("csp-report") if isinstance(report.get("csp-report"), dict) else report
    directive = str(body.get("effective-directive") or body.get("effectiveDirective")
                    or body.get("violated-directive") or "").split(" ")[0]
    blocked = str(body.get("blocked-uri") or body.get("blockedURL") or "")
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "type": "csp" if directive else "default",
        "logger": "csp",
        "logentry": {"formatted": f"Blocked '{directive}' from '{blocked}'" if directive else "Security report"},
        "csp": body,
        "platform": "other",
        "timestamp": now,
        "request": {"url": body.get("document-uri") or body.get("documentURL")},
    }
    if release:
        event["release"] = release
    if environment:
        event["environment"] = environment
    return event


def _minidump_event(fields: dict[str, str]) -> dict[str, Any]:
    """Event JSON from a minidump upload: a ``sentry`` JSON field and/or ``sentry[...]`` fields."""
    event: dict[str, Any] = {}
    if "sentry" in fields:
        try:
            value = json.loads(fields["sentry"])
        except (ValueError, RecursionError):
            raise ApiError(400, "invalid JSON data", ["the sentry field is not JSON"]) from None
        if isinstance(value, dict):
            event.update(value)
    for name, value in fields.items():
        if name.startswith("sentry[") and name.endswith("]"):
            path = name[len("sentry["):-1].split("][")
            target = event
            for key in path[:-1]:
                target = target.setdefault(key, {}) if isinstance(target.get(key, {}), dict) else {}
            target[path[-1]] = value
    event.setdefault("platform", "native")
    event.setdefault("level", "fatal")
    event.setdefault("exception", {"values": [{"type": "Minidump", "value": "Unreal/native crash (minidump)",
                                               "mechanism": {"type": "minidump", "handled": False, "synthetic": True}}]})
    return event
