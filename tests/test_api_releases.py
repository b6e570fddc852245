"""Releases, commits, repositories, deploys and release files through the web API, and the real
sentry-cli's release commands, each effect read back through the API."""

from __future__ import annotations

import hashlib
import json
import subprocess
import time
from pathlib import Path
from typing import Any, Callable
from urllib.parse import quote

import pytest
import pytest_twisted

from conftest import AUTH, request_json
from issue_helpers import error_event, send
from test_api_schema import SCHEMA_FILE, check, schema  # noqa: F401  (the fixture)
from test_real_clients import needs_cli, run_cli

ORG = "/api/0/organizations/parlel"
RELEASES = f"{ORG}/releases/"
PROJECT_RELEASES = "/api/0/projects/parlel/hello-world/releases/"
S_ORG = "/api/0/organizations/{organization_id_or_slug}"
S_PROJECT = "/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}"
DATETIME = ("Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")


async def call(sentry: Any, method: str, path: str, expect: int | None = 200, headers: dict[str, str] | None = None,
               **kwargs: Any) -> Any:
    response, body = await request_json(method, sentry.url + path, headers={**AUTH, **(headers or {})}, **kwargs)
    if expect is not None:
        assert response.code == expect, (method, path, response.code, body)
    return body


async def answer(sentry: Any, method: str, path: str, **kwargs: Any) -> tuple[Any, Any]:
    return await request_json(method, sentry.url + path, headers=AUTH, **kwargs)


@pytest.fixture
def shape(request: Any) -> Callable[..., None]:
    """``shape(path, method, body, status="200")``: the answer validates against Sentry's published
    schema; a no-op where the checkout lacks the schema (the rest of each test still runs)."""
    if not SCHEMA_FILE.exists():
        return lambda *args: None
    loaded = request.getfixturevalue("schema")
    return lambda path, method, body, status="200": check(loaded, path, method, body, status)


def v(version: str) -> str:
    return quote(version, safe="")


async def new_release(sentry: Any, version: str, expect: int = 201, **fields: Any) -> dict[str, Any]:
    return await call(sentry, "POST", RELEASES, expect, json={"version": version, "projects": ["hello-world"], **fields})


def multipart(*parts: tuple[str, bytes | str, str | None, str | None]) -> tuple[bytes, dict[str, str]]:
    """(name, data, filename, content type) parts as a form body, and its headers."""
    boundary = "sentryfake-boundary-7d1"
    chunks = []
    for name, data, filename, content_type in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename is not None else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if content_type is not None:
            head += f"Content-Type: {content_type}\r\n"
        chunks.append(head.encode() + b"\r\n" + (data.encode() if isinstance(data, str) else data) + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}"}


# --- releases ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_create_list_get_and_208(sentry, shape):
    created = await new_release(sentry, "app@1.2.3+45", ref="v1.2.3", url="https://example.com/r/1",
                                dateReleased="2026-12-01T10:00:00Z")
    shape(f"{S_ORG}/releases/", "post", created, "201")
    assert created["version"] == "app@1.2.3+45" and created["status"] == "open"
    assert created["versionInfo"]["package"] == "app"
    assert created["versionInfo"]["version"]["buildCode"] == "45" and created["versionInfo"]["version"]["major"] == 1
    assert created["versionInfo"]["description"] == "1.2.3 (45)" and created["versionInfo"]["version"]["components"] == 3
    assert [p["slug"] for p in created["projects"]] == ["hello-world"]
    await new_release(sentry, "app@1.2.4")

    got = await call(sentry, "GET", f"{RELEASES}{v('app@1.2.3+45')}/")
    shape(f"{S_ORG}/releases/{{version}}/", "get", got)
    assert (got["ref"], got["url"], got["dateReleased"]) == ("v1.2.3", "https://example.com/r/1",
                                                             "2026-12-01T10:00:00.000000Z")
    assert got["commitCount"] == 0 and got["lastCommit"] is None and got["deployCount"] == 0
    listed = await call(sentry, "GET", RELEASES)
    shape(f"{S_ORG}/releases/", "get", listed)
    assert [r["version"] for r in listed] == ["app@1.2.4", "app@1.2.3+45"]  # newest first
    project_listed = await call(sentry, "GET", PROJECT_RELEASES)
    shape(f"{S_PROJECT}/releases/", "get", project_listed)
    # the project list sorts by date released, else created: the released one is older
    assert [r["version"] for r in project_listed] == ["app@1.2.4", "app@1.2.3+45"]
    assert [r["version"] for r in await call(sentry, "GET", RELEASES + "?query=1.2.3")] == ["app@1.2.3+45"]
    assert [r["version"] for r in await call(sentry, "GET", RELEASES + "?query=" + v("release:app@1.2.4"))] == [
        "app@1.2.4"]
    assert [r["version"] for r in await call(sentry, "GET", RELEASES + "?query=finalized:true")] == ["app@1.2.3+45"]

    again = await new_release(sentry, "app@1.2.3+45", expect=208)
    assert again["id"] == created["id"]
    sentry.store.create_project(sentry.store.organization("parlel"), "Checkout", slug="checkout")
    both = await call(sentry, "POST", RELEASES, 201, json={"version": "app@1.2.3+45", "projects": ["checkout", 1]})
    assert {p["slug"] for p in both["projects"]} == {"hello-world", "checkout"}
    assert await call(sentry, "GET", "/api/0/projects/parlel/checkout/releases/app%401.2.4/", 404)
    assert (await call(sentry, "GET", "/api/0/projects/parlel/checkout/releases/app%401.2.3%2B45/"))["id"] == created["id"]


