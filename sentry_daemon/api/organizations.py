"""Organizations: the list and one organization with its projects and teams."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers import organizations, projects, teams


@endpoint("/api/0/organizations/", methods=["GET"], permission=permissions.ORGANIZATION)
def organization_list(api: ApiContext, request: Request) -> bytes:
    base = api.base_url(request)
    orgs = api.organizations(request)
    page, headers = paginate(request, orgs, base)
    return json_response(request, 200, [organizations.organization(o, base) for o in page], headers)


@endpoint("/api/0/organizations/<org>/", methods=["GET"], permission=permissions.ORGANIZATION)
def organization_detail(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    base = api.base_url(request)
    body = organizations.organization(found, base)
    body["projects"] = [projects.project(p) for p in api.store.org_projects(found)]
    body["teams"] = [teams.team(t) for t in api.store.teams.values() if t.organization is found]
    body["access"] = ["org:read", "org:write", "project:read", "project:write", "team:read"]
    body["role"] = body["orgRole"] = "owner"
    return json_response(request, 200, body)
