"""Bearer tokens as Sentry's web API shows them: user auth tokens and organization auth tokens.

The token itself is shown once, in the answer that created it; afterwards only its last four
characters (``tokenLastCharacters``). Scopes are listed sorted (Sentry lists them as they were
asked for; the fake keeps them as a set).
"""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.records import Token
from sentry_daemon.timestamps import isoformat


def api_token(token: Token, include_token: bool = False) -> dict[str, Any]:
    """Sentry's ``ApiTokenSerializer`` for a personal token (no application, never expiring)."""
    data: dict[str, Any] = {
        "id": str(token.id),
        "scopes": sorted(token.scopes),
        "name": token.name,
        "application": None,
        "expiresAt": None,
        "dateCreated": isoformat(token.date_created),
        "state": None,
    }
    if include_token:
        data["token"] = token.value
    data["refreshToken"] = None
    data["tokenLastCharacters"] = token.last_characters
    return data


def org_auth_token(token: Token, include_token: bool = False) -> dict[str, Any]:
    """Sentry's ``OrgAuthTokenSerializer``."""
    data: dict[str, Any] = {
        "id": str(token.id),
        "name": token.name,
        "scopes": sorted(token.scopes),
        "tokenLastCharacters": token.last_characters,
        "dateCreated": isoformat(token.date_created),
        "dateLastUsed": isoformat(token.date_last_used),
        "projectLastUsedId": None,
    }
    if include_token:
        data["token"] = token.value
    return data
