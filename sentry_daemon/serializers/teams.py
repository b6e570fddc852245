"""Teams as Sentry's web API shows them (``TeamSerializer``)."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.access import Viewer
from sentry_daemon.serializers.avatars import LETTER_AVATAR
from sentry_daemon.store.records import Team
from sentry_daemon.timestamps import isoformat


def team_summary(team: Team) -> dict[str, Any]:
    return {"id": str(team.id), "name": team.name, "slug": team.slug}


def team(t: Team, viewer: Viewer) -> dict[str, Any]:
    """``expand=projects`` / ``organization`` / ``externalTeams`` are added by the caller."""
    has_access, team_role, access = viewer.team_access(t)
    return {
        "id": str(t.id),
        "slug": t.slug,
        "name": t.name,
        "dateCreated": isoformat(t.date_created),
        "isMember": viewer.user_id is not None and viewer.user_id in t.member_ids,
        "teamRole": team_role,
        "flags": {"idp:provisioned": False},
        "access": list(access),
        "hasAccess": has_access,
        "isPending": False,
        "memberCount": len(t.member_ids),
        "avatar": dict(LETTER_AVATAR),
    }
