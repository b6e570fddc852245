"""The Sentry web API under ``/api/0/``: thin routes over the store (SENTRY-PROTOCOL §7).

Every route needs ``Authorization: Bearer <token>``. Organizations, teams and projects are named by
slug or id, as in Sentry.
"""

from __future__ import annotations

from typing import Any, Callable

from klein import Klein
from twisted.web.server import Request

from sentry_daemon import serializers
from sentry_daemon.auth import require_token
from sentry_daemon.errors import ApiError, not_found
from sentry_daemon.pagination import paginate
from sentry_daemon.search import DEFAULT_QUERY, parse_issue_query
from sentry_daemon.store import Conflict, Issue, Organization, Project, Store, Team
from sentry_daemon.responses import json_response
from sentry_daemon.web import install_error_handlers, query_arg, query_args, read_json_object

ISSUE_SORTS: dict[str, Callable[[Issue], Any]] = {
    "date": lambda i: i.last_seen,
    "new": lambda i: i.first_seen,
    "freq": lambda i: i.times_seen,
    "user": lambda i: len(i.users),
}
# Accepted ``status`` values of a bulk update and what is stored (``muted`` is the old ``ignored``).
ISSUE_STATUSES = {"resolved": "resolved", "unresolved": "unresolved", "ignored": "ignored",
                  "muted": "ignored", "resolvedInNextRelease": "resolved"}
SUBSTATUS_FOR = {"resolved": None, "unresolved": "ongoing", "ignored": "archived_until_escalating"}
STATS_PERIODS = {"": None, "24h": (24, 3600), "14d": (14, 86400)}


