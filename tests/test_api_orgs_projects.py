"""Organizations, members, teams and projects over real HTTP: every write read back, bad input
answered with DRF's field errors, unknown slugs 404, wrong methods 405, missing scopes 403, and
the list, detail and create answers validated against Sentry's published schema."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
import pytest_twisted

from conftest import AUTH, request_json
from issue_helpers import error_event, send
from test_api_schema import check, schema  # noqa: F401  (the fixture)
from test_real_clients import needs_cli, run_cli
from sentry_daemon.store.tokens import ORG_TOKEN_SCOPES, SCOPES

ORG = "/api/0/organizations/{organization_id_or_slug}"
PROJECT = "/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}"
TEAM = "/api/0/teams/{organization_id_or_slug}/{team_id_or_slug}"
OWNER_ACCESS = sorted({"org:read", "org:write", "org:admin", "org:integrations", "member:read", "member:write",
                       "member:admin", "team:read", "team:write", "team:admin", "project:read", "project:write",
                       "project:admin", "project:releases", "event:read", "event:write", "event:admin",
                       "alerts:read", "alerts:write"})
_tokens = itertools.count(1)


@pytest.fixture(scope="module")
def openapi(schema: dict[str, Any]) -> dict[str, Any]:  # noqa: F811  (the imported fixture)
    """Sentry's published API schema (the test skips without it)."""
    return schema


def token(sentry: Any, scopes: Any, org: Any = None) -> dict[str, str]:
    value = f"sntrys_orgtest{next(_tokens)}"
    sentry.store.add_token(value, scopes, kind="org" if org else "user", organization=org)
    return {"Authorization": f"Bearer {value}"}


async def call(sentry: Any, method: str, path: str, expect: int | None = 200, headers: Any = None,
               **kwargs: Any) -> Any:
    response, body = await request_json(method, sentry.url + path, headers=headers or AUTH, **kwargs)
    if expect is not None:
        assert response.code == expect, (method, path, response.code, body)
    return body


# --- organizations ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_organization_list_and_detail(sentry, openapi):
    orgs = await call(sentry, "GET", "/api/0/organizations/")
    check(openapi, "/api/0/organizations/", "get", orgs)
    assert [o["slug"] for o in orgs] == ["parlel"]
    assert orgs[0]["features"] == ["open-membership", "shared-issues"]
    assert orgs[0]["links"] == {"organizationUrl": sentry.url, "regionUrl": sentry.url}

    detail = await call(sentry, "GET", "/api/0/organizations/parlel/")
    check(openapi, f"{ORG}/", "put", detail)  # the schema's full detail shape is the PUT's
    assert detail["access"] == OWNER_ACCESS  # the owner role's scopes the token holds (no org:billing)
    assert detail["role"] == detail["orgRole"] == "owner"
    assert detail["status"] == {"id": "active", "name": "active"} and detail["require2FA"] is False
    assert detail["features"] == ["open-membership", "shared-issues"]
    assert [t["slug"] for t in detail["teams"]] == ["parlel"]
    assert [p["slug"] for p in detail["projects"]] == ["hello-world"]
    assert detail["teams"][0]["isMember"] is True and detail["teams"][0]["memberCount"] == 1
    bare = await call(sentry, "GET", "/api/0/organizations/parlel/?include_feature_flags=0&detailed=0")
    assert "features" not in bare and "teams" not in bare and "projects" not in bare
    by_id = await call(sentry, "GET", f"/api/0/organizations/{detail['id']}/")
    assert by_id["slug"] == "parlel"

    narrow = token(sentry, ["org:read", "project:read"])
    assert (await call(sentry, "GET", "/api/0/organizations/parlel/", headers=narrow))["access"] == ["org:read",
                                                                                                   "project:read"]
    assert await call(sentry, "GET", "/api/0/organizations/nope/", 404) == {
        "detail": "The requested resource does not exist"}
    assert await call(sentry, "PATCH", "/api/0/organizations/parlel/", 405) == {
        "detail": 'Method "PATCH" not allowed.'}
    assert await call(sentry, "DELETE", "/api/0/organizations/", 405) == {"detail": 'Method "DELETE" not allowed.'}