@pytest_twisted.ensureDeferred
async def test_release_list_pages_with_link(sentry):
    for n in range(3):
        await new_release(sentry, f"page@{n}")
    response, first = await answer(sentry, "GET", RELEASES + "?per_page=2")
    assert [r["version"] for r in first] == ["page@2", "page@1"]
    link = response.headers.getRawHeaders("link")[0]
    assert 'rel="next"; results="true"; cursor="2:1:0"' in link
    response, second = await answer(sentry, "GET", RELEASES + "?per_page=2&cursor=2:1:0")
    assert [r["version"] for r in second] == ["page@0"]
    assert 'rel="next"; results="false"' in response.headers.getRawHeaders("link")[0]
    assert (await call(sentry, "GET", RELEASES + "?per_page=500", 400))["detail"] == \
        "Invalid per_page value. Cannot exceed 100."


@pytest_twisted.ensureDeferred
async def test_update_and_status(sentry, shape):
    await new_release(sentry, "1.0.0")
    updated = await call(sentry, "PUT", f"{RELEASES}1.0.0/", json={
        "ref": "main", "url": "https://ci.example.com/1", "dateReleased": "2026-11-30T08:00:00.123456789Z",
        "projects": ["hello-world"]})
    shape(f"{S_ORG}/releases/{{version}}/", "put", updated)
    assert (updated["ref"], updated["url"]) == ("main", "https://ci.example.com/1")
    assert updated["dateReleased"] == "2026-11-30T08:00:00.123456Z"
    # what a PUT leaves out (or sends empty) stays
    kept = await call(sentry, "PUT", f"{RELEASES}1.0.0/", json={"dateReleased": None, "ref": ""})
    assert (kept["ref"], kept["dateReleased"]) == ("main", "2026-11-30T08:00:00.123456Z")
    archived = await call(sentry, "PUT", f"{RELEASES}1.0.0/", json={"status": "archived"})
    assert archived["status"] == "archived"
    assert await call(sentry, "GET", RELEASES) == []
    assert [r["version"] for r in await call(sentry, "GET", RELEASES + "?status=archived")] == ["1.0.0"]
    assert await call(sentry, "GET", PROJECT_RELEASES) == []
    project_put = await call(sentry, "PUT", f"{PROJECT_RELEASES}1.0.0/", json={"status": "open", "ref": "tag"})
    assert (project_put["status"], project_put["ref"]) == ("open", "tag")
    assert (await call(sentry, "GET", f"{PROJECT_RELEASES}1.0.0/"))["ref"] == "tag"


@pytest_twisted.ensureDeferred
async def test_delete_is_refused_for_a_release_in_use(sentry):
    await new_release(sentry, "gone@1")
    assert await call(sentry, "DELETE", f"{RELEASES}gone%401/", 204) is None
    await call(sentry, "GET", f"{RELEASES}gone%401/", 404)
    await call(sentry, "DELETE", f"{RELEASES}gone%401/", 404)

    await send(sentry, error_event(release="used@1"))
    refused = await call(sentry, "DELETE", f"{RELEASES}used%401/", 400)
    assert refused == {"detail": "This release is referenced by active issues and cannot be removed."}

    await new_release(sentry, "healthy@1")
    session = json.dumps({"sid": "a" * 32, "init": True, "status": "ok", "attrs": {"release": "healthy@1"}}).encode()
    envelope = b'{}\n{"type":"session","length":%d}\n%s\n' % (len(session), session)
    response, _ = await request_json("POST", f"{sentry.url}/api/1/envelope/", data=envelope)
    assert response.code == 200
    refused = await call(sentry, "DELETE", f"{PROJECT_RELEASES}healthy%401/", 400)
    assert refused == {"detail": "This release has health data and cannot be removed."}
    await call(sentry, "GET", f"{PROJECT_RELEASES}healthy%401/", 200)


