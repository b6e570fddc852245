"""Issues: the organization's and a project's issue lists (search, sort, bulk changes), one issue
(by numeric or short id, also under the legacy ``/issues/`` and ``/groups/`` routes), short ids."""

from __future__ import annotations

from typing import Any, Callable

from twisted.web.server import Request

from sentry_daemon.api import issue_params
from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, app, endpoint, guard
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import parse_int, query_arg, query_args, query_flag, read_json_object
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.search.grammar import InvalidSearchQuery
from sentry_daemon.search.issue_search import (
    DEFAULT_QUERY,
    Counts,
    IssueQuery,
    compile_query,
    looks_like_event_id,
    match_issues,
    search_error,
)
from sentry_daemon.serializers import issues as issue_serializers
from sentry_daemon.serializers.users import actor
from sentry_daemon.store import issue_updates
from sentry_daemon.store.records import Issue, Organization, Project
from sentry_daemon.timestamps import isoformat

ORG_STATS = ("", "24h", "14d", "auto")
ORG_STATS_ERROR = "Invalid stats_period. Valid choices are '', '24h', '14d' and 'auto'"
PROJECT_STATS = ("", "24h", "14d")
PROJECT_STATS_ERROR = "Invalid stats_period. Valid choices are '', '24h', and '14d'"
BULK_LIMIT = 1000
# the legacy and current routes of one issue, each with and without the organization
ISSUE_ROUTES = ("/api/0/organizations/<org>/issues/<issue_id>", "/api/0/organizations/<org>/groups/<issue_id>",
                "/api/0/issues/<issue_id>", "/api/0/groups/<issue_id>")


def issue_route(suffix: str, methods: list[str]) -> Callable:
    """Register one handler under every route of an issue (``org`` is None on the legacy ones)."""

    def decorate(f: Callable) -> Callable:
        guarded = guard(permissions.ISSUES)(f)
        for n, prefix in enumerate(ISSUE_ROUTES):
            app.route(f"{prefix}/{suffix}", methods=methods, strict_slashes=False,
                      endpoint=f"{f.__name__}_{n}")(guarded)
        return guarded

    return decorate


def _query(api: ApiContext, request: Request, org: Organization, projects: list[Project],
           default: str = DEFAULT_QUERY) -> IssueQuery:
    text = query_arg(request, "query", default)
    try:
        return compile_query((text or "").strip(), api.search_context(request, org, projects))
    except InvalidSearchQuery as exc:
        raise ApiError(400, search_error(exc)) from None


def _environments(api: ApiContext, request: Request, projects: list[Project]) -> set[str] | None:
    names = set(query_args(request, "environment"))
    if not names:
        return None
    if not names <= set().union(*(p.environments for p in projects)):
        raise not_found()
    return names


def _org_projects(api: ApiContext, request: Request, org: Organization) -> list[Project]:
    projects = api.store.org_projects(org)
    wanted = query_args(request, "project")
    if not wanted or "-1" in wanted:
        return projects
    selected = []
    for ident in wanted:
        found = api.store.project(org, ident)
        if found is None:
            raise ApiError(403, "You do not have permission to perform this action.")
        selected.append(found)
    return selected


