"""Per-test tenancy over real HTTP: ``POST /__parlel/tenants``, its isolation through the web API
and the control API, ``DELETE`` and ``…/reset``, and the Python face (``RunningSentry``)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import pytest_twisted

from conftest import AUTH, request_json
from issue_helpers import error_event

TENANTS = "/__parlel/tenants"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_tenant(sentry: Any, **body: Any) -> dict[str, Any]:
    response, made = await request_json("POST", sentry.url + TENANTS, json=body)
    assert response.code == 201, made
    return made


async def send_to(dsn: str, event: dict[str, Any]) -> str:
    """Send an event the way an SDK does: to the DSN's store endpoint, with its key."""
    parts = urlsplit(dsn)
    url = f"{parts.scheme}://{parts.hostname}:{parts.port}/api{parts.path}/store/"
    auth = f"Sentry sentry_version=7, sentry_key={parts.username}, sentry_client=test/1.0"
    response, body = await request_json("POST", url, json=event, headers={"X-Sentry-Auth": auth})
    assert response.code == 200, body
    return body["id"]


async def web(sentry: Any, method: str, path: str, token: str, **kwargs: Any) -> tuple[int, Any]:
    response, body = await request_json(method, sentry.url + path, headers=bearer(token), **kwargs)
    return response.code, body


@pytest_twisted.ensureDeferred
async def test_a_tenant_is_a_fresh_organization_with_everything_unique(sentry: Any) -> None:
    first = await create_tenant(sentry, name="Checkout tests")
    second = await create_tenant(sentry)
    assert set(first) >= {"id", "org", "project", "project_id", "dsn", "token", "url"}
    assert first["url"] == sentry.url
    assert first["org"].startswith("checkout-tests-") and first["id"] in first["org"]
    assert second["org"].startswith("tenant-")
    for field in ("id", "org", "project_id", "dsn", "token"):
        assert first[field] != second[field], field
    assert first["dsn"].startswith("http://") and first["dsn"].endswith(f"/{first['project_id']}")
    assert first["token"].startswith("sntrys_")

    # the token sees its own organization, with one team and one project, and every scope
    code, orgs = await web(sentry, "GET", "/api/0/organizations/", first["token"])
    assert code == 200 and [o["slug"] for o in orgs] == [first["org"]]
    code, projects = await web(sentry, "GET", f"/api/0/organizations/{first['org']}/projects/", first["token"])
    assert code == 200 and [p["slug"] for p in projects] == [first["project"]]
    assert projects[0]["id"] == str(first["project_id"])
    code, teams = await web(sentry, "GET", f"/api/0/organizations/{first['org']}/teams/", first["token"])
    assert code == 200 and len(teams) == 1
    code, keys = await web(sentry, "GET", f"/api/0/projects/{first['org']}/{first['project']}/keys/",
                           first["token"])
    assert code == 200 and [k["dsn"]["public"] for k in keys] == [first["dsn"]]

    response, listed = await request_json("GET", sentry.url + TENANTS)
    assert response.code == 200 and listed["count"] == 2
    assert [t["id"] for t in listed["tenants"]] == [first["id"], second["id"]]
    response, one = await request_json("GET", f"{sentry.url}{TENANTS}/{first['id']}")
    assert response.code == 200 and one == first


@pytest_twisted.ensureDeferred
async def test_bad_tenant_bodies_are_400_and_unknown_tenants_404(sentry: Any) -> None:
    response, body = await request_json("POST", sentry.url + TENANTS, json={"name": "x" * 65})
    assert response.code == 400 and body == {"name": ["Ensure this field has no more than 64 characters."]}
    response, body = await request_json("POST", sentry.url + TENANTS, data=b"[1]",
                                        headers={"Content-Type": "application/json"})
    assert response.code == 400 and "detail" in body
    for method, path in (("GET", "/nope"), ("DELETE", "/nope"), ("POST", "/nope/reset")):
        response, body = await request_json(method, sentry.url + TENANTS + path)
        assert response.code == 404 and "detail" in body, (method, path)
    response, body = await request_json("GET", sentry.url + "/__parlel/events?tenant=nope")
    assert response.code == 404 and "detail" in body
    response, body = await request_json("GET", sentry.url + "/__parlel/events?org=nope")
    assert response.code == 404 and "detail" in body


