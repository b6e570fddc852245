"""Faults applied to what clients are answered, in Relay's (and the web API's) own words.

Two places act, both thin over ``store.faults``:

- ``FaultGate.guard`` runs before a request is handled (the root resource calls it for ingest
  paths and ``/api/0/``): ``status`` answers a status with Relay's body for it, ``delay`` answers
  after N seconds (a ``callLater`` on the daemon's real reactor; nothing blocks, and a client that
  gives up before then leaves nothing stored), ``drop_connection`` closes the connection without
  an answer. On the web API, ``rate_limit`` and ``quota`` count requests and answer Sentry's 429.
- ``FaultGate.limit`` runs once an ingest request's envelope is parsed and authorized:
  ``rate_limit`` and ``quota`` refuse items by data category, as Relay's ``EnvelopeLimiter``: a
  refused event takes the items that need it (attachments) along; sessions and client reports are
  never refused; refused items count as ``rate_limited`` outcomes with the limit's reason code.
  Nothing left: ``429`` with ``Retry-After`` and ``X-Sentry-Rate-Limits``. Something left: the
  envelope endpoint answers ``200`` with the limits in ``X-Sentry-Rate-Limits``
  (``HandledEnvelope.rate_limits``), the store endpoint ``429`` after keeping the rest (Relay's
  legacy ``check_rate_limits``), the others ``200`` without the header (``ignore_rate_limits``).

Every fault that refuses, drops or cuts a request short is written to the near-miss journal.
"""

from __future__ import annotations

import re
from http import HTTPStatus
from typing import Any, Callable

from twisted.internet.interfaces import IReactorTime
from twisted.python.failure import Failure
from twisted.web.server import NOT_DONE_YET, Request

from sentry_daemon.api.auth import bearer_value
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.responses import json_response
from sentry_daemon.ingest.envelope import INVALID_ENVELOPE, Envelope, Item
from sentry_daemon.ingest.journal import NotedError, body_of, ingest_target, note
from sentry_daemon.ingest.limits import overflow_error
from sentry_daemon.ingest.process import CATEGORIES, EVENT_ITEMS, count_lost, item_quantity
from sentry_daemon.store.faults import Fault, Limit
from sentry_daemon.store.records import Organization, Project
from sentry_daemon.store.store import Store

# BadStoreRequest::RateLimited (relay-server/src/endpoints/common.rs)
RATE_LIMITED = (
    "Sentry dropped data due to a quota or internal rate limit being reached. This will not affect "
    "your application. See https://docs.sentry.io/product/accounts/quotas/ for more information."
)
# Relay's body for each status it answers itself (BadStoreRequest, ServiceUnavailable, the panic
# handler); any other status gets its reason phrase
_RELAY_DETAILS = {
    400: INVALID_ENVELOPE,
    401: "missing authorization information",
    403: "event submission rejected with_reason: ProjectId",
    413: overflow_error("event").detail,
    429: RATE_LIMITED,
    500: "no error details",
    503: "the service is overloaded",
}
# the web API's (Sentry's DRF exceptions and its rate-limit middleware)
_API_DETAILS = {
    400: "Invalid request",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "The requested resource does not exist",
    500: "Internal Error",
}
API_RATE_LIMITED = "You are attempting to use this endpoint too frequently. Limit is {limit} requests in {window} seconds"
_API_SCOPE = re.compile(rb"^/api/0/(organizations|projects|teams)/([^/]+)/(?:([^/]+)/)?")
# never refused: Relay keeps them whatever the limits (``Enforcement::retain_item``)
_UNLIMITED_ITEMS = frozenset({"client_report", "sessions"})


class RateLimited(NotedError):
    """Relay's ``429`` for a rate-limited request (already journaled where it was decided)."""

    def __init__(self, headers: dict[str, str]) -> None:
        super().__init__(429, RATE_LIMITED, headers=headers)


def relay_body(status: int) -> dict[str, str]:
    return {"detail": _RELAY_DETAILS.get(status) or _phrase(status)}


