"""Who is asking the web API: bearer tokens (SENTRY-PROTOCOL §7.1)."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError
from sentry_daemon.store.records import Token
from sentry_daemon.store.store import Store
from sentry_daemon.store.tokens import ORG_TOKEN_PREFIX


def bearer_value(request: Request) -> str:
    """The value of ``Authorization: Bearer …``, or DRF's 401 for a missing or malformed header."""
    header = request.getHeader(b"authorization")
    if not header:
        raise ApiError(
            401,
            "Authentication credentials were not provided.",
            headers={"WWW-Authenticate": 'xBasic realm="api"'},
        )
    scheme, _, value = header.decode("utf-8", "replace").strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise ApiError(401, "Invalid token header. No credentials provided.")
    value = value.strip()
    if " " in value:
        raise ApiError(401, "Invalid token header. Token string should not contain spaces.")
    return value


def require_token(store: Store, request: Request) -> Token:
    """The bearer token of a web-API request, or DRF's 401 (what Sentry answers, word for word)."""
    value = bearer_value(request)
    token = store.token(value)
    if token is None:
        # Sentry reads an ``sntrys_`` value as an org auth token (``OrgAuthTokenAuthentication``)
        raise ApiError(401, "Invalid org token" if value.startswith(ORG_TOKEN_PREFIX) else "Invalid token")
    token.date_last_used = store.now()
    return token
