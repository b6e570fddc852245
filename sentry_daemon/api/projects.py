"""Projects: the organization's list, one project, and creating one."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import read_json_object
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers import projects
from sentry_daemon.store.records import Conflict, Organization, Team


def _create_project(api: ApiContext, request: Request, org: Organization, team: Team | None,
                    slug: str | None) -> bytes:
    body = read_json_object(request)
    name = body.get("name") or slug
    if not isinstance(name, str) or not name.strip():
        return json_response(request, 400, {"name": ["This field is required."]})
    slug = body.get("slug") or slug
    platform = body.get("platform")
    if slug is not None and not isinstance(slug, str):
        return json_response(request, 400, {"slug": ["Not a valid string."]})
    if platform is not None and not isinstance(platform, str):
        return json_response(request, 400, {"platform": ["Not a valid string."]})
    try:
        project = api.store.create_project(org, name, slug=slug, platform=platform, team=team)
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    api.store.create_key(project)
    return json_response(request, 201, projects.project_detail(project, api.base_url(request)))


@endpoint("/api/0/organizations/<org>/projects/", methods=["GET"], permission=permissions.ORGANIZATION)
def org_projects(api: ApiContext, request: Request, org: str) -> bytes:
    rows = api.store.org_projects(api.org(request, org))
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, [projects.project(p) for p in page], headers)


@endpoint("/api/0/projects/<org>/<project>/", methods=["GET"], permission=permissions.PROJECT)
def project_detail(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    return json_response(request, 200, projects.project_detail(found, api.base_url(request)))


@endpoint("/api/0/projects/<org>/<project>/", methods=["POST"], permission=permissions.PROJECT)
def create_project_by_slug(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """Kept from the original fake: POST to a project's own URL creates it."""
    found = api.org(request, org)
    return _create_project(api, request, found, api.store.default_team(found), project)


@endpoint("/api/0/teams/<org>/<team>/projects/", methods=["POST"], permission=permissions.PROJECT_CREATE)
def create_team_project(api: ApiContext, request: Request, org: str, team: str) -> bytes:
    found = api.team(request, org, team)
    return _create_project(api, request, found.organization, found, None)
