"""Chunk uploads, artifact bundles and debug files over HTTP: the flow sentry-cli drives
(options, assemble → ``not_found``, chunk POSTs, assemble → ``ok``), what is then listed and
served, and Sentry's answers to bad input and missing scopes."""

from __future__ import annotations

import base64
import gzip
import os
import re
import shutil
from pathlib import Path
from typing import Any

import pytest_twisted
import treq
import zstandard

from conftest import AUTH, request_json
from sentry_daemon.testing import start_sentry
from test_api_schema import PROJECT as SCHEMA_PROJECT
from test_api_schema import check, schema  # noqa: F401  (the fixture)
from test_real_clients import _output, needs_cli, run_cli
from upload_helpers import (
    BOUNDARY,
    BUNDLE_ASSEMBLE,
    CHUNK_UPLOAD,
    DEBUG_ID,
    DIF_ASSEMBLE,
    MINIFIED,
    PROJECT,
    assemble_bundle,
    bundle_bytes,
    call,
    form,
    sha1,
    split,
    upload,
    upload_bundle,
)



@pytest_twisted.async_yield_fixture()
async def sentry_small_body() -> Any:
    running = await start_sentry(max_body=64 * 1024)
    yield running
    await running.stop()


def token(sentry: Any, *scopes: str, org: Any = None) -> dict[str, str]:
    value = f"sntrys_uploads_{len(sentry.store.tokens)}"
    sentry.store.add_token(value, scopes, kind="org" if org else "user", organization=org)
    return {"Authorization": f"Bearer {value}"}


# --- chunk uploads ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_chunk_upload_options(sentry):
    options = await call(sentry, "GET", CHUNK_UPLOAD)
    assert options == {
        "url": f"{sentry.url}{CHUNK_UPLOAD}", "chunkSize": 8388608, "chunksPerRequest": 64,
        "maxFileSize": 2147483648, "maxRequestSize": 33554432, "concurrency": 8, "hashAlgorithm": "sha1",
        "compression": ["gzip"], "accept": options["accept"]}
    accepted = {"debug_files", "artifact_bundles", "artifact_bundles_v2", "sources", "release_files"}
    assert accepted <= set(options["accept"])
    # sentry-cli from 1.70.1 up to 2.30 gets the relative, versionless URL Sentry gives it
    old = await call(sentry, "GET", CHUNK_UPLOAD, headers={**AUTH, "User-Agent": "sentry-cli/2.20.0"})
    assert old["url"] == "organizations/parlel/chunk-upload/"
    await call(sentry, "GET", "/api/0/organizations/nosuch/chunk-upload/", 404)


@pytest_twisted.ensureDeferred
async def test_raw_gzip_and_zstd_chunks_are_kept_by_sha1(sentry):
    # bytes that trip a form parser: line breaks at the ends, CR alone, something like a boundary
    chunks = [b"raw\r\n", b"\r\n\r\n--" + BOUNDARY.encode() + b"x\r", os.urandom(5000), b"\n"]
    await upload(sentry, chunks[:2], gzipped=False)
    await upload(sentry, chunks[2:], gzipped=True)
    compressed = zstandard.ZstdCompressor().compress(b"zstd chunk")
    body, headers = form([("file", sha1(b"zstd chunk"), compressed)])
    await call(sentry, "POST", CHUNK_UPLOAD, data=body, headers={**headers, "Content-Encoding": "zstd"})
    org = sentry.store.organization("parlel")
    every = [*chunks, b"zstd chunk"]
    assert sentry.store.uploads.missing_chunks(org, [sha1(c) for c in every]) == []
    assert await upload(sentry, []) is None  # a form without chunks is fine
    response, body = await request_json("POST", sentry.url + CHUNK_UPLOAD, json={"not": "a form"}, headers=AUTH)
    assert response.code == 200 and body is None


