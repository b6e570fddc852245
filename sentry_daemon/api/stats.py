"""Usage stats: ``stats_v2`` (outcomes grouped and bucketed) and the legacy org and project stats.

Every figure is an outcome ingest really recorded (``store/outcomes.py``), in the bucket of when it
happened; the legacy ``generated`` stat counts stored error events by their own time, as Sentry's
``TSDBModel.project`` reads the events dataset. Where Sentry answers a bad ``stat``, ``group``,
``id`` or ``projectID`` with a 500 (an uncaught ``ValueError``), this answers 400 with its text.
"""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import permissions, stats_params
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.projects import requested_projects
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.params import parse_int, query_arg, query_args
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers import stats
from sentry_daemon.store.outcomes import FILTER_STATS, LEGACY_STATS, legacy_counts, run_query
from sentry_daemon.store.records import Organization, Project


def _stats_projects(api: ApiContext, request: Request, org: Organization) -> frozenset[int] | None:
    """Sentry's ``_get_projects_for_orgstats_query``: no ``project`` (or ``-1``) without a
    ``groupBy=project`` is the organization's total; otherwise the projects asked for, or the
    caller's own (400 when there are none)."""
    wanted = query_args(request, "project")
    if (not wanted or "-1" in wanted) and "project" not in query_args(request, "groupBy"):
        return None
    chosen = requested_projects(api, request, org)
    if not chosen:
        raise ApiError(400, "No projects available")
    return frozenset(p.id for p in chosen)


@endpoint("/api/0/organizations/<org>/stats_v2/", methods=["GET"], permission=permissions.ORG_STATS)
def stats_v2(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    project_ids = _stats_projects(api, request, found)
    query = stats_params.outcome_query(request, api.store.org_projects(found), project_ids, api.store.now())
    totals, series = run_query(api.store.outcomes, query)
    return json_response(request, 200, stats.stats_v2(query, totals, series))


def _environment(api: ApiContext, request: Request, projects: list[Project]) -> str | None:
    """``environment`` for the ``generated`` stat: 404 when no project of the organization has it."""
    name = query_arg(request, "environment")
    if name is not None and not any(name in p.environments for p in projects):
        raise not_found()
    return name


def _counts(api: ApiContext, stat: str, projects: list[Project], environment: str | None,
            series: stats_params.Series) -> dict[int, dict[int, int]]:
    """Per project, what one legacy stat counts in each bucket (``generated``: its stored error
    events; ``forwarded``: nothing, Sentry's forwarding counter lives in Redis and nothing here forwards)."""
    if stat == "forwarded":
        return {}
    if stat == "generated":
        return {p.id: api.store.error_counts.by_slot(p.id, series.start, series.end, series.rollup, environment)
                for p in projects}
    return legacy_counts(api.store.outcomes, stat, [p.id for p in projects], series.start, series.end,
                         series.rollup)


def _ids(request: Request, name: str) -> list[int] | None:
    values = query_args(request, name)
    if not values:
        return None
    numbers = [parse_int(v, signed=True) for v in values]
    bad = next((v for v, n in zip(values, numbers) if n is None), None)
    if bad is not None:
        raise ApiError(400, f"invalid literal for int() with base 10: {bad!r}")
    return numbers  # type: ignore[return-value]


@endpoint("/api/0/projects/<org>/<project>/stats/", methods=["GET"], permission=permissions.PROJECT_STATS)
def project_stats(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    stat = query_arg(request, "stat", "received")
    environment = None
    if stat == "generated":
        environment = _environment(api, request, [found])
    elif stat not in LEGACY_STATS and stat not in FILTER_STATS and stat != "forwarded":
        raise ApiError(400, f"Invalid stat: {stat}")
    series = stats_params.legacy_series(request, api.store.now())
    counts = _counts(api, stat, [found], environment, series)
    return json_response(request, 200, stats.points(series.starts, counts.get(found.id, {})))


def _org_keys(api: ApiContext, request: Request, org: Organization, group: str) -> list[Any]:
    """What Sentry's org stats are keyed by: the organization, or its projects (``projectID``),
    either narrowed by ``id``."""
    if group == "organization":
        keys: list[Any] = [org]
    elif group == "project":
        wanted = _ids(request, "projectID")
        keys = [p for p in api.store.org_projects(org) if wanted is None or p.id in wanted]
    else:
        raise ApiError(400, f"Invalid group: {group}")
    ids = _ids(request, "id")
    return keys if ids is None else [k for k in keys if k.id in ids]


@endpoint("/api/0/organizations/<org>/stats/", methods=["GET"], permission=permissions.ORG_STATS)
def org_stats(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    group = query_arg(request, "group", "organization")
    keys = _org_keys(api, request, found, group)
    if not keys:
        return json_response(request, 200, [])
    stat = query_arg(request, "stat", "received")
    environment = None
    if stat == "generated" and group == "project":
        environment = _environment(api, request, api.store.org_projects(found))
    elif stat not in LEGACY_STATS:
        raise ApiError(400, f"Invalid group: {group}, stat: {stat}")
    series = stats_params.legacy_series(request, api.store.now())
    if group == "project":
        counts = _counts(api, stat, keys, environment, series)
        return json_response(request, 200, {str(p.id): stats.points(series.starts, counts.get(p.id, {}))
                                            for p in keys})
    total: dict[int, int] = {}
    for slots in _counts(api, stat, api.store.org_projects(found), environment, series).values():
        for slot, n in slots.items():
            total[slot] = total.get(slot, 0) + n
    return json_response(request, 200, stats.points(series.starts, total))
