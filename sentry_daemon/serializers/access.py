"""What the token's user may do, as Sentry lists it on teams and projects (``access``)."""

from __future__ import annotations

PROJECT_ACCESS = [
    "project:read", "project:write", "project:admin", "project:releases",
    "event:read", "event:write", "event:admin",
]
TEAM_ACCESS = ["team:read", "team:write", "team:admin"]