@pytest_twisted.ensureDeferred
async def test_create_organization(sentry, openapi):
    created = await call(sentry, "POST", "/api/0/organizations/", 201, json={"name": "Hello World"})
    check(openapi, "/api/0/organizations/", "get", [created])
    assert created["slug"] == "hello-world" and created["name"] == "Hello World"
    explicit = await call(sentry, "POST", "/api/0/organizations/", 201,
                          json={"name": "Canada", "slug": "CaNaDa", "defaultTeam": True})
    assert explicit["slug"] == "canada"
    # the name's slug is taken: Sentry makes it unique; a slug given and taken is the serializer's 400
    again = await call(sentry, "POST", "/api/0/organizations/", 201, json={"name": "Hello World"})
    assert re.fullmatch(r"hello-world-[a-z0-9]{2}", again["slug"])
    assert await call(sentry, "POST", "/api/0/organizations/", 400, json={"name": "x", "slug": "canada"}) == {
        "slug": ['The slug "canada" is already in use.']}

    listed = await call(sentry, "GET", "/api/0/organizations/")
    assert [o["slug"] for o in listed] == [again["slug"], "canada", "hello-world", "parlel"]  # newest first
    assert [o["slug"] for o in await call(sentry, "GET", "/api/0/organizations/?query=canad")] == ["canada"]
    detail = await call(sentry, "GET", "/api/0/organizations/canada/")
    assert [t["slug"] for t in detail["teams"]] == ["canada"] and detail["teams"][0]["isMember"] is True
    assert detail["projects"] == []
    members = await call(sentry, "GET", "/api/0/organizations/canada/members/")
    assert [m["orgRole"] for m in members] == ["owner"]


@pytest_twisted.ensureDeferred
async def test_create_organization_bad_input_and_callers(sentry):
    url = "/api/0/organizations/"
    assert await call(sentry, "POST", url, 400, json={}) == {"name": ["This field is required."]}
    assert await call(sentry, "POST", url, 400, json={"name": ["x"]}) == {"name": ["Not a valid string."]}
    assert await call(sentry, "POST", url, 400, json={"name": "x" * 65}) == {
        "name": ["Ensure this field has no more than 64 characters."]}
    for slug in ("bird-company!", "downtown_canada", "canada-", "-canada", "1234", " i have whitespace "):
        body = await call(sentry, "POST", url, 400, json={"name": "n", "slug": slug})
        assert list(body) == ["slug"] and "valid slug" in body["slug"][0], slug
    assert await call(sentry, "POST", url, 400, json={"name": "n", "slug": "ab"}) == {
        "slug": ['This slug "ab" is too short. Minimum of 3 characters.']}
    assert await call(sentry, "POST", url, 400, json={"name": "n", "slug": "admin"}) == {
        "slug": ['This slug "admin" is reserved and not allowed.']}
    assert await call(sentry, "POST", url, 400, json={"name": "n", "slug": "foo-bar "}) == {
        "slug": ['The slug "foo-bar" should not contain any whitespace.']}
    assert await call(sentry, "POST", url, 400, data=b"[1]") == {
        "detail": "Invalid data. Expected a dictionary, but got list."}
    # An org auth token cannot create organizations: with Sentry's org:ci scope the permission check
    # refuses it; one that holds org:write still has no user.
    org = sentry.store.organization("parlel")
    assert await call(sentry, "POST", url, 403, headers=token(sentry, ORG_TOKEN_SCOPES, org), json={"name": "x"}) \
        == {"detail": "You do not have permission to perform this action."}
    assert await call(sentry, "POST", url, 401, headers=token(sentry, ["org:write"], org), json={"name": "x"}) \
        == {"detail": "This endpoint requires user info"}
    assert await call(sentry, "POST", url, 403, headers=token(sentry, ["org:read"]), json={"name": "x"})
    assert [o["slug"] for o in await call(sentry, "GET", url)] == ["parlel"]