class ApiRoutes:
    app = Klein()
    install_error_handlers(app)

    def __init__(self, store: Store, base_url: Callable[[Request], str]) -> None:
        self.store = store
        self.base_url = base_url

    # --- lookups shared by the routes ------------------------------------------------------

    def _org(self, request: Request, org: str) -> Organization:
        require_token(self.store, request)
        found = self.store.organization(org)
        if found is None:
            raise not_found()
        return found

    def _project(self, request: Request, org: str, project: str) -> Project:
        found = self.store.project(self._org(request, org), project)
        if found is None:
            raise not_found()
        return found

    def _team(self, request: Request, org: str, team: str) -> Team:
        found = self.store.team(self._org(request, org), team)
        if found is None:
            raise ApiError(404, "Team not found.")
        return found

    def _create_project(self, request: Request, org: Organization, team: Team | None, slug: str | None) -> bytes:
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
            project = self.store.create_project(org, name, slug=slug, platform=platform, team=team)
        except Conflict as exc:
            raise ApiError(409, str(exc)) from None
        self.store.create_key(project)
        return json_response(request, 201, serializers.project_detail(project, self.base_url(request)))

    # --- index and organizations -----------------------------------------------------------

    @app.route("/api/0/", methods=["GET"], strict_slashes=False)
    def index(self, request: Request) -> bytes:
        require_token(self.store, request)
        return json_response(
            request,
            200,
            {
                "version": "0",
                "auth": {"scopes": ["org:read", "org:write", "project:read", "project:write",
                                    "project:admin", "project:releases", "team:read", "team:write",
                                    "event:read", "event:write", "event:admin", "member:read"]},
                "user": {"id": "1", "name": "sentryfake", "username": "sentryfake",
                         "email": "sentryfake@localhost"},
            },
        )

    @app.route("/api/0/organizations/", methods=["GET"], strict_slashes=False)
    def organizations(self, request: Request) -> bytes:
        require_token(self.store, request)
        base = self.base_url(request)
        orgs = sorted(self.store.organizations.values(), key=lambda o: o.slug)
        page, headers = paginate(request, orgs, base)
        return json_response(request, 200, [serializers.organization(o, base) for o in page], headers)

    @app.route("/api/0/organizations/<org>/", methods=["GET"], strict_slashes=False)
    def organization(self, request: Request, org: str) -> bytes:
        found = self._org(request, org)
        base = self.base_url(request)
        body = serializers.organization(found, base)
        body["projects"] = [serializers.project(p) for p in self.store.org_projects(found)]
        body["teams"] = [serializers.team(t) for t in self.store.teams.values() if t.organization is found]
        body["access"] = ["org:read", "org:write", "project:read", "project:write", "team:read"]
        body["role"] = body["orgRole"] = "owner"
        return json_response(request, 200, body)

    @app.route("/api/0/organizations/<org>/projects/", methods=["GET"], strict_slashes=False)
    def org_projects(self, request: Request, org: str) -> bytes:
        projects = self.store.org_projects(self._org(request, org))
        page, headers = paginate(request, projects, self.base_url(request))
        return json_response(request, 200, [serializers.project(p) for p in page], headers)

    @app.route("/api/0/organizations/<org>/monitors/", methods=["GET"], strict_slashes=False)
    def org_monitors(self, request: Request, org: str) -> bytes:
        """Cron monitors, created by the first check-in of each slug (``sentry-cli monitors list``)."""
        found = self._org(request, org)
        monitors = sorted(
            (m for m in self.store.monitors.values() if m.project.organization is found), key=lambda m: m.slug
        )
        page, headers = paginate(request, monitors, self.base_url(request))
        return json_response(request, 200, [serializers.monitor(m) for m in page], headers)

    # --- projects --------------------------------------------------------------------------

    @app.route("/api/0/projects/<org>/<project>/", methods=["GET"], strict_slashes=False)
    def project(self, request: Request, org: str, project: str) -> bytes:
        found = self._project(request, org, project)
        return json_response(request, 200, serializers.project_detail(found, self.base_url(request)))

    @app.route("/api/0/projects/<org>/<project>/", methods=["POST"], strict_slashes=False)
    def create_project_by_slug(self, request: Request, org: str, project: str) -> bytes:
        """Kept from the original fake: POST to a project's own URL creates it."""
        found = self._org(request, org)
        return self._create_project(request, found, self.store.default_team(found), project)

    @app.route("/api/0/teams/<org>/<team>/projects/", methods=["POST"], strict_slashes=False)
    def create_team_project(self, request: Request, org: str, team: str) -> bytes:
        found = self._team(request, org, team)
        return self._create_project(request, found.organization, found, None)

    # --- issues ----------------------------------------------------------------------------

    @app.route("/api/0/projects/<org>/<project>/issues/", methods=["GET"], strict_slashes=False)
    def project_issues(self, request: Request, org: str, project: str) -> bytes:
        found = self._project(request, org, project)
        period = query_arg(request, "statsPeriod", "24h")
        if period not in STATS_PERIODS:
            raise ApiError(400, "Invalid stats_period. Valid choices are '', '24h', and '14d'")
        sort = query_arg(request, "sort", "date")
        if sort not in ISSUE_SORTS:
            raise ApiError(400, f"Invalid sort: {sort}")
        query = parse_issue_query(query_arg(request, "query", DEFAULT_QUERY) or "")
        issues = [i for i in self.store.project_issues(found) if query.matches(i)]
        issues.sort(key=lambda i: (ISSUE_SORTS[sort](i), i.id), reverse=True)
        base = self.base_url(request)
        page, headers = paginate(request, issues, base, param="limit")
        bodies = []
        for issue in page:
            body = serializers.issue(issue, base)
            if STATS_PERIODS[period]:
                buckets, width = STATS_PERIODS[period]
                body["stats"] = {period: self.store.issue_stats(issue, buckets, width)}
            bodies.append(body)
        return json_response(request, 200, bodies, headers)

    @app.route("/api/0/projects/<org>/<project>/issues/", methods=["PUT"], strict_slashes=False)
    def update_project_issues(self, request: Request, org: str, project: str) -> bytes:
        """Bulk status change (``sentry-cli issues resolve/mute/unresolve``): ``?id=`` or all matching ``?status=``."""
        found = self._project(request, org, project)
        body = read_json_object(request)
        status = body.get("status")
        if status not in ISSUE_STATUSES:
            return json_response(request, 400, {"status": [f'"{status}" is not a valid choice.']})
        ids = query_args(request, "id")
        if any(not i.isdigit() for i in ids):
            raise ApiError(400, "Invalid issue id")
        wanted_status = query_arg(request, "status")
        issues = [
            i for i in self.store.project_issues(found)
            if (not ids or str(i.id) in ids) and (wanted_status is None or i.status == wanted_status)
        ]
        if not issues:
            request.setResponseCode(204)
            return b""
        new_status = ISSUE_STATUSES[status]
        for issue in issues:
            issue.status = new_status
            issue.substatus = SUBSTATUS_FOR[new_status]
        return json_response(request, 200, {"status": new_status, "statusDetails": {}, "inbox": False})
