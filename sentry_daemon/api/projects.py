"""Projects: the organization's, a team's and the caller's lists, one project (read, change,
delete), creating one (in a team, or in the organization on the caller's own team), and a
project's environments.

Sentry's answers: a taken slug given by the client is ``409``, a slug derived from the name is
made unique; renaming keeps the id and the old slug answers ``302`` (``ApiContext.project``);
deleting is ``204`` for any project, the seeded one too (Sentry refuses only its own internal
project, which the fake does not have).
"""

from __future__ import annotations

from typing import Any, Callable, Iterable

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import (
    contains_text, match_tokens, parse_int, query_arg, query_args, query_tokens, read_json_object,
)
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.http.validation import Field, ValidationError, validate
from sentry_daemon.serializers import projects
from sentry_daemon.serializers.access import ORG_ROLES, Viewer
from sentry_daemon.store.organizations import RESERVED_PROJECT_SLUGS, ProjectFacts, valid_platform
from sentry_daemon.store.records import Conflict, Organization, Project, Team

Shape = Callable[[Project, Viewer, ProjectFacts], dict[str, Any]]

PROJECT_TAKEN = "A project with this slug already exists."
DENIED = permissions.DENIED


def _platform(value: str) -> str | None:
    return None if valid_platform(value) else "Invalid platform"


def _reserved_name(value: str) -> str | None:
    return f'The name "{value}" is reserved and not allowed.' if value in RESERVED_PROJECT_SLUGS else None


def _range(low: int, high: int) -> Callable[[int], str | None]:
    def check(value: int) -> str | None:
        if value < low:
            return f"Ensure this value is greater than or equal to {low}."
        if value > high:
            return f"Ensure this value is less than or equal to {high}."
        return None
    return check


# ProjectPostSerializer (both creation routes)
PROJECT_POST = {
    "name": Field(required=True, max_length=50, check=_reserved_name),
    "slug": Field(kind="slug", null=True, max_length=100),
    "platform": Field(null=True, blank=True, check=_platform),
    "default_rules": Field(kind="boolean"),
}
# ProjectMemberSerializer: what project:read may change
PROJECT_MEMBER_PUT = {"isBookmarked": Field(kind="boolean")}
# ProjectAdminSerializer: the simple settings (project:write)
PROJECT_ADMIN_PUT = {
    **PROJECT_MEMBER_PUT,
    "name": Field(max_length=200),
    "slug": Field(kind="slug", max_length=100),
    "platform": Field(null=True, blank=True, check=_platform),
    "subjectPrefix": Field(max_length=200, blank=True),
    "subjectTemplate": Field(max_length=200),
    "resolveAge": Field(kind="integer", null=True),
    "highlightContext": Field(kind="dict"),
    "highlightTags": Field(kind="list", item=Field()),
    "enableAutoReleaseCreation": Field(kind="boolean"),
    "scmSourceContextEnabled": Field(kind="boolean"),
    "digestsMinDelay": Field(kind="integer", check=_range(60, 3600)),
    "digestsMaxDelay": Field(kind="integer", check=_range(60, 3600)),
    "securityTokenHeader": Field(max_length=20, blank=True),
    "verifySSL": Field(kind="boolean"),
    "defaultEnvironment": Field(null=True, blank=True),
    "dataScrubber": Field(kind="boolean"),
    "dataScrubberDefaults": Field(kind="boolean"),
    "sensitiveFields": Field(kind="list", item=Field()),
    "safeFields": Field(kind="list", item=Field()),
    "scrubIPAddresses": Field(kind="boolean"),
    "scrapeJavaScript": Field(kind="boolean"),
    "storeCrashReports": Field(kind="integer", null=True, check=_range(-1, 100)),
    "allowedDomains": Field(kind="list", item=Field(blank=True)),
    "relayPiiConfig": Field(null=True, blank=True),
    "debugFilesRole": Field(null=True, choices=tuple(role[0] for role in ORG_ROLES)),
}
# stats periods: (buckets, seconds each), as the serializer's STATS_PERIOD_CHOICES
STATS_PERIODS = {"1h": (60, 60), "24h": (24, 3600), "7d": (7, 86400), "14d": (14, 86400), "30d": (30, 86400)}
ORG_PERIODS = ("", "1h", "24h", "7d", "14d", "30d", "90d")
TEAM_PERIODS = ("", "24h", "14d", "30d")


