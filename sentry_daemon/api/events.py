"""Events: a project's event list and one event, event-id lookup, and an event's grouping info."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.api import issue_params
from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.issue_events import event_detail
from sentry_daemon.event_data import ERROR_EVENT_TYPES
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import query_arg, query_flag
from sentry_daemon.http.responses import json_response
from sentry_daemon.search.issue_search import EVENT_ID
from sentry_daemon.serializers import events as event_serializers
from sentry_daemon.serializers import grouping_info
from sentry_daemon.store.records import Event, Project

INVALID_EVENT_ID = ("Event ID must be a valid UUID hex (32-36 characters long, containing only digits, dashes, "
                    "or a-f characters)")


def _event(api: ApiContext, project: Project, event_id: str) -> Event:
    event = api.store.event(event_id)
    if event is None or event.project is not project:
        raise ApiError(404, "Event not found")
    return event


@endpoint("/api/0/projects/<org>/<project>/events/", methods=["GET"], permission=permissions.PROJECT_EVENTS)
def project_events(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """Error and default events, newest first; ``query`` is a substring of the message."""
    found = api.project(request, org, project)
    window = issue_params.window(request, api.store.now())
    text = (query_arg(request, "query") or "").lower()
    events = [e for e in api.store.project_events(found)
              if e.type in ERROR_EVENT_TYPES and window.start <= e.time < window.end
              and (not text or any(text in v for k, v in e.texts if k == "message"))]
    events.sort(key=lambda e: (e.time, e.event_id), reverse=True)
    page, headers = paginate(request, events, api.base_url(request))
    full = query_flag(request, "full")
    render = event_serializers.full if full else event_serializers.simple
    return json_response(request, 200, [render(e) for e in page], headers)


@endpoint("/api/0/projects/<org>/<project>/events/<event_id>/", methods=["GET"], permission=permissions.PROJECT_EVENTS)
def project_event(api: ApiContext, request: Request, org: str, project: str, event_id: str) -> bytes:
    return json_response(request, 200, event_detail(api, _event(api, api.project(request, org, project), event_id)))


@endpoint("/api/0/projects/<org>/<project>/events/<event_id>/grouping-info/", methods=["GET"], permission=permissions.PROJECT_EVENTS)
def grouping_info_route(api: ApiContext, request: Request, org: str, project: str, event_id: str) -> bytes:
    event = _event(api, api.project(request, org, project), event_id)
    return json_response(request, 200, grouping_info.grouping_info(event))


@endpoint("/api/0/organizations/<org>/eventids/<event_id>/", methods=["GET"], permission=permissions.ORGANIZATION)
def event_id_lookup(api: ApiContext, request: Request, org: str, event_id: str) -> bytes:
    found = api.org(request, org)
    if not EVENT_ID.match(event_id):
        raise ApiError(400, INVALID_EVENT_ID)
    event = api.store.event(event_id)
    if event is None or event.project.organization is not found or event.type == "transaction":
        raise not_found()
    return json_response(request, 200, {
        "organizationSlug": found.slug,
        "projectSlug": event.project.slug,
        "groupId": str(event.group_id) if event.group_id is not None else None,
        "eventId": event.event_id,
        "event": event_serializers.full(event),
    })