@pytest_twisted.ensureDeferred
async def test_chunk_upload_refusals(sentry):
    org = sentry.store.organization("parlel")
    wrong, _ = form([("file", "0" * 40, b"not that")])
    assert await call(sentry, "POST", CHUNK_UPLOAD, 400, data=wrong, headers=form([])[1]) == {
        "error": "Checksum mismatch"}
    # a request with one bad chunk keeps none of them
    mixed, headers = form([("file", sha1(b"good"), b"good"), ("file", sha1(b"x"), b"y")])
    await call(sentry, "POST", CHUNK_UPLOAD, 400, data=mixed, headers=headers)
    assert sentry.store.uploads.missing_chunks(org, [sha1(b"good")]) == [sha1(b"good")]

    cases = [
        (form([("file_gzip", sha1(b"a"), b"not gzip")]), {}, {"error": "Invalid gzip payload"}),
        (form([("file", sha1(b"a"), b"a")]), {"Content-Encoding": "br"}, {"error": "Unsupported Content-Encoding"}),
        (form([("file_gzip", sha1(b"a"), gzip.compress(b"a"))]), {"Content-Encoding": "gzip"},
         {"error": "Cannot combine Content-Encoding with file_gzip field"}),
        (form([("file", sha1(b"%d" % i), b"%d" % i) for i in range(65)]), {}, {"error": "Too many chunks"}),
        (form([("file_gzip", "0" * 40, gzip.compress(b"\0" * (8 * 1024 * 1024 + 1)))]), {},
         {"error": "Chunk size too large"}),
    ]
    for (body, headers), extra, expected in cases:
        assert await call(sentry, "POST", CHUNK_UPLOAD, 400, data=body, headers={**headers, **extra}) == expected
    no_boundary = await call(sentry, "POST", CHUNK_UPLOAD, 400, data=b"--x\r\n",
                             headers={**AUTH, "Content-Type": "multipart/form-data"})
    assert no_boundary == {"detail": "Multipart form parse error - Invalid boundary in multipart: None"}
    body, headers = form([("file", sha1(b"abc"), b"abc")])
    cut = await call(sentry, "POST", CHUNK_UPLOAD, 400, data=body[:-len(BOUNDARY) - 8], headers=headers)
    assert cut == {"detail": "Multipart form parse error - unexpected end of multipart body"}
    assert await call(sentry, "POST", CHUNK_UPLOAD, data=b"no parts in here", headers=headers) is None


@pytest_twisted.ensureDeferred
async def test_chunk_posts_may_exceed_max_body(sentry_small_body):
    """``--max-body`` caps envelopes; chunk POSTs are allowed up to Relay's chunk-upload limit."""
    sentry = sentry_small_body
    chunk = os.urandom(200 * 1024)
    await upload(sentry, [chunk], gzipped=False)
    response, body = await request_json("POST", f"{sentry.url}/api/1/envelope/", data=b"{}\n" + b"x" * 200_000)
    assert response.code == 413, body