@pytest_twisted.ensureDeferred
async def test_releases_from_events(sentry):
    now = time.time()
    await send(sentry, error_event("a", release="web@2.0.0", environment="production", timestamp=now - 60))
    await send(sentry, error_event("b", release="web@2.0.0", environment="production", timestamp=now))
    release = await call(sentry, "GET", f"{RELEASES}web%402.0.0/")
    assert release["newGroups"] == 2 and release["projects"][0]["newGroups"] == 2
    assert release["firstEvent"] < release["lastEvent"]
    assert release["versionInfo"]["version"]["raw"] == "2.0.0"
    assert [r["version"] for r in await call(sentry, "GET", RELEASES + "?environment=production")] == ["web@2.0.0"]
    assert [r["version"] for r in await call(sentry, "GET", PROJECT_RELEASES + "?environment=production")] == [
        "web@2.0.0"]
    await call(sentry, "GET", RELEASES + "?environment=nowhere", 404)
    assert await call(sentry, "GET", PROJECT_RELEASES + "?environment=nowhere") == []

    await send(sentry, {"type": "transaction", "transaction": "/checkout", "start_timestamp": now - 1,
                        "timestamp": now, "release": "web@2.1.0", "platform": "python",
                        "contexts": {"trace": {"trace_id": "a" * 32, "span_id": "b" * 16, "op": "http.server"}}})
    traced = await call(sentry, "GET", f"{RELEASES}web%402.1.0/")
    assert traced["newGroups"] == 0 and traced["lastEvent"] is not None


@pytest_twisted.ensureDeferred
async def test_a_release_created_through_the_api_is_the_next_release(sentry):
    event_id = await send(sentry, error_event(release="svc@1.0.0"))
    issue_id = sentry.store.event(event_id).group_id
    await call(sentry, "PUT", f"{ORG}/issues/{issue_id}/", json={"status": "resolvedInNextRelease"})
    await new_release(sentry, "svc@1.1.0")
    issue = await call(sentry, "GET", f"{ORG}/issues/{issue_id}/")
    assert issue["status"] == "resolved" and issue["statusDetails"]["inRelease"] == "svc@1.1.0"
    latest = await call(sentry, "GET", "/api/0/projects/parlel/hello-world/issues/?query=" + v("release:latest"))
    assert latest == []  # no event of svc@1.1.0 yet: the latest release matches none


# --- commits and repositories --------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_commits_replace_and_read_back(sentry, shape):
    commits = [
        {"id": "a" * 40, "repository": "acme/web", "message": "older", "author_name": "Ann",
         "author_email": "ann@example.com", "timestamp": "2026-11-01T00:00:00Z",
         "patch_set": [{"path": "a.py", "type": "A"}]},
        {"id": "b" * 40, "repository": "acme/web", "message": "newer", "author_name": "Bob",
         "timestamp": "2026-11-02T00:00:00Z"},
        {"id": "c" * 40, "repository": "acme/web", "message": "wip #skipsentry"},
        {"id": "d" * 40, "message": "no repository", "author_email": sentry.store.user.email},
    ]
    release = await new_release(sentry, "c@1", commits=commits)
    assert release["commitCount"] == 3 and release["lastCommit"]["id"] == "b" * 40
    authors = release["authors"]
    assert {"name": "Bob", "email": "bob@localhost"} in authors and {"name": "Ann", "email": "ann@example.com"} in authors
    assert any(a.get("id") == str(sentry.store.user.id) for a in authors)  # the Sentry user with that email
    listed = await call(sentry, "GET", f"{RELEASES}c%401/commits/")
    shape(f"{S_ORG}/releases/{{version}}/commits/", "get", listed)
    assert [c["id"] for c in listed] == ["b" * 40, "a" * 40, "d" * 40]
    assert listed[0]["repository"]["name"] == "acme/web" and listed[0]["releases"][0]["version"] == "c@1"
    assert listed[2]["repository"]["name"] == f"organization-{sentry.store.organization('parlel').id}"
    repos = await call(sentry, "GET", f"{ORG}/repos/")
    shape(f"{S_ORG}/repos/", "get", repos)
    assert {r["name"] for r in repos} >= {"acme/web"}
    assert repos[0]["provider"] == {"id": "unknown", "name": "Unknown Provider"}

    by_repo = await call(sentry, "GET", f"{PROJECT_RELEASES}c%401/commits/?repo_name=acme/web")
    shape(f"{S_PROJECT}/releases/{{version}}/commits/", "get", by_repo)
    assert [c["id"] for c in by_repo] == ["b" * 40, "a" * 40]
    await call(sentry, "GET", f"{PROJECT_RELEASES}c%401/commits/?repo_name=nope", 404)

    replaced = await call(sentry, "PUT", f"{RELEASES}c%401/", json={"commits": [{"id": "e" * 40}]})
    assert replaced["commitCount"] == 1 and replaced["lastCommit"]["id"] == "e" * 40
    assert [c["id"] for c in await call(sentry, "GET", f"{RELEASES}c%401/commits/")] == ["e" * 40]
    cleared = await call(sentry, "PUT", f"{RELEASES}c%401/", json={"refs": []})
    assert cleared["commitCount"] == 0 and await call(sentry, "GET", f"{RELEASES}c%401/commits/") == []


