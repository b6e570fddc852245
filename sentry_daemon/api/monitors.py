"""Cron monitors, made and fed by check-ins (``store.monitors``): the organization's list
(``sentry-cli monitors list``), one monitor, and its check-ins, under the organization and under
the monitor's project, as Sentry serves them."""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import issue_params, permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.http.errors import not_found
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import query_arg, query_args
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers import monitors, projects
from sentry_daemon.store.records import Monitor, Project


@endpoint("/api/0/organizations/<org>/monitors/", methods=["GET"], permission=permissions.MONITORS)
def org_monitors(api: ApiContext, request: Request, org: str) -> bytes:
    """``project`` (ids, repeatable; ``-1`` all), ``environment`` (repeatable), ``query`` (in the
    name or slug)."""
    found = api.org(request, org)
    project_ids = {p for p in query_args(request, "project") if p != "-1"}
    environments = query_args(request, "environment")
    query = (query_arg(request, "query") or "").lower()
    rows = sorted((m for m in api.store.monitors.of_organization(found)
                   if (not project_ids or str(m.project.id) in project_ids)
                   and (not environments or any(e in m.environments for e in environments))
                   and query in m.slug.lower()), key=lambda m: m.slug)
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, _monitors(api, request, page, environments), headers)


def _monitors(api: ApiContext, request: Request, rows: list[Monitor], environments: list[str]) -> list[dict[str, Any]]:
    viewer = api.viewer(request)
    facts = api.store.orgs.facts({m.project.id: m.project for m in rows}.values())
    return [monitors.monitor(m, projects.project(m.project, viewer, facts[m.project.id]), environments) for m in rows]


def _monitor(api: ApiContext, request: Request, org: str, slug: str, project: str | None = None) -> Monitor:
    organization = api.org(request, org)
    scope: Project | None = api.project(request, org, project) if project is not None else None
    found = api.store.monitors.find(organization, slug, scope)
    if found is None:
        raise not_found()
    return found


def _detail(api: ApiContext, request: Request, found: Monitor) -> bytes:
    return json_response(request, 200, _monitors(api, request, [found], query_args(request, "environment"))[0])


def _check_ins(api: ApiContext, request: Request, found: Monitor) -> bytes:
    """Newest first in the time window (``statsPeriod`` or ``start``/``end``, default 90 days)."""
    window = issue_params.window(request, api.store.now())
    rows = api.store.monitors.check_ins(found, window.start, window.end, query_args(request, "environment"))
    page, headers = paginate(request, rows, api.base_url(request))
    groups = "groups" in query_args(request, "expand")
    return json_response(request, 200, [monitors.check_in(c, groups) for c in page], headers)


@endpoint("/api/0/organizations/<org>/monitors/<monitor>/", methods=["GET"], permission=permissions.MONITOR)
def org_monitor(api: ApiContext, request: Request, org: str, monitor: str) -> bytes:
    return _detail(api, request, _monitor(api, request, org, monitor))


@endpoint("/api/0/projects/<org>/<project>/monitors/<monitor>/", methods=["GET"], permission=permissions.MONITOR)
def project_monitor(api: ApiContext, request: Request, org: str, project: str, monitor: str) -> bytes:
    return _detail(api, request, _monitor(api, request, org, monitor, project))


@endpoint("/api/0/organizations/<org>/monitors/<monitor>/checkins/", methods=["GET"], permission=permissions.MONITOR)
def org_monitor_check_ins(api: ApiContext, request: Request, org: str, monitor: str) -> bytes:
    return _check_ins(api, request, _monitor(api, request, org, monitor))


@endpoint("/api/0/projects/<org>/<project>/monitors/<monitor>/checkins/", methods=["GET"],
          permission=permissions.MONITOR)
def project_monitor_check_ins(api: ApiContext, request: Request, org: str, project: str, monitor: str) -> bytes:
    return _check_ins(api, request, _monitor(api, request, org, monitor, project))