def _sort_key(sort: str, query: IssueQuery, now: float) -> Callable[[tuple[Issue, Counts]], Any]:
    if sort == "new":
        return lambda row: (row[0].first_seen, row[0].id)
    if sort == "freq":
        return lambda row: (row[1].count, row[0].id)
    if sort == "user":
        return lambda row: (row[1].user_count, row[0].id)
    if sort == "inbox":
        return lambda row: (row[0].inbox.date_added if row[0].inbox else 0, row[0].id)
    if sort == "trends":
        # Sentry's trends score weighs recent events; here: events in the last day, then recency.
        day = int(now // 3600)
        return lambda row: (sum(row[0].hourly.get(h, 0) for h in range(day - 23, day + 1)), row[1].last_seen or 0,
                            row[0].id)
    if sort in ("recommended", "priority"):
        rank = {"high": 3, "medium": 2, "low": 1}
        return lambda row: (rank.get(row[0].priority, 0), row[1].last_seen or 0, row[0].id)
    return lambda row: (row[1].last_seen or 0, row[0].id)


def _stats(api: ApiContext, issue: Issue, period: str, window: issue_params.Window) -> dict[str, Any]:
    if not period:
        return {}
    if period == "auto":
        seconds = max(window.end - window.start, 3600)
        width = max(3600, int(-(-seconds // 30 // 3600)) * 3600)
        return {"auto": api.store.issues.stats(issue, int(-(-seconds // width)), width)}
    buckets, width = (24, 3600) if period == "24h" else (14, 86400)
    return {period: api.store.issues.stats(issue, buckets, width)}


def _search(api: ApiContext, request: Request, org: Organization, projects: list[Project],
            window: issue_params.Window, query: IssueQuery, sort: str,
            environments: set[str] | None) -> list[tuple[Issue, Counts]]:
    if sort == "inbox":
        if not query.for_review:
            raise ApiError(400, "Sort key 'inbox' only supported for inbox search")
        if query.statuses != {"unresolved"}:
            raise ApiError(400, "Inbox search only works for 'unresolved' status")
    start, end = window.start, window.end
    rows = match_issues(api.store.issues.of_projects({p.id for p in projects}), query, start, end, environments)
    rows.sort(key=_sort_key(sort, query, api.store.now()), reverse=True)
    return rows


def _direct_hit(api: ApiContext, request: Request, org: Organization, projects: list[Project]) -> Any:
    """An event id, or (with ``shortIdLookup=1``) a short id, as the whole query: that one issue."""
    text = (query_arg(request, "query") or "").strip()
    if not text:
        return None
    if looks_like_event_id(text):
        event = api.store.event(text)
        if event is not None and event.group_id is not None and event.project in projects:
            issue = api.store.issues.get(event.group_id)
            if issue is not None:
                return issue, event
    if query_flag(request, "shortIdLookup"):
        issue = api.store.issues.by_short_id(org, text)
        if issue is not None and issue.project in projects:
            return issue, None
    return None


def _list(api: ApiContext, request: Request, org: Organization, projects: list[Project], org_level: bool) -> bytes:
    now = api.store.now()
    if org_level:
        window = issue_params.window(request, now)
        period = issue_params.stats_period(request, "groupStatsPeriod", ORG_STATS, ORG_STATS_ERROR)
    else:
        window = issue_params.window(request, now, period_param=None)
        period = issue_params.stats_period(request, "statsPeriod", PROJECT_STATS, PROJECT_STATS_ERROR)
    environments = _environments(api, request, projects)
    sort = issue_params.sort(request)
    size = issue_params.limit(request)
    view = api.issue_view(request)
    base = view.base_url
    hit = _direct_hit(api, request, org, projects)
    if hit is not None:
        issue, event = hit
        body = issue_serializers.issue(issue, view)
        body["stats"] = _stats(api, issue, period, window)
        body["matchingEventId"] = event.event_id if event is not None else None
        body["matchingEventEnvironment"] = event.environment if event is not None else None
        return json_response(request, 200, [body], {"X-Sentry-Direct-Hit": "1"})
    if not org_level and query_args(request, "hashes"):
        if query_arg(request, "query") is not None:
            raise ApiError(400, "Cannot use 'hashes' with 'query'")
        wanted = set(query_args(request, "hashes"))
        rows = [(i, i) for i in api.store.issues.of_projects({p.id for p in projects}) if wanted & set(i.hashes)]
        query = _query(api, request, org, projects, default="")
    else:
        group_ids = [i for i in query_args(request, "group")] if org_level else []
        if group_ids:
            numbers = [parse_int(g) for g in group_ids]
            if any(n is None for n in numbers):
                raise ApiError(400, "Group ids must be integers")
            found = [api.store.issues.get(n) for n in numbers if n is not None]
            rows = [(i, i) for i in found
                    if i is not None and i.project in projects]
            query = _query(api, request, org, projects, default="")
        else:
            query = _query(api, request, org, projects)
            rows = _search(api, request, org, projects, window, query, sort, environments)
    page, headers = paginate(request, rows, base, param="limit", size=size)
    expand = set(query_args(request, "expand"))
    collapse = set(query_args(request, "collapse"))
    bodies = []
    for issue, matched in page:
        body = issue_serializers.issue(issue, view, matched)
        if "stats" not in collapse:
            stats = _stats(api, issue, period, window)
            if stats:
                body["stats"] = stats
            if org_level:
                body["lifetime"] = {"count": str(issue.times_seen), "userCount": issue.user_count,
                                    "firstSeen": isoformat(issue.first_seen), "lastSeen": isoformat(issue.last_seen),
                                    "stats": None}
                body["filtered"] = None if not query.has_event_conditions else {
                    "count": str(matched.count), "userCount": matched.user_count,
                    "firstSeen": isoformat(matched.first_seen), "lastSeen": isoformat(matched.last_seen),
                    "stats": stats,
                }
        if org_level:
            body["derivedData"] = issue_serializers.derived_data(issue)
            if "inbox" in expand:
                body["inbox"] = issue_serializers.inbox(issue)
            if "owners" in expand:
                body["owners"] = None
            if "sessions" in expand and period:
                body["sessionCount"] = 0
            if "integrationIssues" in expand:
                body["integrationIssues"] = []
            if "sentryAppIssues" in expand:
                body["sentryAppIssues"] = []
            if "latestEventHasAttachments" in expand:
                body["latestEventHasAttachments"] = any(
                    api.store.event_attachments(e.event_id) for e in issue.events[-1:])
        for key in ("lifetime", "filtered") if "lifetime" in collapse or "filtered" in collapse else ():
            if key in collapse:
                body.pop(key, None)
        if "unhandled" in collapse:
            body.pop("isUnhandled", None)
        bodies.append(body)
    return json_response(request, 200, bodies, headers)


def _targets(api: ApiContext, request: Request, org: Organization, projects: list[Project]) -> list[Issue]:
    """The issues a bulk change or delete applies to: ``?id=`` ones, else those the query finds."""
    ids = issue_params.issue_ids(request)
    project_ids = {p.id for p in projects}
    if ids:
        found = [api.store.issues.get(i) for i in ids]
        issues = [i for i in found if i is not None and i.project.id in project_ids]
    else:
        now = api.store.now()
        query = _query(api, request, org, projects)
        issues = [i for i, _ in _search(api, request, org, projects, issue_params.Window(now - 90 * 86400, now + 1),
                                        query, "date", None)][:BULK_LIMIT]
    wanted_status = query_arg(request, "status")
    if wanted_status:
        issues = [i for i in issues if i.status == wanted_status]
    unique: dict[int, Issue] = {i.id: i for i in issues}
    return list(unique.values())


def _change_context(api: ApiContext, request: Request, org: Organization,
                    projects: list[Project]) -> issue_params.ChangeContext:
    project_ids = {p.id for p in projects}
    return issue_params.ChangeContext(
        user=api.user(request),
        latest_release=lambda: api.store.latest_release(project_ids),
        release=lambda version: (r if (r := api.store.release(org, version)) and (r.project_ids & project_ids)
                                 else None),
        actor=lambda text: api.actor(org, text),
    )


def _answer_body(api: ApiContext, request: Request, body: dict[str, Any]) -> dict[str, Any]:
    """The applied changes with their actors as Sentry shows them."""
    view = api.issue_view(request)
    if "assignedTo" in body:
        body["assignedTo"] = actor(body["assignedTo"], view.user_for, view.team_for)
    details = body.get("statusDetails")
    if isinstance(details, dict) and "actor" in details:
        details["actor"] = view.user_body(details["actor"])
    return body


def _bulk_update(api: ApiContext, request: Request, org: Organization, projects: list[Project]) -> bytes:
    changes = issue_params.issue_changes(read_json_object(request), _change_context(api, request, org, projects))
    issues = _targets(api, request, org, projects)
    if not issues:
        return empty_response(request, 204)
    if changes.merge is True and len({i.project.id for i in issues}) > 1:
        raise ApiError(400, "Merging across multiple projects is not supported")
    if changes.resolution is not None and len({i.project.id for i in issues}) > 1:
        raise ApiError(400, "Cannot set resolved for multiple projects.")
    result = issue_updates.apply(api.store, issues, changes, api.user(request), single=len(issues) == 1)
    return json_response(request, 200, _answer_body(api, request, result))


def _bulk_delete(api: ApiContext, request: Request, org: Organization, projects: list[Project]) -> bytes:
    issues = _targets(api, request, org, projects)
    api.store.issues.delete(issues)
    return empty_response(request, 204)


# --- the lists ----------------------------------------------------------------------------------

@endpoint("/api/0/organizations/<org>/issues/", methods=["GET"], permission=permissions.ISSUES)
def org_issues(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    return _list(api, request, found, _org_projects(api, request, found), org_level=True)


@endpoint("/api/0/organizations/<org>/issues/", methods=["PUT"], permission=permissions.ISSUES)
def update_org_issues(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    return _bulk_update(api, request, found, _org_projects(api, request, found))


@endpoint("/api/0/organizations/<org>/issues/", methods=["DELETE"], permission=permissions.ISSUES)
def delete_org_issues(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    return _bulk_delete(api, request, found, _org_projects(api, request, found))


@endpoint("/api/0/projects/<org>/<project>/issues/", methods=["GET"], permission=permissions.ISSUES)
def project_issues(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    return _list(api, request, found.organization, [found], org_level=False)


@endpoint("/api/0/projects/<org>/<project>/issues/", methods=["PUT"], permission=permissions.ISSUES)
def update_project_issues(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """Bulk changes (``sentry-cli issues resolve/mute/unresolve``): ``?id=``, or all the query finds."""
    found = api.project(request, org, project)
    return _bulk_update(api, request, found.organization, [found])


@endpoint("/api/0/projects/<org>/<project>/issues/", methods=["DELETE"], permission=permissions.ISSUES)
def delete_project_issues(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    return _bulk_delete(api, request, found.organization, [found])


# --- one issue ----------------------------------------------------------------------------------

def issue_detail(api: ApiContext, request: Request, issue: Issue) -> dict[str, Any]:
    view = api.issue_view(request)
    stats = {"24h": api.store.issues.stats(issue, 24, 3600), "30d": api.store.issues.stats(issue, 30, 86400)}
    body = issue_serializers.detail(issue, view, stats, api.store.issues.last_release(issue))
    if "inbox" in query_args(request, "expand"):
        body["inbox"] = issue_serializers.inbox(issue)
    return body


@issue_route("", ["GET"])
def get_issue(api: ApiContext, request: Request, issue_id: str, org: str | None = None) -> bytes:
    return json_response(request, 200, issue_detail(api, request, api.issue(request, org, issue_id)))


@issue_route("", ["PUT"])
def update_issue(api: ApiContext, request: Request, issue_id: str, org: str | None = None) -> bytes:
    """One issue's changes; the answer is the whole issue afterwards."""
    issue = api.issue(request, org, issue_id)
    changes = issue_params.issue_changes(read_json_object(request),
                                         _change_context(api, request, issue.project.organization, [issue.project]))
    issue_updates.apply(api.store, [issue], changes, api.user(request), single=True)
    return json_response(request, 200, issue_serializers.issue(issue, api.issue_view(request)))


@issue_route("", ["DELETE"])
def delete_issue(api: ApiContext, request: Request, issue_id: str, org: str | None = None) -> bytes:
    issue = api.issue(request, org, issue_id)
    api.store.issues.delete([issue])
    return empty_response(request, 202)


@endpoint("/api/0/organizations/<org>/shortids/<short_id>/", methods=["GET"], permission=permissions.ISSUES)
def short_id_lookup(api: ApiContext, request: Request, org: str, short_id: str) -> bytes:
    found = api.org(request, org)
    issue = api.store.issues.by_short_id(found, short_id)
    if issue is None:
        raise not_found()
    return json_response(request, 200, {
        "organizationSlug": found.slug,
        "projectSlug": issue.project.slug,
        "groupId": str(issue.id),
        "group": issue_serializers.issue(issue, api.issue_view(request)),
        "shortId": issue_serializers.short_id(issue),
    })
