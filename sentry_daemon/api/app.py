"""The one Klein app every web-API route is registered on, and what every route needs to find.

Routes are plain functions in one module per resource family (``organizations``, ``projects``,
``issues``, ...); Klein calls each with the :class:`ApiContext` it is bound to, so a route reads
the store through ``api`` and keeps no state of its own. Every route needs
``Authorization: Bearer <token>``; organizations, teams and projects are named by slug or id.
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from twisted.web.server import Request

from sentry_daemon.api.auth import require_token
from sentry_daemon.api.permissions import DENIED, Permission, allows
from sentry_daemon.http.error_handlers import install_error_handlers
from sentry_daemon.http.errors import ApiError, ProjectMoved, not_found
from sentry_daemon.http.params import parse_int
from sentry_daemon.http.routing import Klein
from sentry_daemon.search.issue_search import SearchContext
from sentry_daemon.serializers.access import Viewer, viewer
from sentry_daemon.serializers.issues import IssueView
from sentry_daemon.store.records import Issue, Organization, Project, Team, Token, User
from sentry_daemon.store.store import Store

app = Klein()
install_error_handlers(app)


def guard(permission: Permission) -> Callable[[Callable], Callable]:
    """Check the request's token and its scopes before the route runs (Sentry's
    ``permission_classes``): 401 without a valid token, 403 without a scope the method needs."""

    def decorate(route: Callable) -> Callable:
        @functools.wraps(route)
        def guarded(api: "ApiContext", request: Request, *args: Any, **kwargs: Any) -> Any:
            api.authorize(request, permission)
            return route(api, request, *args, **kwargs)

        guarded.permission = permission  # type: ignore[attr-defined]  (read by the scope tests)
        return guarded

    return decorate


def endpoint(path: str, methods: list[str], permission: Permission, **route_options: Any) -> Callable:
    """Register a route on the web API's app, guarded by ``permission``."""

    def decorate(route: Callable) -> Callable:
        guarded = guard(permission)(route)
        app.route(path, methods=methods, strict_slashes=False, **route_options)(guarded)
        return guarded

    return decorate


def _moved_url(uri: bytes, org: str, old: str, new: str) -> str | None:
    """The requested path and query under the project's new slug (Sentry replaces
    ``projects/<org>/<old>/`` in the full path); None when the path does not hold it."""
    path, sep, query = uri.decode("utf-8", "replace").partition("?")
    before, after = f"/projects/{org}/{old}", f"/projects/{org}/{new}"
    if f"{before}/" in path:
        path = path.replace(f"{before}/", f"{after}/", 1)
    elif path.endswith(before):
        path = path[: -len(before)] + after
    else:
        return None
    return path + sep + query


def issue_view(store: Store, base_url: str, user: User) -> IssueView:
    """How ``user`` sees issues from ``base_url`` (the web API's, and the control API's issue list)."""
    return IssueView(
        base_url=base_url,
        user=user,
        now=store.now(),
        user_for=lambda uid: store.user if uid == store.user.id else None,
        team_for=lambda tid: next((t for t in store.teams.values() if t.id == tid), None),
        release_for=lambda issue, version: store.release(issue.project.organization, version),
    )


def search_context(store: Store, org: Organization, projects: list[Project], user: User) -> SearchContext:
    """What an issue search by ``user`` in ``org`` over ``projects`` needs (web and control API)."""
    teams = [t for t in store.teams.values() if t.organization is org]
    project_ids = {p.id for p in projects}

    def latest(selected: list[Project]) -> list[str]:
        release = store.latest_release({p.id for p in selected} or project_ids)
        return [release.version] if release is not None else [""]

    def user_by_name(name: str) -> User | None:
        found = store.user
        return found if name in (found.email, found.username, str(found.id)) else None

    return SearchContext(
        organization=org, projects=projects, user=user, now=store.now(),
        user_teams=teams, team_by_slug=lambda slug: next((t for t in teams if t.slug.lower() == slug), None),
        user_by_name=user_by_name, latest_releases=latest,
        issue_by_short_id=lambda text: store.issues.by_short_id(org, text),
    )