# --- artifact bundles --------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_bundle_flow_listing_files_lookup_and_downloads(sentry):
    data = bundle_bytes(debug_id=DEBUG_ID)
    chunks = split(data, 512)
    first = await assemble_bundle(sentry, data, chunks)
    assert first == {"state": "not_found", "missingChunks": [sha1(c) for c in chunks]}
    await upload(sentry, chunks[:1], gzipped=False)
    second = await assemble_bundle(sentry, data, chunks)
    assert second["missingChunks"] == [sha1(c) for c in chunks[1:]]
    await upload(sentry, chunks[1:])
    assert await assemble_bundle(sentry, data, chunks) == {"state": "ok", "missingChunks": [], "detail": None}
    assert await assemble_bundle(sentry, data, chunks) == {"state": "ok", "missingChunks": [], "detail": None}

    (listed,) = await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/")
    assert listed["bundleId"] == DEBUG_ID and listed["fileCount"] == 2 and listed["associations"] == []
    assert listed["date"].endswith("Z") and len(listed["date"]) == 20
    files = await call(sentry, "GET", f"{PROJECT}/artifact-bundles/{DEBUG_ID}/files/")
    assert {k: files[k] for k in ("bundleId", "fileCount", "associations")} == {
        "bundleId": DEBUG_ID, "fileCount": 2, "associations": []}
    minified, source_map = files["files"]
    assert minified == {"id": base64.urlsafe_b64encode(b"files/_/_/app.min.js").decode(), "fileType": 2,
                        "filePath": "~/app.min.js", "fileSize": len(MINIFIED), "debugId": DEBUG_ID,
                        "sourcemap": "app.min.js.map"}
    assert (source_map["fileType"], source_map["filePath"], source_map["sourcemap"]) == (3, "~/app.min.js.map", None)
    only_map = await call(sentry, "GET", f"{PROJECT}/artifact-bundles/{DEBUG_ID}/files/?query=.map")
    assert [f["filePath"] for f in only_map["files"]] == ["~/app.min.js.map"]
    by_id = await call(sentry, "GET", f"{PROJECT}/artifact-bundles/{DEBUG_ID}/files/?query={DEBUG_ID.replace('-', '')}")
    assert len(by_id["files"]) == 2

    url = f"{sentry.url}{PROJECT}/artifact-bundles/{DEBUG_ID}/files/{minified['id']}/"
    response = await treq.get(url, headers=AUTH)
    assert response.code == 200 and await response.content() == MINIFIED
    assert response.headers.getRawHeaders("content-disposition") == ['attachment; filename="app.min.js"']

    found = await call(sentry, "GET", f"{PROJECT}/artifact-lookup/?debug_id={DEBUG_ID.replace('-', '').upper()}")
    assert [(f["type"], f["resolved_with"]) for f in found] == [("bundle", "debug-id")]
    assert found[0]["url"].startswith(f"{sentry.url}{PROJECT}/artifact-lookup/?download=artifact_bundle/")
    response = await treq.get(found[0]["url"], headers=AUTH)
    assert response.code == 200 and await response.content() == data
    assert await call(sentry, "GET", f"{PROJECT}/artifact-lookup/?debug_id=00000000-0000-0000-0000-000000000000") == []
    await call(sentry, "GET", f"{PROJECT}/artifact-lookup/?download=artifact_bundle/999", 404)


@pytest_twisted.ensureDeferred
async def test_bundle_with_release_reupload_and_delete(sentry):
    data = bundle_bytes(debug_id=DEBUG_ID)
    assert (await upload_bundle(sentry, data, version="1.2.3", dist="web"))["state"] == "ok"
    (listed,) = await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/?query=1.2")
    assert listed["associations"] == [{"release": "1.2.3", "dist": "web"}]
    assert await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/?query=nomatch") == []
    found = await call(sentry, "GET", f"{PROJECT}/artifact-lookup/?release=1.2.3&dist=web&url=app.min.js")
    assert [f["resolved_with"] for f in found] == ["release"]
    # a second upload of the same bundle id (other bytes) replaces the first and adds its release
    again = bundle_bytes(debug_id=DEBUG_ID, release="2.0")
    assert (await upload_bundle(sentry, again))["state"] == "ok"
    (listed,) = await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/")
    assert listed["associations"] == [{"release": "2.0", "dist": None}, {"release": "1.2.3", "dist": "web"}]
    assert sentry.store.uploads.bundles[0].data == again
    page = await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/?sortBy=date_added")
    assert len(page) == 1
    assert await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/?sortBy=name", 400) == {"detail": {
        "code": "invalid_sort_by_parameter", "message": "You can either sort via 'date_added' or '-date_added'",
        "extra": {}}}

    assert await call(sentry, "DELETE", f"{PROJECT}/files/artifact-bundles/", 404) == {
        "error": "Supplied an invalid bundle_id None"}
    await call(sentry, "DELETE", f"{PROJECT}/files/artifact-bundles/?bundleId={DEBUG_ID}", 204)
    assert await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/") == []
    await call(sentry, "DELETE", f"{PROJECT}/files/artifact-bundles/?bundleId={DEBUG_ID}", 204)  # as Sentry
    missing = await call(sentry, "GET", f"{PROJECT}/artifact-bundles/{DEBUG_ID}/files/", 400)
    assert missing == {"error": f"The artifact bundle with {DEBUG_ID} is not bound to this project or doesn't exist"}


