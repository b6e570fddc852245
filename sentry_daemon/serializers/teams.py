"""Teams as Sentry's web API shows them."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.access import PROJECT_ACCESS, TEAM_ACCESS
from sentry_daemon.serializers.organizations import AVATAR
from sentry_daemon.store.records import Team
from sentry_daemon.timestamps import isoformat


def team_summary(team: Team) -> dict[str, Any]:
    return {"id": str(team.id), "name": team.name, "slug": team.slug}


def team(team: Team, member_count: int = 1) -> dict[str, Any]:
    return {
        **team_summary(team),
        "dateCreated": isoformat(team.date_created),
        "isMember": True,
        "teamRole": "admin",
        "flags": {"idp:provisioned": False},
        "access": list(TEAM_ACCESS + PROJECT_ACCESS),
        "hasAccess": True,
        "isPending": False,
        "memberCount": member_count,
        "avatar": dict(AVATAR),
    }
