"""Which token scopes each endpoint accepts, per method, as Sentry's permission classes declare them.

A request passes when its token holds any one of the scopes its method lists (Sentry's
``ScopedPermission.has_permission``); write and admin scopes pass where Sentry lists them beside
the read scope, which is how "write implies read" works there. The sets follow the ``security``
lists of Sentry's published API schema; endpoints the schema leaves out use the permission class
Sentry's code gives them (named beside each).
"""

from __future__ import annotations

from typing import Mapping

from sentry_daemon.store.tokens import ORG_TOKEN_SCOPES, SCOPES  # noqa: F401  (re-exported)

Permission = Mapping[str, tuple[str, ...]]

DENIED = "You do not have permission to perform this action."

_ORG_READ = ("org:read", "org:write", "org:admin")
_ORG_WRITE = ("org:write", "org:admin")
_PROJECT_READ = ("project:read", "project:write", "project:admin")
_PROJECT_WRITE = ("project:write", "project:admin")
_RELEASE_READ = ("project:read", "project:write", "project:admin", "project:releases", "org:ci")
_RELEASE_WRITE = ("project:write", "project:admin", "project:releases", "org:ci")

# any valid token (the index, a user's own tokens)
AUTHENTICATED: Permission = {}
ORGANIZATION: Permission = {"GET": _ORG_READ, "POST": _ORG_WRITE, "PUT": _ORG_WRITE, "DELETE": ("org:admin",)}
ORG_TEAMS: Permission = {"GET": _ORG_READ, "POST": ("org:write", "org:admin", "team:write")}
TEAM: Permission = {"GET": ("team:read", "team:write", "team:admin"), "POST": ("team:write", "team:admin"),
                    "PUT": ("team:write", "team:admin"), "DELETE": ("team:admin",)}
MEMBER: Permission = {"GET": ("member:read", "member:write", "member:admin")}
PROJECT: Permission = {"GET": _PROJECT_READ, "POST": _PROJECT_WRITE, "PUT": _PROJECT_READ,
                       "DELETE": ("project:admin",)}
# OrganizationPermission to list; OrgProjectPermission to create (any member may, so project:read)
ORG_PROJECTS: Permission = {"GET": _ORG_READ, "POST": _PROJECT_READ}
# TeamProjectPermission
TEAM_PROJECTS: Permission = {"GET": _PROJECT_READ, "POST": _PROJECT_WRITE}
PROJECT_KEYS: Permission = {"GET": _PROJECT_READ, "POST": _PROJECT_WRITE, "PUT": _PROJECT_WRITE,
                            "DELETE": ("project:admin",)}
# GroupPermission: issues and their events
ISSUES: Permission = {"GET": ("event:read", "event:write", "event:admin"), "PUT": ("event:write", "event:admin"),
                      "POST": ("event:write", "event:admin"), "DELETE": ("event:admin",)}
# ProjectEventPermission as the schema lists it: a project's events are read with project:read
PROJECT_EVENTS: Permission = {"GET": _PROJECT_READ}
RELEASES: Permission = {"GET": _RELEASE_READ, "POST": _RELEASE_WRITE, "PUT": _RELEASE_WRITE,
                        "DELETE": ("project:admin", "project:releases")}
# chunk uploads and assembling (OrganizationReleasePermission / ProjectReleasePermission)
UPLOADS: Permission = {"GET": _RELEASE_READ, "POST": _RELEASE_WRITE, "PUT": _RELEASE_WRITE,
                       "DELETE": ("project:admin", "project:releases")}
# OrganizationIntegrationsLoosePermission (the repository list; creating one is POST)
REPOS: Permission = {"GET": ("org:read", "org:write", "org:admin", "org:integrations", "org:ci"),
                     "POST": ("org:read", "org:write", "org:admin", "org:integrations")}
MONITORS: Permission = {"GET": ("org:read", "org:write", "org:admin", "alerts:read")}
MONITOR: Permission = {"GET": ("project:read", "project:write", "project:admin", "alerts:read", "alerts:write"),
                       "PUT": ("project:write", "project:admin", "alerts:write"),
                       "DELETE": ("project:write", "project:admin", "alerts:write")}
ORG_STATS: Permission = {"GET": _ORG_READ}
PROJECT_STATS: Permission = {"GET": _PROJECT_READ}
# OrgAuthTokenPermission
ORG_AUTH_TOKENS: Permission = {"GET": _ORG_READ, "POST": _ORG_READ, "PUT": _ORG_READ, "DELETE": _ORG_WRITE}


def allows(permission: Permission, method: str, scopes: frozenset[str]) -> bool:
    """Whether a token with ``scopes`` may make a ``method`` request of an endpoint so guarded."""
    if permission is AUTHENTICATED:
        return True
    if method == "HEAD":
        method = "GET"
    return any(scope in scopes for scope in permission.get(method, ()))