def render(api: ApiContext, request: Request, rows: Iterable[Project], shape: Shape) -> list[dict[str, Any]]:
    """Serialize projects in one shape, reading what they need from the store once."""
    rows = list(rows)
    viewer = api.viewer(request)
    facts = api.store.orgs.facts(rows)
    return [shape(p, viewer, facts[p.id]) for p in rows]


def summaries(api: ApiContext, request: Request, rows: Iterable[Project]) -> list[dict[str, Any]]:
    return render(api, request, rows, projects.project_summary)


def _detail(api: ApiContext, request: Request, project: Project) -> dict[str, Any]:
    base = api.base_url(request)
    return render(api, request, [project], lambda p, v, f: projects.project_detail(p, v, f, base))[0]


class ListParamError(ApiError):
    """The project lists answer a bad parameter in their own shape (all under ``stats_period``)."""

    def __init__(self, message: str) -> None:
        super().__init__(400, message)

    def body(self) -> dict:
        return {"error": {"params": {"stats_period": {"message": self.detail}}}}


def stats_period(request: Request, allowed: tuple[str, ...]) -> str | None:
    """``statsPeriod``: a period the list answers ``stats`` for, None for none, else Sentry's 400."""
    period = query_arg(request, "statsPeriod")
    if period is not None and period not in allowed:
        choices = ", ".join(f"'{p}'" for p in allowed[:-1]) + f", and '{allowed[-1]}'"
        raise ListParamError(f"Invalid stats_period. Valid choices are {choices}")
    return period or None


def add_stats(api: ApiContext, rows: list[Project], bodies: list[dict[str, Any]], period: str | None) -> None:
    """``stats``: the project's error events per bucket, oldest first (``[timestamp, count]``),
    as ``TSDBModel.project`` counts them (transactions and feedback are not among them)."""
    if period not in STATS_PERIODS:
        return
    count, width = STATS_PERIODS[period]
    now = int(api.store.now())
    last = now - now % width
    first = last - (count - 1) * width
    for project, body in zip(rows, bodies):
        counts = api.store.error_counts.by_slot(project.id, first, last + width, width)
        body["stats"] = [[when, counts.get(when, 0)] for when in range(first, last + width, width)]


def requested_projects(api: ApiContext, request: Request, org: Organization) -> list[Project]:
    """Sentry's ``OrganizationEndpoint.get_projects``: the ``project`` ids asked for (``-1``: all),
    else the caller's own, those on its teams (an org auth token's: all)."""
    rows = api.store.org_projects(org)
    wanted = query_args(request, "project")
    if wanted:
        if "-1" in wanted:
            return rows
        if any(parse_int(ident) is None for ident in wanted):
            raise ApiError(400, "Invalid project parameter. Values must be numbers.")
        chosen = [p for p in rows if str(p.id) in wanted]
        if len(chosen) != len(set(wanted)):
            raise ApiError(403, DENIED)
        return chosen
    viewer = api.viewer(request)
    if viewer.user_id is None:
        return rows
    return [p for p in rows if p.team is not None and viewer.user_id in p.team.member_ids]


def create_project(api: ApiContext, org: Organization, team: Team | None, body: dict[str, Any],
                   slug: str | None) -> Project:
    try:
        return api.store.orgs.create_project(org, body["name"], slug=slug, platform=body.get("platform"), team=team)
    except Conflict:
        raise ApiError(409, PROJECT_TAKEN) from None


def _matches(tokens: dict[str, list[str]], project: Project, viewer: Viewer) -> bool:
    """The organization list's filter terms (``query``, ``id``, ``slug``, ``team``, ``!team``, ``is_member``)."""
    team = project.team
    return match_tokens(tokens, {
        "query": lambda values: contains_text(values, project.name, project.slug),
        "id": lambda values: str(project.id) in values,
        "slug": lambda values: project.slug in values,
        "team": lambda values: team is not None and team.slug in values,
        "!team": lambda values: team is None or team.slug not in values,
        "is_member": lambda values: viewer.user_id is not None and team is not None
        and viewer.user_id in team.member_ids,
    })