@pytest_twisted.ensureDeferred
async def test_refs_name_repositories_the_organization_has(sentry):
    repo = await call(sentry, "POST", f"{ORG}/repos/", 201, json={"provider": "integrations:github", "name": "org/repo"})
    assert repo["name"] == "org/repo" and repo["provider"] == {"id": "integrations:github", "name": "GitHub"}
    assert (await call(sentry, "POST", f"{ORG}/repos/", 400, json={"name": "org/repo"})) == {
        "errors": {"__all__": "A repository with that name already exists"}}
    assert await call(sentry, "POST", f"{ORG}/repos/", 400, json={"name": "x/y", "provider": "nope"}) == {
        "error_type": "validation"}

    release = await new_release(sentry, "r@1", refs=[{"repository": "org/repo", "commit": "abc123"}])
    assert release["lastCommit"]["id"] == "abc123"
    ranged = await call(sentry, "PUT", f"{RELEASES}r%401/", json={"refs": [{"repository": "org/repo",
                                                                               "commit": "abc123..def456"}]})
    assert ranged["lastCommit"]["id"] == "def456" and ranged["commitCount"] == 1
    bad = await call(sentry, "PUT", f"{RELEASES}r%401/", 400, json={"refs": [{"repository": "no/such",
                                                                               "commit": "abc"}]})
    assert bad == {"refs": ["Invalid repository names: no/such"]}
    legacy = await call(sentry, "PUT", f"{RELEASES}r%401/", json={"headCommits": [{"repository": "org/repo",
                                                                                   "currentId": "f00"}]})
    assert legacy["lastCommit"]["id"] == "f00"
    bad_range = await call(sentry, "PUT", f"{RELEASES}r%401/", 400, json={"refs": [{"repository": "org/repo",
                                                                                    "commit": "abc.."}]})
    assert bad_range == {"refs": {"0": {"commit": ["Commit cannot begin or end with .."]}}}


@pytest_twisted.ensureDeferred
async def test_previous_release_with_commits(sentry):
    await new_release(sentry, "p@1")
    assert await call(sentry, "GET", f"{RELEASES}p%401/previous-with-commits/") == {}
    await call(sentry, "PUT", f"{RELEASES}p%401/", json={"commits": [{"id": "1" * 40, "repository": "origin"}]})
    await new_release(sentry, "p@2")
    previous = await call(sentry, "GET", f"{RELEASES}p%402/previous-with-commits/")
    assert previous["version"] == "p@1" and previous["lastCommit"]["id"] == "1" * 40
    await call(sentry, "GET", f"{RELEASES}p%409/previous-with-commits/", 404)
    # a release of no project is found by none of the release routes (Sentry finds releases through projects)
    await call(sentry, "POST", RELEASES, 201, json={"version": "p@nowhere", "projects": []})
    await call(sentry, "GET", f"{RELEASES}p%40nowhere/", 404)
    await call(sentry, "GET", f"{RELEASES}p%40nowhere/previous-with-commits/", 404)
    assert "p@nowhere" not in [r["version"] for r in await call(sentry, "GET", RELEASES)]


