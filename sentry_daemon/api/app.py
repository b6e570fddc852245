"""The one Klein app every web-API route is registered on, and what every route needs to find.

Routes are plain functions in one module per resource family (``organizations``, ``projects``,
``issues``, ...); Klein calls each with the :class:`ApiContext` it is bound to, so a route reads
the store through ``api`` and keeps no state of its own. Every route needs
``Authorization: Bearer <token>``; organizations, teams and projects are named by slug or id.
"""

from __future__ import annotations

from typing import Callable

from klein import Klein
from twisted.web.server import Request

from sentry_daemon.api.auth import require_token
from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.store.records import Organization, Project, Team
from sentry_daemon.store.store import Store

app = Klein()
install_error_handlers(app)


class ApiContext:
    """The store and the request's base URL, and the lookups routes share (each checks the token)."""

    def __init__(self, store: Store, base_url: Callable[[Request], str]) -> None:
        self.store = store
        self.base_url = base_url

    def org(self, request: Request, org: str) -> Organization:
        require_token(self.store, request)
        found = self.store.organization(org)
        if found is None:
            raise not_found()
        return found

    def project(self, request: Request, org: str, project: str) -> Project:
        found = self.store.project(self.org(request, org), project)
        if found is None:
            raise not_found()
        return found

    def team(self, request: Request, org: str, team: str) -> Team:
        found = self.store.team(self.org(request, org), team)
        if found is None:
            raise ApiError(404, "Team not found.")
        return found
