"""The web API under /api/0/: auth, projects, issues, errors, pagination — over real HTTP."""

from __future__ import annotations

import re

import pytest_twisted

from conftest import AUTH, request_json


@pytest_twisted.ensureDeferred
async def test_requires_bearer_token(sentry):
    url = f"{sentry.url}/api/0/organizations/parlel/projects/"
    response, body = await request_json("GET", url)
    assert response.code == 401
    assert body == {"detail": "Authentication credentials were not provided."}
    response, body = await request_json("GET", url, headers={"Authorization": "Bearer nope"})
    assert response.code == 401
    assert body == {"detail": "Invalid token"}
    response, body = await request_json("GET", url, headers={"Authorization": "Basic abc"})
    assert response.code == 401
    assert "detail" in body


@pytest_twisted.ensureDeferred
async def test_list_and_retrieve_seeded_project(sentry):
    response, projects = await request_json(
        "GET", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH
    )
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["application/json"]
    assert [p["slug"] for p in projects] == ["hello-world"]
    project = projects[0]
    assert project["id"] == "1" and isinstance(project["id"], str)
    assert project["team"] == {"id": project["team"]["id"], "name": "parlel", "slug": "parlel"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", project["dateCreated"])
    link = response.headers.getRawHeaders("link")[0]
    assert 'rel="previous"; results="false"' in link and 'rel="next"; results="false"' in link

    for ident in ("hello-world", "1"):
        response, detail = await request_json(
            "GET", f"{sentry.url}/api/0/projects/parlel/{ident}/", headers=AUTH
        )
        assert response.code == 200
        assert detail["slug"] == "hello-world" and detail["organization"]["slug"] == "parlel"
        assert detail["status"] == "active"


@pytest_twisted.ensureDeferred
async def test_create_project_both_routes(sentry):
    response, created = await request_json(
        "POST", f"{sentry.url}/api/0/projects/parlel/backend", headers=AUTH, json={"platform": "python"}
    )
    assert response.code == 201
    assert created["slug"] == "backend" and created["platform"] == "python"
    response, created = await request_json(
        "POST", f"{sentry.url}/api/0/teams/parlel/parlel/projects/", headers=AUTH,
        json={"name": "My Web App", "platform": "node"},
    )
    assert response.code == 201
    assert created["slug"] == "my-web-app" and created["name"] == "My Web App"
    assert created["id"] == "3"
    response, body = await request_json(
        "POST", f"{sentry.url}/api/0/teams/parlel/parlel/projects/", headers=AUTH,
        json={"name": "Other", "slug": "my-web-app"},
    )
    assert response.code == 409
    assert body == {"detail": "A project with this slug already exists."}
    # a slug derived from the name is made unique instead, as Sentry's slugify_instance does
    response, body = await request_json(
        "POST", f"{sentry.url}/api/0/teams/parlel/parlel/projects/", headers=AUTH, json={"name": "My Web App"}
    )
    assert response.code == 201 and re.fullmatch(r"my-web-app-[a-z0-9]{2}", body["slug"])
    _, projects = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH)
    assert sorted(p["slug"] for p in projects)[:3] == ["backend", "hello-world", "my-web-app"]


@pytest_twisted.ensureDeferred
async def test_create_project_bad_input(sentry):
    url = f"{sentry.url}/api/0/teams/parlel/parlel/projects/"
    response, body = await request_json("POST", url, headers=AUTH, data=b"{not json")
    assert response.code == 400 and "detail" in body
    response, body = await request_json("POST", url, headers=AUTH, data=b"[1, 2]")
    assert response.code == 400 and "detail" in body
    response, body = await request_json("POST", url, headers=AUTH, data=b'{"a":' + b"[" * 5000 + b"]" * 5000 + b"}")
    assert response.code == 400 and "detail" in body
    response, body = await request_json("POST", url, headers=AUTH, json={})
    assert response.code == 400 and body == {"name": ["This field is required."]}
    response, body = await request_json(
        "POST", f"{sentry.url}/api/0/teams/parlel/nope/projects/", headers=AUTH, json={"name": "x"}
    )
    assert response.code == 404 and body == {"detail": "The requested resource does not exist"}
    # nothing already stored was lost
    _, projects = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH)
    assert [p["slug"] for p in projects] == ["hello-world"]


