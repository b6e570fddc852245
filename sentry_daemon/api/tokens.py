"""Bearer tokens: a user's own auth tokens (``/api-tokens/``) and organization auth tokens
(``/organizations/{org}/org-auth-tokens/``), minted as Sentry mints them (``store/tokens.py``).

Sentry lets only a logged-in browser session manage user tokens (``SessionNoAuthTokenAuthentication``);
the fake has no sessions, so any valid *user* token may, and an organization auth token is refused
with a 403. An org auth token embeds the daemon's base URL as the request addressed it: sentry-cli
takes its server URL and organization from the token itself.
"""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.permissions import DENIED
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.params import read_json_object
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.http.validation import Field, ValidationError, validate
from sentry_daemon.serializers import tokens as serialize
from sentry_daemon.store.records import Organization, Token
from sentry_daemon.store.tokens import SCOPES

# Sentry's ``SENTRY_SCOPES``: the API scopes and the three OpenID Connect ones
USER_TOKEN_SCOPES = frozenset(SCOPES) | {"openid", "profile", "email"}
MAX_NAME_LENGTH = 255


def _unknown_scope(scopes: list[Any]) -> str | None:
    """Sentry's ``MultipleChoiceField``: the first scope that is no scope."""
    bad = next((s for s in scopes if not isinstance(s, str) or s not in USER_TOKEN_SCOPES), None)
    return None if bad is None else f'"{bad}" is not a valid choice.'


API_TOKEN_BODY = {
    "name": Field("string", blank=True, max_length=MAX_NAME_LENGTH),
    "scopes": Field("list", required=True, check=_unknown_scope),
}


def _user_token(api: ApiContext, request: Request) -> Token:
    token = api.token(request)
    if token.kind != "user":
        raise ApiError(403, DENIED)
    return token


@endpoint("/api/0/api-tokens/", methods=["GET"], permission=permissions.AUTHENTICATED)
def list_api_tokens(api: ApiContext, request: Request) -> bytes:
    user = _user_token(api, request).user
    return json_response(request, 200, [serialize.api_token(t) for t in api.store.user_tokens(user)])


@endpoint("/api/0/api-tokens/", methods=["POST"], permission=permissions.AUTHENTICATED)
def create_api_token(api: ApiContext, request: Request) -> bytes:
    _user_token(api, request)
    body = validate(read_json_object(request), API_TOKEN_BODY)
    token = api.store.create_user_token(body["scopes"], name=body.get("name"))
    return json_response(request, 201, serialize.api_token(token, include_token=True))


@endpoint("/api/0/api-tokens/", methods=["DELETE"], permission=permissions.AUTHENTICATED)
def delete_api_token(api: ApiContext, request: Request) -> bytes:
    """By ``tokenId`` in the body; Sentry's own 400 bodies echo what was asked for."""
    user = _user_token(api, request).user
    token_id = read_json_object(request).get("tokenId")
    if token_id is None:
        raise ValidationError({"tokenId": None})
    found = next((t for t in api.store.user_tokens(user) if str(t.id) == str(token_id).strip()), None)
    if found is None:
        raise ValidationError({"tokenId": token_id, "userId": user.id})
    api.store.delete_token(found)
    return empty_response(request, 204)


# --- organization auth tokens ------------------------------------------------------------------

def _name(request: Request) -> str:
    """The token's ``name``, checked as Sentry's endpoint checks it (its own ``detail`` texts)."""
    name = read_json_object(request).get("name")
    if not name or not isinstance(name, str):
        raise ApiError(400, "The name cannot be blank.")
    if len(name) > MAX_NAME_LENGTH:
        raise ApiError(400, "The name cannot be longer than 255 characters.")
    return name


def _org_token(api: ApiContext, org: Organization, token_id: str) -> Token:
    found = next((t for t in api.store.org_tokens(org) if str(t.id) == token_id), None)
    if found is None:
        raise not_found()
    return found


def _recently_used_first(token: Token) -> tuple[Any, ...]:
    """Sentry's order: last used first (never used last), then by name, then newest first."""
    return (token.date_last_used is None, -(token.date_last_used or 0), token.name or "", -token.date_created,
            -token.id)


@endpoint("/api/0/organizations/<org>/org-auth-tokens/", methods=["GET"], permission=permissions.ORG_AUTH_TOKENS)
def list_org_auth_tokens(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    listed = sorted(api.store.org_tokens(found), key=_recently_used_first)
    return json_response(request, 200, [serialize.org_auth_token(t) for t in listed])


@endpoint("/api/0/organizations/<org>/org-auth-tokens/", methods=["POST"], permission=permissions.ORG_AUTH_TOKENS)
def create_org_auth_token(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    token = api.store.create_org_token(found, _name(request), api.base_url(request))
    return json_response(request, 201, serialize.org_auth_token(token, include_token=True))


@endpoint("/api/0/organizations/<org>/org-auth-tokens/<token_id>/", methods=["GET"],
          permission=permissions.ORG_AUTH_TOKENS)
def get_org_auth_token(api: ApiContext, request: Request, org: str, token_id: str) -> bytes:
    token = _org_token(api, api.org(request, org), token_id)
    return json_response(request, 200, serialize.org_auth_token(token))


@endpoint("/api/0/organizations/<org>/org-auth-tokens/<token_id>/", methods=["PUT"],
          permission=permissions.ORG_AUTH_TOKENS)
def rename_org_auth_token(api: ApiContext, request: Request, org: str, token_id: str) -> bytes:
    token = _org_token(api, api.org(request, org), token_id)
    api.store.rename_token(token, _name(request))
    return empty_response(request, 204)


@endpoint("/api/0/organizations/<org>/org-auth-tokens/<token_id>/", methods=["DELETE"],
          permission=permissions.ORG_AUTH_TOKENS)
def delete_org_auth_token(api: ApiContext, request: Request, org: str, token_id: str) -> bytes:
    token = _org_token(api, api.org(request, org), token_id)
    api.store.delete_token(token)
    return empty_response(request, 204)
