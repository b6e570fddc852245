"""Issues: a project's issue list and its bulk status change."""

from __future__ import annotations

from typing import Any, Callable

from twisted.web.server import Request

from sentry_daemon.api.app import ApiContext, app
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import query_arg, query_args, read_json_object
from sentry_daemon.http.responses import json_response
from sentry_daemon.search.issues import DEFAULT_QUERY, parse_issue_query
from sentry_daemon.serializers import issues as issue_serializers
from sentry_daemon.store.records import Issue

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


@app.route("/api/0/projects/<org>/<project>/issues/", methods=["GET"], strict_slashes=False)
def project_issues(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    period = query_arg(request, "statsPeriod", "24h")
    if period not in STATS_PERIODS:
        raise ApiError(400, "Invalid stats_period. Valid choices are '', '24h', and '14d'")
    sort = query_arg(request, "sort", "date")
    if sort not in ISSUE_SORTS:
        raise ApiError(400, f"Invalid sort: {sort}")
    query = parse_issue_query(query_arg(request, "query", DEFAULT_QUERY) or "")
    rows = [i for i in api.store.project_issues(found) if query.matches(i)]
    rows.sort(key=lambda i: (ISSUE_SORTS[sort](i), i.id), reverse=True)
    base = api.base_url(request)
    page, headers = paginate(request, rows, base, param="limit")
    bodies = []
    for issue in page:
        body = issue_serializers.issue(issue, base)
        if STATS_PERIODS[period]:
            buckets, width = STATS_PERIODS[period]
            body["stats"] = {period: api.store.issue_stats(issue, buckets, width)}
        bodies.append(body)
    return json_response(request, 200, bodies, headers)


@app.route("/api/0/projects/<org>/<project>/issues/", methods=["PUT"], strict_slashes=False)
def update_project_issues(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """Bulk status change (``sentry-cli issues resolve/mute/unresolve``): ``?id=`` or all matching ``?status=``."""
    found = api.project(request, org, project)
    body = read_json_object(request)
    status = body.get("status")
    if status not in ISSUE_STATUSES:
        return json_response(request, 400, {"status": [f'"{status}" is not a valid choice.']})
    ids = query_args(request, "id")
    if any(not i.isdigit() for i in ids):
        raise ApiError(400, "Invalid issue id")
    wanted_status = query_arg(request, "status")
    rows = [
        i for i in api.store.project_issues(found)
        if (not ids or str(i.id) in ids) and (wanted_status is None or i.status == wanted_status)
    ]
    if not rows:
        request.setResponseCode(204)
        return b""
    new_status = ISSUE_STATUSES[status]
    for issue in rows:
        issue.status = new_status
        issue.substatus = SUBSTATUS_FOR[new_status]
    return json_response(request, 200, {"status": new_status, "statusDetails": {}, "inbox": False})
