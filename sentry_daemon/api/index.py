"""``GET /api/0/``: who the token is and what it may do (``sentry-cli info``)."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.api.app import ApiContext, app
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers.users import user


@app.route("/api/0/", methods=["GET"], strict_slashes=False)
def index(api: ApiContext, request: Request) -> bytes:
    who = api.user(request)
    return json_response(
        request,
        200,
        {
            "version": "0",
            "auth": {"scopes": ["org:read", "org:write", "project:read", "project:write",
                                "project:admin", "project:releases", "team:read", "team:write",
                                "event:read", "event:write", "event:admin", "member:read"]},
            "user": user(who),
        },
    )
