"""The control API's faults (``/__parlel/faults``): the body a fault is made from, declared once
and checked as DRF checks a body, and which faults a request names.

A fault is one flat object (``store.faults`` says what each field does)::

    {"action": "rate_limit", "endpoint": "envelope", "project": 1, "categories": ["transaction"],
     "retry_after": 60, "times": 1}

Defaults: ``endpoint`` ``any`` (every ingest endpoint), no ``project``/``tenant`` (all), no
``categories`` (all; a quota's are Sentry's error categories), ``retry_after`` 60 for a rate
limit, ``scope`` ``project``, a quota's ``reason_code`` ``project_quota``, ``times`` unlimited,
``seed`` 0 when a ``probability`` is given. A parameter the action does not use is refused, so a
typo in a test cannot pass unnoticed. Under ``--control-auth token`` an organization's token makes
faults for itself only: ``tenant`` defaults to its tenant (or organization) and may name no other.
"""

from __future__ import annotations

from typing import Any, Callable

from twisted.web.server import Request

from sentry_daemon.control_auth import FOREIGN, control_scope, require_org
from sentry_daemon.control_lists import whole_number
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.validation import REQUIRED, Field, ValidationError, validate
from sentry_daemon.store.faults import (
    ACTIONS,
    DEFAULT_RETRY_AFTER,
    ENDPOINTS,
    ERROR_CATEGORIES,
    LIMIT_ACTIONS,
    PARAMETERS,
    QUOTA_REASON,
    SCOPES,
    Fault,
)
from sentry_daemon.store.outcomes import CATEGORIES
from sentry_daemon.store.records import Organization
from sentry_daemon.store.store import Store

# what a fault's categories may name: Relay's data categories, and ``log`` for ``log_item``
CATEGORY_ALIASES = {"log": "log_item"}
_CATEGORY_NAMES = (*CATEGORIES, *CATEGORY_ALIASES)
_MAX_SECONDS = 86400


def _number(low: float, high: float, integer: bool = False) -> Callable[[Any], str | None]:
    """DRF's range messages (and ``FloatField``'s type message for a number that is not one)."""

    def check(value: Any) -> str | None:
        if not integer and (isinstance(value, bool) or not isinstance(value, (int, float))):
            return "A valid number is required."
        if value < low:
            return f"Ensure this value is greater than or equal to {low:g}."
        if value > high:
            return f"Ensure this value is less than or equal to {high:g}."
        return None

    return check


FAULT_FIELDS = {
    "action": Field(required=True, choices=ACTIONS),
    "endpoint": Field(choices=ENDPOINTS, default="any"),
    "project": Field(kind="integer", null=True, check=_number(1, 2**63 - 1, integer=True)),
    "tenant": Field(null=True, max_length=100),
    "categories": Field(kind="list", item=Field(choices=_CATEGORY_NAMES), default=[]),
    "status": Field(kind="integer", check=_number(400, 599, integer=True)),
    "retry_after": Field(kind="integer", check=_number(1, _MAX_SECONDS, integer=True)),
    "delay": Field(kind="any", check=_number(0, 600)),
    "limit": Field(kind="integer", check=_number(0, 2**31, integer=True)),
    "window": Field(kind="integer", check=_number(1, _MAX_SECONDS, integer=True)),
    "scope": Field(choices=SCOPES),
    "reason_code": Field(null=True, max_length=100),
    "times": Field(kind="integer", null=True, check=_number(1, 2**31, integer=True)),
    "probability": Field(kind="any", null=True, check=_number(0, 1)),
    "seed": Field(kind="integer", null=True),
}
_REQUIRED = {"status": ("status",), "delay": ("delay",), "quota": ("limit", "window")}
_HOW_OFTEN = ("times", "probability", "seed")
_PARAMETER_FIELDS = [name for name in FAULT_FIELDS
                     if name not in ("action", "endpoint", "project", "tenant", "categories", *_HOW_OFTEN)]


def read_fault(store: Store, body: dict[str, Any], scope: object = None) -> dict[str, Any]:
    """The fields of the fault ``body`` asks for (400 with field errors; 403 for a tenant beyond
    ``scope``, the caller's ``control_scope``)."""
    fields = validate(body, FAULT_FIELDS)
    action = fields["action"]
    errors: dict[str, list[str]] = {}
    for name in _REQUIRED.get(action, ()):
        if fields.get(name) is None:
            errors[name] = [REQUIRED]
    for name in _PARAMETER_FIELDS:
        if name in body and name not in PARAMETERS[action]:
            errors[name] = [f"Not used by the {action} action."]
    if action == "quota":
        for name in _HOW_OFTEN:
            if body.get(name) is not None:
                errors[name] = ["Not used by the quota action: it counts every matching request."]
    if fields["categories"] and (action not in LIMIT_ACTIONS or fields["endpoint"] == "api"):
        errors["categories"] = ["Only rate_limit and quota refuse items by category, and not on the web API."]
    org = _tenant_org(store, fields.get("tenant"), errors)
    if errors:
        raise ValidationError(errors)
    if isinstance(scope, Organization):
        if org is not None and org is not scope:
            raise ApiError(403, FOREIGN)
        if org is None:
            org = scope
            tenant = store.tenants.of_organization(scope)
            fields["tenant"] = tenant.id if tenant is not None else scope.slug
    fields["org_id"] = org.id if org is not None else None
    return _with_defaults(fields)


def _tenant_org(store: Store, name: str | None, errors: dict[str, list[str]]) -> Organization | None:
    if not name:
        return None
    tenant = store.tenants.get(name)
    org = tenant.organization if tenant is not None else store.organization(name)
    if org is None:
        errors["tenant"] = ["No tenant or organization has this id or slug."]
    return org


def _with_defaults(fields: dict[str, Any]) -> dict[str, Any]:
    action = fields.pop("action")
    categories = tuple(dict.fromkeys(CATEGORY_ALIASES.get(c, c) for c in fields.pop("categories")))
    if action == "quota" and not categories:
        categories = ERROR_CATEGORIES
    made: dict[str, Any] = {"action": action, "categories": categories, **fields}
    if action in LIMIT_ACTIONS:
        made.setdefault("scope", "project")
    if action == "rate_limit":
        made.setdefault("retry_after", DEFAULT_RETRY_AFTER)
    if action == "quota":
        made.setdefault("reason_code", QUOTA_REASON)
    if made.get("probability") is not None and made.get("seed") is None:
        made["seed"] = 0
    return made


def select_faults(store: Store, request: Request, args: dict[str, list[str]]) -> list[Fault]:
    """The faults a list or bulk delete names: within the caller's scope, and ``?project=``,
    ``?tenant=``/``?org=`` (the faults made for that tenant)."""
    scope = control_scope(request)
    org = scope if isinstance(scope, Organization) else None
    for name in ("tenant", "org"):
        value = (args.get(name) or [None])[0]
        if value:
            named = store.tenants.get(value) if name == "tenant" else None
            found = named.organization if named is not None else store.organization(value)
            if found is None:
                raise ApiError(404, f"unknown {'tenant' if name == 'tenant' else 'organization'} {value!r}")
            require_org(request, found)
            org = found
    project_id = whole_number((args.get("project") or [None])[0], "project")
    return [f for f in store.faults.of(org) if project_id is None or f.project == project_id]


def one_fault(store: Store, request: Request, fault_id: int) -> Fault:
    found = store.faults.get(fault_id)
    if found is None:
        raise not_found()
    scope = control_scope(request)
    if isinstance(scope, Organization) and not store.faults.belongs_to(found, scope):
        raise ApiError(403, FOREIGN)
    return found
