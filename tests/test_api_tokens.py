"""Minting, listing and revoking tokens: a user's auth tokens (``/api-tokens/``) and organization
auth tokens (``/org-auth-tokens/``), used at once, refused once deleted; and sentry-cli taking its
server URL and organization from a minted org token."""

from __future__ import annotations

import base64
import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from twisted.internet.threads import deferToThread

from conftest import AUTH, free_port, request_json
from real_clients import client_env, run_client

TOKENS = "/api/0/api-tokens/"
ORG_TOKENS = "/api/0/organizations/parlel/org-auth-tokens/"
SENTRY_CLI = shutil.which("sentry-cli", path=str(Path(sys.executable).parent))
DENIED = {"detail": "You do not have permission to perform this action."}
DATE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z")


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def call(sentry: Any, method: str, path: str, headers: dict[str, str] = AUTH, **kwargs: Any) -> tuple[int, Any]:
    response, body = await request_json(method, sentry.url + path, headers=headers, **kwargs)
    if body is not None:
        assert response.headers.getRawHeaders("content-type") == ["application/json"], (method, path)
    return response.code, body


async def mint_org_token(sentry: Any, name: str = "deploy") -> dict[str, Any]:
    code, body = await call(sentry, "POST", ORG_TOKENS, json={"name": name})
    assert code == 201, body
    return body


@pytest_twisted.ensureDeferred
async def test_user_tokens_are_minted_listed_used_and_revoked(sentry):
    code, created = await call(sentry, "POST", TOKENS, json={"name": "ci", "scopes": ["project:read", "org:read"]})
    assert code == 201, created
    assert re.fullmatch(r"sntryu_[0-9a-f]{64}", created["token"])
    assert created == {"id": created["id"], "scopes": ["org:read", "project:read"], "name": "ci", "application": None,
                       "expiresAt": None, "dateCreated": created["dateCreated"], "state": None,
                       "token": created["token"], "refreshToken": None,
                       "tokenLastCharacters": created["token"][-4:]}
    assert created["id"].isdigit() and DATE.fullmatch(created["dateCreated"])

    # it works at once, with exactly its scopes
    mine = bearer(created["token"])
    assert (await call(sentry, "GET", "/api/0/organizations/parlel/projects/", mine))[0] == 200
    assert await call(sentry, "GET", "/api/0/organizations/parlel/issues/", mine) == (403, DENIED)
    code, index = await call(sentry, "GET", "/api/0/", mine)
    assert index["auth"] == {"scopes": ["org:read", "project:read"]} and index["user"]["id"] == "1"

    # listed without the token itself; the seeded token is the same user's too
    code, listed = await call(sentry, "GET", TOKENS, mine)
    assert code == 200
    by_id = {t["id"]: t for t in listed}
    assert "token" not in by_id[created["id"]]
    assert by_id[created["id"]]["tokenLastCharacters"] == created["token"][-4:]
    assert any(t["tokenLastCharacters"] == "rlel" for t in listed)  # sntrys_parlel

    code, body = await call(sentry, "POST", TOKENS, json={"scopes": []})
    assert code == 201 and body["scopes"] == [] and body["name"] is None

    # deleted by id: gone from the list, refused from then on
    assert await call(sentry, "DELETE", TOKENS, json={"tokenId": created["id"]}) == (204, None)
    assert await call(sentry, "GET", "/api/0/organizations/parlel/projects/", mine) == (401, {"detail": "Invalid token"})
    code, listed = await call(sentry, "GET", TOKENS)
    assert created["id"] not in {t["id"] for t in listed}


@pytest_twisted.ensureDeferred
async def test_user_token_requests_sentry_refuses(sentry):
    cases = [
        ({"scopes": ["project:read", "project:fly"]}, {"scopes": ['"project:fly" is not a valid choice.']}),
        ({"name": "no scopes"}, {"scopes": ["This field is required."]}),
        ({"scopes": "org:read"}, {"scopes": ['Expected a list of items but got type "str".']}),
        ({"scopes": ["org:read"], "name": "n" * 256}, {"name": ["Ensure this field has no more than 255 characters."]}),
    ]
    for body, errors in cases:
        assert await call(sentry, "POST", TOKENS, json=body) == (400, errors), body
    assert (await call(sentry, "POST", TOKENS, json={"scopes": ["openid", "email"]}))[0] == 201
    assert await call(sentry, "DELETE", TOKENS, json={}) == (400, {"tokenId": None})
    assert await call(sentry, "DELETE", TOKENS, json={"tokenId": 999}) == (400, {"tokenId": 999, "userId": 1})
    assert (await call(sentry, "POST", TOKENS, data=b"{not json"))[0] == 400

    # only a user may manage user tokens: an org auth token is refused
    org_token = bearer((await mint_org_token(sentry))["token"])
    for method, kwargs in (("GET", {}), ("POST", {"json": {"scopes": ["org:read"]}}), ("DELETE", {"json": {"tokenId": 1}})):
        assert await call(sentry, method, TOKENS, org_token, **kwargs) == (403, DENIED), method
    assert await call(sentry, "GET", TOKENS, {}) == (401, {"detail": "Authentication credentials were not provided."})


