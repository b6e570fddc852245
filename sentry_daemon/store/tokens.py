"""Minting bearer tokens the way Sentry makes them, so clients that read them work unchanged.

A user token is ``sntryu_`` and 64 hex digits. An org auth token is
``sntrys_<base64 JSON>_<secret>``: the JSON names the organization and the Sentry URL
(``sentry-cli`` takes both from it, overriding ``SENTRY_URL``/``SENTRY_ORG``, and only when the
secret is 32 random bytes in unpadded base64, 43 characters, as Sentry's ``generate_token`` makes it).
"""

from __future__ import annotations

import base64
import json
import secrets

SCOPES = (
    "org:read", "org:write", "org:admin", "org:integrations", "org:ci",
    "member:read", "member:write", "member:admin", "member:invite",
    "team:read", "team:write", "team:admin",
    "project:read", "project:write", "project:admin", "project:releases", "project:distribution",
    "event:read", "event:write", "event:admin",
    "alerts:read", "alerts:write",
)
# what an org auth token may do: Sentry creates them with exactly this
ORG_TOKEN_SCOPES = ("org:ci",)
ORG_TOKEN_PREFIX = "sntrys_"
USER_TOKEN_PREFIX = "sntryu_"


def user_token_value() -> str:
    return USER_TOKEN_PREFIX + secrets.token_hex(32)


def org_token_value(org_slug: str, base_url: str | None, issued_at: float) -> str:
    """``issued_at``: the store's clock (the token's ``iat``)."""
    payload = {"iat": issued_at, "url": base_url, "region_url": base_url, "org": org_slug}
    encoded = base64.b64encode(json.dumps(payload).encode()).decode("ascii")
    secret = base64.b64encode(secrets.token_bytes(32)).decode("ascii").rstrip("=")
    return f"{ORG_TOKEN_PREFIX}{encoded}_{secret}"