@pytest_twisted.ensureDeferred
async def test_update_organization(sentry, openapi):
    url = "/api/0/organizations/parlel/"
    changed = await call(sentry, "PUT", url, json={
        "name": "Parlel Inc", "openMembership": False, "storeCrashReports": 5, "attachmentsRole": "admin",
        "sensitiveFields": ["ssn"], "scrapeJavaScript": "false", "defaultRole": "admin", "allowMemberInvite": False,
        "avatarType": "letter_avatar"})
    check(openapi, f"{ORG}/", "put", changed)
    detail = await call(sentry, "GET", url)
    assert (detail["name"], detail["openMembership"], detail["storeCrashReports"], detail["attachmentsRole"],
            detail["sensitiveFields"], detail["scrapeJavaScript"], detail["defaultRole"],
            detail["allowMemberInvite"]) == ("Parlel Inc", False, 5, "admin", ["ssn"], False, "admin", False)
    summary = (await call(sentry, "GET", "/api/0/organizations/"))[0]
    assert summary["features"] == ["shared-issues"] and summary["allowMemberInvite"] is False

    # a slug change: the new slug answers, the old one no longer does (Sentry keeps no redirect for orgs)
    assert (await call(sentry, "PUT", url, json={"slug": "ACME"}))["slug"] == "acme"  # kept lower-cased
    assert (await call(sentry, "GET", "/api/0/organizations/acme/"))["id"] == detail["id"]
    await call(sentry, "GET", url, 404)
    assert (await call(sentry, "GET", "/api/0/teams/acme/parlel/"))["slug"] == "parlel"
    await call(sentry, "POST", "/api/0/organizations/", 201, json={"name": "Other", "slug": "other"})
    assert await call(sentry, "PUT", "/api/0/organizations/acme/", 400, json={"slug": "other"}) == {
        "slug": ['The slug "other" is already in use.']}

    acme = "/api/0/organizations/acme/"
    for body, errors in (
            ({"openMembership": "maybe"}, {"openMembership": ["Must be a valid boolean."]}),
            ({"storeCrashReports": 1000}, {"storeCrashReports": ["Ensure this value is less than or equal to 100."]}),
            ({"attachmentsRole": "nobody"}, {"attachmentsRole": ["Invalid role"]}),
            ({"defaultRole": "nobody"}, {"defaultRole": ['"nobody" is not a valid choice.']}),
            ({"sensitiveFields": "ssn"}, {"sensitiveFields": ['Expected a list of items but got type "str".']}),
            ({"safeFields": ["a", ""]}, {"safeFields": ["Empty values are not allowed."]}),
            ({"name": ""}, {"name": ["This field may not be blank."]}),
            ({"require2FA": True}, {"require2FA": [
                "Cannot require two-factor authentication without personal two-factor enabled."]}),
            ({"avatarType": "upload"}, {"avatarType": ["Cannot set avatarType to upload without avatar"]}),
    ):
        assert await call(sentry, "PUT", acme, 400, json=body) == errors, body
    assert await call(sentry, "PUT", acme, 403, json={"codecovAccess": True}) == {
        "detail": "A paid plan is required to enable this feature."}
    assert (await call(sentry, "GET", acme))["name"] == "Parlel Inc"
    # org:write without org:admin may not change the default role (Sentry ignores the field)
    writer = token(sentry, ["org:read", "org:write"])
    await call(sentry, "PUT", acme, headers=writer, json={"defaultRole": "owner"})
    assert (await call(sentry, "GET", acme))["defaultRole"] == "admin"
    await call(sentry, "PUT", acme, 403, headers=token(sentry, ["org:read"]), json={"name": "x"})
    await call(sentry, "PUT", "/api/0/organizations/nope/", 404, json={"name": "x"})


