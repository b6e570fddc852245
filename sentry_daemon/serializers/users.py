"""Users as Sentry's web API shows them, and actors (who an issue is assigned to)."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.avatars import AVATAR
from sentry_daemon.store.records import Team, User
from sentry_daemon.timestamps import isoformat


def user(u: User) -> dict[str, Any]:
    """Sentry's ``UserSerializer``: who acted (``statusDetails.actor``, ``seenBy``, activity)."""
    return {
        "id": str(u.id),
        "name": u.name,
        "username": u.username,
        "email": u.email,
        "avatarUrl": "",
        "isActive": True,
        "isSuspended": False,
        "hasPasswordAuth": True,
        "isManaged": False,
        "dateJoined": isoformat(u.date_joined),
        "lastLogin": None,
        "has2fa": False,
        "lastActive": None,
        "isSuperuser": False,
        "isStaff": False,
        "experiments": {},
        "emails": [{"id": str(u.id), "email": u.email, "is_verified": True}],
        "avatar": dict(AVATAR),
    }


def actor(assignee: Any, user_for: Any, team_for: Any) -> dict[str, Any] | None:
    """``assignedTo``: ``{"type": "user", "id", "name", "email"}`` or ``{"type": "team", "id", "name"}``."""
    if assignee is None:
        return None
    kind, ident = assignee
    if kind == "user":
        found: User | None = user_for(ident)
        if found is None:
            return None
        return {"email": found.email, "type": "user", "id": str(found.id), "name": found.name}
    team: Team | None = team_for(ident)
    if team is None:
        return None
    return {"type": "team", "id": str(team.id), "name": team.slug}