@pytest_twisted.ensureDeferred
async def test_two_tenants_cannot_see_or_touch_each_other(strict_sentry: Any) -> None:
    sentry = strict_sentry  # strict ingest: the tenant's DSN key is a registered key of its project
    a, b = await create_tenant(sentry, name="a"), await create_tenant(sentry, name="b")
    event_id = await send_to(a["dsn"], error_event(value="only in a"))

    # the control API's lists, by tenant and by organization
    response, mine = await request_json("GET", f"{sentry.url}/__parlel/events?tenant={a['id']}")
    assert [e["event_id"] for e in mine["events"]] == [event_id]
    assert mine["events"][0]["project"] == a["project_id"]
    response, theirs = await request_json("GET", f"{sentry.url}/__parlel/events?tenant={b['id']}")
    assert theirs == {"events": [], "count": 0}
    response, by_org = await request_json("GET", f"{sentry.url}/__parlel/issues?org={a['org']}")
    assert by_org["count"] == 1 and by_org["issues"][0]["project"]["slug"] == a["project"]
    response, nothing = await request_json("GET", f"{sentry.url}/__parlel/events?tenant={a['id']}&org={b['org']}")
    assert nothing["count"] == 0
    response, default = await request_json("GET", f"{sentry.url}/__parlel/events?org=parlel")
    assert default["count"] == 0

    # the web API: a's token reads and writes its own organization ...
    issues_path = f"/api/0/projects/{a['org']}/{a['project']}/issues/"
    code, issues = await web(sentry, "GET", issues_path, a["token"])
    assert code == 200 and len(issues) == 1
    issue_id = issues[0]["id"]
    code, _ = await web(sentry, "PUT", f"/api/0/organizations/{a['org']}/issues/{issue_id}/", a["token"],
                        json={"status": "resolved"})
    assert code == 200
    code, _ = await web(sentry, "POST", f"/api/0/organizations/{a['org']}/releases/", a["token"],
                        json={"version": "a@1", "projects": [a["project"]]})
    assert code == 201

    # ... and b's token gets what another organization's token gets: 403 (404 for what is not there)
    for method, path, body in (
        ("GET", issues_path, None),
        ("GET", f"/api/0/organizations/{a['org']}/", None),
        ("GET", f"/api/0/organizations/{a['org']}/issues/{issue_id}/", None),
        ("GET", f"/api/0/issues/{issue_id}/", None),
        ("PUT", f"/api/0/organizations/{a['org']}/issues/{issue_id}/", {"status": "unresolved"}),
        ("GET", f"/api/0/organizations/{a['org']}/releases/", None),
        ("POST", f"/api/0/organizations/{a['org']}/releases/", {"version": "b@1", "projects": [a["project"]]}),
        ("GET", f"/api/0/projects/{a['org']}/{a['project']}/events/{event_id}/", None),
        ("DELETE", f"/api/0/projects/{a['org']}/{a['project']}/", None),
    ):
        kwargs = {"json": body} if body is not None else {}
        code, answer = await web(sentry, method, path, b["token"], **kwargs)
        assert code == 403 and "detail" in answer, (method, path, code, answer)
    code, orgs = await web(sentry, "GET", "/api/0/organizations/", b["token"])
    assert [o["slug"] for o in orgs] == [b["org"]]
    code, _ = await web(sentry, "GET", f"/api/0/organizations/{b['org']}/issues/{issue_id}/", b["token"])
    assert code == 404

    # nothing b tried changed a's issue
    code, issue = await web(sentry, "GET", f"/api/0/organizations/{a['org']}/issues/{issue_id}/", a["token"])
    assert code == 200 and issue["status"] == "resolved"