@pytest_twisted.ensureDeferred
async def test_members_and_users(sentry, openapi):
    members = await call(sentry, "GET", "/api/0/organizations/parlel/members/")
    check(openapi, f"{ORG}/members/", "get", members)
    assert [(m["email"], m["orgRole"], m["role"], m["pending"]) for m in members] == [
        ("sentryfake@localhost", "owner", "owner", False)]
    users = await call(sentry, "GET", "/api/0/organizations/parlel/users/")
    assert [u["projects"] for u in users] == [["hello-world"]]
    assert users[0]["id"] == members[0]["id"]
    assert await call(sentry, "GET", "/api/0/organizations/parlel/users/?project=abc", 400) == {
        "detail": "Invalid project parameter. Values must be numbers."}
    await call(sentry, "GET", "/api/0/organizations/parlel/members/", 403, headers=token(sentry, ["org:read"]))
    await call(sentry, "GET", "/api/0/organizations/nope/members/", 404)
    await call(sentry, "POST", "/api/0/organizations/parlel/users/", 405)


# --- teams ----------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_teams(sentry, openapi):
    teams = await call(sentry, "GET", "/api/0/organizations/parlel/teams/")
    check(openapi, f"{ORG}/teams/", "get", teams)
    assert [(t["slug"], t["isMember"], t["memberCount"], t["hasAccess"], t["teamRole"]) for t in teams] == [
        ("parlel", True, 1, True, "admin")]
    assert [p["slug"] for p in teams[0]["projects"]] == ["hello-world"] and teams[0]["externalTeams"] == []
    assert "projects" not in (await call(sentry, "GET", "/api/0/organizations/parlel/teams/?detailed=0"))[0]

    created = await call(sentry, "POST", "/api/0/organizations/parlel/teams/", 201, json={"name": "Backend Team"})
    check(openapi, f"{ORG}/teams/", "post", created, "201")
    assert (created["slug"], created["name"], created["isMember"], created["memberCount"]) == (
        "backend-team", "Backend Team", True, 1)
    by_slug = await call(sentry, "POST", "/api/0/organizations/parlel/teams/", 201, json={"slug": "ops"})
    assert by_slug["name"] == "ops"
    conflict = {"non_field_errors": ["A team with this slug already exists."],
                "detail": "A team with this slug already exists."}
    assert await call(sentry, "POST", "/api/0/organizations/parlel/teams/", 409, json={"slug": "ops"}) == conflict
    derived = await call(sentry, "POST", "/api/0/organizations/parlel/teams/", 201, json={"name": "Ops"})
    assert re.fullmatch(r"ops-[a-z0-9]{2}", derived["slug"])
    # a team an org auth token creates has no member
    org = sentry.store.organization("parlel")
    bot = await call(sentry, "POST", "/api/0/organizations/parlel/teams/", 201,
                     headers=token(sentry, ["org:write", "team:read"], org), json={"slug": "bots"})
    assert (bot["isMember"], bot["memberCount"], bot["teamRole"]) == (False, 0, None)
    assert [t["slug"] for t in await call(sentry, "GET", "/api/0/organizations/parlel/teams/?query=slug:ops")] == [
        "ops"]

    detail = await call(sentry, "GET", "/api/0/teams/parlel/backend-team/?expand=projects")
    check(openapi, f"{TEAM}/", "get", detail)
    assert detail["organization"]["slug"] == "parlel" and detail["projects"] == []
    assert "organization" not in await call(sentry, "GET", "/api/0/teams/parlel/backend-team/?collapse=organization")
    assert (await call(sentry, "GET", f"/api/0/teams/parlel/{created['id']}/"))["slug"] == "backend-team"

    renamed = await call(sentry, "PUT", "/api/0/teams/parlel/backend-team/", json={"name": "Backend", "slug": "be"})
    check(openapi, f"{TEAM}/", "put", renamed)
    assert (renamed["id"], renamed["slug"], renamed["name"]) == (created["id"], "be", "Backend")
    await call(sentry, "GET", "/api/0/teams/parlel/backend-team/", 404)
    assert (await call(sentry, "GET", "/api/0/teams/parlel/be/"))["name"] == "Backend"

    await call(sentry, "DELETE", "/api/0/teams/parlel/be/", 204)
    assert await call(sentry, "GET", "/api/0/teams/parlel/be/", 404) == {
        "detail": "The requested resource does not exist"}
    await call(sentry, "DELETE", "/api/0/teams/parlel/be/", 404)
    assert "be" not in [t["slug"] for t in await call(sentry, "GET", "/api/0/organizations/parlel/teams/")]


