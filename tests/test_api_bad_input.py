"""Every web-API route, every method, fed bodies and arguments no client should send: never a 500,
never a body that is not JSON, and what was stored before is still there afterwards. Then one bad
field at a time, ``²`` where ids go, the uploads and check-ins that used to answer 500, and the
inputs that used to hold the reactor for seconds to hours (answers checked, never timed)."""

from __future__ import annotations

import base64
import io
import itertools
import json
import re
import struct
import zipfile
from typing import Any

import pytest
import pytest_twisted

from conftest import AUTH, request_json
from sentry_daemon.api.releases import _with_build as with_build
from issue_helpers import error_event, send
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int
from sentry_daemon.ingest.limits import Limits
from sentry_daemon.ingest.multipart import form_parts
from sentry_daemon.search.glob import Glob
from sentry_daemon.search.grammar import SearchValue
from sentry_daemon.store import debug_files
from sentry_daemon.store.monitors import InvalidConfig, validate_config
from test_api_monitors import MONITORS, check_in, get
from test_api_scopes import fill, guarded_routes, route_values
from upload_helpers import call, upload_bundle

BODIES: list[tuple[bytes, str]] = [
    (b"", "application/json"),
    (b"{not json", "application/json"),
    (b"[1, 2, 3]", "application/json"),
    (b'"a string"', "application/json"),
    (b"\xff\xfe\x00binary", "application/octet-stream"),
    (b"--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\ncut off", "multipart/form-data; boundary=x"),
]
# every field a write endpoint reads, with values of the wrong kind
WRONG = [None, 1, -1, 1.5, True, "", "x" * 300, [], [None], {}, {"a": None}, "\u0000", "../..", "2026-13-45T99:99:99Z"]
FIELDS = ["name", "slug", "platform", "version", "projects", "refs", "commits", "dateReleased", "dateStarted",
          "dateFinished", "environment", "status", "statusDetails", "assignedTo", "isActive", "rateLimit",
          "scopes", "tokenId", "checksum", "chunks", "provider", "url", "ref", "merge", "hasSeen", "isBookmarked",
          "default_rules", "teams", "team", "options", "dist", "id", "owner"]
ARGS = "?cursor=bad&per_page=1000&limit=-1&statsPeriod=forever&start=x&end=y&query=%22&id=x&project=x" \
       "&environment=%00&stat=nope&resolution=7y&since=x&until=y&interval=0&field=x&groupBy=x&download=1"


@pytest_twisted.ensureDeferred
async def test_bad_input_never_breaks_a_route(sentry: Any) -> None:
    values = await route_values(sentry)
    event_id = values["event_id"]
    failures: list[str] = []
    probe = _prober(sentry, failures)
    routes = [(rule, method) for rule, method, _ in guarded_routes() if method != "DELETE"]
    for rule, method in routes:
        path = fill(rule, values)
        await probe(method, path + ARGS, raw_ok=True)
        if method == "GET":
            continue
        for data, ctype in BODIES:
            await probe(method, path, headers={**AUTH, "Content-Type": ctype}, data=data)
        for wrong in WRONG:
            await probe(method, path, {f: wrong for f in FIELDS})
            await probe(method, path, {"refs": [{"repository": wrong, "commit": wrong}],
                                       "commits": [{"id": wrong, "repository": wrong, "patch_set": wrong}],
                                       "statusDetails": {"inRelease": wrong, "ignoreCount": wrong},
                                       "rateLimit": {"count": wrong, "window": wrong},
                                       "chunks": [wrong], "checksum": "a" * 40})
    assert failures == [], '\n'.join(failures)
    # nothing stored before was lost
    assert sentry.store.event(event_id) is not None
    response, body = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert event_id in [e["event_id"] for e in body["events"]]


# --- one field at a time -------------------------------------------------------------------------
# Every field set to one bad value at once stops at the first field's 400; these vary one field of a
# body that is otherwise good, so every field's own check (and what runs after it) is reached.
BASE = {"commits": [{"id": "abc", "repository": "repo1"}], "refs": [{"repository": "repo1", "commit": "a"}],
        "projects": ["hello-world"], "version": "v9", "name": "nm", "environment": "prod"}