@endpoint("/api/0/organizations/<org>/projects/", methods=["GET"], permission=permissions.ORG_PROJECTS)
def org_projects(api: ApiContext, request: Request, org: str) -> bytes:
    """Sorted by slug, the caller's bookmarks first; an org auth token sees the projects on teams."""
    found = api.org(request, org)
    period = stats_period(request, ORG_PERIODS)
    viewer = api.viewer(request)
    tokens = query_tokens(query_arg(request, "query") or "")
    if any(parse_int(v) is None for v in tokens.get("id", [])):
        raise ListParamError("All 'id' values must be integers.")
    rows = [p for p in api.store.org_projects(found) if (viewer.user_id is not None or p.team is not None)
            and _matches(tokens, p, viewer)]
    if viewer.user_id is not None:
        rows.sort(key=lambda p: viewer.user_id not in p.bookmarked_by)
    if query_arg(request, "all_projects") == "1":
        return json_response(request, 200, summaries(api, request, rows))
    page, headers = paginate(request, rows, api.base_url(request))
    bodies = summaries(api, request, page)
    add_stats(api, page, bodies, period)
    return json_response(request, 200, bodies, headers)


@endpoint("/api/0/organizations/<org>/projects/", methods=["POST"], permission=permissions.ORG_PROJECTS)
def create_org_project(api: ApiContext, request: Request, org: str) -> bytes:
    """Sentry's organization-level creation: the project goes on a new team of the caller's own
    (``team-<user>``, the caller its Team Admin), its slug always derived from the name."""
    found = api.org(request, org)
    body = validate(read_json_object(request), PROJECT_POST)
    if api.viewer(request).user_id is None:
        raise ApiError(401, "User is not authenticated")
    team = api.store.orgs.personal_team(found, api.user(request))
    project = create_project(api, found, team, body, None)
    answer = summaries(api, request, [project])[0]
    answer["team_slug"] = team.slug
    return json_response(request, 201, answer)


@endpoint("/api/0/teams/<org>/<team>/projects/", methods=["GET"], permission=permissions.TEAM_PROJECTS)
def team_projects(api: ApiContext, request: Request, org: str, team: str) -> bytes:
    found = api.team(request, org, team)
    period = stats_period(request, TEAM_PERIODS)
    rows = [p for p in api.store.org_projects(found.organization) if p.team is found]
    page, headers = paginate(request, rows, api.base_url(request))
    bodies = summaries(api, request, page)
    add_stats(api, page, bodies, period)
    return json_response(request, 200, bodies, headers)


@endpoint("/api/0/teams/<org>/<team>/projects/", methods=["POST"], permission=permissions.TEAM_PROJECTS)
def create_team_project(api: ApiContext, request: Request, org: str, team: str) -> bytes:
    found = api.team(request, org, team)
    body = validate(read_json_object(request), PROJECT_POST)
    project = create_project(api, found.organization, found, body, body.get("slug"))
    return json_response(request, 201, summaries(api, request, [project])[0])


@endpoint("/api/0/projects/", methods=["GET"], permission=permissions.PROJECT)
def project_index(api: ApiContext, request: Request) -> bytes:
    """Every project the token may see, newest first: a user's on its teams, an org token's all."""
    token = api.token(request)
    viewer = api.viewer(request)
    status = query_arg(request, "status", "active")
    rows = [p for p in api.store.projects.values() if status == "active" and (
        p.organization is token.organization if viewer.user_id is None
        else p.team is not None and viewer.user_id in p.team.member_ids)]
    org_id = query_arg(request, "organizationId")
    if org_id and viewer.user_id is not None:
        rows = [p for p in rows if str(p.organization.id) == org_id]
    tokens = query_tokens(query_arg(request, "query") or "")
    rows = [p for p in rows if _index_matches(api, tokens, p)]
    rows.sort(key=lambda p: (p.date_created, p.id), reverse=True)
    page, headers = paginate(request, rows, api.base_url(request))
    base = api.base_url(request)
    return json_response(request, 200, render(
        api, request, page, lambda p, v, f: projects.project_with_organization(p, v, f, base)), headers)


def _index_matches(api: ApiContext, tokens: dict[str, list[str]], project: Project) -> bool:
    """The project index's filter terms (``query``, ``slug``, ``name``, ``platform``, ``dsn``, ``id``)."""
    return match_tokens(tokens, {
        "query": lambda values: contains_text(values, project.name, project.slug),
        "slug": lambda values: project.slug.lower() in {v.lower() for v in values},
        "name": lambda values: project.name.lower() in {v.lower() for v in values},
        "platform": lambda values: project.platform in values,
        "dsn": lambda values: any(k.public in values for k in api.store.project_keys(project)),
        "id": lambda values: str(project.id) in values,
    })


