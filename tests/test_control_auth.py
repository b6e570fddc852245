"""``--control-auth token`` over real HTTP: who may use the control API, route by route — no token,
an unknown one, a user token, another tenant's, the tenant's own, an organization's, an admin's —
and that a refused request changes nothing."""

from __future__ import annotations

from typing import Any

import pytest_twisted

from conftest import AUTH, request_json
from issue_helpers import error_event, send
from sentry_daemon.control_auth import ADMIN, allows, control_scope
from sentry_daemon.store.records import Organization
from sentry_daemon.tap import Options, config_from_options
from sentry_daemon.testing import start_sentry

ADMIN_TOKEN = "admin-secret"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest_twisted.async_yield_fixture()
async def guarded() -> Any:
    running = await start_sentry(control_auth="token", admin_tokens=(ADMIN_TOKEN,))
    yield running
    await running.stop()


async def call(sentry: Any, method: str, path: str, token: str | None = None, **kwargs: Any) -> tuple[int, Any]:
    headers = bearer(token) if token else {}
    response, body = await request_json(method, sentry.url + path, headers=headers, **kwargs)
    return response.code, body


async def two_tenants(sentry: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    made = []
    for name in ("a", "b"):
        code, tenant = await call(sentry, "POST", "/__parlel/tenants", ADMIN_TOKEN, json={"name": name})
        assert code == 201, tenant
        await send(sentry, error_event(value=name), project=tenant["project_id"])
        made.append(tenant)
    return made[0], made[1]


@pytest_twisted.ensureDeferred
async def test_the_service_metadata_and_health_stay_open(guarded: Any) -> None:
    for path in ("/", "/health"):
        code, _ = await call(guarded, "GET", path)
        assert code == 200, path


@pytest_twisted.ensureDeferred
async def test_without_a_usable_token_every_control_route_is_refused(guarded: Any) -> None:
    await send(guarded, error_event())
    routes = [("GET", "/__parlel/events"), ("GET", "/__parlel/issues"), ("POST", "/__parlel/reset"),
              ("POST", "/__parlel/tenants"), ("GET", "/__parlel/tenants"), ("GET", "/__parlel/wait?for=events"),
              ("GET", "/__parlel/clock"), ("GET", "/__parlel/nothing-here"), ("GET", "/__parlel")]
    for method, path in routes:
        for token, status in ((None, 401), ("not-a-token", 401), ("sntrys_parlel", 403)):
            code, body = await call(guarded, method, path, token)
            assert code == status and isinstance(body.get("detail"), str), (method, path, token, code, body)
    code, body = await call(guarded, "GET", "/__parlel/events", ADMIN_TOKEN)
    assert code == 200 and body["count"] == 1  # the reset tried above changed nothing
    assert guarded.store.tenants.values() == []


@pytest_twisted.ensureDeferred
async def test_a_tenants_token_acts_on_its_own_tenant_only(guarded: Any) -> None:
    a, b = await two_tenants(guarded)
    token = a["token"]

    code, events = await call(guarded, "GET", "/__parlel/events", token)
    assert code == 200 and {e["project"] for e in events["events"]} == {a["project_id"]}
    code, issues = await call(guarded, "GET", f"/__parlel/issues?tenant={a['id']}", token)
    assert code == 200 and issues["count"] == 1
    code, waited = await call(guarded, "GET", "/__parlel/wait?for=events&count=1&timeout=1", token)
    assert code == 200 and [e["project"] for e in waited["events"]] == [a["project_id"]]
    code, mine = await call(guarded, "GET", f"/__parlel/tenants/{a['id']}", token)
    assert code == 200 and mine == a

    b_event = guarded.store.project_events(guarded.store.projects[b["project_id"]])[0]
    refused = [
        ("GET", f"/__parlel/events?tenant={b['id']}"),
        ("GET", f"/__parlel/events?org={b['org']}"),
        ("GET", f"/__parlel/wait?for=events&tenant={b['id']}&timeout=1"),
        ("GET", f"/__parlel/tenants/{b['id']}"),
        ("POST", f"/__parlel/tenants/{b['id']}/reset"),
        ("DELETE", f"/__parlel/tenants/{b['id']}"),
        ("GET", f"/__parlel/envelopes/{b_event.envelope_id}/raw"),
        ("GET", f"/__parlel/events/{b_event.event_id}/grouping"),
        ("POST", "/__parlel/reset"),
        ("GET", "/__parlel/tenants"),
        ("POST", "/__parlel/clock"),
    ]
    for method, path in refused:
        code, body = await call(guarded, method, path, token, json={"advance": 60})
        assert code == 403 and isinstance(body["detail"], str), (method, path, code, body)
    # nothing the refused requests asked for happened
    code, everything = await call(guarded, "GET", "/__parlel/events", ADMIN_TOKEN)
    assert sorted(e["project"] for e in everything["events"]) == sorted([a["project_id"], b["project_id"]])
    code, tenants = await call(guarded, "GET", "/__parlel/tenants", ADMIN_TOKEN)
    assert code == 200 and tenants["count"] == 2

    # reading the clock is anyone's; its own reset and delete are the tenant's
    code, clock = await call(guarded, "GET", "/__parlel/clock", token)
    assert code == 200 and "now" in clock
    code, again = await call(guarded, "POST", f"/__parlel/tenants/{a['id']}/reset", token)
    assert code == 200 and again == a
    code, events = await call(guarded, "GET", "/__parlel/events", token)
    assert events["count"] == 0
    code, made = await call(guarded, "POST", "/__parlel/tenants", token)
    assert code == 201
    code, _ = await call(guarded, "DELETE", f"/__parlel/tenants/{a['id']}", token)
    assert code == 204
    code, _ = await call(guarded, "GET", "/__parlel/events", token)
    assert code == 401  # its token went with it


@pytest_twisted.ensureDeferred
async def test_an_organizations_token_acts_on_that_organization(guarded: Any) -> None:
    a, _b = await two_tenants(guarded)
    await send(guarded, error_event(value="seeded"))
    response, minted = await request_json("POST", f"{guarded.url}/api/0/organizations/parlel/org-auth-tokens/",
                                          json={"name": "ci"}, headers=AUTH)
    assert response.code == 201
    code, events = await call(guarded, "GET", "/__parlel/events", minted["token"])
    assert code == 200 and [e["project"] for e in events["events"]] == [1]
    code, _ = await call(guarded, "GET", f"/__parlel/events?tenant={a['id']}", minted["token"])
    assert code == 403


@pytest_twisted.ensureDeferred
async def test_an_admin_token_acts_on_everyone(guarded: Any) -> None:
    a, b = await two_tenants(guarded)
    code, events = await call(guarded, "GET", f"/__parlel/events?tenant={b['id']}", ADMIN_TOKEN)
    assert code == 200 and events["count"] == 1
    code, tenants = await call(guarded, "GET", "/__parlel/tenants", ADMIN_TOKEN)
    assert code == 200 and [t["id"] for t in tenants["tenants"]] == [a["id"], b["id"]]
    code, body = await call(guarded, "POST", "/__parlel/clock", ADMIN_TOKEN, json={"advance": 60})
    assert code == 400  # past the policy: a real clock cannot be moved
    code, _ = await call(guarded, "DELETE", f"/__parlel/tenants/{a['id']}", ADMIN_TOKEN)
    assert code == 204
    code, _ = await call(guarded, "POST", "/__parlel/reset", ADMIN_TOKEN)
    assert code == 200
    code, events = await call(guarded, "GET", "/__parlel/events", ADMIN_TOKEN)
    assert events["count"] == 0


@pytest_twisted.ensureDeferred
async def test_open_control_api_needs_no_token(sentry: Any) -> None:
    code, _ = await call(sentry, "POST", "/__parlel/reset")
    assert code == 200
    code, _ = await call(sentry, "GET", "/__parlel/tenants")
    assert code == 200


def test_scopes_for_route_authors() -> None:
    """What faults and the journal read: an organization's scope holds itself only (not what
    belongs to no organization); the admin's and the open API's hold everything."""
    mine, other = Organization(1, "a", "a", 0.0), Organization(2, "b", "b", 0.0)
    assert allows(mine, mine) and not allows(mine, other) and not allows(mine, None)
    assert allows(ADMIN, other) and allows(None, other) and allows(ADMIN, None)

    class Request:
        control_scope = mine

    assert control_scope(Request()) is mine and control_scope(object()) is None


def test_the_options(monkeypatch: Any) -> None:
    monkeypatch.delenv("SENTRYFAKE_ADMIN_TOKEN", raising=False)
    options = Options()
    options.parseOptions([])
    config = config_from_options(options)
    assert config.control_auth == "open" and config.admin_tokens == ()
    options = Options()
    options.parseOptions(["--control-auth", "token", "--admin-token", "one", "--admin-token", "two"])
    config = config_from_options(options)
    assert config.control_auth == "token" and config.admin_tokens == ("one", "two")
    monkeypatch.setenv("SENTRYFAKE_ADMIN_TOKEN", "from-env")
    options = Options()
    options.parseOptions(["--control-auth", "token"])
    assert config_from_options(options).admin_tokens == ("from-env",)
    for argv in (["--control-auth", "sometimes"], ["--admin-token", "has space"]):
        options = Options()
        try:
            options.parseOptions(argv)
        except Exception as exc:
            assert "control-auth" in str(exc) or "admin-token" in str(exc)
        else:
            raise AssertionError(f"{argv} was accepted")