@pytest_twisted.ensureDeferred
async def test_deleting_a_tenant_removes_it_and_all_its_data(sentry: Any) -> None:
    doomed, kept = await create_tenant(sentry), await create_tenant(sentry)
    await send_to(doomed["dsn"], error_event(value="doomed", release="d@1"))
    kept_id = await send_to(kept["dsn"], error_event(value="kept"))
    check_in = {"check_in_id": "a" * 32, "monitor_slug": "nightly", "status": "ok"}
    response, _ = await request_json(
        "POST", f"{sentry.url}/api/{doomed['project_id']}/envelope/",
        data=b'{}\n{"type":"check_in"}\n' + json.dumps(check_in).encode(),
        headers={"Content-Type": "application/x-sentry-envelope"})
    assert response.code == 200

    response, _ = await request_json("DELETE", f"{sentry.url}{TENANTS}/{doomed['id']}")
    assert response.code == 204
    for path in ("events", "issues", "items", "envelopes", "outcomes", "check_ins"):
        response, body = await request_json("GET", f"{sentry.url}/__parlel/{path}")
        projects = {row["project"]["id"] if isinstance(row["project"], dict) else row["project"]
                    for row in body[path]}
        assert str(doomed["project_id"]) not in {str(p) for p in projects}, path
    response, events = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert [e["event_id"] for e in events["events"]] == [kept_id]

    # its token stops working, its organization is gone for everyone, its id is unknown
    code, body = await web(sentry, "GET", "/api/0/organizations/", doomed["token"])
    assert code == 401
    response, body = await request_json("GET", f"{sentry.url}/api/0/organizations/{doomed['org']}/", headers=AUTH)
    assert response.code == 404
    response, body = await request_json("GET", f"{sentry.url}/api/0/organizations/{doomed['org']}/releases/",
                                        headers=AUTH)
    assert response.code == 404
    response, body = await request_json("DELETE", f"{sentry.url}{TENANTS}/{doomed['id']}")
    assert response.code == 404
    store = sentry.store
    assert all(p.organization.slug != doomed["org"] for p in store.projects.values())
    assert not [r for r in store.releases.of_projects({doomed["project_id"]})]
    assert not [m for m in store.monitors.values() if m.project.id == doomed["project_id"]]
    assert not [k for k in store.keys.values() if k.project.id == doomed["project_id"]]
    assert doomed["token"] not in store.tokens

    # the other tenant is untouched
    code, issues = await web(sentry, "GET", f"/api/0/projects/{kept['org']}/{kept['project']}/issues/",
                             kept["token"])
    assert code == 200 and len(issues) == 1

    # the doomed check-in's id is free again: the same id is a new check-in of the kept tenant
    response, _ = await request_json(
        "POST", f"{sentry.url}/api/{kept['project_id']}/envelope/",
        data=b'{}\n{"type":"check_in"}\n' + json.dumps(check_in).encode(),
        headers={"Content-Type": "application/x-sentry-envelope"})
    assert response.code == 200
    response, body = await request_json("GET", f"{sentry.url}/__parlel/check_ins?project={kept['project_id']}")
    assert body["count"] == 1


@pytest_twisted.ensureDeferred
async def test_resetting_a_tenant_empties_it_and_keeps_its_dsn_and_token(strict_sentry: Any) -> None:
    sentry = strict_sentry
    tenant = await create_tenant(sentry, name="again")
    await send_to(tenant["dsn"], error_event(value="before"))
    response, again = await request_json("POST", f"{sentry.url}{TENANTS}/{tenant['id']}/reset")
    assert response.code == 200 and again == tenant
    response, events = await request_json("GET", f"{sentry.url}/__parlel/events?tenant={tenant['id']}")
    assert events["count"] == 0
    code, issues = await web(sentry, "GET", f"/api/0/projects/{tenant['org']}/{tenant['project']}/issues/",
                             tenant["token"])
    assert code == 200 and issues == []

    event_id = await send_to(tenant["dsn"], error_event(value="after"))
    response, events = await request_json("GET", f"{sentry.url}/__parlel/events?tenant={tenant['id']}")
    assert [e["event_id"] for e in events["events"]] == [event_id]
    code, issues = await web(sentry, "GET", f"/api/0/projects/{tenant['org']}/{tenant['project']}/issues/",
                             tenant["token"])
    assert code == 200 and len(issues) == 1


@pytest_twisted.ensureDeferred
async def test_a_global_reset_forgets_every_tenant(sentry: Any) -> None:
    tenant = await create_tenant(sentry)
    response, _ = await request_json("POST", sentry.url + "/__parlel/reset")
    assert response.code == 200
    response, listed = await request_json("GET", sentry.url + TENANTS)
    assert listed == {"tenants": [], "count": 0}
    code, _ = await web(sentry, "GET", "/api/0/organizations/", tenant["token"])
    assert code == 401


@pytest_twisted.ensureDeferred
async def test_tenants_from_python(sentry: Any) -> None:
    tenant = await sentry.create_tenant("from python")
    assert tenant.org.startswith("from-python-") and tenant.url == sentry.url
    event_id = await send_to(tenant.dsn, error_event())
    found = await sentry.wait_for("events", tenant=tenant)
    assert [e["event_id"] for e in found] == [event_id]
    same = await sentry.reset_tenant(tenant)
    assert same == tenant
    response, events = await request_json("GET", f"{sentry.url}/__parlel/events?tenant={tenant.id}")
    assert events["count"] == 0
    await sentry.delete_tenant(tenant)
    assert sentry.store.tenants.get(tenant.id) is None
