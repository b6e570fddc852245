"""Organizations as Sentry's web API shows them (SENTRY-PROTOCOL §7.4)."""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.records import Organization
from sentry_daemon.timestamps import isoformat

AVATAR = {"avatarType": "letter_avatar", "avatarUuid": None, "avatarUrl": None}


def organization(org: Organization, base_url: str) -> dict[str, Any]:
    return {
        "id": str(org.id),
        "slug": org.slug,
        "name": org.name,
        "dateCreated": isoformat(org.date_created),
        "status": {"id": "active", "name": "active"},
        "isEarlyAdopter": False,
        "require2FA": False,
        "requireEmailVerification": False,
        "avatar": dict(AVATAR),
        "features": [],
        "links": {
            "organizationUrl": f"{base_url}/organizations/{org.slug}/",
            "regionUrl": base_url,
        },
        "hasAuthProvider": False,
        "allowMemberInvite": True,
        "allowMemberProjectCreation": True,
        "allowSuperuserAccess": False,
    }