# --- deploys -------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_deploys(sentry, shape):
    await new_release(sentry, "d@1")
    before = time.time()
    first = await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 201, json={
        "environment": "production", "name": None, "url": None, "dateStarted": None})
    shape(f"{S_ORG}/releases/{{version}}/deploys/", "post", first, "201")
    assert first["environment"] == "production" and first["name"] is None and first["dateStarted"] is None
    assert first["dateFinished"] is not None and first["dateFinished"] >= time.strftime(
        "%Y-%m-%dT%H:%M:%S", time.gmtime(before - 1))
    second = await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 201, json={
        "environment": "staging", "name": "deploy-1", "url": "https://ci.example.com/d/1",
        "dateStarted": "2026-12-01T10:00:00Z", "dateFinished": "2026-12-01T10:00:30Z", "projects": ["hello-world"]})
    assert (second["name"], second["dateStarted"]) == ("deploy-1", "2026-12-01T10:00:00.000000Z")
    third = await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 201, json={"environment": "production"})
    listed = await call(sentry, "GET", f"{RELEASES}d%401/deploys/")
    shape(f"{S_ORG}/releases/{{version}}/deploys/", "get", listed)
    # the last deploy per environment, latest finished first
    assert [d["id"] for d in listed] == [third["id"], second["id"]]
    release = await call(sentry, "GET", f"{RELEASES}d%401/")
    assert release["deployCount"] == 3 and release["lastDeploy"]["id"] == third["id"]
    assert [r["version"] for r in await call(sentry, "GET", RELEASES + "?environment=staging")] == ["d@1"]
    assert "staging" in sentry.store.project(sentry.store.organization("parlel"), "hello-world").environments

    sentry.store.create_project(sentry.store.organization("parlel"), "Other", slug="other")
    refused = await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 400, json={"environment": "prod",
                                                                                 "projects": ["other"]})
    assert refused["detail"]["code"] == "parameter-validation-error"
    assert refused["detail"]["message"] == "Invalid projects (other) for release d@1"
    assert await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 400, json={"environment": "prod",
                                                                              "projects": ["nope"]}) == {
        "projects": {"0": ["Invalid project"]}}
    assert await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 400, json={"environment": "bad/name"}) == {
        "environment": ["Invalid value for environment"]}
    assert await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 400, json={}) == {
        "environment": ["This field is required."]}
    assert await call(sentry, "POST", f"{RELEASES}d%401/deploys/", 400, json={
        "environment": "prod", "dateFinished": "yesterday"}) == {"dateFinished": [DATETIME]}
    assert await call(sentry, "GET", f"{RELEASES}d%401/deploys/?project={first['id']}00", 403)


# --- release files -------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_release_files(sentry, shape):
    await new_release(sentry, "f@1")
    files = f"{RELEASES}f%401/files/"
    source = b"function f(){}\n//# sourceMappingURL=app.min.js.map\n\x00\xff"
    body, headers = multipart(("file", source, "app.min.js", "application/javascript"),
                              ("name", "~/static/app.min.js", None, None),
                              ("header", "Sourcemap: app.min.js.map", None, None),
                              ("header", "X-Other:  yes ", None, None))
    uploaded = await call(sentry, "POST", files, 201, headers=headers, data=body)
    shape(f"{S_ORG}/releases/{{version}}/files/", "post", uploaded, "201")
    assert uploaded["name"] == "~/static/app.min.js" and uploaded["dist"] is None
    assert uploaded["headers"] == {"Content-Type": "application/javascript", "Sourcemap": "app.min.js.map",
                                   "X-Other": "yes"}
    assert uploaded["size"] == len(source) and uploaded["sha1"] == hashlib.sha1(source).hexdigest()
    await call(sentry, "POST", files, 409, headers=headers, data=body)

    body, headers = multipart(("file", b"{}", "app.min.js.map", None), ("dist", "42", None, None))
    mapped = await call(sentry, "POST", f"{PROJECT_RELEASES}f%401/files/", 201, headers=headers, data=body)
    assert (mapped["name"], mapped["dist"], mapped["headers"]) == ("app.min.js.map", "42", {"Content-Type": ""})

    listed = await call(sentry, "GET", files)
    shape(f"{S_ORG}/releases/{{version}}/files/", "get", listed)
    assert [f["name"] for f in listed] == ["app.min.js.map", "~/static/app.min.js"]
    assert [f["name"] for f in await call(sentry, "GET", files + "?query=static")] == ["~/static/app.min.js"]
    assert [f["id"] for f in await call(sentry, "GET", f"{PROJECT_RELEASES}f%401/files/?checksum={mapped['sha1']}")] \
        == [mapped["id"]]

    one = f"{files}{uploaded['id']}/"
    got = await call(sentry, "GET", one)
    shape(f"{S_ORG}/releases/{{version}}/files/{{file_id}}/", "get", got)
    assert got == uploaded
    response, _ = await answer(sentry, "GET", one + "?download=1")
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["application/javascript"]
    assert response.headers.getRawHeaders("content-disposition") == ['attachment; filename="app.min.js"']
    import treq
    raw = await treq.content(await treq.get(sentry.url + one + "?download=1", headers=AUTH))
    assert raw == source
    sentry.store.add_token("sntrys_orgonly", ["project:releases", "org:ci"], kind="org",
                           organization=sentry.store.organization("parlel"))
    await call(sentry, "GET", one + "?download=1", 403, headers={"Authorization": "Bearer sntrys_orgonly"})

    renamed = await call(sentry, "PUT", one, json={"name": "~/static/app.js"})
    shape(f"{S_ORG}/releases/{{version}}/files/{{file_id}}/", "put", renamed)
    assert (await call(sentry, "GET", f"{PROJECT_RELEASES}f%401/files/{uploaded['id']}/"))["name"] == "~/static/app.js"
    assert await call(sentry, "PUT", one, 400, json={}) == {"name": ["This field is required."]}
    await call(sentry, "PUT", f"{files}abc/", 400, json={"name": "x"})
    await call(sentry, "DELETE", one, 204)
    await call(sentry, "GET", one, 404)
    await call(sentry, "DELETE", one, 404)
    await call(sentry, "GET", f"{files}nosuch/", 404)

    for parts, detail in [
        ((("name", "x.js", None, None),), "Missing uploaded file"),
        ((("file", b"x", "file", None),), "File name must be specified"),
        ((("file", b"x", "a.js", None), ("header", "no colon", None, None)), "header value was not formatted correctly"),
        ((("file", b"x", "a.js", None), ("name", "dir/a\tb.js", None, None)),
         "File name must not contain special whitespace characters"),
    ]:
        body, headers = multipart(*parts)
        assert await call(sentry, "POST", files, 400, headers=headers, data=body) == {"detail": detail}
    assert await call(sentry, "POST", files, 400, json={"file": "x"}) == {"detail": "Missing uploaded file"}
    await call(sentry, "POST", f"{RELEASES}nosuch/files/", 404, headers=headers, data=body)


