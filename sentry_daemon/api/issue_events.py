"""One issue's events (the list, latest, oldest, recommended, by id), hashes and tags."""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import issue_params
from sentry_daemon.api.app import ApiContext
from sentry_daemon.api.issues import issue_route
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import parse_int, query_arg, query_args, query_flag
from sentry_daemon.http.responses import json_response
from sentry_daemon.search.grammar import InvalidSearchQuery
from sentry_daemon.search.issue_search import compile_query, event_matches, search_error
from sentry_daemon.serializers import events as event_serializers
from sentry_daemon.serializers import issues as issue_serializers
from sentry_daemon.serializers import releases as release_serializers
from sentry_daemon.store.event_tags import display_key
from sentry_daemon.store.records import Event, Issue

EVENT_NOT_FOUND = "Event not found. The event ID may be incorrect, or it's age exceeded the retention period."
NO_MATCHING_EVENT = "No matching event found, try changing the environments, date range, or query."


def _ordered(events: list[Event]) -> list[Event]:
    return sorted(events, key=lambda e: (e.time, e.event_id))


def _matching(api: ApiContext, request: Request, issue: Issue) -> list[Event]:
    """The issue's events in the window, environments and ``query``, oldest first."""
    window = issue_params.window(request, api.store.now())
    environments = set(query_args(request, "environment"))
    text = (query_arg(request, "query") or "").strip()
    query = None
    if text:
        try:
            query = compile_query(text, api.search_context(request, issue.project.organization, [issue.project]))
        except InvalidSearchQuery as exc:
            raise ApiError(400, search_error(exc)) from None
    return _ordered([
        e for e in issue.events
        if window.start <= e.time < window.end
        and (not environments or e.environment in environments)
        and (query is None or event_matches(e, query))
    ])


def neighbours(issue: Issue) -> Any:
    """The events before and after an event in its issue, by (time, event id)."""
    ordered = _ordered(issue.events)

    def around(event: Event) -> tuple[Event | None, Event | None]:
        index = next((n for n, e in enumerate(ordered) if e is event), None)
        if index is None:
            return None, None
        return (ordered[index - 1] if index > 0 else None,
                ordered[index + 1] if index + 1 < len(ordered) else None)

    return around


def release_of(api: ApiContext, event: Event) -> dict[str, Any] | None:
    version = next((v for k, v in event.tags if k == "sentry:release"), None)
    if not version:
        return None
    found = api.store.release(event.project.organization, str(version))
    if found is None:
        return {"version": str(version)}
    return release_serializers.release(found, [p for p in api.store.projects.values() if p.id in found.project_ids])


def event_detail(api: ApiContext, event: Event) -> dict[str, Any]:
    issue = api.store.issues.get(event.group_id) if event.group_id is not None else None
    around = neighbours(issue) if issue is not None else (lambda e: (None, None))
    return event_serializers.detail(event, release_of(api, event), around)


@issue_route("events/", ["GET"])
def issue_events(api: ApiContext, request: Request, issue_id: str, org: str | None = None) -> bytes:
    issue = api.issue(request, org, issue_id)
    events = list(reversed(_matching(api, request, issue)))
    full = query_flag(request, "full")
    page, headers = paginate(request, events, api.base_url(request))
    render = event_serializers.full if full else event_serializers.simple
    return json_response(request, 200, [render(e) for e in page], headers)


@issue_route("events/<event_id>/", ["GET"])
def issue_event(api: ApiContext, request: Request, issue_id: str, event_id: str, org: str | None = None) -> bytes:
    issue = api.issue(request, org, issue_id)
    if event_id in ("latest", "oldest", "recommended"):
        events = _matching(api, request, issue)
        if not events:
            raise ApiError(404, NO_MATCHING_EVENT)
        event = events[0] if event_id == "oldest" else events[-1]
    else:
        event = api.store.event(event_id)
        if event is None or event.group_id != issue.id:
            raise ApiError(404, EVENT_NOT_FOUND)
    return json_response(request, 200, event_detail(api, event))


@issue_route("hashes/", ["GET"])
def issue_hashes(api: ApiContext, request: Request, issue_id: str, org: str | None = None) -> bytes:
    """One row per primary hash among the issue's events, newest latest event first."""
    issue = api.issue(request, org, issue_id)
    latest: dict[str, Event] = {}
    for event in _ordered(issue.events):
        if event.hashes:
            latest[event.hashes[0]] = event
    rows = sorted(latest.items(), key=lambda item: (item[1].time, item[1].event_id), reverse=True)
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, [
        {"id": hash_, "latestEvent": event_serializers.full(event), "mergedBySeer": False, "seerMatchDistance": None}
        for hash_, event in page
    ], headers)


@issue_route("tags/", ["GET"])
def issue_tags(api: ApiContext, request: Request, issue_id: str, org: str | None = None) -> bytes:
    issue = api.issue(request, org, issue_id)
    wanted = query_args(request, "key")
    raw_limit = query_arg(request, "limit")
    top = parse_int(raw_limit)
    if top is None:
        top = 9 if wanted else 10
    keys = wanted or sorted({display_key(k) for k, _ in issue.values})
    rows = [found for key in keys if (found := issue_serializers.tag_key(issue, key, top)) is not None]
    return json_response(request, 200, rows)


@issue_route("tags/<key>/", ["GET"])
def issue_tag(api: ApiContext, request: Request, issue_id: str, key: str, org: str | None = None) -> bytes:
    issue = api.issue(request, org, issue_id)
    found = issue_serializers.tag_key(issue, key, 9)
    if found is None:
        raise not_found()
    return json_response(request, 200, found)


_VALUE_SORTS = {"date": lambda s: s.last_seen, "age": lambda s: s.first_seen, "count": lambda s: s.count}


@issue_route("tags/<key>/values/", ["GET"])
def issue_tag_values(api: ApiContext, request: Request, issue_id: str, key: str, org: str | None = None) -> bytes:
    issue = api.issue(request, org, issue_id)
    values = issue_serializers.tag_values(issue, key)
    if not values:
        raise not_found()
    sort = (query_arg(request, "sort") or "").lstrip("-")
    order = _VALUE_SORTS.get(sort, lambda s: s.first_seen)
    values.sort(key=lambda pair: (order(pair[1]), pair[0]), reverse=True)
    page, headers = paginate(request, values, api.base_url(request))
    return json_response(request, 200, [issue_serializers.tag_value(key, value, stats) for value, stats in page],
                         headers)
