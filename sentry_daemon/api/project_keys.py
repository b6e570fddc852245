"""Client keys (DSNs): a project's keys (list, create, read, change, delete) and an organization's.

A key works for ingest the moment it exists; a deactivated or deleted one is refused by strict
ingest at once (``ingest.auth``), and lenient ingest does not bring a deleted key back. The DSNs
are built from the address the request came in on, so they point where the client reached us.
"""

from __future__ import annotations

import re
from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.projects import requested_projects
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import query_arg, read_json_object
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.http.validation import Field, validate
from sentry_daemon.serializers.project_keys import BROWSER_SDK_VERSIONS, LOADER_DEFAULTS, project_key
from sentry_daemon.store.organizations import KEEP
from sentry_daemon.store.records import Project, ProjectKey

_HEX32 = re.compile(r"^[a-f0-9]{32}$")


def _hex32(value: str) -> str | None:
    return None if _HEX32.match(value) else "This value does not match the required pattern."


def _at_least_zero(value: int) -> str | None:
    return "Ensure this value is greater than or equal to 0." if value < 0 else None


def _window(value: int) -> str | None:
    if value > 86400:
        return "Ensure this value is less than or equal to 86400."
    return _at_least_zero(value)


RATE_LIMIT = {"count": Field(kind="integer", null=True, check=_at_least_zero),
              "window": Field(kind="integer", null=True, check=_window)}
# ProjectKeyPostSerializer
KEY_POST = {
    "name": Field(null=True, blank=True, max_length=64),
    "public": Field(null=True, check=_hex32),
    "secret": Field(null=True, check=_hex32),
    "rateLimit": Field(kind="dict", null=True, fields=RATE_LIMIT),
    "useCase": Field(choices=("user", "profiling", "tempest", "demo")),
}
# ProjectKeyPutSerializer
KEY_PUT = {
    "name": Field(blank=True, max_length=64),
    "isActive": Field(kind="boolean"),
    "rateLimit": Field(kind="dict", null=True, fields=RATE_LIMIT),
    "browserSdkVersion": Field(choices=BROWSER_SDK_VERSIONS),
    "dynamicSdkLoaderOptions": Field(kind="dict", fields={name: Field(kind="boolean") for name in LOADER_DEFAULTS}),
}


def _with_status(api: ApiContext, request: Request, keys: list[ProjectKey]) -> list[ProjectKey]:
    """Newest first; ``status=active|inactive`` filters, any other status matches nothing."""
    age = {public: n for n, public in enumerate(api.store.keys)}
    status = query_arg(request, "status")
    if status == "active":
        keys = [k for k in keys if k.is_active]
    elif status == "inactive":
        keys = [k for k in keys if not k.is_active]
    elif status:
        keys = []
    return sorted(keys, key=lambda k: age[k.public], reverse=True)


def _listed(api: ApiContext, request: Request, keys: list[ProjectKey], per_page: int) -> bytes:
    base = api.base_url(request)
    page, headers = paginate(request, _with_status(api, request, keys), base, default=per_page)
    return json_response(request, 200, [project_key(k, base) for k in page], headers)


def _key(api: ApiContext, project: Project, key_id: str) -> ProjectKey:
    found = api.store.keys.get(key_id)
    if found is None or found.project is not project:
        raise not_found()
    return found


def _rate_limit(value: dict[str, Any] | None) -> tuple[int, int] | None:
    """A limit needs both a count and a window (Sentry keeps none otherwise)."""
    if value and value.get("count") and value.get("window"):
        return value["count"], value["window"]
    return None


@endpoint("/api/0/projects/<org>/<project>/keys/", methods=["GET"], permission=permissions.PROJECT_KEYS)
def list_keys(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    return _listed(api, request, api.store.project_keys(found), 100)


@endpoint("/api/0/projects/<org>/<project>/keys/", methods=["POST"], permission=permissions.PROJECT_KEYS)
def create_key(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """A key with no ``name`` gets two random words, as Sentry names it. A ``public`` key already
    in use is a 409 (Sentry fails inside the request)."""
    found = api.project(request, org, project)
    body = validate(read_json_object(request), KEY_POST)
    public = body.get("public")
    if public and public in api.store.keys:
        raise ApiError(409, "A key with this public key already exists.")
    key = api.store.orgs.create_key(found, body.get("name"), public, body.get("secret"),
                                    _rate_limit(body.get("rateLimit")))
    return json_response(request, 201, project_key(key, api.base_url(request)))


@endpoint("/api/0/projects/<org>/<project>/keys/<key_id>/", methods=["GET"], permission=permissions.PROJECT_KEYS)
def key_detail(api: ApiContext, request: Request, org: str, project: str, key_id: str) -> bytes:
    key = _key(api, api.project(request, org, project), key_id)
    return json_response(request, 200, project_key(key, api.base_url(request)))


@endpoint("/api/0/projects/<org>/<project>/keys/<key_id>/", methods=["PUT"], permission=permissions.PROJECT_KEYS)
def update_key(api: ApiContext, request: Request, org: str, project: str, key_id: str) -> bytes:
    """As Sentry's: a PUT without ``browserSdkVersion`` puts the key back on the default version,
    and ``rateLimit`` null (or missing a count or window) removes the limit."""
    key = _key(api, api.project(request, org, project), key_id)
    body = validate(read_json_object(request), KEY_PUT, partial=True)
    rate_limit: Any = KEEP
    if "rateLimit" in body:
        limit = body["rateLimit"]
        if limit is None or (limit and (limit.get("count") is None or limit.get("window") is None)):
            rate_limit = None
        elif limit:
            rate_limit = _rate_limit(limit)
    api.store.orgs.update_key(key, browser_sdk_version=body.get("browserSdkVersion"),
                              loader_options=body.get("dynamicSdkLoaderOptions") or {},
                              label=body.get("name") or None, is_active=body.get("isActive"), rate_limit=rate_limit)
    return json_response(request, 200, project_key(key, api.base_url(request)))


@endpoint("/api/0/projects/<org>/<project>/keys/<key_id>/", methods=["DELETE"], permission=permissions.PROJECT_KEYS)
def delete_key(api: ApiContext, request: Request, org: str, project: str, key_id: str) -> bytes:
    api.store.orgs.delete_key(_key(api, api.project(request, org, project), key_id))
    return empty_response(request, 204)


@endpoint("/api/0/organizations/<org>/project-keys/", methods=["GET"], permission=permissions.ORGANIZATION)
def organization_keys(api: ApiContext, request: Request, org: str) -> bytes:
    """The keys of the caller's projects (``project``, ``team`` and ``status`` narrow), 10 a page."""
    found = api.org(request, org)
    rows = requested_projects(api, request, found)
    team = query_arg(request, "team")
    if team:
        chosen = api.store.team(found, team)
        if chosen is None:
            raise not_found("Team not found")
        rows = [p for p in rows if p.team is chosen]
    keys = [k for p in rows for k in api.store.project_keys(p)]
    return _listed(api, request, keys, 10)