# --- bad input, unknown things, methods, scopes ---------------------------------------------


@pytest_twisted.ensureDeferred
async def test_bad_input_names_the_field(sentry):
    await new_release(sentry, "b@1")
    cases = [
        ("POST", RELEASES, {"projects": ["hello-world"]}, {"version": ["This field is required."]}),
        ("POST", RELEASES, {"version": "b@2"}, {"projects": ["This field is required."]}),
        ("POST", RELEASES, {"version": ["x"], "projects": []}, {"version": ["Not a valid string."]}),
        ("POST", RELEASES, {"version": "a/b", "projects": []}, {"version": ["Release with name a/b is not allowed"]}),
        ("POST", RELEASES, {"version": "latest", "projects": []},
         {"version": ["Release with name latest is not allowed"]}),
        ("POST", RELEASES, {"version": "x" * 201, "projects": []},
         {"version": ["Ensure this field has no more than 200 characters."]}),
        ("POST", RELEASES, {"version": "b@2", "projects": "hello-world"},
         {"projects": ['Expected a list of items but got type "str".']}),
        ("POST", RELEASES, {"version": "b@2", "projects": ["nope"]}, {"projects": ["Invalid project ids or slugs"]}),
        ("POST", RELEASES, {"version": "b@2", "projects": [], "dateReleased": "soon"}, {"dateReleased": [DATETIME]}),
        ("POST", RELEASES, {"version": "b@2", "projects": [], "owner": "someone@else"},
         {"owner": ["Unable to find user"]}),
        ("POST", RELEASES, {"version": "b@2", "projects": [], "url": "not a url"}, {"url": ["Enter a valid URL."]}),
        ("POST", PROJECT_RELEASES, {}, {"version": ["This field is required."]}),
        ("PUT", f"{RELEASES}b%401/", {"commits": {"id": "x"}},
         {"commits": ['Expected a list of items but got type "dict".']}),
        ("PUT", f"{RELEASES}b%401/", {"commits": [{"message": "no id"}]},
         {"commits": {"0": {"id": ["This field is required."]}}}),
        ("PUT", f"{RELEASES}b%401/", {"commits": [{"id": "x", "patch_set": [{"path": "a", "type": "X"}]}]},
         {"commits": {"0": {"patch_set": {"0": {"type": ["Commit patch_set type X is not supported."]}}}}}),
        ("PUT", f"{RELEASES}b%401/", {"refs": [{"commit": "abc"}]},
         {"refs": {"0": {"repository": ["This field is required."]}}}),
        ("PUT", f"{RELEASES}b%401/", {"status": "gone"}, {"status": ["Invalid status gone"]}),
        ("PUT", f"{RELEASES}b%401/", {"dateReleased": 12}, {"dateReleased": [DATETIME]}),
        ("PUT", f"{PROJECT_RELEASES}b%401/", {"ref": "x" * 201},
         {"ref": ["Ensure this field has no more than 200 characters."]}),
        ("POST", f"{RELEASES}b%401/deploys/", {"environment": "prod", "name": 5 * "long-name-" + "x" * 20},
         {"name": ["Ensure this field has no more than 64 characters."]}),
        ("POST", f"{RELEASES}b%401/deploys/", {"environment": "prod", "projects": []},
         {"projects": ["This list may not be empty."]}),
        ("POST", f"{ORG}/repos/", {}, {"name": ["This field is required."]}),
    ]
    for method, path, body, expected in cases:
        assert await call(sentry, method, path, 400, json=body) == expected, (method, path, body)
    not_json = await call(sentry, "POST", RELEASES, 400, data=b"{nope")
    assert not_json["detail"].startswith("JSON parse error")
    assert (await call(sentry, "POST", RELEASES, 400, data=b"[1]"))["detail"] == \
        "Invalid data. Expected a dictionary, but got list."
    assert (await call(sentry, "GET", RELEASES + "?status=nope", 400)) == {"detail": "invalid value for status"}
    assert (await call(sentry, "GET", RELEASES + "?project=abc", 400)) == {
        "detail": "Invalid project parameter. Values must be numbers."}
    assert (await call(sentry, "GET", RELEASES + "?query=foo:bar", 400)) == {"detail": "Invalid key for this search: foo"}
    assert (await call(sentry, "GET", RELEASES + "?sort=nope", 400)) == {"detail": "invalid sort"}