@pytest_twisted.ensureDeferred
async def test_team_bad_input_scopes_and_methods(sentry):
    url = "/api/0/organizations/parlel/teams/"
    assert await call(sentry, "POST", url, 400, json={}) == {"non_field_errors": ["Name or slug is required"]}
    assert await call(sentry, "POST", url, 400, json={"slug": "Not A Slug"}) == {"slug": [
        "Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. "
        "It cannot be entirely numeric."]}
    assert await call(sentry, "POST", url, 400, json={"name": 5.5, "slug": ["x"]}) == {
        "slug": ["Not a valid string."]}
    assert await call(sentry, "POST", url, 400, json={"name": "n" * 65}) == {
        "name": ["Ensure this field has no more than 64 characters."]}
    await call(sentry, "POST", url, 201, json={"slug": "other"})
    assert await call(sentry, "PUT", "/api/0/teams/parlel/parlel/", 400, json={"slug": "other"}) == {
        "slug": ['The slug "other" is already in use.']}
    assert await call(sentry, "PUT", "/api/0/teams/parlel/parlel/", 400, json={"slug": "123"}) == {"slug": [
        "Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. "
        "It cannot be entirely numeric."]}
    await call(sentry, "POST", url, 403, headers=token(sentry, ["org:read", "team:read"]), json={"slug": "x"})
    await call(sentry, "DELETE", "/api/0/teams/parlel/other/", 403, headers=token(sentry, ["team:write"]))
    await call(sentry, "PUT", "/api/0/teams/parlel/other/", 403, headers=token(sentry, ["team:read"]), json={})
    await call(sentry, "GET", "/api/0/teams/nope/parlel/", 404)
    await call(sentry, "POST", "/api/0/organizations/nope/teams/", 404, json={"slug": "x"})
    await call(sentry, "PATCH", "/api/0/teams/parlel/parlel/", 405)
    await call(sentry, "DELETE", url, 405)
    # another organization's token may not see this one
    other = sentry.store.create_organization("elsewhere")
    await call(sentry, "GET", "/api/0/teams/parlel/parlel/", 403, headers=token(sentry, SCOPES, other))


@pytest_twisted.ensureDeferred
async def test_seeded_team_and_project_delete_like_any_other(sentry):
    """Sentry refuses neither: deleting the team leaves its project without one; then the project goes."""
    await call(sentry, "DELETE", "/api/0/teams/parlel/parlel/", 204)
    project = await call(sentry, "GET", "/api/0/projects/parlel/hello-world/")
    assert project["teams"] == [] and "team" not in project
    assert (await call(sentry, "GET", "/api/0/organizations/parlel/projects/"))[0]["team"] is None
    event_id = await send(sentry, error_event())
    await call(sentry, "DELETE", "/api/0/projects/parlel/hello-world/", 204)
    await call(sentry, "GET", "/api/0/projects/parlel/hello-world/", 404)
    await call(sentry, "GET", "/api/0/projects/parlel/1/", 404)
    await call(sentry, "GET", f"/api/0/organizations/parlel/eventids/{event_id}/", 404)
    assert await call(sentry, "GET", "/api/0/organizations/parlel/projects/") == []
    # ids are never reused
    created = await call(sentry, "POST", "/api/0/organizations/parlel/projects/", 201, json={"name": "Next"})
    assert created["id"] == "2"


