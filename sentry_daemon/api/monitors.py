"""Cron monitors, created by the first check-in of each slug (``sentry-cli monitors list``)."""

from __future__ import annotations

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.responses import json_response
from sentry_daemon.serializers import monitors


@endpoint("/api/0/organizations/<org>/monitors/", methods=["GET"], permission=permissions.MONITORS)
def org_monitors(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    rows = sorted(
        (m for m in api.store.monitors.values() if m.project.organization is found), key=lambda m: m.slug
    )
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, [monitors.monitor(m) for m in page], headers)