@pytest_twisted.ensureDeferred
async def test_bundle_assemble_errors(sentry):
    async def outcome(data: bytes, chunks: list[bytes] | None = None, **extra: Any) -> Any:
        chunks = chunks if chunks is not None else [data]
        await upload(sentry, chunks)
        return await assemble_bundle(sentry, data, chunks, **extra)

    # the chunks do not add up to the checksum
    wrong = await call(sentry, "POST", BUNDLE_ASSEMBLE, json={"checksum": sha1(b"other"), "chunks": [sha1(b"abc")],
                                                             "projects": ["hello-world"]})
    assert wrong["state"] == "not_found"
    await upload(sentry, [b"abc"])
    assert await call(sentry, "POST", BUNDLE_ASSEMBLE, json={
        "checksum": sha1(b"other"), "chunks": [sha1(b"abc")], "projects": ["hello-world"]}) == {
        "state": "error", "missingChunks": [], "detail": "Reported checksum mismatch"}
    assert await outcome(b"SYSB\x02\x00\x00\x00not a zip") == {
        "state": "error", "missingChunks": [], "detail": "the bundle is invalid"}
    plain = {"files/_/_/a.js": (b"a", {"type": "source", "url": "~/a.js"})}
    assert (await outcome(bundle_bytes(plain)))["detail"] == (
        "uploading a bundle without debug ids or release is prohibited")
    assert (await outcome(bundle_bytes(plain, release="9.9")))["state"] == "ok"
    assert (await outcome(bundle_bytes({})))["state"] == "ok"  # empty: discarded, as Sentry does
    assert len(await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/")) == 1
    data = bundle_bytes(debug_id="1" * 32)
    await upload(sentry, [data])
    assert await assemble_bundle(sentry, data, [data], 400, dist="x") == {
        "error": "You need to specify a release together with a dist"}


@pytest_twisted.ensureDeferred
async def test_bundle_assemble_bad_bodies(sentry):
    def post(**kwargs: Any) -> Any:
        return call(sentry, "POST", BUNDLE_ASSEMBLE, 400, **kwargs)

    good = {"checksum": "a" * 40, "chunks": ["a" * 40], "projects": ["hello-world"]}
    invalid = {"error": "Invalid json body"}
    assert await post(data=b"{nope", headers={**AUTH, "Content-Type": "application/json"}) == invalid
    assert await post(data=b"", headers=AUTH) == invalid
    assert await post(json=[1]) == {"error": "[1] is not of type 'object'"}
    assert await post(json={"chunks": [], "projects": []}) == {"error": "'checksum' is a required property"}
    assert await post(json={**good, "name": "x"}) == {
        "error": "Additional properties are not allowed ('name' was unexpected)"}
    assert await post(json={**good, "checksum": "xyz"}) == {
        "error": "The checksum field is required and must be a 40-character hexadecimal string."}
    assert await post(json={**good, "chunks": ["nope"]}) == {"error": "The chunks field is required and must be "
                                                           "provided as an array of 40-character hexadecimal strings."}
    assert await post(json={**good, "projects": "hello-world"}) == {
        "error": "The projects field is required and must be provided as an array of strings."}
    assert await post(json={**good, "version": "a/b"}) == {
        "error": 'The version field cannot be empty and cannot contain any "/" characters.'}
    assert await post(json={**good, "dist": 5}) == {"error": "The dist field must be a string."}
    assert await post(json={**good, "projects": []}) == {"error": "You need to specify at least one project"}
    assert await post(json={**good, "projects": ["nosuch"]}) == {"error": "One or more projects are invalid"}
    ok = await call(sentry, "POST", BUNDLE_ASSEMBLE, json={**good, "projects": ["1"]})  # by id
    assert ok["state"] == "not_found"
    # Sentry reads the names as a set: one named twice is one project
    twice = await call(sentry, "POST", BUNDLE_ASSEMBLE, json={**good, "projects": ["hello-world", "hello-world"]})
    assert twice["state"] == "not_found"


# --- debug files -------------------------------------------------------------------------------


def elf_fixture(tmp_path: Path) -> bytes:
    """``/bin/true``, an ELF on every Linux, copied as the upload fixture."""
    target = tmp_path / "true"
    shutil.copy("/bin/true", target)
    return target.read_bytes()


@pytest_twisted.ensureDeferred
async def test_dif_flow_list_download_delete(sentry, tmp_path, schema):  # noqa: F811
    data = elf_fixture(tmp_path)
    checksum = sha1(data)
    chunks = split(data, 4096)
    request = {checksum: {"name": "true", "debug_id": None, "chunks": [sha1(c) for c in chunks]}}
    del request[checksum]["debug_id"]
    first = await call(sentry, "POST", DIF_ASSEMBLE, json=request)
    assert first == {checksum: {"state": "not_found", "missingChunks": [sha1(c) for c in chunks]}}
    await upload(sentry, chunks)
    done = (await call(sentry, "POST", DIF_ASSEMBLE, json=request))[checksum]
    assert (done["state"], done["missingChunks"], done["detail"]) == ("ok", [], None)
    dif = done["dif"]
    assert dif["objectName"] == "true" and dif["cpuName"] == "x86_64" and dif["symbolType"] == "elf"
    assert dif["data"]["type"] in ("exe", "lib") and "symtab" in dif["data"]["features"]
    assert dif["sha1"] == checksum and dif["size"] == len(data)
    assert dif["headers"] == {"Content-Type": "application/x-elf-binary"}
    assert dif["uuid"] == dif["debugId"] and len(dif["debugId"]) == 36
    # asked again (and again with no chunks: a poll), the stored file answers
    assert (await call(sentry, "POST", DIF_ASSEMBLE, json=request))[checksum]["dif"] == dif
    assert (await call(sentry, "POST", DIF_ASSEMBLE, json={checksum: {"name": "true", "chunks": []}}))[checksum][
        "state"] == "ok"

    listed = await call(sentry, "GET", f"{PROJECT}/files/dsyms/")
    assert listed == [dif]
    check(schema, f"{SCHEMA_PROJECT}/files/dsyms/", "get", listed)
    assert await call(sentry, "GET", f"{PROJECT}/files/dsyms/?query={dif['debugId'].replace('-', '')}") == [dif]
    assert await call(sentry, "GET", f"{PROJECT}/files/dsyms/?query=elf") == [dif]
    assert await call(sentry, "GET", f"{PROJECT}/files/dsyms/?code_id={dif['codeId']}") == [dif]
    assert await call(sentry, "GET", f"{PROJECT}/files/dsyms/?query=nothing-like-it") == []
    response = await treq.get(f"{sentry.url}{PROJECT}/files/dsyms/?id={dif['id']}", headers=AUTH)
    assert response.code == 200 and await response.content() == data
    assert response.headers.getRawHeaders("content-disposition") == [f'attachment; filename="{dif["debugId"]}.debug"']
    await call(sentry, "GET", f"{PROJECT}/files/dsyms/?id=999", 404)

    await call(sentry, "DELETE", f"{PROJECT}/files/dsyms/?id={dif['id']}", 204)
    assert await call(sentry, "GET", f"{PROJECT}/files/dsyms/") == []
    response = await treq.delete(f"{sentry.url}{PROJECT}/files/dsyms/?id={dif['id']}", headers=AUTH)
    assert response.code == 404 and await response.content() == b""


@pytest_twisted.ensureDeferred
async def test_dif_that_is_no_debug_file(sentry):
    data = b"just some text, not an object file\n"
    await upload(sentry, [data])
    request = {sha1(data): {"name": "notes.txt", "chunks": [sha1(data)]}}
    answer = (await call(sentry, "POST", DIF_ASSEMBLE, json=request))[sha1(data)]
    assert answer == {"state": "error", "missingChunks": [],
                      "detail": "Unsupported debug information file: unsupported object file format"}
    broken = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + b"\xff" * 40
    await upload(sentry, [broken])
    answer = (await call(sentry, "POST", DIF_ASSEMBLE, json={sha1(broken): {"name": "x", "chunks": [sha1(broken)]}}))
    assert answer[sha1(broken)]["detail"] == "Invalid debug information file: invalid ELF file"
    assert await call(sentry, "GET", f"{PROJECT}/files/dsyms/") == []


@pytest_twisted.ensureDeferred
async def test_dif_assemble_bad_bodies(sentry):
    def post(body: Any) -> Any:
        return call(sentry, "POST", DIF_ASSEMBLE, 400, json=body)

    key = "b" * 40
    assert await call(sentry, "POST", DIF_ASSEMBLE, 400, data=b"[", headers=AUTH) == {"error": "Invalid json body"}
    assert await post([]) == {"error": "[] is not of type 'object'"}
    assert await post({"short": {}}) == {"error": "'short' does not match any of the regexes: '^[0-9a-f]{40}$'"}
    assert await post({key: []}) == {"error": "[] is not of type 'object'"}
    assert await post({key: {"chunks": []}}) == {"error": "'name' is a required property"}
    assert await post({key: {"name": 1, "chunks": []}}) == {"error": "1 is not of type 'string'"}
    assert await post({key: {"name": "a", "chunks": "x"}}) == {"error": "'x' is not of type 'array'"}
    assert await post({key: {"name": "a", "chunks": ["x"]}}) == {"error": "'x' does not match '^[0-9a-f]{40}$'"}
    assert await call(sentry, "POST", DIF_ASSEMBLE, json={}) == {}


# --- scopes --------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_scopes(sentry, tmp_path):
    reader = token(sentry, "event:read")
    for method, path in (("GET", CHUNK_UPLOAD), ("POST", CHUNK_UPLOAD), ("POST", BUNDLE_ASSEMBLE),
                         ("POST", DIF_ASSEMBLE), ("GET", f"{PROJECT}/files/dsyms/"),
                         ("GET", f"{PROJECT}/files/artifact-bundles/"), ("GET", f"{PROJECT}/artifact-lookup/")):
        response, body = await request_json(method, sentry.url + path, headers=reader)
        assert (response.code, body) == (403, {"detail": "You do not have permission to perform this action."}), path
    response, _ = await request_json("GET", sentry.url + CHUNK_UPLOAD)
    assert response.code == 401
    releases = token(sentry, "project:releases")
    await call(sentry, "GET", CHUNK_UPLOAD, headers=releases)
    await call(sentry, "POST", BUNDLE_ASSEMBLE, headers=releases, json={
        "checksum": "c" * 40, "chunks": [], "projects": ["hello-world"]})

    data = elf_fixture(tmp_path)
    await upload(sentry, [data])
    answer = await call(sentry, "POST", DIF_ASSEMBLE, json={sha1(data): {"name": "true", "chunks": [sha1(data)]}})
    dif_id = answer[sha1(data)]["dif"]["id"]
    # deleting needs project:write too; without it Sentry answers a bare 404
    response = await treq.delete(f"{sentry.url}{PROJECT}/files/dsyms/?id={dif_id}", headers=releases)
    assert response.code == 404 and await response.content() == b""
    # an org auth token acts for no user: it lists, but may not download
    org_token = token(sentry, "org:ci", org=sentry.store.organization("parlel"))
    assert len(await call(sentry, "GET", f"{PROJECT}/files/dsyms/", headers=org_token)) == 1
    response = await treq.get(f"{sentry.url}{PROJECT}/files/dsyms/?id={dif_id}", headers=org_token)
    assert response.code == 403


# --- the real sentry-cli -------------------------------------------------------------------------


def _sources(folder: Path) -> Path:
    folder.mkdir()
    (folder / "app.min.js").write_text(
        'function hello(){throw new Error("boom")}\n//# sourceMappingURL=app.min.js.map\n')
    (folder / "app.min.js.map").write_text(
        '{"version":3,"file":"app.min.js","sources":["app.js"],"sourcesContent":["throw new Error(\\"boom\\")"],'
        '"names":[],"mappings":"AAAA"}')
    return folder


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_sourcemaps_inject_and_upload(sentry, tmp_path):
    folder = _sources(tmp_path / "dist")
    injected = await run_cli(sentry, tmp_path, "sourcemaps", "inject", str(folder))
    assert injected.returncode == 0, _output(injected)
    debug_id = re.search(r"debugId=([0-9a-f-]{36})", (folder / "app.min.js").read_text()).group(1)
    done = await run_cli(sentry, tmp_path, "sourcemaps", "upload", "--wait", str(folder))
    assert done.returncode == 0, _output(done)

    (listed,) = await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/")
    assert listed["fileCount"] == 2 and listed["associations"] == []
    files = (await call(sentry, "GET", f"{PROJECT}/artifact-bundles/{listed['bundleId']}/files/"))["files"]
    assert {(f["filePath"], f["fileType"], f["debugId"]) for f in files} == {
        ("~/app.min.js", 2, debug_id), ("~/app.min.js.map", 3, debug_id)}
    found = await call(sentry, "GET", f"{PROJECT}/artifact-lookup/?debug_id={debug_id}")
    assert [f["resolved_with"] for f in found] == ["debug-id"]

    released = await run_cli(sentry, tmp_path, "sourcemaps", "upload", "--release", "1.2.3", "--wait", str(folder))
    assert released.returncode == 0, _output(released)
    bundles = await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/?query=1.2.3")
    assert [b["associations"] for b in bundles] == [[{"release": "1.2.3", "dist": None}]]


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_sourcemaps_upload_with_release_only(sentry, tmp_path):
    """Without injected debug ids a bundle is indexed by its release alone."""
    folder = _sources(tmp_path / "plain")
    done = await run_cli(sentry, tmp_path, "sourcemaps", "upload", "--release", "1.2.3", "--wait", str(folder))
    assert done.returncode == 0, _output(done)
    (listed,) = await call(sentry, "GET", f"{PROJECT}/files/artifact-bundles/")
    assert listed["associations"] == [{"release": "1.2.3", "dist": None}]
    found = await call(sentry, "GET", f"{PROJECT}/artifact-lookup/?release=1.2.3&url=app.min.js")
    assert [f["resolved_with"] for f in found] == ["release"]


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_debug_files_upload(sentry, tmp_path):
    folder = tmp_path / "symbols"
    folder.mkdir()
    data = elf_fixture(folder)
    done = await run_cli(sentry, tmp_path, "debug-files", "upload", "--wait", str(folder))
    assert done.returncode == 0, _output(done)
    (dif,) = await call(sentry, "GET", f"{PROJECT}/files/dsyms/")
    assert dif["sha1"] == sha1(data) and dif["objectName"] == "true" and dif["cpuName"] == "x86_64"
    assert dif["debugId"] in _output(done)
    again = await run_cli(sentry, tmp_path, "debug-files", "upload", "--wait", str(folder))
    assert again.returncode == 0, _output(again)
    assert len(await call(sentry, "GET", f"{PROJECT}/files/dsyms/")) == 1