def api_body(status: int, window: int | None = None) -> dict[str, str]:
    if status == 429:
        return {"detail": API_RATE_LIMITED.format(limit=0, window=window or 1)}
    return {"detail": _API_DETAILS.get(status) or _phrase(status)}


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return f"HTTP {status}"


def rate_limits_header(limits: list[Limit], now: float) -> str:
    """``X-Sentry-Rate-Limits`` as Relay's ``format_rate_limits`` writes it:
    ``<seconds>:<categories;...>:<scope>[:<reason_code>]``, limits joined by ``", "``."""
    parts = []
    for limit in limits:
        part = f"{limit.retry_after(now)}:{';'.join(limit.categories)}:{limit.scope}"
        if limit.reason_code:
            part += f":{limit.reason_code}"
        parts.append(part)
    return ", ".join(parts)


def limit_category(item: Item) -> str | None:
    """The data category a rate limit refuses an item by (None: never refused)."""
    return None if item.type in _UNLIMITED_ITEMS else CATEGORIES.get(item.type)


class FaultGate:
    """Applies the store's faults to requests; one per service."""

    def __init__(self, store: Store, reactor: IReactorTime,
                 cors: Callable[[Request], None] | None = None) -> None:
        self.store = store
        self.reactor = reactor
        self._cors = cors

    # --- before a request is handled ------------------------------------------------------

    def quiet(self) -> bool:
        """No fault is set: ``guard`` would pass every request straight through."""
        return not self.store.faults.faults

    def guard(self, request: Request, proceed: Callable[[], bytes | int]) -> bytes | int:
        """``proceed()`` (the request as the daemon handles it), unless a fault answers instead."""
        faults = self.store.faults
        if not faults.faults or request.method == b"OPTIONS":
            return proceed()
        target = self._target(request)
        if target is None:
            return proceed()
        endpoint, project_id, org = target
        fault = faults.request_fault(endpoint, project_id, org)
        if fault is None:
            if endpoint == "api":
                limits = faults.limits("api", project_id, org, {"request": 1})
                if limits:
                    return self._api_limited(request, limits)
            return proceed()
        if fault.action == "status":
            return self._status(request, endpoint, fault)
        if fault.action == "drop_connection":
            note(self.store, request, None, f"connection dropped by fault {fault.id}", fault=fault.id)
            request.channel.transport.loseConnection()
            return NOT_DONE_YET
        return self._delay(request, proceed, fault)

    def _target(self, request: Request) -> tuple[str, int | None, Organization | None] | None:
        path = request.path
        if path.startswith(b"/api/0/") or path == b"/api/0":
            return ("api", *self._api_scope(request))
        found = ingest_target(path)
        if found is None:
            return None
        endpoint, project_id = found
        project = self.store.projects.get(project_id) if project_id is not None else None
        return endpoint, project_id, project.organization if project is not None else None

    def _api_scope(self, request: Request) -> tuple[int | None, Organization | None]:
        """The project and organization a web-API path names (or the org token's organization)."""
        match = _API_SCOPE.match(request.path)
        org = project = None
        if match is not None:
            org = self.store.organization(match.group(2).decode("utf-8", "replace"))
            if org is not None and match.group(1) == b"projects" and match.group(3):
                project = self.store.project(org, match.group(3).decode("utf-8", "replace"))
        if org is None:
            try:
                token = self.store.token(bearer_value(request))
            except ApiError:  # no token: the route answers that itself
                token = None
            org = token.organization if token is not None else None
        return (project.id if project is not None else None), org

    def _status(self, request: Request, endpoint: str, fault: Fault) -> bytes:
        status = fault.status or 500
        body = api_body(status, fault.retry_after) if endpoint == "api" else relay_body(status)
        headers = {"Retry-After": str(fault.retry_after)} if fault.retry_after else None
        if endpoint != "api":
            if self._cors is not None:
                self._cors(request)
            note(self.store, request, status, f"answered {status} by fault {fault.id}", detail=body["detail"],
                 fault=fault.id)
        return json_response(request, status, body, headers)

    def _delay(self, request: Request, proceed: Callable[[], bytes | int], fault: Fault) -> int:
        delay = fault.delay or 0.0
        call = self.reactor.callLater(delay, _resume, request, proceed)
        body = body_of(request)  # Twisted closes it when the connection goes

        def gone(reason: Failure) -> None:
            if call.active():
                call.cancel()
                note(self.store, request, None,
                     f"the client went away during a {delay:g} s delay (fault {fault.id}); nothing was stored",
                     fault=fault.id, body=body)

        request.notifyFinish().addErrback(gone)
        return NOT_DONE_YET

    def _api_limited(self, request: Request, limits: list[Limit]) -> bytes:
        """Sentry's rate-limit middleware answer: ``429 {"detail"}`` with its ``X-Sentry-Rate-Limit-*``."""
        now = self.store.now()
        limit = max(limits, key=lambda found: found.until)
        fault = limit.fault
        allowed = fault.limit if fault.action == "quota" else 0
        window = fault.window if fault.action == "quota" else fault.retry_after
        return json_response(request, 429, {"detail": API_RATE_LIMITED.format(limit=allowed, window=window)}, {
            "X-Sentry-Rate-Limit-Limit": str(allowed),
            "X-Sentry-Rate-Limit-Remaining": "0",
            "X-Sentry-Rate-Limit-Reset": str(int(now) + limit.retry_after(now)),
        })