@endpoint("/api/0/projects/<org>/<project>/", methods=["GET"], permission=permissions.PROJECT)
def project_detail(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    body = _detail(api, request, found)
    if "stats" in (query_arg(request, "include") or "").split(","):
        unresolved = sum(1 for i in api.store.issues.of_projects({found.id}) if i.status == "unresolved")
        body["stats"] = {"unresolved": unresolved}
    if "hasAlertIntegration" in query_args(request, "expand"):
        body["hasAlertIntegrationInstalled"] = False
    return json_response(request, 200, body)


@endpoint("/api/0/projects/<org>/<project>/", methods=["PUT"], permission=permissions.PROJECT)
def update_project(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """``project:read`` may bookmark; the other settings need ``project:write`` (Sentry answers 403
    when a read-only caller sends one). Org auth tokens have no user and get a bare 400, as in Sentry."""
    found = api.project(request, org, project)
    viewer = api.viewer(request)
    if viewer.user_id is None:
        raise ApiError(400, "This endpoint requires user info")
    raw = read_json_object(request)
    elevated = bool({"project:write", "project:admin"} & set(viewer.scopes))
    body = validate(raw, PROJECT_ADMIN_PUT if elevated else PROJECT_MEMBER_PUT, partial=True)
    if not elevated and any(raw.get(name) and name not in body for name in PROJECT_ADMIN_PUT):
        raise ApiError(403, DENIED)
    _check_project_changes(api, found, body)
    api.store.orgs.update_project(found, body, api.user(request))
    return json_response(request, 200, _detail(api, request, found))


def _check_project_changes(api: ApiContext, project: Project, body: dict[str, Any]) -> None:
    """The checks of ``ProjectAdminSerializer`` that look past one field."""
    errors: dict[str, list[str]] = {}
    slug = body.get("slug")
    if slug in RESERVED_PROJECT_SLUGS:
        errors["slug"] = [f'The slug "{slug}" is reserved and not allowed.']
    elif slug:
        other = next((p for p in api.store.org_projects(project.organization)
                      if p.slug == slug and p is not project), None)
        if other is not None:
            errors["slug"] = [f"Another project ({other.name}) is already using that slug"]
    low = body.get("digestsMinDelay", project.options.get("digestsMinDelay"))
    high = body.get("digestsMaxDelay", project.options.get("digestsMaxDelay"))
    if low is not None and high and low > high:
        errors["digestsMinDelay"] = ["The minimum delay on digests must be lower than the maximum."]
    if "allowedDomains" in body:
        body["allowedDomains"] = [d for d in body["allowedDomains"] if d]
        if not body["allowedDomains"]:
            errors["allowedDomains"] = ["Empty value will block all requests, use * to accept from all domains"]
    if errors:
        raise ValidationError(errors)
    if body.get("resolveAge", 0) is None:
        body["resolveAge"] = 0


@endpoint("/api/0/projects/<org>/<project>/", methods=["DELETE"], permission=permissions.PROJECT)
def delete_project(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """The project, its keys, issues and events go at once (Sentry schedules it; it is hidden at once)."""
    api.store.orgs.delete_project(api.project(request, org, project))
    return empty_response(request, 204)


@endpoint("/api/0/projects/<org>/<project>/", methods=["POST"], permission=permissions.PROJECT)
def create_project_by_slug(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """Kept from the original fake (not a Sentry route): POST to a project's own URL creates it on
    the organization's first team; ``name`` defaults to the slug."""
    found = api.org(request, org)
    raw = read_json_object(request)
    body = validate({"name": project, **raw, "slug": project}, PROJECT_POST)
    created = create_project(api, found, api.store.default_team(found), body, project)
    return json_response(request, 201, _detail(api, request, created))


@endpoint("/api/0/projects/<org>/<project>/environments/", methods=["GET"], permission=permissions.PROJECT)
def project_environments(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """Every environment the project's events named, by name (none is hidden, so ``hidden`` is empty)."""
    found = api.project(request, org, project)
    visibility = query_arg(request, "visibility", "visible")
    if visibility not in ("all", "hidden", "visible"):
        raise ApiError(400, "Invalid value for 'visibility', valid values are: ['all', 'hidden', 'visible']")
    names = [] if visibility == "hidden" else sorted(n for n in found.environments if n)
    orgs = api.store.orgs
    return json_response(request, 200, [
        projects.environment(orgs.environment_id(found.organization, name), name) for name in names])