@pytest_twisted.ensureDeferred
async def test_unknown_things_are_404_and_wrong_methods_405(sentry):
    await new_release(sentry, "k@1")
    for path in [f"{RELEASES}nosuch/", f"{RELEASES}nosuch/commits/", f"{RELEASES}nosuch/deploys/",
                 f"{RELEASES}nosuch/files/", f"{RELEASES}nosuch/previous-with-commits/", f"{PROJECT_RELEASES}nosuch/",
                 f"{PROJECT_RELEASES}nosuch/commits/", f"{PROJECT_RELEASES}nosuch/files/",
                 "/api/0/organizations/nosuch/releases/", "/api/0/organizations/nosuch/repos/",
                 "/api/0/projects/parlel/nosuch/releases/", f"{RELEASES}a%2Fb/"]:
        assert await call(sentry, "GET", path, 404) == {"detail": "The requested resource does not exist"}, path
    await call(sentry, "PUT", f"{RELEASES}nosuch/", 404, json={})
    await call(sentry, "DELETE", f"{PROJECT_RELEASES}nosuch/", 404)
    await call(sentry, "POST", f"{RELEASES}nosuch/deploys/", 404, json={"environment": "prod"})
    for method, path in [("PATCH", f"{RELEASES}k%401/"), ("DELETE", RELEASES), ("PUT", f"{RELEASES}k%401/commits/"),
                         ("POST", f"{RELEASES}k%401/"), ("DELETE", f"{ORG}/repos/"), ("PUT", f"{RELEASES}k%401/deploys/")]:
        response, body = await answer(sentry, method, path)
        assert response.code == 405 and body == {"detail": f'Method "{method}" not allowed.'}, (method, path)


@pytest_twisted.ensureDeferred
async def test_scopes(sentry):
    await new_release(sentry, "s@1")
    sentry.store.add_token("sntrys_readonly", ["event:read", "org:read"])
    sentry.store.add_token("sntrys_ci", ["org:ci"])
    sentry.store.add_token("sntrys_writer", ["project:write"])
    readonly, ci, writer = ({"Authorization": f"Bearer {t}"} for t in ("sntrys_readonly", "sntrys_ci", "sntrys_writer"))
    denied = {"detail": "You do not have permission to perform this action."}
    assert await call(sentry, "GET", RELEASES, 403, headers=readonly) == denied
    assert await call(sentry, "POST", RELEASES, 403, headers=readonly, json={"version": "s@2", "projects": []}) == denied
    await call(sentry, "GET", f"{ORG}/repos/", 200, headers=readonly)  # repositories need an org scope
    await call(sentry, "GET", RELEASES, 200, headers=ci)
    await call(sentry, "POST", RELEASES, 201, headers=ci, json={"version": "s@2", "projects": ["hello-world"]})
    await call(sentry, "POST", f"{ORG}/repos/", 403, headers=ci, json={"name": "a/b"})
    assert await call(sentry, "DELETE", f"{RELEASES}s%401/", 403, headers=writer) == denied
    assert await call(sentry, "DELETE", f"{RELEASES}s%401/", 403, headers=ci) == denied
    await call(sentry, "PUT", f"{RELEASES}s%401/", 200, headers=writer, json={"ref": "x"})


# --- the real sentry-cli --------------------------------------------------------------------


def _git(repo: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True,
                          env={"GIT_AUTHOR_NAME": "Dev", "GIT_AUTHOR_EMAIL": "dev@example.com",
                               "GIT_COMMITTER_NAME": "Dev", "GIT_COMMITTER_EMAIL": "dev@example.com",
                               "HOME": str(repo), "PATH": "/usr/bin:/bin"})
    return done.stdout.strip()