@pytest_twisted.ensureDeferred
async def test_org_auth_tokens_are_sentrys_and_work_at_once(sentry):
    created = await mint_org_token(sentry, "deploy")
    token = created["token"]
    prefix, payload, secret = re.fullmatch(r"(sntrys_)([A-Za-z0-9+/=]+)_([A-Za-z0-9+/]{43})", token).groups()
    embedded = json.loads(base64.b64decode(payload))
    assert embedded["url"] == sentry.url and embedded["region_url"] == sentry.url and embedded["org"] == "parlel"
    assert isinstance(embedded["iat"], float)
    assert created == {"id": created["id"], "name": "deploy", "scopes": ["org:ci"], "tokenLastCharacters": token[-4:],
                       "dateCreated": created["dateCreated"], "dateLastUsed": None, "projectLastUsedId": None,
                       "token": token}

    ci = bearer(token)
    assert (await call(sentry, "GET", "/api/0/organizations/parlel/releases/", ci))[0] == 200
    assert await call(sentry, "GET", "/api/0/organizations/parlel/issues/", ci) == (403, DENIED)  # no event:read
    sentry.store.create_organization("elsewhere")
    assert await call(sentry, "GET", "/api/0/organizations/elsewhere/releases/", ci) == (403, DENIED)
    code, index = await call(sentry, "GET", "/api/0/", ci)
    assert index == {"version": "0", "auth": {"scopes": ["org:ci"]}, "user": None}
    # an org:ci token cannot manage org auth tokens (they need org:read)
    assert await call(sentry, "GET", ORG_TOKENS, ci) == (403, DENIED)

    # listed (used ones first) and shown without the token; renamed; deleted
    await mint_org_token(sentry, "unused")
    code, listed = await call(sentry, "GET", ORG_TOKENS)
    assert code == 200 and [t["name"] for t in listed] == ["deploy", "unused"]
    assert "token" not in listed[0] and DATE.fullmatch(listed[0]["dateLastUsed"])
    detail = f"{ORG_TOKENS}{created['id']}/"
    code, shown = await call(sentry, "GET", detail)
    assert code == 200 and shown == listed[0]
    assert await call(sentry, "PUT", detail, json={"name": "release bot"}) == (204, None)
    assert (await call(sentry, "GET", detail))[1]["name"] == "release bot"
    assert await call(sentry, "DELETE", detail) == (204, None)
    assert await call(sentry, "GET", "/api/0/organizations/parlel/releases/", ci) == (401, {"detail": "Invalid org token"})
    assert await call(sentry, "GET", detail) == (404, {"detail": "The requested resource does not exist"})


@pytest_twisted.ensureDeferred
async def test_org_auth_token_requests_sentry_refuses(sentry):
    blank = (400, {"detail": "The name cannot be blank."})
    assert await call(sentry, "POST", ORG_TOKENS, json={}) == blank
    assert await call(sentry, "POST", ORG_TOKENS, json={"name": ""}) == blank
    assert await call(sentry, "POST", ORG_TOKENS, json={"name": "x" * 256}) == (
        400, {"detail": "The name cannot be longer than 255 characters."})
    created = await mint_org_token(sentry)
    assert await call(sentry, "PUT", f"{ORG_TOKENS}{created['id']}/", json={"name": None}) == blank
    for token_id in ("999", "abc"):
        assert (await call(sentry, "GET", f"{ORG_TOKENS}{token_id}/"))[0] == 404
    # a token of one organization is not found under another
    other = sentry.store.create_organization("other-org")
    foreign = sentry.store.create_org_token(other, "theirs", sentry.url)
    assert (await call(sentry, "GET", f"{ORG_TOKENS}{foreign.id}/"))[0] == 404
    assert (await call(sentry, "DELETE", f"/api/0/organizations/other-org/org-auth-tokens/{created['id']}/"))[0] == 404
    assert (await call(sentry, "GET", "/api/0/organizations/nope/org-auth-tokens/"))[0] == 404


@pytest.mark.skipif(SENTRY_CLI is None, reason="sentry-cli is not installed next to python")
@pytest_twisted.ensureDeferred
async def test_sentry_cli_takes_url_and_org_from_a_minted_token(sentry, tmp_path):
    """SENTRY_URL points where nothing listens and SENTRY_ORG names no organization: sentry-cli
    still reaches the daemon, in the token's organization, because both are embedded in the token."""
    token = (await mint_org_token(sentry, "cli"))["token"]
    wrong = f"http://127.0.0.1:{free_port()}"
    env = client_env(HOME=str(tmp_path), SENTRY_URL=wrong, SENTRY_ORG="not-this-org", SENTRY_AUTH_TOKEN=token,
                     SENTRY_DISABLE_UPDATE_CHECK="true", SENTRY_HTTP_MAX_RETRIES="0")

    async def cli(*args: str) -> str:
        done = await deferToThread(run_client, [SENTRY_CLI, *args], env, tmp_path, 30)
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        assert done.returncode == 0, output
        return output

    info = await cli("info")  # prints the server it used and the token's scopes (its org line is SENTRY_ORG's)
    assert f"Sentry Server: {sentry.url}\n" in info and "- org:ci" in info
    listed = await cli("releases", "list")  # an org-wide call an org:ci token may make
    assert f"Using {sentry.url} (embedded in token) rather than manually-configured URL {wrong}" in listed
    assert "Using organization `parlel` (embedded in token)" in listed