ONE_WRONG = [None, 1.5, True, "x" * 300, [None], {"a": None}, "\u00b2", 10 ** 30, 1e308]
IGNORE_FIELDS = ["ignoreDuration", "ignoreCount", "ignoreWindow", "ignoreUserCount", "ignoreUserWindow"]
NESTED = {
    "commits": lambda w: [{"id": "abc", "repository": "repo1", "timestamp": w, "author_email": w,
                           "patch_set": [{"path": "a", "type": w}]}],
    "refs": lambda w: [{"repository": w, "commit": "a"}],
    "projects": lambda w: [w],
    "statusDetails": lambda w: {"inRelease": w, "inCommit": w, "ignoreCount": w, "inNextRelease": w},
    "rateLimit": lambda w: {"count": w, "window": 60},
    "dynamicSdkLoaderOptions": lambda w: {"hasReplay": w},
}
SUPERSCRIPT = "%C2%B2"  # "²": str.isdigit() says yes, int() says no
SUPERSCRIPT_ARGS = ["id", "group", "limit", "per_page", "cursor", "project", "projectID", "resolution", "since",
                    "count"]


async def _seed(sentry: Any) -> dict[str, str]:
    """A store with one of everything a path can name: an issue, a release with a file, a
    repository, a monitor, an org auth token."""
    values = await route_values(sentry)
    store = sentry.store
    org = store.organization("parlel")
    repo = store.releases.create_repository(org, "repo1")
    release, _, _ = store.releases.create(org, "v2", [store.projects[1]])
    store.releases.set_refs(release, [{"repository": "repo1", "commit": "abc"}], fetch=True)
    store.releases.add_file(release, "~/a.js", None, {}, b"abc")
    store.check_in(store.projects[1], {"check_in_id": "b" * 32, "monitor_slug": "mon", "status": "ok"})
    org_token = store.create_org_token(org, "t", sentry.url)
    return {**values, "version": "v2", "monitor": "mon", "token_id": str(org_token.id), "repo_id": str(repo.id),
            "file_id": str(next(iter(release.files))), "bundle_id": "x"}


def _prober(sentry: Any, failures: list[str]) -> Any:
    """``probe(method, path, body)``: one request (``body`` sent as JSON, or raw ``data=`` and
    ``headers=``) whose 5xx or non-JSON answer is added to ``failures``."""
    async def probe(method: str, path: str, body: Any = None, raw_ok: bool = False, **kwargs: Any) -> None:
        kwargs.setdefault("headers", AUTH)
        if body is not None:
            kwargs.update(headers={**AUTH, "Content-Type": "application/json"}, data=json.dumps(body).encode())
        response, answer = await request_json(method, sentry.url + path, allow_redirects=False, **kwargs)
        ctype = (response.headers.getRawHeaders("content-type") or [""])[0]
        if response.code >= 500 or (answer not in (None, b"") and not ctype.startswith("application/json")
                                    and not raw_ok):
            failures.append(f"{method} {path} {kwargs.get('data', b'')[:100]!r}: {response.code} {answer!r:.200}")
    return probe


@pytest_twisted.ensureDeferred
async def test_one_bad_field_at_a_time(sentry: Any) -> None:
    failures: list[str] = []
    probe = _prober(sentry, failures)
    for rule, method, _ in guarded_routes():
        if method not in ("POST", "PUT"):
            continue
        sentry.store.reset()  # what one route made (hundreds of projects) does not slow the next
        path = fill(rule, await _seed(sentry))
        for name in FIELDS:
            for wrong in ONE_WRONG:
                await probe(method, path, {**BASE, name: wrong})
        for name, nest in NESTED.items():
            for wrong in ONE_WRONG:
                await probe(method, path, {**BASE, name: nest(wrong)})
        if method == "PUT":  # what an issue update reads only when it ignores
            for name in IGNORE_FIELDS:
                for wrong in [*ONE_WRONG, "--5"]:
                    await probe(method, path, {**BASE, "status": "ignored", name: wrong})
                    await probe(method, path, {**BASE, "status": "ignored", "statusDetails": {name: wrong}})
    assert failures == [], "\n".join(failures)


