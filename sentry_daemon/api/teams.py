"""Teams: the organization's list, creating one, and one team (read, change, delete).

As in Sentry, the user who creates a team is on it (an org auth token's team has no one), a slug
given and taken is ``409`` while one derived from the name is made unique, and any team may be
deleted, the seeded one too: its projects stay, without a team.
"""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.projects import render
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import (
    contains_text, match_tokens, parse_int, query_arg, query_args, query_tokens, read_json_object,
)
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.http.validation import Field, ValidationError, validate
from sentry_daemon.serializers import projects, teams
from sentry_daemon.serializers.organizations import organization
from sentry_daemon.store.records import Conflict, Team

TEAM_TAKEN = "A team with this slug already exists."
# TeamPostSerializer
TEAM_POST = {
    "slug": Field(kind="slug", null=True, max_length=50),
    "name": Field(null=True, blank=True, max_length=64),
    "idp_provisioned": Field(kind="boolean"),
}
# TeamDetailsSerializer
TEAM_PUT = {"name": Field(max_length=64), "slug": Field(kind="slug", max_length=50)}


def team_body(api: ApiContext, request: Request, team: Team, expand: set[str]) -> dict[str, Any]:
    """A team with what ``expand`` names: ``projects``, ``externalTeams``, ``organization``."""
    body = teams.team(team, api.viewer(request))
    if "externalTeams" in expand:
        body["externalTeams"] = []
    if "organization" in expand:
        body["organization"] = organization(team.organization, api.base_url(request))
    if "projects" in expand:
        rows = [p for p in api.store.org_projects(team.organization) if p.team is team]
        body["projects"] = render(api, request, rows, projects.project)
    return body


def _matches(tokens: dict[str, list[str]], team: Team) -> bool:
    return match_tokens(tokens, {
        "hasExternalTeams": lambda values: "true" not in values,
        "query": lambda values: contains_text(values, team.name, team.slug),
        "slug": lambda values: team.slug in values,
        "id": lambda values: str(team.id) in values,
    })


@endpoint("/api/0/organizations/<org>/teams/", methods=["GET"], permission=permissions.ORG_TEAMS)
def org_teams(api: ApiContext, request: Request, org: str) -> bytes:
    """By slug; ``detailed=0`` leaves out each team's projects."""
    found = api.org(request, org)
    tokens = query_tokens(query_arg(request, "query") or "")
    if any(parse_int(v) is None for v in tokens.get("id", [])):
        raise ApiError(400, "Invalid id value")
    rows = [t for t in api.store.orgs.org_teams(found) if _matches(tokens, t)]
    page, headers = paginate(request, rows, api.base_url(request))
    expand = {"projects", "externalTeams"} if query_arg(request, "detailed", "1") != "0" else set()
    return json_response(request, 200, [team_body(api, request, t, expand) for t in page], headers)


@endpoint("/api/0/organizations/<org>/teams/", methods=["POST"], permission=permissions.ORG_TEAMS)
def create_team(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    body = validate(read_json_object(request), TEAM_POST)
    if not (body.get("name") or body.get("slug")):
        raise ValidationError({"non_field_errors": ["Name or slug is required"]})
    member = api.user(request) if api.viewer(request).user_id is not None else None
    try:
        team = api.store.orgs.create_team(found, body.get("name") or body["slug"], body.get("slug"), member)
    except Conflict:
        return json_response(request, 409, {"non_field_errors": [TEAM_TAKEN], "detail": TEAM_TAKEN})
    return json_response(request, 201, team_body(api, request, team, set()))


@endpoint("/api/0/teams/<org>/<team>/", methods=["GET"], permission=permissions.TEAM)
def team_detail(api: ApiContext, request: Request, org: str, team: str) -> bytes:
    """The organization is expanded unless ``collapse=organization``, as Sentry keeps it."""
    found = api.team(request, org, team)
    expand = set(query_args(request, "expand"))
    if "organization" not in query_args(request, "collapse"):
        expand.add("organization")
    return json_response(request, 200, team_body(api, request, found, expand))


@endpoint("/api/0/teams/<org>/<team>/", methods=["PUT"], permission=permissions.TEAM)
def update_team(api: ApiContext, request: Request, org: str, team: str) -> bytes:
    found = api.team(request, org, team)
    body = validate(read_json_object(request), TEAM_PUT, partial=True)
    slug = body.get("slug")
    if slug is not None and api.store.orgs.team_slug_taken(found.organization, slug, exclude=found):
        raise ValidationError({"slug": [f'The slug "{slug}" is already in use.']})
    api.store.orgs.update_team(found, body.get("name"), slug)
    return json_response(request, 200, team_body(api, request, found, set()))


@endpoint("/api/0/teams/<org>/<team>/", methods=["DELETE"], permission=permissions.TEAM)
def delete_team(api: ApiContext, request: Request, org: str, team: str) -> bytes:
    api.store.orgs.delete_team(api.team(request, org, team))
    return empty_response(request, 204)
