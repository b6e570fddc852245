"""The journal of near misses (``GET /__parlel/journal``) over real HTTP: every ingest request that
stored nothing or lost some of what it carried, with the request, the answer and Relay's cause."""

from __future__ import annotations

import gzip
import json
import uuid
from typing import Any

import pytest_twisted

from conftest import AUTH, request_json
from sentry_daemon.testing import start_sentry

SENTRY_AUTH = "Sentry sentry_key=parlel, sentry_version=7, sentry_client=sentry.python/2.75.0"


async def journal(sentry: Any, query: str = "") -> list[dict[str, Any]]:
    response, body = await request_json("GET", f"{sentry.url}/__parlel/journal{query}")
    assert response.code == 200, body
    assert body["count"] == len(body["journal"])
    return body["journal"]


async def post(sentry: Any, path: str, body: bytes, **headers: str) -> Any:
    response, answer = await request_json("POST", sentry.url + path, data=body, headers=headers)
    return response.code, answer


@pytest_twisted.async_yield_fixture()
async def small() -> Any:
    """A daemon with a 2 KiB body limit and room for three near misses."""
    running = await start_sentry(max_body=2048, journal_size=3)
    yield running
    await running.stop()


@pytest_twisted.ensureDeferred
async def test_an_invalid_envelope_is_journaled_with_its_request_and_first_bytes(sentry):
    body = b'{"event_id": "nope"}\n{"type": "event"}\n{}\n'
    status, answer = await post(sentry, "/api/1/envelope/", body, **{
        "X-Sentry-Auth": SENTRY_AUTH, "User-Agent": "sentry.python/2.75.0", "Content-Type": "text/plain"})
    assert status == 400
    (entry,) = await journal(sentry)
    assert entry == {
        "id": entry["id"], "received": entry["received"], "endpoint": "envelope", "method": "POST",
        "path": "/api/1/envelope/", "project": 1, "org": "parlel", "remote_addr": "127.0.0.1",
        "client": "sentry.python/2.75.0", "user_agent": "sentry.python/2.75.0", "auth": "x-sentry-auth",
        "content_type": "text/plain", "content_encoding": None, "status": 400,
        "cause": "invalid event envelope: " + "; ".join(answer["causes"]), "detail": "invalid event envelope",
        "fault": None, "dropped": [], "item": None, "envelope": None, "body": body.decode(),
        "body_size": len(body),
    }
    assert entry["received"].endswith("Z")


@pytest_twisted.ensureDeferred
async def test_strict_ingest_says_which_rule_refused_the_key(strict_sentry):
    sentry = strict_sentry
    event = json.dumps({"message": "hi"}).encode()
    assert (await post(sentry, "/api/1/store/", event))[0] == 401
    assert (await post(sentry, "/api/9/store/", event, **{"X-Sentry-Auth": SENTRY_AUTH}))[0] == 403
    assert (await post(sentry, "/api/1/store/?sentry_key=" + "f" * 32, event))[0] == 403

    _, made = await request_json("POST", f"{sentry.url}/api/0/teams/parlel/parlel/projects/", headers=AUTH,
                                 json={"name": "two"})
    other_key = (await request_json("GET", f"{sentry.url}/api/0/projects/parlel/two/keys/", headers=AUTH))[1][0]
    assert (await post(sentry, "/api/1/store/?sentry_key=" + other_key["public"], event))[0] == 403
    await request_json("PUT", f"{sentry.url}/api/0/projects/parlel/two/keys/{other_key['id']}/", headers=AUTH,
                       json={"isActive": False})
    assert (await post(sentry, f"/api/{made['id']}/store/?sentry_key={other_key['public']}", event))[0] == 403

    entries = await journal(sentry)
    assert [(e["status"], e["cause"]) for e in entries] == [
        (401, "missing authorization information"),
        (403, "unknown project 9"),
        (403, f"unknown key {'f' * 32}"),
        (403, f"key {other_key['public']} of another project ({made['id']})"),
        (403, f"disabled key {other_key['public']}"),
    ]
    assert {e["detail"] for e in entries[1:]} == {"event submission rejected with_reason: ProjectId"}
    assert [e["auth"] for e in entries] == [None, "x-sentry-auth", "query", "query", "query"]
    assert entries[1]["org"] is None and entries[1]["project"] == 9  # no such project: no organization
    assert [e["id"] for e in await journal(sentry, "?project=9")] == [entries[1]["id"]]


