"""Who may use the control API (``/__parlel/…``): ``--control-auth open|token``.

``open`` (the default) answers anyone, as the original fake did. With ``token`` (the ``systemd/``
units, which serve a shared host) every ``/__parlel/`` route needs ``Authorization: Bearer``:

- an admin token (``--admin-token``, or ``$SENTRYFAKE_ADMIN_TOKEN``) acts on everything;
- an organization-bound token acts on that organization only: a tenant's token
  (``POST /__parlel/tenants``) on its tenant, an org auth token on its organization;
- no token, or an unknown one, is ``401``; a user token (it belongs to no one organization: the
  default ``sntrys_parlel`` is one, and everybody knows it) is ``403``.

What touches everyone needs an admin token (``403`` otherwise): the global reset, moving the clock
(reading it is anyone's), and listing the tenants. ``/`` and ``/health`` stay open. A refused
request changes nothing: the check runs before any route.

For the routes (lists, waiters, faults, the journal, tenants): :func:`control_scope` is the
organization a request may act on, :data:`ADMIN` for everything, None when the API is open;
:func:`allows` and :func:`require_org` say whether an organization is within it. A route lists
only what is within the scope and answers ``403`` for what it names outside it.
"""

from __future__ import annotations

from typing import Any

from twisted.web.resource import Resource
from twisted.web.server import Request

from sentry_daemon.api.auth import bearer_value
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.responses import json_response
from sentry_daemon.store.records import Organization
from sentry_daemon.store.store import Store

MODES = ("open", "token")
CONTROL_PREFIX = b"/__parlel"
# (method, path without its trailing slash): what only an admin token may do
ADMIN_ROUTES = frozenset({
    (b"POST", b"/__parlel/reset"),
    (b"POST", b"/__parlel/clock"),
    (b"GET", b"/__parlel/tenants"),
    (b"GET", b"/__parlel/snapshot"),
    (b"POST", b"/__parlel/restore"),
})
FOREIGN = "This token may only act on its own organization."
NEEDS_ADMIN = "This needs an admin token (--admin-token): it acts on every organization."
USER_TOKEN = ("A user token belongs to no one organization: use a tenant's or an organization's token, "
              "or an admin token.")


class _Everything:
    """The scope of an admin token: every organization."""

    def __repr__(self) -> str:
        return "ADMIN"


ADMIN: Any = _Everything()
Scope = Organization | _Everything | None


def control_scope(request: Request) -> Scope:
    """The organization a control request may act on; ``ADMIN`` for all; None when the API is open.

    Set by the guard before any ``/__parlel/`` route runs: a route lists only what is within it
    (faults and journal entries of that organization's projects and tenant), and refuses (403,
    :func:`require_org`) what it names outside it.
    """
    return getattr(request, "control_scope", None)


def allows(scope: Scope, org: Organization | None) -> bool:
    """Whether ``org`` (None: something of no organization, such as a fault on every project)
    is within ``scope``; an organization's scope holds only itself."""
    return not isinstance(scope, Organization) or org is scope


def require_org(request: Request, org: Organization | None) -> None:
    """403 unless ``org`` is within the request's scope."""
    if not allows(control_scope(request), org):
        raise ApiError(403, FOREIGN)


def require_admin(request: Request) -> None:
    """403 unless the request may act on everyone (an admin token, or the open API)."""
    if isinstance(control_scope(request), Organization):
        raise ApiError(403, NEEDS_ADMIN)


class ControlAuth:
    """The policy: who the bearer of a control request is, checked once per request."""

    def __init__(self, store: Store, mode: str = "open", admin_tokens: tuple[str, ...] = ()) -> None:
        if mode not in MODES:
            raise ValueError(f"control auth {mode!r}: choose {' or '.join(MODES)}")
        self.store = store
        self.mode = mode
        self.admin_tokens = frozenset(admin_tokens)

    def scope(self, request: Request) -> Scope:
        """The request's scope, or the 401/403 that refuses it."""
        if self.mode == "open":
            return None
        value = bearer_value(request)
        if value in self.admin_tokens:
            return ADMIN
        token = self.store.token(value)
        if token is None:
            raise ApiError(401, "Invalid token")
        if token.organization is None:
            raise ApiError(403, USER_TOKEN)
        if (request.method, request.path.rstrip(b"/")) in ADMIN_ROUTES:
            raise ApiError(403, NEEDS_ADMIN)
        return token.organization


class GuardedControl(Resource):
    """The control routes' resource behind the policy: ``/__parlel/…`` is checked first."""

    isLeaf = True

    def __init__(self, inner: Resource, auth: ControlAuth) -> None:
        super().__init__()
        self._inner = inner
        self._auth = auth

    def render(self, request: Request) -> Any:
        path = request.path
        if path == CONTROL_PREFIX or path.startswith(CONTROL_PREFIX + b"/"):
            try:
                request.control_scope = self._auth.scope(request)  # type: ignore[attr-defined]
            except ApiError as error:
                return json_response(request, error.status, error.body(), error.headers)
        return self._inner.render(request)