@pytest_twisted.ensureDeferred
async def test_unknown_org_project_route_and_method(sentry):
    for path in ("organizations/nope/projects/", "projects/parlel/nope/", "projects/nope/hello-world/issues/",
                 "no/such/route/"):
        response, body = await request_json("GET", f"{sentry.url}/api/0/{path}", headers=AUTH)
        assert response.code == 404, path
        assert body == {"detail": "The requested resource does not exist"}
    response, body = await request_json("DELETE", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH)
    assert response.code == 405
    assert body == {"detail": 'Method "DELETE" not allowed.'}
    assert "GET" in response.headers.getRawHeaders("allow")[0]


@pytest_twisted.ensureDeferred
async def test_issues_are_filed_under_the_url_project(sentry):
    for project_id, message in ((1, "boom one"), (7, "boom seven"), (7, "boom seven")):
        response, body = await request_json(
            "POST", f"{sentry.url}/api/{project_id}/store/", json={"message": message, "level": "error"}
        )
        assert response.code == 200, body
    response, issues = await request_json(
        "GET", f"{sentry.url}/api/0/projects/parlel/hello-world/issues/", headers=AUTH
    )
    assert response.code == 200
    assert [i["title"] for i in issues] == ["boom one"]
    response, issues = await request_json(
        "GET", f"{sentry.url}/api/0/projects/parlel/7/issues/", headers=AUTH
    )
    assert response.code == 200
    assert len(issues) == 1
    issue = issues[0]
    assert issue["title"] == "boom seven" and issue["count"] == "2" and issue["userCount"] == 0
    assert issue["project"]["id"] == "7"
    assert issue["shortId"] == "PROJECT-7-1"
    assert issue["status"] == "unresolved" and issue["level"] == "error"
    assert len(issue["stats"]["24h"]) == 24 and sum(n for _, n in issue["stats"]["24h"]) == 2


@pytest_twisted.ensureDeferred
async def test_issue_list_query_and_errors(sentry):
    await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "alpha"})
    await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "beta"})
    base = f"{sentry.url}/api/0/projects/parlel/hello-world/issues/"
    _, issues = await request_json("GET", base + "?query=alph", headers=AUTH)
    assert [i["title"] for i in issues] == ["alpha"]
    _, issues = await request_json("GET", base + "?query=is:resolved", headers=AUTH)
    assert issues == []
    response, body = await request_json("GET", base + "?query=is:bogus", headers=AUTH)
    assert response.code == 400
    assert body["detail"].startswith('Error parsing search query: Invalid value for "is" search, valid values are [')
    response, body = await request_json("GET", base + "?statsPeriod=3d", headers=AUTH)
    assert response.code == 400
    response, body = await request_json("GET", base + "?limit=500", headers=AUTH)
    assert response.code == 200  # Sentry's issue search caps a page at 100
    response, body = await request_json("GET", base + "?limit=many", headers=AUTH)
    assert response.code == 400 and body == {"detail": "invalid limit"}
    response, body = await request_json("GET", base + "?cursor=garbage", headers=AUTH)
    assert response.code == 400 and body == {"detail": "Invalid cursor parameter."}


@pytest_twisted.ensureDeferred
async def test_issue_pagination_link_header(sentry):
    for n in range(3):
        await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": f"m{n}"})
    base = f"{sentry.url}/api/0/projects/parlel/hello-world/issues/"
    seen = []
    url = base + "?limit=2&query="
    while url:
        response, issues = await request_json("GET", url, headers=AUTH)
        seen += [i["title"] for i in issues]
        link = response.headers.getRawHeaders("link")[0]
        match = re.search(r'<([^>]+)>; rel="next"; results="true"', link)
        url = match.group(1) if match else None
    assert sorted(seen) == ["m0", "m1", "m2"]