# --- projects ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_project_lists_and_creation(sentry, openapi):
    listed = await call(sentry, "GET", "/api/0/organizations/parlel/projects/")
    check(openapi, f"{ORG}/projects/", "get", listed)
    created = await call(sentry, "POST", "/api/0/teams/parlel/parlel/projects/", 201,
                         json={"name": "Web App", "platform": "javascript-react", "default_rules": False})
    check(openapi, f"{TEAM}/projects/", "post", created, "201")
    assert (created["slug"], created["platform"], created["team"]["slug"]) == ("web-app", "javascript-react", "parlel")
    team_list = await call(sentry, "GET", "/api/0/teams/parlel/parlel/projects/")
    check(openapi, f"{TEAM}/projects/", "get", team_list)
    assert [p["slug"] for p in team_list] == ["hello-world", "web-app"]

    own = await call(sentry, "POST", "/api/0/organizations/parlel/projects/", 201,
                     json={"name": "Mine", "slug": "ignored"})
    check(openapi, f"{ORG}/projects/", "post", own, "201")
    assert (own["slug"], own["team_slug"], own["team"]["slug"]) == ("mine", "team-sentryfake", "team-sentryfake")
    again = await call(sentry, "POST", "/api/0/organizations/parlel/projects/", 201, json={"name": "Mine"})
    assert re.fullmatch(r"team-sentryfake-[a-z]{3}", again["team_slug"]) and again["slug"] != "mine"
    org = sentry.store.organization("parlel")
    assert await call(sentry, "POST", "/api/0/organizations/parlel/projects/", 401,
                      headers=token(sentry, ["project:write"], org), json={"name": "x"}) == {
        "detail": "User is not authenticated"}

    index = await call(sentry, "GET", "/api/0/projects/")
    assert [p["slug"] for p in index][-1] == "hello-world"  # newest first
    assert {p["slug"] for p in index} == {"hello-world", "web-app", "mine", again["slug"]}
    assert index[0]["organization"]["slug"] == "parlel" and index[0]["status"] == "active"
    assert [p["slug"] for p in await call(sentry, "GET", "/api/0/projects/?query=slug:web-app")] == ["web-app"]
    bound = await call(sentry, "GET", "/api/0/projects/", headers=token(sentry, ["project:read"], org))
    assert len(bound) == 4
    assert [p["slug"] for p in await call(
        sentry, "GET", "/api/0/organizations/parlel/projects/?query=team:parlel")] == ["hello-world", "web-app"]

    assert await call(sentry, "GET", "/api/0/organizations/parlel/projects/?query=id:abc", 400) == {
        "error": {"params": {"stats_period": {"message": "All 'id' values must be integers."}}}}
    with_stats = await call(sentry, "GET", "/api/0/teams/parlel/parlel/projects/?statsPeriod=24h")
    assert len(with_stats[0]["stats"]) == 24
    assert await call(sentry, "GET", "/api/0/teams/parlel/parlel/projects/?statsPeriod=2d", 400) == {
        "error": {"params": {"stats_period": {
            "message": "Invalid stats_period. Valid choices are '', '24h', '14d', and '30d'"}}}}


@pytest_twisted.ensureDeferred
async def test_project_creation_bad_input(sentry):
    url = "/api/0/teams/parlel/parlel/projects/"
    for body, errors in (
            ({}, {"name": ["This field is required."]}),
            ({"name": {"a": 1}}, {"name": ["Not a valid string."]}),
            ({"name": "n" * 51}, {"name": ["Ensure this field has no more than 50 characters."]}),
            ({"name": "settings"}, {"name": ['The name "settings" is reserved and not allowed.']}),
            ({"name": "x", "platform": "cobol"}, {"platform": ["Invalid platform"]}),
            ({"name": "x", "slug": "Has Spaces"}, {"slug": [
                "Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. "
                "It cannot be entirely numeric."]}),
            ({"name": "x", "default_rules": "sometimes"}, {"default_rules": ["Must be a valid boolean."]}),
    ):
        assert await call(sentry, "POST", url, 400, json=body) == errors, body
    assert await call(sentry, "POST", url, 409, json={"name": "x", "slug": "hello-world"}) == {
        "detail": "A project with this slug already exists."}
    await call(sentry, "POST", url, 403, headers=token(sentry, ["project:read"]), json={"name": "x"})
    await call(sentry, "POST", "/api/0/teams/parlel/nope/projects/", 404, json={"name": "x"})
    assert [p["slug"] for p in await call(sentry, "GET", "/api/0/organizations/parlel/projects/")] == ["hello-world"]