def limit_envelope(store: Store, request: Request, endpoint: str, project: Project,
               envelope: Envelope) -> tuple[Envelope, RateLimited | None]:
    """The envelope without what rate limits refuse, and the ``429`` to answer once the rest is
    kept (the store endpoint); raises that ``429`` when nothing is left."""
    faults = store.faults
    if not faults.limiting:
        return envelope, None
    quantities: dict[str, int] = {}
    for item in envelope.items:
        category = limit_category(item)
        if category is not None:
            quantities[category] = quantities.get(category, 0) + item_quantity(item)
    if not quantities:
        return envelope, None
    limits = faults.limits(endpoint, project.id, project.organization, quantities)
    if not limits:
        return envelope, None

    def refused(item: Item) -> bool:
        category = limit_category(item)
        return category is not None and any(limit.fault.covers(category) for limit in limits)

    event_refused = any(item.type in EVENT_ITEMS and refused(item) for item in envelope.items)
    kept, dropped = [], []
    for item in envelope.items:
        (dropped if refused(item) or event_refused and item.requires_event else kept).append(item)
    first = limits[0]
    lost = count_lost(store, project, dropped, "rate_limited", first.reason_code)
    now = store.now()
    header = rate_limits_header(limits, now)
    status = 429 if not kept or endpoint == "store" else 200
    kinds = ", ".join(sorted({item.type for item in dropped}))
    note(store, request, status, f"rate limited by fault {first.fault.id}: {kinds} dropped",
         detail=RATE_LIMITED if status == 429 else None, fault=first.fault.id,
         dropped=[{"category": category, "quantity": quantity} for category, quantity in lost.items()])
    refusal = None
    if status == 429:
        refusal = RateLimited({"Retry-After": str(max(limit.retry_after(now) for limit in limits)),
                               "X-Sentry-Rate-Limits": header})
    if not kept:
        raise refusal  # type: ignore[misc]
    if endpoint == "envelope":
        request.setHeader(b"X-Sentry-Rate-Limits", header.encode())
    return Envelope(envelope.headers, kept), refusal


def _resume(request: Request, proceed: Callable[[], Any]) -> None:
    """Handle a delayed request now, and answer it."""
    result = proceed()
    if result is NOT_DONE_YET:
        return
    if not request.responseHeaders.hasHeader(b"content-length"):
        request.setHeader(b"Content-Length", b"%d" % len(result))
    request.write(result)
    request.finish()
