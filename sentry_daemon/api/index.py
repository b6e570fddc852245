"""``GET /api/0/``: who the token is and what it may do (``sentry-cli info``)."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.api.app import ApiContext, app
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers.users import user


@app.route("/api/0/", methods=["GET"], strict_slashes=False)
def index(api: ApiContext, request: Request) -> bytes:
    """Sentry answers without credentials too (``auth`` and ``user`` null); a bad token is a 401."""
    if not request.getHeader(b"authorization"):
        return json_response(request, 200, {"version": "0", "auth": None, "user": None})
    token = api.token(request)
    # an org auth token acts for no user (Sentry's ``request.user`` is anonymous then)
    return json_response(request, 200, {"version": "0", "auth": {"scopes": sorted(token.scopes)},
                                        "user": user(token.user) if token.kind == "user" else None})