@pytest_twisted.ensureDeferred
async def test_project_detail_reflects_what_was_ingested(sentry, openapi):
    await send(sentry, error_event(environment="staging", release="app@1.0"))
    await send(sentry, error_event(environment="production", release="app@2.0"))
    envelope = (b'{}\n{"type":"session"}\n{"sid":"' + b"a" * 32 + b'","init":true,"status":"ok","attrs":'
                b'{"release":"app@2.0"}}\n{"type":"check_in"}\n{"check_in_id":"' + b"b" * 32
                + b'","monitor_slug":"nightly","status":"ok"}\n')
    response, _ = await request_json("POST", f"{sentry.url}/api/1/envelope/", data=envelope)
    assert response.code == 200
    detail = await call(sentry, "GET", "/api/0/projects/parlel/hello-world/")
    check(openapi, f"{PROJECT}/", "get", detail)
    assert detail["latestRelease"] == {"version": "app@2.0"} and "releases" in detail["features"]
    assert (detail["hasSessions"], detail["hasMonitors"], detail["hasReplays"]) == (True, True, False)
    assert detail["firstEvent"] is not None and detail["platform"] == "python"
    summary = (await call(sentry, "GET", "/api/0/organizations/parlel/projects/"))[0]
    assert summary["environments"] == ["production", "staging"]
    environments = await call(sentry, "GET", "/api/0/projects/parlel/hello-world/environments/")
    check(openapi, f"{PROJECT}/environments/", "get", environments)
    assert [(e["name"], e["isHidden"]) for e in environments] == [("production", False), ("staging", False)]
    assert await call(sentry, "GET", "/api/0/projects/parlel/hello-world/environments/?visibility=hidden") == []
    assert await call(sentry, "GET", "/api/0/projects/parlel/hello-world/environments/?visibility=x", 400) == {
        "detail": "Invalid value for 'visibility', valid values are: ['all', 'hidden', 'visible']"}
    stats = await call(sentry, "GET", "/api/0/projects/parlel/hello-world/?include=stats")
    assert stats["stats"] == {"unresolved": 1}


@pytest_twisted.ensureDeferred
async def test_update_project_and_rename(sentry, openapi):
    url = "/api/0/projects/parlel/hello-world/"
    changed = await call(sentry, "PUT", url, json={
        "name": "Hello", "platform": "python-django", "isBookmarked": True, "subjectPrefix": "[hw] ",
        "resolveAge": 24, "highlightTags": ["browser"], "dataScrubber": False, "allowedDomains": ["example.com", ""]})
    check(openapi, f"{PROJECT}/", "put", changed)
    detail = await call(sentry, "GET", url)
    assert (detail["name"], detail["platform"], detail["isBookmarked"], detail["subjectPrefix"], detail["resolveAge"],
            detail["highlightTags"], detail["dataScrubber"], detail["allowedDomains"]) == (
        "Hello", "python-django", True, "[hw]", 24, ["browser"], False, ["example.com"])  # DRF trims strings

    renamed = await call(sentry, "PUT", url, json={"slug": "hello-two"})
    assert (renamed["id"], renamed["slug"]) == ("1", "hello-two")
    # the old slug answers Sentry's ProjectMoved: 302 to the same path and query under the new slug
    response, body = await request_json("GET", f"{sentry.url}/api/0/projects/parlel/hello-world/issues/?query=",
                                        headers=AUTH, allow_redirects=False)
    assert response.code == 302
    assert response.headers.getRawHeaders("location") == ["/api/0/projects/parlel/hello-two/issues/?query="]
    assert body == {"slug": "hello-two", "detail": {"code": "resource-moved", "message": "Resource has been moved",
                                                    "extra": {"url": "/api/0/projects/parlel/hello-two/issues/?query=",
                                                              "slug": "hello-two"}}}
    response, _ = await request_json("GET", f"{sentry.url}/api/0/projects/parlel/hello-world", headers=AUTH,
                                     allow_redirects=False)
    assert (response.code, response.headers.getRawHeaders("location")) == (302, ["/api/0/projects/parlel/hello-two"])
    assert (await call(sentry, "GET", "/api/0/projects/parlel/hello-two/"))["name"] == "Hello"
    assert (await call(sentry, "GET", "/api/0/projects/parlel/1/"))["slug"] == "hello-two"
    # ingest still files events under the same project id
    event_id = await send(sentry, error_event())
    found = await call(sentry, "GET", f"/api/0/organizations/parlel/eventids/{event_id}/")
    assert found["projectSlug"] == "hello-two"

    bookmark_only = token(sentry, ["project:read"])
    await call(sentry, "PUT", "/api/0/projects/parlel/hello-two/", headers=bookmark_only, json={"isBookmarked": False})
    assert await call(sentry, "PUT", "/api/0/projects/parlel/hello-two/", 403, headers=bookmark_only,
                      json={"name": "x"}) == {"detail": "You do not have permission to perform this action."}
    org = sentry.store.organization("parlel")
    await call(sentry, "PUT", "/api/0/projects/parlel/hello-two/", 400,
               headers=token(sentry, ["project:write"], org), json={"name": "x"})