@pytest_twisted.ensureDeferred
async def test_unicode_digits_are_no_ids(sentry: Any) -> None:
    """``²`` (and its percent-encoding) in every path segment and in the arguments that carry ids
    and numbers: 400 or 404, never the 500 of ``int("²")``."""
    values = await _seed(sentry)
    failures: list[str] = []
    probe = _prober(sentry, failures)
    for rule, method, _ in guarded_routes():
        names = re.findall(r"<(?:[a-z]+:)?([a-z_]+)>", rule)
        for name in names:
            for digit in (SUPERSCRIPT, "\u00b2"):
                await probe(method, fill(rule, {**values, name: digit}), {} if method in ("POST", "PUT") else None,
                            raw_ok=True)
        if method == "GET":
            args = "&".join(f"{arg}={SUPERSCRIPT}" for arg in SUPERSCRIPT_ARGS)
            await probe(method, f"{fill(rule, values)}?{args}", raw_ok=True)
    for path in ("/api/0/projects/parlel/hello-world/issues/?id=%C2%B2",
                 "/api/0/organizations/parlel/issues/?group=%C2%B2",
                 "/api/0/projects/parlel/hello-world/issues/?query=issue:%C2%B2"):
        await probe("GET", path)
        await probe("PUT", path, {"status": "resolved"})
    await sentry.add_fault(action="status", status=429, endpoint="store", project=1, times=1)
    for path in ("/__parlel/journal?project=%C2%B2", "/__parlel/faults?project=%C2%B2",
                 "/__parlel/wait?for=events&count=%C2%B2", "/__parlel/issues?project=%C2%B2"):
        await probe("GET", path)
    await sentry.clear_faults()
    assert failures == [], "\n".join(failures)
    # ingest: the project id in the path, the protocol version in the auth header
    event = json.dumps(error_event()).encode()
    for path, headers in ((f"/api/{SUPERSCRIPT}/store/?sentry_key=parlel", {}),
                          ("/api/1/store/", {"X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=\u00b2"})):
        response, answer = await request_json("POST", sentry.url + path, data=event, headers=headers)
        assert response.code in (200, 400), (path, response.code, answer)
    assert parse_int("\u00b2") is None and parse_int("\u0661") is None and parse_int(" 1") is None
    assert parse_int("9" * 2000) is None and parse_int("-3", signed=True) == -3 and parse_int(b"42") == 42


# --- what used to answer 500 ---------------------------------------------------------------------
RELEASE_FILES = "/api/0/organizations/parlel/releases/v1/files/"


def _multipart(*parts: bytes) -> tuple[bytes, dict[str, str]]:
    body = b"".join(b"--x\r\n" + part + b"\r\n" for part in parts) + b"--x--\r\n"
    return body, {**AUTH, "Content-Type": "multipart/form-data; boundary=x"}


@pytest_twisted.ensureDeferred
async def test_multipart_parts_that_cannot_be_read(sentry: Any) -> None:
    await call(sentry, "POST", "/api/0/organizations/parlel/releases/", 201,
               json={"version": "v1", "projects": ["hello-world"]})
    file_part = b'Content-Disposition: form-data; name="file"; filename="a.js"\r\n\r\nabc'
    # base64 with bad padding: a 400, as any multipart body we cannot read
    body, headers = _multipart(b'Content-Disposition: form-data; name="file"; filename="a.js"\r\n'
                               b"Content-Transfer-Encoding: base64\r\n\r\nabc")
    response, answer = await request_json("POST", sentry.url + RELEASE_FILES, data=body, headers=headers)
    assert response.code == 400, answer
    # a charset Python has no codec for: the field reads as UTF-8
    body, headers = _multipart(b'Content-Disposition: form-data; name="name"\r\n'
                               b"Content-Type: text/plain; charset=nope\r\n\r\n~/b.js", file_part)
    response, answer = await request_json("POST", sentry.url + RELEASE_FILES, data=body, headers=headers)
    assert (response.code, answer["name"]) == (201, "~/b.js"), answer
    # a part whose header lines never end (no blank line): refused before the email parser sees them
    body, headers = _multipart(b'Content-Disposition: form-data; name="file"; filename="c.js"\r\n'
                               + b"X: a\r\n" * 4000)
    response, answer = await request_json("POST", sentry.url + RELEASE_FILES, data=body, headers=headers)
    assert response.code == 400, answer
    with pytest.raises(ApiError) as refused:  # 1M header lines (7 MB) take no longer to refuse
        form_parts(b"--x\r\n" + b"X: a\r\n" * 1_000_000 + b"--x--\r\n", "multipart/form-data; boundary=x")
    assert refused.value.status == 400


