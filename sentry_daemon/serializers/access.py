"""What the caller may do, as Sentry computes it (``sentry.auth.access``) and lists it in ``access``.

A user token acts for the fake's one user, the owner of every organization: its organization
access is the owner role's scopes narrowed to the token's (``from_member``). An org auth token
has no user: Sentry gives it organization-wide access with every scope (``from_rpc_auth``), and
its request-level scopes are what the permission classes check. On teams and projects Sentry
lists the scopes of the caller's team role instead: the owner's minimum team role is Team Admin,
and a caller without a user gets the default (Contributor) role on a team it may see through open
membership, and nothing on a project.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentry_daemon.store.records import Organization, Project, Team, Token
from sentry_daemon.store.tokens import SCOPES

# (id, name, description, scopes, is_global, minimum team role, retired), Sentry's SENTRY_ROLES
ORG_ROLES: tuple[tuple[str, str, str, tuple[str, ...], bool, str, bool], ...] = (
    ("billing", "Billing", "Can manage subscription and billing details.", ("org:billing",), False,
     "contributor", False),
    ("member", "Member", "Members can view and act on events, as well as view most other data within the "
     "organization.", ("alerts:read", "alerts:write", "event:admin", "event:read", "event:write", "member:read",
                       "org:read", "project:read", "project:releases", "team:read"), False, "contributor", False),
    ("admin", "Admin", "Admin privileges on any teams of which they're a member. They can create new teams and "
     "projects, as well as remove teams and projects on which they already hold membership (or all teams, if open "
     "membership is enabled). Additionally, they can manage memberships of teams that they are members of. They "
     "cannot invite members to the organization.",
     ("alerts:read", "alerts:write", "event:admin", "event:read", "event:write", "member:read", "org:integrations",
      "org:read", "project:admin", "project:read", "project:releases", "project:write", "team:admin", "team:read",
      "team:write"), False, "admin", True),
    ("manager", "Manager", "Gains admin access on all teams as well as the ability to add and remove members.",
     ("alerts:read", "alerts:write", "event:admin", "event:read", "event:write", "member:admin", "member:read",
      "member:write", "org:integrations", "org:read", "org:write", "project:admin", "project:read",
      "project:releases", "project:write", "team:admin", "team:read", "team:write"), True, "admin", False),
    ("owner", "Owner", "Unrestricted access to the organization, its data, and its settings. Can add, modify, and "
     "delete projects and members, as well as make billing and plan changes.",
     ("alerts:read", "alerts:write", "event:admin", "event:read", "event:write", "member:admin", "member:read",
      "member:write", "org:admin", "org:billing", "org:integrations", "org:read", "org:write", "project:admin",
      "project:read", "project:releases", "project:write", "team:admin", "team:read", "team:write"), True, "admin",
     False),
)
ROLE_NAMES = {role[0]: role[1] for role in ORG_ROLES}
OWNER_SCOPES = frozenset(ORG_ROLES[-1][3])
# (id, name, description, scopes, the org role it is the minimum team role of), SENTRY_TEAM_ROLES
TEAM_ROLES: tuple[tuple[str, str, str, tuple[str, ...], str | None], ...] = (
    ("contributor", "Contributor", "Contributors can view and act on events, as well as view most other data "
     "within the team's projects.", ("alerts:read", "event:read", "event:write", "member:read", "org:read",
                                     "project:read", "project:releases", "team:read"), None),
    ("admin", "Team Admin", "Admin privileges on the team. They can create and remove projects, and can manage the "
     "team's memberships.", ("alerts:read", "alerts:write", "event:admin", "event:read", "event:write",
                             "member:read", "org:integrations", "org:read", "project:admin", "project:read",
                             "project:releases", "project:write", "team:admin", "team:read", "team:write"), "admin"),
)
CONTRIBUTOR_SCOPES = list(TEAM_ROLES[0][3])
TEAM_ADMIN_SCOPES = list(TEAM_ROLES[1][3])


@dataclass(frozen=True)
class Viewer:
    """Who is asking: the user (None for an org auth token), its organization access and role."""

    user_id: int | None
    scopes: tuple[str, ...]
    role: str | None

    def team_access(self, team: Team) -> tuple[bool, str | None, list[str]]:
        """(hasAccess, teamRole, access) of a team, as Sentry's ``TeamSerializer`` works them out."""
        is_member = self.user_id is not None and self.user_id in team.member_ids
        if self.user_id is not None:
            return True, "admin" if is_member else None, TEAM_ADMIN_SCOPES
        if open_membership(team.organization):
            return True, None, CONTRIBUTOR_SCOPES
        return False, None, []

    def project_access(self, project: Project) -> tuple[bool, bool, list[str]]:
        """(isMember, hasAccess, access) of a project (``get_access_by_project``)."""
        team = project.team
        is_member = self.user_id is not None and team is not None and self.user_id in team.member_ids
        if self.user_id is not None:
            return is_member, True, TEAM_ADMIN_SCOPES
        return False, open_membership(project.organization), []


def viewer(token: Token) -> Viewer:
    if token.kind == "org":
        return Viewer(None, tuple(sorted(SCOPES)), None)
    return Viewer(token.user.id, tuple(sorted(OWNER_SCOPES & token.scopes)), "owner")


def open_membership(org: Organization) -> bool:
    """Sentry creates organizations with ``allow_joinleave`` set (its flags default to 1)."""
    return bool(org.settings.get("openMembership", True))


def org_role_list() -> list[dict[str, Any]]:
    return [
        {"id": rid, "name": name, "desc": desc, "scopes": list(scopes), "allowed": True, "isAllowed": True,
         "isRetired": retired, "is_global": is_global, "isGlobal": is_global, "isTeamRolesAllowed": rid != "billing",
         "minimumTeamRole": minimum}
        for rid, name, desc, scopes, is_global, minimum, retired in ORG_ROLES
    ]


def team_role_list() -> list[dict[str, Any]]:
    return [
        {"id": rid, "name": name, "desc": desc, "scopes": list(scopes), "allowed": True, "isAllowed": True,
         "isRetired": False, "isTeamRolesAllowed": True, "isMinimumRoleFor": minimum_for}
        for rid, name, desc, scopes, minimum_for in TEAM_ROLES
    ]