@pytest_twisted.ensureDeferred
async def test_update_project_bad_input(sentry):
    url = "/api/0/projects/parlel/hello-world/"
    await call(sentry, "POST", "/api/0/teams/parlel/parlel/projects/", 201, json={"name": "Taken"})
    for body, errors in (
            ({"slug": "taken"}, {"slug": ["Another project (Taken) is already using that slug"]}),
            ({"slug": "settings"}, {"slug": ['The slug "settings" is reserved and not allowed.']}),
            ({"slug": "No Good"}, {"slug": [
                "Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. "
                "It cannot be entirely numeric."]}),
            ({"platform": "cobol"}, {"platform": ["Invalid platform"]}),
            ({"name": ""}, {"name": ["This field may not be blank."]}),
            ({"isBookmarked": "perhaps"}, {"isBookmarked": ["Must be a valid boolean."]}),
            ({"resolveAge": "soon"}, {"resolveAge": ["A valid integer is required."]}),
            ({"digestsMinDelay": 10}, {"digestsMinDelay": ["Ensure this value is greater than or equal to 60."]}),
            ({"digestsMinDelay": 900, "digestsMaxDelay": 600}, {
                "digestsMinDelay": ["The minimum delay on digests must be lower than the maximum."]}),
            ({"allowedDomains": [""]}, {"allowedDomains": [
                "Empty value will block all requests, use * to accept from all domains"]}),
            ({"highlightTags": "browser"}, {"highlightTags": ['Expected a list of items but got type "str".']}),
    ):
        assert await call(sentry, "PUT", url, 400, json=body) == errors, body
    assert (await call(sentry, "GET", url))["slug"] == "hello-world"
    await call(sentry, "PUT", "/api/0/projects/parlel/nope/", 404, json={})
    await call(sentry, "DELETE", url, 403, headers=token(sentry, ["project:write"]))
    await call(sentry, "PATCH", url, 405)
    await call(sentry, "GET", "/api/0/projects/", 403, headers=token(sentry, ["org:read"]))


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_lists_what_the_api_created(sentry, tmp_path):
    """sentry-cli 3.8.2 reads the organizations and projects made through the API (and a rename); the
    default team is named after the organization, as Sentry names it."""
    await call(sentry, "POST", "/api/0/organizations/", 201, json={"name": "Acme", "defaultTeam": True})
    await call(sentry, "POST", "/api/0/teams/acme/acme/projects/", 201, json={"name": "Shop Front"})
    await call(sentry, "PUT", "/api/0/projects/parlel/hello-world/", json={"slug": "hello-again"})
    orgs = await run_cli(sentry, tmp_path, "organizations", "list", timeout=30)
    assert orgs.returncode == 0 and "acme" in orgs.stdout.decode(), orgs.stderr
    listed = await run_cli(sentry, tmp_path, "projects", "list", "--org", "acme", timeout=30)
    assert listed.returncode == 0 and re.search(r"shop-front\s*\|\s*Acme\s*\|", listed.stdout.decode()), listed.stderr
    renamed = await run_cli(sentry, tmp_path, "projects", "list", timeout=30)
    assert renamed.returncode == 0 and "hello-again" in renamed.stdout.decode(), renamed.stderr
