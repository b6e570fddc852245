"""The management-API client scenario: one token, every call a client library makes, in order.

Each call is checked for its status and the shape a client reads, and each read reflects the
writes before it (a created project is listed, an updated one reads back changed, a deleted one
is gone).
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote

import pytest_twisted

from conftest import AUTH, request_json
from issue_helpers import error_event, send

ORG = "/api/0/organizations/parlel"


async def call(sentry: Any, method: str, path: str, expect: int, **kwargs: Any) -> Any:
    response, body = await request_json(method, sentry.url + path, headers=AUTH, **kwargs)
    assert response.code == expect, (method, path, response.code, body)
    if body is not None and response.code != 204:
        assert response.headers.getRawHeaders("content-type")[0].startswith("application/json"), path
    return body


@pytest_twisted.ensureDeferred
async def test_the_client_scenario(sentry: Any) -> None:
    # organizations
    orgs = await call(sentry, "GET", "/api/0/organizations/", 200)
    assert [o["slug"] for o in orgs] == ["parlel"]
    org = await call(sentry, "GET", f"{ORG}/", 200)
    assert org["slug"] == "parlel" and {"teams", "projects", "access", "features"} <= set(org)

    # teams
    team = await call(sentry, "POST", f"{ORG}/teams/", 201, json={"name": "Backend", "slug": "backend"})
    assert (team["slug"], team["name"]) == ("backend", "Backend")
    assert "backend" in [t["slug"] for t in await call(sentry, "GET", f"{ORG}/teams/", 200)]
    assert (await call(sentry, "GET", "/api/0/teams/parlel/backend/", 200))["id"] == team["id"]

    # projects
    created = await call(sentry, "POST", "/api/0/teams/parlel/backend/projects/", 201,
                         json={"name": "Checkout", "slug": "checkout", "platform": "python", "default_rules": False})
    assert (created["slug"], created["platform"]) == ("checkout", "python")
    assert "checkout" in [p["slug"] for p in await call(sentry, "GET", f"{ORG}/projects/", 200)]
    assert "checkout" in [p["slug"] for p in await call(sentry, "GET", "/api/0/projects/", 200)]
    updated = await call(sentry, "PUT", "/api/0/projects/parlel/checkout/", 200,
                         json={"name": "Checkout API", "platform": "python-django"})
    assert (updated["id"], updated["name"], updated["platform"]) == (created["id"], "Checkout API", "python-django")
    got = await call(sentry, "GET", "/api/0/projects/parlel/checkout/", 200)
    assert (got["name"], got["platform"]) == ("Checkout API", "python-django")

    # keys
    keys = await call(sentry, "GET", "/api/0/projects/parlel/checkout/keys/", 200)
    key = await call(sentry, "POST", "/api/0/projects/parlel/checkout/keys/", 201, json={"name": "CI"})
    assert key["name"] == "CI" and key["dsn"]["public"] == f"http://{key['public']}@{sentry.url[7:]}/{created['id']}"
    listed = await call(sentry, "GET", "/api/0/projects/parlel/checkout/keys/", 200)
    assert len(listed) == len(keys) + 1
    await call(sentry, "DELETE", f"/api/0/projects/parlel/checkout/keys/{key['id']}/", 204)
    assert key["id"] not in [k["id"] for k in await call(sentry, "GET", "/api/0/projects/parlel/checkout/keys/", 200)]

    # issues and events (sent to the seeded project)
    first = await send(sentry, error_event("pay", "ValueError", "bad amount"))
    await send(sentry, error_event("pay", "ValueError", "bad amount again"))
    await send(sentry, error_event("refund", "KeyError", "'order'"))
    issues = await call(sentry, "GET", f"{ORG}/issues/?query={quote('is:unresolved')}&statsPeriod=24h&sort=freq&limit=10", 200)
    assert [i["count"] for i in issues] == ["2", "1"]
    project_issues = await call(sentry, "GET", "/api/0/projects/parlel/hello-world/issues/?query=ValueError&statsPeriod=14d&sort=date&limit=5", 200)
    assert len(project_issues) == 1
    issue_id = project_issues[0]["id"]
    issue = await call(sentry, "GET", f"{ORG}/issues/{issue_id}/", 200)
    assert issue["title"].startswith("ValueError")
    changed = await call(sentry, "PUT", f"{ORG}/issues/{issue_id}/", 200,
                         json={"status": "resolved", "assignedTo": sentry.store.user.email, "hasSeen": True,
                               "isBookmarked": True})
    assert (changed["status"], changed["isBookmarked"], changed["hasSeen"]) == ("resolved", True, True)
    assert changed["assignedTo"]["email"] == sentry.store.user.email
    events = await call(sentry, "GET", f"{ORG}/issues/{issue_id}/events/", 200)
    assert len(events) == 2
    event = await call(sentry, "GET", f"/api/0/projects/parlel/hello-world/events/{first}/", 200)
    assert event["eventID"] == first and event["groupID"] == issue_id
    full = await call(sentry, "GET", "/api/0/projects/parlel/hello-world/events/?full=true", 200)
    assert len(full) == 3 and all("entries" in e for e in full)
    others = [i["id"] for i in issues if i["id"] != issue_id]
    bulk = await call(sentry, "PUT", f"{ORG}/issues/?id={others[0]}", 200, json={"status": "ignored"})
    assert bulk["status"] == "ignored"
    assert (await call(sentry, "GET", f"{ORG}/issues/{others[0]}/", 200))["status"] == "ignored"
    await call(sentry, "DELETE", f"{ORG}/issues/?id={others[0]}", 204)
    await call(sentry, "GET", f"{ORG}/issues/{others[0]}/", 404)
    await call(sentry, "DELETE", f"{ORG}/issues/{issue_id}/", 202)
    await call(sentry, "GET", f"{ORG}/issues/{issue_id}/", 404)

    # releases
    await call(sentry, "POST", f"{ORG}/repos/", 201, json={"provider": "integrations:github", "name": "acme/shop"})
    release = await call(sentry, "POST", f"{ORG}/releases/", 201, json={
        "version": "shop@1.2.3+45", "projects": ["hello-world", "checkout"],
        "refs": [{"repository": "acme/shop", "commit": "a" * 40}],
        "dateReleased": "2026-12-01T10:00:00Z",
    })
    assert release["version"] == "shop@1.2.3+45" and release["dateReleased"].startswith("2026-12-01T10:00:00")
    version = quote("shop@1.2.3+45", safe="")
    assert "shop@1.2.3+45" in [r["version"] for r in await call(sentry, "GET", f"{ORG}/releases/", 200)]
    got = await call(sentry, "GET", f"{ORG}/releases/{version}/", 200)
    assert {p["slug"] for p in got["projects"]} == {"hello-world", "checkout"}
    await call(sentry, "PUT", f"{ORG}/releases/{version}/", 200, json={"commits": [
        {"id": "b" * 40, "repository": "acme/shop", "message": "fix the cart", "author_name": "Dev",
         "author_email": "dev@example.com"}]})
    commits = await call(sentry, "GET", f"{ORG}/releases/{version}/commits/", 200)
    assert [c["id"] for c in commits] == ["b" * 40]
    await call(sentry, "DELETE", f"{ORG}/releases/{version}/", 204)
    await call(sentry, "GET", f"{ORG}/releases/{version}/", 404)

    # stats
    now = int(time.time())
    stats = await call(sentry, "GET", f"{ORG}/stats_v2/?field=sum(quantity)&groupBy=category&groupBy=outcome"
                       "&statsPeriod=1h&interval=1h", 200)
    accepted = [g for g in stats["groups"] if g["by"] == {"category": "error", "outcome": "accepted"}]
    assert accepted and accepted[0]["totals"]["sum(quantity)"] == 3
    points = await call(sentry, "GET", f"/api/0/projects/parlel/hello-world/stats/?stat=received&since={now - 3600}"
                        f"&until={now + 60}&resolution=1h", 200)
    assert sum(n for _, n in points) == 3
    org_points = await call(sentry, "GET", f"{ORG}/stats/?stat=received&since={now - 3600}&until={now + 60}"
                            "&resolution=1h", 200)
    assert sum(n for _, n in org_points) == 3

    # cleaning up what was created
    await call(sentry, "DELETE", "/api/0/projects/parlel/checkout/", 204)
    await call(sentry, "GET", "/api/0/projects/parlel/checkout/", 404)
    await call(sentry, "DELETE", "/api/0/teams/parlel/backend/", 204)
    await call(sentry, "GET", "/api/0/teams/parlel/backend/", 404)
