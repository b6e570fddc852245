"""Every web-API route, every method, fed bodies and arguments no client should send: never a 500,
never a body that is not JSON, and what was stored before is still there afterwards."""

from __future__ import annotations

import json
from typing import Any

import pytest_twisted

from conftest import AUTH, request_json
from issue_helpers import error_event, send
from test_api_scopes import fill, guarded_routes

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
    event_id = await send(sentry, error_event())
    issue_id = str(sentry.store.event(event_id).group_id)
    values = {"org": "parlel", "project": "hello-world", "team": "parlel", "issue_id": issue_id,
              "event_id": event_id, "short_id": "HELLO-WORLD-1", "key": "level", "key_id": "parlel"}
    failures: list[str] = []

    async def probe(method: str, path: str, raw_ok: bool = False, **kwargs: Any) -> None:
        response, body = await request_json(method, sentry.url + path, **kwargs)
        ctype = (response.headers.getRawHeaders("content-type") or [""])[0]
        if response.code >= 500 or (body not in (None, b"") and not ctype.startswith("application/json")
                                    and not raw_ok):
            failures.append(f"{method} {path} {kwargs.get('data', '')!r:.60}: {response.code} {body!r:.200}")

    routes = [(rule, method) for rule, method, _ in guarded_routes() if method != "DELETE"]
    for rule, method in routes:
        path = fill(rule, values)
        await probe(method, path + ARGS, headers=AUTH, raw_ok=True)
        if method == "GET":
            continue
        for data, ctype in BODIES:
            await probe(method, path, headers={**AUTH, "Content-Type": ctype}, data=data)
        for wrong in WRONG:
            await probe(method, path, headers={**AUTH, "Content-Type": "application/json"},
                        data=json.dumps({f: wrong for f in FIELDS}).encode())
            await probe(method, path, headers={**AUTH, "Content-Type": "application/json"},
                        data=json.dumps({"refs": [{"repository": wrong, "commit": wrong}],
                                         "commits": [{"id": wrong, "repository": wrong, "patch_set": wrong}],
                                         "statusDetails": {"inRelease": wrong, "ignoreCount": wrong},
                                         "rateLimit": {"count": wrong, "window": wrong},
                                         "chunks": [wrong], "checksum": "a" * 40}).encode())
    assert failures == [], '\n'.join(failures)
    # nothing stored before was lost
    assert sentry.store.event(event_id) is not None
    response, body = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert event_id in [e["event_id"] for e in body["events"]]