@pytest_twisted.ensureDeferred
async def test_assemble_bodies_nested_too_deep_for_repr(sentry: Any) -> None:
    for path, raw in (("/api/0/organizations/parlel/artifactbundle/assemble/", b"[" * 1000 + b"]" * 1000),
                      ("/api/0/projects/parlel/hello-world/files/difs/assemble/",
                       b'{"' + b"a" * 40 + b'": ' + b"[" * 1000 + b"]" * 1000 + b"}")):
        response, answer = await request_json("POST", sentry.url + path, data=raw,
                                              headers={**AUTH, "Content-Type": "application/json"})
        assert response.code == 400 and answer["error"].endswith("is not of type 'object'"), answer


def _zip_bundle(manifest: bytes, files: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("manifest.json", manifest)
        for path, data in (files or {}).items():
            archive.writestr(path, data, zipfile.ZIP_STORED)
    return b"SYSB" + struct.pack("<I", 2) + out.getvalue()


@pytest_twisted.ensureDeferred
async def test_bundles_that_cannot_be_read(sentry: Any) -> None:
    deep = _zip_bundle(b"[" * 100_000 + b"]" * 100_000)
    assert (await upload_bundle(sentry, deep))["state"] == "error"
    bundle_id = "11111111-1111-1111-1111-111111111111"
    manifest = {"debug_id": bundle_id, "files": {"a.js": {"url": "~/a.js", "type": "minified_source",
                                                          "headers": {"debug-id": "2" * 32}}}}
    data = bytearray(_zip_bundle(json.dumps(manifest).encode(), {"a.js": b"console.log(1)" * 10}))
    data[bytes(data).rfind(b"console.log")] ^= 1  # the stored bytes no longer match their CRC
    assert (await upload_bundle(sentry, bytes(data)))["state"] == "ok"
    file_id = base64.urlsafe_b64encode(b"a.js").decode()
    path = f"/api/0/projects/parlel/hello-world/artifact-bundles/{bundle_id}/files/{file_id}/"
    assert await call(sentry, "GET", path, 404) == {"error": "The file a.js can't be found in the artifact bundle"}


@pytest_twisted.ensureDeferred
async def test_check_ins_no_datetime_holds(sentry: Any) -> None:
    """A duration or schedule past what a float or a datetime holds is dropped, as Sentry's
    consumer drops a check-in it fails on; a monitor never stores a config it cannot use."""
    await check_in(sentry, "big", "ok", duration=1e308)
    await check_in(sentry, "big", "ok", monitor_config={"schedule": {"type": "interval", "value": 100000,
                                                                     "unit": "year"}})
    await check_in(sentry, "big", "ok", monitor_config={"schedule": {"type": "interval", "value": 10 ** 6,
                                                                     "unit": "week"}})
    await get(sentry, MONITORS + "big/", 404)
    await check_in(sentry, "job", "ok", monitor_config={"schedule": {"type": "interval", "value": 1, "unit": "day"}})
    await check_in(sentry, "job", "ok", monitor_config={"schedule": {"type": "interval", "value": 100000,
                                                                     "unit": "year"}})
    await check_in(sentry, "job", "ok")  # used to 500: the bad config had been stored
    job = await get(sentry, MONITORS + "job/")
    assert job["config"]["schedule"] == [1, "day"] and len(await get(sentry, MONITORS + "job/checkins/")) == 3
    with pytest.raises(InvalidConfig):
        validate_config({"schedule": [100000, "year"], "schedule_type": "interval"}, now=0.0)


# --- state -----------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_release_of_a_deleted_project_only_is_gone(sentry: Any) -> None:
    await call(sentry, "POST", "/api/0/teams/parlel/parlel/projects/", 201, json={"name": "tmp", "slug": "tmp"})
    await call(sentry, "POST", "/api/0/organizations/parlel/releases/", 201,
               json={"version": "only-tmp", "projects": ["tmp"]})
    await call(sentry, "POST", "/api/0/organizations/parlel/releases/", 201,
               json={"version": "both", "projects": ["tmp", "hello-world"]})
    await call(sentry, "DELETE", "/api/0/projects/parlel/tmp/", 204)
    await call(sentry, "GET", "/api/0/organizations/parlel/releases/only-tmp/", 404)
    both = await call(sentry, "GET", "/api/0/organizations/parlel/releases/both/")
    assert [p["slug"] for p in both["projects"]] == ["hello-world"]


@pytest_twisted.ensureDeferred
async def test_a_boolean_is_no_project_id(sentry: Any) -> None:
    assert await call(sentry, "POST", "/api/0/organizations/parlel/releases/", 400,
                      json={"version": "vt", "projects": [True]}) == {"projects": ["Invalid project ids or slugs"]}


# --- what used to hold the reactor ---------------------------------------------------------------
# Each input below took the old code seconds to hours (a backtracking regex, a scan per item); the
# answers are checked, not the time: a regression shows as a test that does not finish.
PATHOLOGICAL = "*a" * 8 + "*b"  # as a ``.*`` regex: C(n, 8) ways to split n "a"s before failing


def test_wildcards_match_without_backtracking() -> None:
    text = "a" * 5000
    assert not Glob.compile(PATHOLOGICAL).matches(text)
    assert not SearchValue.wildcard(PATHOLOGICAL, anchored=False).matches(text)
    assert Glob.compile("*a" * 8).matches(text) and Glob.compile("a*" * 8).matches(text)
    for pattern, value, anchored, ignore_case, expected in [
        ("1.*", "1.0", True, False, True), ("1.*", "21.0", True, False, False), ("*.0", "1.0", True, False, True),
        ("a*b*a", "aba", True, False, True), ("a*b*a", "ab", True, False, False), ("ab*ba", "aba", True, False, False),
        ("*", "", True, False, True), ("x", "x", True, False, True), ("x", "xy", True, False, False),
        ("x", "axb", False, False, True), ("A*", "abc", True, False, False), ("A*", "abc", True, True, True),
    ]:
        assert Glob.compile(pattern, anchored=anchored, ignore_case=ignore_case).matches(value) is expected, pattern
    assert SearchValue.wildcard(r"a\*b*").matches("A*bc") and not SearchValue.wildcard(r"a\*b*").matches("axbc")


def test_version_with_build_reads_as_the_regex_did() -> None:
    """``1.0 (45)`` → ``1.0+45`` without ``^(.*)\\s+\\(([^)]+)\\)\\s*$``'s quadratic backtracking, and the
    same answer as that regex for every short text."""
    regex = re.compile(r"^(.*)\s+\(([^)]+)\)\s*$")
    for length in range(8):
        for letters in itertools.product(" (a)\n", repeat=length):
            text = "".join(letters)
            match = regex.match(text)
            assert with_build(text) == (f"{match.group(1)}+{match.group(2)}" if match else None), repr(text)
    assert with_build("1.0 (45)") == "1.0+45"
    assert with_build(" (" * 100_000 + ")") == " (" * 99_998 + "+ ("  # the regex: minutes


@pytest_twisted.ensureDeferred
async def test_wildcard_searches_over_long_values(sentry: Any) -> None:
    await call(sentry, "POST", "/api/0/organizations/parlel/releases/", 201,
               json={"version": "a" * 200, "projects": ["hello-world"]})
    releases = "/api/0/organizations/parlel/releases/?query="
    assert await call(sentry, "GET", releases + "release:" + PATHOLOGICAL) == []
    assert [r["version"] for r in await call(sentry, "GET", releases + "release:a*a")] == ["a" * 200]
    await send(sentry, error_event(message="a" * 600))
    issues = "/api/0/projects/parlel/hello-world/issues/?query=message:"
    assert await call(sentry, "GET", issues + PATHOLOGICAL) == []
    assert len(await call(sentry, "GET", issues + "*a" * 8 + "*")) == 1


@pytest_twisted.ensureDeferred
async def test_urls_are_checked_in_linear_time_and_capped(sentry: Any) -> None:
    async def create(url: str, expect: int) -> Any:
        return await call(sentry, "POST", "/api/0/organizations/parlel/releases/", expect,
                          json={"version": f"u{len(url)}", "projects": ["hello-world"], "url": url})

    invalid = {"url": ["Enter a valid URL."]}
    assert await create("http://" + "a" * 1_000_000 + " x", 400) == invalid
    assert await create("http://" + "a" * (2048 - 7), 201)
    assert await create("http://" + "a" * (2049 - 7), 400) == invalid  # Django's URLValidator.max_length


def _elf_with_notes(headers: int, size: int) -> bytes:
    """An ELF whose ``headers`` PT_NOTE segments all point at one run of ``size`` zero bytes."""
    table_at = 64 + headers * 56
    head = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    head += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, headers, 64, 0, 0)
    return head + struct.pack("<IIQQQQQQ", 4, 0, table_at, 0, 0, size, size, 4) * headers + b"\0" * size