@needs_cli
@pytest_twisted.ensureDeferred
async def test_sentry_cli_release_commands(sentry, tmp_path):
    async def cli(*args: str, cwd: Path = tmp_path) -> str:
        done = await run_cli(sentry, cwd, *args, timeout=30)
        output = done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")
        assert done.returncode == 0, (args, output)
        return done.stdout.decode(errors="replace")

    version = "cli-app@1.0.0"
    await cli("releases", "new", version)
    release = await call(sentry, "GET", f"{RELEASES}{v(version)}/")
    assert [p["slug"] for p in release["projects"]] == ["hello-world"] and release["dateReleased"] is None
    assert version in await cli("releases", "list")
    assert version in await cli("releases", "info", version)
    await cli("releases", "finalize", version)
    assert (await call(sentry, "GET", f"{RELEASES}{v(version)}/"))["dateReleased"] is not None

    await call(sentry, "POST", f"{ORG}/repos/", 201, json={"name": "org/repo"})
    await cli("releases", "set-commits", version, "--commit", "org/repo@abc123")
    assert [c["id"] for c in await call(sentry, "GET", f"{RELEASES}{v(version)}/commits/")] == ["abc123"]
    await cli("releases", "set-commits", version, "--commit", "org/repo@abc123..def456")
    commits = await call(sentry, "GET", f"{RELEASES}{v(version)}/commits/")
    assert [(c["id"], c["repository"]["name"]) for c in commits] == [("def456", "org/repo")]

    repo = tmp_path / "work"
    repo.mkdir()
    _git(repo, "init", "-q")
    for name in ("a.txt", "b.txt"):
        (repo / name).write_text(name)
        _git(repo, "add", name)
        _git(repo, "commit", "-q", "-m", f"add {name}")
    shas = _git(repo, "log", "--format=%H").split()
    local = "cli-app@1.1.0"
    await cli("releases", "new", local)
    # the previous release with commits (cli-app@1.0.0, head def456) is not in this history
    previous = await call(sentry, "GET", f"{RELEASES}{v(local)}/previous-with-commits/")
    assert previous["version"] == version and previous["lastCommit"]["id"] == "def456"
    await cli("releases", "set-commits", local, "--local", "--ignore-missing", cwd=repo)
    listed = await call(sentry, "GET", f"{RELEASES}{v(local)}/commits/")
    assert [c["id"] for c in listed] == shas  # newest first
    assert {c["message"].strip() for c in listed} == {"add a.txt", "add b.txt"}
    assert (await call(sentry, "GET", f"{RELEASES}{v(local)}/"))["authors"] == [
        {"name": "Dev", "email": "dev@example.com"}]

    await cli("releases", "deploys", version, "new", "-e", "production")
    await cli("deploys", "new", "-r", version, "-e", "staging", "-n", "deploy-1", "-t", "30")
    deploys = await call(sentry, "GET", f"{RELEASES}{v(version)}/deploys/")
    by_env = {d["environment"]: d for d in deploys}
    assert set(by_env) == {"production", "staging"} and by_env["staging"]["name"] == "deploy-1"
    assert by_env["staging"]["dateStarted"] < by_env["staging"]["dateFinished"]
    assert (await call(sentry, "GET", f"{RELEASES}{v(version)}/"))["deployCount"] == 2
    out = await cli("deploys", "list", "-r", version)
    assert "staging" in out and "production" in out and "deploy-1" in out


def test_the_schema_check_sees_the_release_shapes(schema):  # noqa: F811  (the imported fixture)
    with pytest.raises(Exception):
        check(schema, f"{S_ORG}/releases/{{version}}/deploys/", "get", [{"id": "1"}])


def test_latest_release_kept_per_project_answers_as_a_full_scan() -> None:
    """The latest release a project list shows is kept per project as releases join; a release
    older than the project's newest joining later, a deletion and a deleted project all give
    what comparing every release (``versions.latest``) gives."""
    from sentry_daemon.store import versions
    from sentry_daemon.store.store import Store

    clock = iter(range(1000, 100000, 10))
    store = Store(now=lambda: float(next(clock)))
    org = store.organization("parlel")
    one = store.projects[1]
    two = store.orgs.create_project(org, "two")

    def scan(project_id: int) -> Any:
        return versions.latest([r for r in store.releases.of_organization(org) if project_id in r.project_ids])

    def agrees() -> None:
        for project in (one, two):
            assert store.latest_release({project.id}) is scan(project.id)

    agrees()
    store.releases.create(org, "2.0.0", [one])
    old, _, _ = store.releases.create(org, "1.0.0", [two])
    agrees()
    store.releases.create(org, "nightly", [one])  # no semver: the newer by creation
    agrees()
    store.releases.create(org, "1.0.0", [one])  # an older release joins later
    agrees()
    store.see_release(two, "3.0.0", 5.0)
    store.releases.delete(store.releases.get(org, "3.0.0"))
    agrees()
    store.orgs.delete_project(two)
    assert store.latest_release({two.id}) is None and two.id not in old.project_ids