@pytest_twisted.ensureDeferred
async def test_encodings_content_types_and_binary_bodies(sentry):
    assert (await post(sentry, "/api/1/envelope/", b"{}\n", **{"Content-Encoding": "lz4"}))[0] == 415
    assert (await post(sentry, "/api/1/security/", b"{}", **{"Content-Type": "text/plain"}))[0] == 415
    garbled = gzip.compress(b"not an envelope")[:12]
    assert (await post(sentry, "/api/1/envelope/", garbled, **{"Content-Encoding": "gzip"}))[0] == 400

    unsupported, wrong_type, truncated = await journal(sentry)
    assert unsupported["cause"].startswith("unsupported content encoding 'lz4'")
    assert unsupported["content_encoding"] == "lz4" and unsupported["status"] == 415
    assert (wrong_type["endpoint"], wrong_type["cause"]) == ("security", "unsupported content type 'text/plain'")
    assert truncated["body"].startswith("\\x1f\\x8b")  # what is not UTF-8 is shown escaped
    assert truncated["body_size"] == 12 and truncated["cause"].startswith("invalid request body")


@pytest_twisted.ensureDeferred
async def test_an_item_kept_with_its_error_is_a_near_miss_of_a_200(sentry):
    body = b'{}\n{"type": "event"}\n{"message": "fine"}\n{"type": "log", "length": 5}\n{nope\n'
    status, _ = await post(sentry, "/api/1/envelope/", body)
    assert status == 200
    (entry,) = await journal(sentry)
    (stored,) = (await request_json("GET", f"{sentry.url}/__parlel/envelopes"))[1]["envelopes"]
    assert entry["status"] == 200 and entry["envelope"] == stored["id"]
    assert entry["item"]["type"] == "log" and entry["item"]["error"].startswith("invalid JSON")
    assert entry["cause"] == f"invalid item kept with its error: log: {entry['item']['error']}"
    assert entry["body"] == body.decode()


@pytest_twisted.ensureDeferred
async def test_a_body_over_the_limit_is_journaled_without_its_body_and_the_journal_is_bounded(small):
    status, answer = await post(small, "/api/1/envelope/", b"x" * 5000)
    assert status == 413
    (entry,) = await journal(small)
    assert entry["status"] == 413 and entry["detail"] == answer["detail"]
    assert entry["cause"] == f"payload too large: {answer['detail']}"
    assert entry["body"] == "" and entry["body_size"] == 5000  # never buffered
    assert (await post(small, "/__parlel/nothing", b"x" * 5000))[0] == 413  # not ingest: not journaled

    for n in range(4):
        await post(small, f"/api/1/envelope/?n={n}", b"not an envelope")
    entries = await journal(small)
    assert len(entries) == 3 and [e["id"] for e in entries] == sorted(e["id"] for e in entries)  # newest last
    assert entries[-1]["id"] == entry["id"] + 4


@pytest_twisted.ensureDeferred
async def test_lists_by_project_tenant_and_org_and_a_reset_empties_it(sentry):
    _, tenant = await request_json("POST", f"{sentry.url}/__parlel/tenants", json={})
    await post(sentry, f"/api/{tenant['project_id']}/envelope/", b"bad")
    await post(sentry, "/api/1/envelope/", b"bad")
    await post(sentry, "/api/1/cron/my-job/parlel/", b"", **{"Content-Type": "application/json"})
    assert [e["project"] for e in await journal(sentry, f"?tenant={tenant['id']}")] == [tenant["project_id"]]
    assert [e["project"] for e in await journal(sentry, f"?org={tenant['org']}")] == [tenant["project_id"]]
    ours = await journal(sentry, "?project=1")
    assert [(e["endpoint"], e["auth"]) for e in ours] == [("envelope", None), ("cron", "path")]
    assert ours[1]["cause"] == "invalid check-in status None"
    assert (await request_json("GET", f"{sentry.url}/__parlel/journal?tenant=nope"))[0].code == 404
    await request_json("POST", f"{sentry.url}/__parlel/reset")
    assert await journal(sentry) == []


@pytest_twisted.ensureDeferred
async def test_what_was_stored_whole_is_no_near_miss(sentry):
    event_id = uuid.uuid4().hex
    assert (await post(sentry, "/api/1/envelope/", json.dumps({"event_id": event_id}).encode() + b"\n"
                       + b'{"type": "event"}\n{"message": "ok"}\n'))[0] == 200
    assert (await post(sentry, "/api/1/store/", b'{"message": "ok"}'))[0] == 200
    assert await journal(sentry) == []