def _elf_with_section_names(sections: int, size: int) -> bytes:
    """An ELF whose ``sections`` sections all name themselves at the start of a ``size``-byte name
    table that holds no NUL before its last byte."""
    table_at = 64 + sections * 64
    head = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    head += struct.pack("<HHIQQQIHHHHHH", 2, 62, 1, 0, 0, 64, 0, 64, 56, 0, 64, sections, 1)
    return (head + struct.pack("<IIQQQQIIQQ", 0, 3, 0, 0, table_at, size, 0, 0, 1, 0) * sections
            + b"a" * (size - 1) + b"\0")


def test_elf_headers_cost_one_pass() -> None:
    zero = "00000000-0000-0000-0000-000000000000"
    assert debug_files.detect(_elf_with_notes(2000, 400_000), None).debug_id == zero
    assert debug_files.detect(_elf_with_section_names(60_000, 2_000_000), None).debug_id == zero


class _NoScans(dict):
    """A table that refuses to be walked: a lookup per commit must not read every row."""

    def _refuse(self, *args: Any) -> Any:
        raise AssertionError("walked every repository")

    values = items = keys = __iter__ = _refuse


@pytest_twisted.ensureDeferred
async def test_commits_naming_many_repositories(sentry: Any) -> None:
    releases = sentry.store.releases
    releases.repositories = _NoScans(releases.repositories)
    commits = [{"id": f"c{n}", "repository": f"r{n}"} for n in range(5000)]
    await call(sentry, "POST", "/api/0/organizations/parlel/releases/", 201,
               json={"version": "many", "projects": ["hello-world"], "commits": commits})
    releases.repositories = dict(dict.items(releases.repositories))
    org = sentry.store.organization("parlel")
    assert len(releases.organization_repositories(org)) == 5000
    assert releases.repository(org, "r4999").name == "r4999"