@pytest_twisted.ensureDeferred
async def test_bulk_status_update(sentry):
    for message in ("one", "two"):
        await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": message})
    base = f"{sentry.url}/api/0/projects/parlel/hello-world/issues/"
    _, issues = await request_json("GET", base, headers=AUTH)
    first = next(i for i in issues if i["title"] == "one")
    response, body = await request_json(
        "PUT", f"{base}?id={first['id']}", headers=AUTH, json={"status": "resolved", "snoozeDuration": None}
    )
    assert response.code == 200 and body == {"status": "resolved", "statusDetails": {}, "inbox": None}
    _, unresolved = await request_json("GET", base, headers=AUTH)
    assert [i["title"] for i in unresolved] == ["two"]
    _, resolved = await request_json("GET", base + "?query=is:resolved", headers=AUTH)
    assert [(i["title"], i["status"]) for i in resolved] == [("one", "resolved")]
    response, body = await request_json("PUT", base, headers=AUTH, json={"status": "bogus"})
    assert response.code == 400 and "status" in body
    response, _ = await request_json("PUT", f"{base}?id=999", headers=AUTH, json={"status": "resolved"})
    assert response.code == 204
    # a new event of a resolved issue regresses it, as in Sentry
    await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "one"})
    _, unresolved = await request_json("GET", base, headers=AUTH)
    regressed = next(i for i in unresolved if i["title"] == "one")
    assert (regressed["status"], regressed["substatus"], regressed["count"]) == ("unresolved", "regressed", "2")


@pytest_twisted.ensureDeferred
async def test_monitors_come_from_check_ins(sentry):
    url = f"{sentry.url}/api/1/cron/nightly/parlel/?status=ok"
    response, _ = await request_json("GET", url)
    assert response.code == 202
    response, monitors = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/monitors/", headers=AUTH)
    assert response.code == 200
    assert [(m["slug"], m["name"], m["status"]) for m in monitors] == [("nightly", "nightly", "active")]
    assert monitors[0]["project"]["slug"] == "hello-world"
    assert monitors[0]["environments"][0]["status"] == "ok"


@pytest_twisted.ensureDeferred
async def test_options_answers_allowed_methods_without_a_body(sentry):
    """``OPTIONS`` on a web-API or control route is a 200 naming the methods, with no ``text/html``."""
    for path in ("/api/0/organizations/", "/api/0/projects/parlel/hello-world/issues/", "/__parlel/events"):
        response, body = await request_json("OPTIONS", sentry.url + path)
        assert response.code == 200, path
        assert body is None
        assert response.headers.getRawHeaders("content-type") is None
        allowed = {m.strip() for m in response.headers.getRawHeaders("allow")[0].split(",")}
        assert {"GET", "OPTIONS"} <= allowed, path


@pytest_twisted.ensureDeferred
async def test_index_names_the_tokens_user(sentry):
    """``GET /api/0/`` (``sentry-cli info``): the token's scopes and its user, as every user is shown."""
    response, body = await request_json("GET", sentry.url + "/api/0/", headers=AUTH)
    assert response.code == 200 and body["version"] == "0" and "project:releases" in body["auth"]["scopes"]
    assert (body["user"]["id"], body["user"]["email"]) == ("1", sentry.store.user.email)
    response, body = await request_json("GET", sentry.url + "/api/0/")
    assert response.code == 200 and body == {"version": "0", "auth": None, "user": None}  # as Sentry answers
    response, body = await request_json("GET", sentry.url + "/api/0/", headers={"Authorization": "Bearer nope"})
    assert response.code == 401 and body == {"detail": "Invalid token"}
