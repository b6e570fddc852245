"""Who is asking the web API: bearer tokens (SENTRY-PROTOCOL §7.1)."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError
from sentry_daemon.store.store import Store


def require_token(store: Store, request: Request) -> str:
    """The bearer token of a web-API request, or DRF's 401."""
    header = request.getHeader(b"authorization")
    if not header:
        raise ApiError(
            401,
            "Authentication credentials were not provided.",
            headers={"WWW-Authenticate": 'xBasic realm="api"'},
        )
    scheme, _, token = header.decode("utf-8", "replace").strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "Invalid token header. No credentials provided.")
    token = token.strip()
    if " " in token:
        raise ApiError(401, "Invalid token header. Token string should not contain spaces.")
    if not store.token_valid(token):
        raise ApiError(401, "Invalid token")
    return token