@pytest_twisted.ensureDeferred
async def test_web_api_bodies_have_relays_limits(sentry: Any) -> None:
    """Relay's forward endpoint: 20 MiB for the web API, 40 MiB for a project's release file
    uploads, 100 MiB for chunk uploads, whatever the envelope limit (``--max-body``) is."""
    site = sentry.service.site
    limits = Limits()
    assert site.body_limit(b"/api/0/organizations/parlel/releases/?x=1") == limits.max_api_payload_size
    assert site.body_limit(b"/api/0/organizations/parlel/releases/v1/files/") == limits.max_api_payload_size
    assert site.body_limit(b"/api/0/projects/parlel/hello-world/releases/v1/files/") == \
        limits.max_api_file_upload_size
    assert site.body_limit(b"/api/0/organizations/parlel/chunk-upload/") == limits.max_api_chunk_upload_size
    assert site.body_limit(b"/api/1/envelope/") == sentry.service.config.max_body
    big = b'{"version": "big", "projects": ["hello-world"], "ref": "' + b"x" * (limits.max_api_payload_size + 1) + b'"}'
    response, answer = await request_json("POST", sentry.url + "/api/0/organizations/parlel/releases/", data=big,
                                          headers={**AUTH, "Content-Type": "application/json"})
    assert response.code == 413, answer
    await call(sentry, "GET", "/api/0/organizations/parlel/releases/big/", 404)
