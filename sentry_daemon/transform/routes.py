"""``/api/transform``: run a ``beforeSend`` callback over an event through a real Sentry SDK.

The contract is the beforeSend playground's: ``POST /api/transform {"sdk", "event",
"beforeSendCode"}`` → ``200 {"success": true, "originalEvent", "transformedEvent", "sdk"}``
(``transformedEvent`` null when the callback dropped the event); every refusal is ``400
{"success": false, "error": "<kind>: <message>", "traceback": "…"}`` with one of the kinds below,
and ``500`` (same shape) only for a fault of the daemon. Off unless the daemon was started with
``--transform``: then every route here answers ``404 {"detail": …}`` saying how to turn it on.

It runs the code it is sent, so two browser tricks are refused before anything runs: a
cross-site page may POST to a loopback port without a preflight only with a non-JSON content
type (so the body must be sent as ``application/json``, as the playground's clients do), and a
DNS-rebound page names a foreign host in ``Origin`` (so an ``Origin`` must be a loopback one).
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Callable
from urllib.parse import urlsplit

from twisted.internet.defer import Deferred
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Request

from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.responses import json_response
from sentry_daemon.http.routing import Klein
from sentry_daemon.timestamps import isoformat
from sentry_daemon.transform.engine import TransformEngine
from sentry_daemon.transform.pool import CallbackCrashed, TransformTimeout, WorkerFault
from sentry_daemon.transform.sdks import NODE_INSTALL_HINT, SDK_KEYS

log = Logger()

PATH = re.compile(rb"/api/transform/?$")
MAX_BODY = 10 * 1024 * 1024  # the playground's JSON body limit; larger is refused before it is read
TOO_LARGE = {"success": False, "error": "Payload too large: a transform request is at most 10 MiB", "traceback": ""}
DISABLED = ("The transform API is off: start sentryfake with --transform to enable it "
            "(it executes the beforeSend code it is sent).")
FIELDS = ("sdk", "event", "beforeSendCode")
INSTALL_HINTS = {
    "python": 'pip install sentry-sdk (or the daemon\'s ".[test]" extra) into the daemon\'s environment',
    "javascript": f"{NODE_INSTALL_HINT}, with node on PATH",
}


class TransformRefused(Exception):
    """A ``400`` of the transform API: ``"<kind>: <message>"`` and a traceback (maybe empty)."""

    def __init__(self, kind: str, message: str, traceback: str = "", status: int = 400) -> None:
        super().__init__(f"{kind}: {message}")
        self.status = status
        self.body = {"success": False, "error": f"{kind}: {message}", "traceback": traceback}


def _is_loopback_origin(origin: str) -> bool:
    try:
        host = urlsplit(origin).hostname or ""
    except ValueError:  # "http://[::1", not a URL at all
        return False
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _json_content_type(request: Request) -> bool:
    value = (request.getHeader(b"content-type") or b"").split(b";")[0].strip().lower()
    return value == b"application/json" or value.endswith(b"+json")


def parse_request(request: Request, installed: Callable[[str], bool]) -> tuple[str, dict[str, Any], str]:
    """(sdk, event, code) of a transform request, or the refusal its first problem earns."""
    body: Any = None
    if _json_content_type(request):
        raw = request.content.read() if request.content is not None else b""
        try:
            body = json.loads(raw) if raw.strip() else None
        except (UnicodeDecodeError, ValueError, RecursionError):
            body = None
    if not isinstance(body, dict):
        raise TransformRefused("Missing required fields", ", ".join(FIELDS) + " (send a JSON object with "
                               "Content-Type: application/json)")
    missing = [name for name in FIELDS if body.get(name) is None or body.get(name) == ""]
    if missing:
        raise TransformRefused("Missing required fields", ", ".join(missing))
    sdk, event, code = body["sdk"], body["event"], body["beforeSendCode"]
    if isinstance(event, str):
        try:
            event = json.loads(event)
        except (ValueError, RecursionError) as exc:
            raise TransformRefused("Invalid JSON in event input", str(exc)) from None
    if not isinstance(event, dict):
        raise TransformRefused("Invalid JSON in event input",
                               f"the event must be a JSON object, not {_json_type(event)}")
    if not isinstance(sdk, str) or sdk not in SDK_KEYS:
        raise TransformRefused("Unsupported SDK", f"{sdk if isinstance(sdk, str) else json.dumps(sdk)} "
                               f"(one of {', '.join(SDK_KEYS)})")
    if not installed(sdk):
        raise TransformRefused("SDK not installed", sdk, INSTALL_HINTS.get(sdk, ""))
    if not isinstance(code, str):
        raise TransformRefused("Compilation failed", f"beforeSendCode must be a string of code, not {_json_type(code)}")
    return sdk, event, code


def _json_type(value: Any) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
    return names.get(type(value), "a number")


class TransformRoutes:
    app = Klein()

    @app.handle_errors(TransformRefused)  # before the catch-all handlers: the first match answers
    def refused(self, request: Request, failure: Failure) -> bytes:
        return json_response(request, failure.value.status, failure.value.body)

    install_error_handlers(app)

    def __init__(self, engine: TransformEngine | None, now: Callable[[], float]) -> None:
        self.engine = engine
        self.now = now

    def _engine(self, request: Request) -> TransformEngine:
        if self.engine is None:
            raise ApiError(404, DISABLED)
        return self.engine

    @app.route("/api/transform", methods=["POST"], strict_slashes=False)
    def transform(self, request: Request) -> Deferred:
        engine = self._engine(request)
        origin = request.getHeader(b"origin")
        if origin and not _is_loopback_origin(origin.decode("latin-1")):
            raise TransformRefused("Forbidden", "a web page of another host may not run code here", status=403)
        sdk, event, code = parse_request(request, engine.installed)
        d = engine.transform(sdk, event, code)  # the worker gets a copy: ``event`` stays as sent
        d.addCallbacks(lambda reply: self._answer(request, sdk, event, reply),
                       lambda failure: self._failed(request, engine, failure))
        return d

    @app.route("/api/transform/sdks", methods=["GET"], strict_slashes=False)
    def sdks(self, request: Request) -> bytes:
        return json_response(request, 200, {"sdks": self._engine(request).sdks()})

    @app.route("/api/transform/health", methods=["GET"], strict_slashes=False)
    def health(self, request: Request) -> bytes:
        self._engine(request)
        stamp = isoformat(self.now()) or ""
        return json_response(request, 200, {"status": "healthy", "timestamp": stamp[:23] + "Z"})

    def _answer(self, request: Request, sdk: str, original: dict[str, Any], reply: dict[str, Any]) -> bytes:
        if reply.get("ok") is True:
            return json_response(request, 200, {"success": True, "originalEvent": original,
                                                "transformedEvent": reply.get("event"), "sdk": sdk})
        refused = TransformRefused(str(reply.get("kind")), str(reply.get("message")),
                                   str(reply.get("traceback") or ""))
        return json_response(request, refused.status, refused.body)

    def _failed(self, request: Request, engine: TransformEngine, failure: Failure) -> bytes | Failure:
        exc = failure.value
        if isinstance(exc, TransformTimeout):
            refused = TransformRefused("Timeout", f"the callback did not finish within {engine.timeout:g} s; "
                                       "its process was killed")
        elif isinstance(exc, CallbackCrashed):
            refused = TransformRefused("Transformation error", str(exc), exc.stderr)
        elif isinstance(exc, WorkerFault):
            log.error("transform: {message}", message=str(exc))
            refused = TransformRefused("Internal error", str(exc), exc.stderr, status=500)
        else:
            return failure  # cancelled (the client left), or a bug: the app's handlers take it
        return json_response(request, refused.status, refused.body)
