"""``POST /v1/ingest``: the Open Sentry ingest API, a lightweight JSON front door to the same store.

Its users rely on its own contract, not Relay's: errors are ``{"error": ...}``, success is
``202 {"id": "<batch uuid>"}``. The key is any project's public DSN key, so the DSN
``http://<key>@127.0.0.1:4773/v1/ingest`` names the project; it is checked whatever
``--ingest-auth`` says (an unknown, disabled or deleted key is ``403``). The body is read as sent
(no ``Content-Encoding``) and capped at 256 KiB before it is buffered (``http.site``). Checks run
in the order auth, JSON, schema; a refused batch stores nothing but its ``invalid`` outcomes.
"""

from __future__ import annotations

import re

from twisted.web.server import Request

from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.errors import ErrorResponse
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.http.routing import Klein
from sentry_daemon.ingest.open_sentry_events import Sender, keep_batch
from sentry_daemon.ingest.open_sentry_schema import InvalidBatch, parse_batch, parse_json
from sentry_daemon.store.records import ProjectKey
from sentry_daemon.store.store import Store

PATH = re.compile(rb"/v1/ingest/?$")
MAX_BODY = 256 * 1024
TOO_LARGE = {"error": "Payload too large"}
# the forms a key may come in, in the order they are read; the first one present counts
KEY_HEADERS = ((b"x-open-sentry-key", "x-open-sentry-key"), (b"x-sentry-clone-key", "x-sentry-clone-key"))
ALLOW_HEADERS = "content-type, x-open-sentry-key, x-sentry-clone-key"


def _header(request: Request, name: bytes) -> str | None:
    value = request.getHeader(name)
    return value.decode("utf-8", "replace") if value is not None else None


def request_key(request: Request) -> tuple[str, str] | None:
    """(public key, where it came from): a header, else ``?key=`` (the browser beacon)."""
    for header, source in KEY_HEADERS:
        value = (_header(request, header) or "").strip()
        if value:
            return value, source
    values = request.args.get(b"key")
    if values and values[0].strip():
        return values[0].strip().decode("utf-8", "replace"), "query"
    return None


def authorize(store: Store, request: Request) -> tuple[ProjectKey, str]:
    """The active key the request names, and its form; ``401``/``403`` in this API's words."""
    found = request_key(request)
    if found is None:
        raise ErrorResponse(401, "Missing auth key")
    key = store.keys.get(found[0])
    if key is None or not key.is_active:
        raise ErrorResponse(403, "Invalid DSN key")
    return key, found[1]


class OpenSentryRoutes:
    app = Klein()
    install_error_handlers(app)

    def __init__(self, store: Store) -> None:
        self.store = store

    @app.route("/v1/ingest/", methods=["POST"], strict_slashes=False)
    def ingest(self, request: Request) -> bytes:
        request.setHeader(b"Access-Control-Allow-Origin", b"*")
        key, source = authorize(self.store, request)
        raw = request.content.read() if request.content is not None else b""
        try:
            items = parse_batch(parse_json(raw))
        except InvalidBatch as refused:
            for category in refused.categories:
                self.store.add_outcome(key.project, category, "invalid", 1, refused.reason)
            raise ErrorResponse(400, refused.message) from None
        sender = Sender(key.public, source, _header(request, b"user-agent"),
                        getattr(request.getClientAddress(), "host", None), _header(request, b"content-type"))
        batch = keep_batch(self.store, key.project, items, len(raw), sender)
        return json_response(request, 202, {"id": batch.id})

    @app.route("/v1/ingest/", methods=["OPTIONS"], strict_slashes=False)
    def preflight(self, request: Request) -> bytes:
        """What a browser asks before sending the key in a header."""
        return empty_response(request, 200, {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "POST, OPTIONS",
            "Access-Control-Allow-Headers": ALLOW_HEADERS,
            "Access-Control-Max-Age": "3600",
        })
