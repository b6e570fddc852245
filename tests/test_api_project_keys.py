"""Client keys over real HTTP: the CRUD routes (read back, bad input, 404, 405, 403, Sentry's
schema), DSNs built from the address the client used, and what ingest does with a key the moment
it is created, deactivated or deleted (strict mode refuses as Relay does; lenient accepts)."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
import pytest_twisted

from conftest import request_json
from test_api_orgs_projects import PROJECT, call, token
from test_api_schema import check, schema  # noqa: F401  (the fixture)

KEYS = "/api/0/projects/parlel/hello-world/keys/"
REFUSED = {"detail": "event submission rejected with_reason: ProjectId"}


@pytest.fixture(scope="module")
def openapi(schema: dict[str, Any]) -> dict[str, Any]:  # noqa: F811  (the imported fixture)
    """Sentry's published API schema (the test skips without it)."""
    return schema


async def send_with_dsn(sentry: Any, dsn: str, message: str = "hi") -> tuple[int, Any]:
    """An envelope that authenticates itself with its ``dsn`` header, as the SDKs' transports send."""
    event_id = uuid.uuid4().hex
    project_id = dsn.rstrip("/").rpartition("/")[2]
    body = b"\n".join([json.dumps({"event_id": event_id, "dsn": dsn}).encode(), b'{"type":"event"}',
                       json.dumps({"event_id": event_id, "message": message}).encode()])
    response, answer = await request_json("POST", f"{sentry.url}/api/{project_id}/envelope/", data=body)
    return response.code, answer


@pytest_twisted.ensureDeferred
async def test_key_crud(sentry, openapi):
    keys = await call(sentry, "GET", KEYS)
    check(openapi, f"{PROJECT}/keys/", "get", keys)
    assert [(k["id"], k["name"], k["isActive"], k["rateLimit"]) for k in keys] == [("parlel", "Default", True, None)]

    created = await call(sentry, "POST", KEYS, 201, json={"name": "CI", "rateLimit": {"count": 100, "window": 60}})
    check(openapi, f"{PROJECT}/keys/", "post", created, "201")
    public = created["id"]
    assert (created["public"], created["name"], created["label"], created["projectId"]) == (public, "CI", "CI", 1)
    assert created["rateLimit"] == {"window": 60, "count": 100} and len(created["secret"]) == 32
    unnamed = await call(sentry, "POST", KEYS, 201, json={})
    assert len(unnamed["name"].split()) == 2  # two random words, as Sentry names a key
    assert [k["id"] for k in await call(sentry, "GET", KEYS)] == [unnamed["id"], public, "parlel"]  # newest first

    detail = await call(sentry, "GET", f"{KEYS}{public}/")
    check(openapi, f"{PROJECT}/keys/{{key_id}}/", "get", detail)
    assert detail == created
    changed = await call(sentry, "PUT", f"{KEYS}{public}/", json={
        "name": "CI key", "isActive": False, "rateLimit": None, "browserSdkVersion": "7.x",
        "dynamicSdkLoaderOptions": {"hasDebug": True}})
    check(openapi, f"{PROJECT}/keys/{{key_id}}/", "put", changed)
    again = await call(sentry, "GET", f"{KEYS}{public}/")
    assert (again["name"], again["isActive"], again["rateLimit"], again["browserSdkVersion"]) == (
        "CI key", False, None, "7.x")
    assert again["dynamicSdkLoaderOptions"]["hasDebug"] is True
    assert [k["id"] for k in await call(sentry, "GET", KEYS + "?status=inactive")] == [public]
    assert await call(sentry, "GET", KEYS + "?status=unknown") == []

    await call(sentry, "DELETE", f"{KEYS}{public}/", 204)
    await call(sentry, "GET", f"{KEYS}{public}/", 404)
    await call(sentry, "DELETE", f"{KEYS}{public}/", 404)
    assert public not in [k["id"] for k in await call(sentry, "GET", KEYS)]


@pytest_twisted.ensureDeferred
async def test_key_dsns_follow_the_host_the_client_used(sentry):
    created = await call(sentry, "POST", KEYS, 201, headers={"Authorization": "Bearer sntrys_parlel",
                                                              "Host": "sentry.example.test:9000"}, json={})
    public, secret = created["public"], created["secret"]
    dsn = created["dsn"]
    assert dsn["public"] == f"http://{public}@sentry.example.test:9000/1"
    assert dsn["secret"] == f"http://{public}:{secret}@sentry.example.test:9000/1"
    assert dsn["csp"] == f"http://sentry.example.test:9000/api/1/csp-report/?sentry_key={public}"
    assert dsn["crons"] == f"http://sentry.example.test:9000/api/1/cron/___MONITOR_SLUG___/{public}/"
    assert dsn["otlp_logs"] == "http://sentry.example.test:9000/api/1/integration/otlp/v1/logs"