class ApiContext:
    """The store and the request's base URL, and the lookups routes share (each checks the token)."""

    def __init__(self, store: Store, base_url: Callable[[Request], str]) -> None:
        self.store = store
        self.base_url = base_url

    def token(self, request: Request) -> Token:
        """The request's token (checked once per request)."""
        token: Token | None = getattr(request, "sentry_token", None)
        if token is None:
            token = require_token(self.store, request)
            request.sentry_token = token  # type: ignore[attr-defined]
        return token

    def authorize(self, request: Request, permission: Permission) -> Token:
        token = self.token(request)
        if not allows(permission, request.method.decode("ascii", "replace"), token.scopes):
            raise ApiError(403, DENIED)
        return token

    def can_see(self, request: Request, org: Organization) -> bool:
        """An org auth token sees its own organization only; a user token every one of its user's."""
        bound = self.token(request).organization
        return bound is None or bound is org

    def organizations(self, request: Request) -> list[Organization]:
        return sorted((o for o in self.store.organizations.values() if self.can_see(request, o)),
                      key=lambda o: o.slug)

    def org(self, request: Request, org: str) -> Organization:
        """The organization a route names: 404 if there is none, 403 if the token may not see it."""
        found = self.store.organization(org)
        if found is None:
            raise not_found()
        if not self.can_see(request, found):
            raise ApiError(403, DENIED)
        return found

    def project(self, request: Request, org: str, project: str) -> Project:
        """The project a route names; a project's old slug answers ``302`` to the same path under
        its new one, as Sentry's ``ProjectEndpoint`` does (404 when the path does not name it)."""
        organization = self.org(request, org)
        found = self.store.project(organization, project)
        if found is None:
            moved = self.store.orgs.project_by_old_slug(organization, project)
            url = _moved_url(request.uri, org, project, moved.slug) if moved is not None else None
            if url is not None:
                raise ProjectMoved(url, moved.slug)
            raise not_found()
        return found

    def team(self, request: Request, org: str, team: str) -> Team:
        found = self.store.team(self.org(request, org), team)
        if found is None:
            raise not_found()
        return found

    def viewer(self, request: Request) -> Viewer:
        """Who the caller is to the serializers (``isMember``, ``access``, ``role``)."""
        return viewer(self.token(request))

    def user(self, request: Request) -> User:
        return self.token(request).user

    def issue(self, request: Request, org: str | None, issue_id: str) -> Issue:
        """An issue by numeric id or (within an organization) short id; 404 if there is none."""
        found = None
        if org is not None:
            organization = self.org(request, org)
            number = parse_int(issue_id)
            if number is not None:
                found = self.store.issues.get(number)
            else:
                found = self.store.issues.by_short_id(organization, issue_id)
            if found is not None and found.project.organization is not organization:
                found = None
        else:
            number = parse_int(issue_id)
            found = self.store.issues.get(number) if number is not None else None
            if found is not None and not self.can_see(request, found.project.organization):
                raise ApiError(403, DENIED)
        if found is None:
            raise not_found()
        return found

    def issue_view(self, request: Request) -> IssueView:
        return issue_view(self.store, self.base_url(request), self.user(request))

    def search_context(self, request: Request, org: Organization, projects: list[Project]) -> SearchContext:
        return search_context(self.store, org, projects, self.user(request))

    def actor(self, org: Organization, text: str) -> Any:
        """``user:1``, ``team:2``, a user's id, username or email → an actor; ``LookupError`` otherwise."""
        store = self.store
        kind, _, ident = text.partition(":")
        number = parse_int(ident)
        if kind == "team" and number is not None:
            if any(t.id == number and t.organization is org for t in store.teams.values()):
                return ("team", number)
        elif kind == "user" and number is not None:
            if number == store.user.id:
                return ("user", store.user.id)
        elif text in (store.user.email, store.user.username, str(store.user.id)):
            return ("user", store.user.id)
        raise LookupError("Unknown actor input")