@pytest_twisted.ensureDeferred
async def test_key_bad_input_scopes_methods(sentry):
    for body, errors in (
            ({"name": "n" * 65}, {"name": ["Ensure this field has no more than 64 characters."]}),
            ({"public": "xyz"}, {"public": ["This value does not match the required pattern."]}),
            ({"rateLimit": {"count": -1, "window": 999999}}, {"rateLimit": {
                "count": ["Ensure this value is greater than or equal to 0."],
                "window": ["Ensure this value is less than or equal to 86400."]}}),
            ({"rateLimit": "lots"}, {"rateLimit": ['Expected a dictionary of items but got type "str".']}),
    ):
        assert await call(sentry, "POST", KEYS, 400, json=body) == errors, body
    for body, errors in (
            ({"isActive": "maybe"}, {"isActive": ["Must be a valid boolean."]}),
            ({"browserSdkVersion": "6.x"}, {"browserSdkVersion": ['"6.x" is not a valid choice.']}),
            ({"rateLimit": {"count": "many"}}, {"rateLimit": {"count": ["A valid integer is required."]}}),
    ):
        assert await call(sentry, "PUT", f"{KEYS}parlel/", 400, json=body) == errors, body
    assert (await call(sentry, "GET", f"{KEYS}parlel/"))["isActive"] is True
    public = "a" * 32
    await call(sentry, "POST", KEYS, 201, json={"public": public})
    assert await call(sentry, "POST", KEYS, 409, json={"public": public}) == {
        "detail": "A key with this public key already exists."}
    await call(sentry, "GET", "/api/0/projects/parlel/nope/keys/", 404)
    await call(sentry, "GET", f"{KEYS}nope/", 404)
    await call(sentry, "POST", KEYS, 403, headers=token(sentry, ["project:read"]), json={})
    await call(sentry, "DELETE", f"{KEYS}parlel/", 403, headers=token(sentry, ["project:write"]))
    await call(sentry, "PATCH", f"{KEYS}parlel/", 405)
    await call(sentry, "DELETE", KEYS, 405)


@pytest_twisted.ensureDeferred
async def test_organization_keys(sentry, openapi):
    for n in range(11):
        await call(sentry, "POST", KEYS, 201, json={"name": f"k{n}"})
    other = await call(sentry, "POST", "/api/0/organizations/parlel/projects/", 201, json={"name": "Other"})
    response, first = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/project-keys/",
                                         headers={"Authorization": "Bearer sntrys_parlel"})
    check(openapi, "/api/0/organizations/{organization_id_or_slug}/project-keys/", "get", first)
    assert len(first) == 10 and first[0]["projectId"] == int(other["id"])  # newest first, ten a page
    assert 'rel="next"; results="true"' in response.headers.getRawHeaders("link")[0]
    on_team = await call(sentry, "GET", "/api/0/organizations/parlel/project-keys/?team=parlel&per_page=100")
    assert len(on_team) == 12 and {k["projectId"] for k in on_team} == {1}
    assert await call(sentry, "GET", "/api/0/organizations/parlel/project-keys/?team=nope", 404) == {
        "detail": "Team not found"}
    assert await call(sentry, "GET", "/api/0/organizations/parlel/project-keys/?status=inactive") == []
    await call(sentry, "GET", "/api/0/organizations/parlel/project-keys/", 403,
               headers=token(sentry, ["project:read"]))


@pytest_twisted.ensureDeferred
async def test_strict_ingest_follows_the_keys(strict_sentry):
    sentry = strict_sentry
    created = await call(sentry, "POST", KEYS, 201, json={"name": "fresh"})
    dsn, public = created["dsn"]["public"], created["public"]
    code, answer = await send_with_dsn(sentry, dsn)
    assert code == 200 and answer == {"id": sentry.store.events[-1].event_id}  # accepted at once

    await call(sentry, "PUT", f"{KEYS}{public}/", json={"isActive": False})
    assert await send_with_dsn(sentry, dsn) == (403, REFUSED)
    await call(sentry, "PUT", f"{KEYS}{public}/", json={"isActive": True})
    assert (await send_with_dsn(sentry, dsn))[0] == 200

    await call(sentry, "DELETE", f"{KEYS}{public}/", 204)
    assert await send_with_dsn(sentry, dsn) == (403, REFUSED)
    # the seeded key is unaffected, and a deleted project's keys go with it
    seeded = (await call(sentry, "GET", f"{KEYS}parlel/"))["dsn"]["public"]
    assert (await send_with_dsn(sentry, seeded))[0] == 200
    await call(sentry, "DELETE", "/api/0/projects/parlel/hello-world/", 204)
    assert await send_with_dsn(sentry, seeded) == (403, REFUSED)


@pytest_twisted.ensureDeferred
async def test_lenient_ingest_accepts_a_deleted_key_without_bringing_it_back(sentry):
    created = await call(sentry, "POST", KEYS, 201, json={})
    await call(sentry, "DELETE", f"{KEYS}{created['id']}/", 204)
    assert (await send_with_dsn(sentry, created["dsn"]["public"]))[0] == 200
    assert created["id"] not in [k["id"] for k in await call(sentry, "GET", KEYS)]
    # an unknown key is still registered on first use, as lenient mode always did
    assert (await send_with_dsn(sentry, f"http://{'b' * 32}@127.0.0.1/1"))[0] == 200
    assert "b" * 32 in [k["id"] for k in await call(sentry, "GET", KEYS)]
