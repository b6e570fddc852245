"""The legacy store endpoint: ids, project routing, leniency, and every bad body answered in JSON."""

from __future__ import annotations

import re

import pytest_twisted

from conftest import request_json
from sentry_daemon.testing import start_sentry


@pytest_twisted.ensureDeferred
async def test_store_answers_the_event_id(sentry):
    response, body = await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "hi"})
    assert response.code == 200
    assert re.fullmatch(r"[0-9a-f]{32}", body["id"])
    dashed = "6E2AB12D-E2D7-42C7-9A43-5A6AFC94F8B8"
    response, body = await request_json(
        "POST", f"{sentry.url}/api/1/store", json={"message": "hi", "event_id": dashed}
    )
    assert response.code == 200
    assert body == {"id": dashed.replace("-", "").lower()}


@pytest_twisted.ensureDeferred
async def test_store_is_lenient_about_keys_and_prefixes(sentry):
    cases = [
        (f"{sentry.url}/api/1/store/", {}),
        (f"{sentry.url}/api/1/store/?sentry_key=whatever&sentry_version=7", {}),
        (f"{sentry.url}/some/prefix/api/3/store/", {"X-Sentry-Auth": "Sentry sentry_key=abc, sentry_version=7"}),
    ]
    for url, headers in cases:
        response, body = await request_json("POST", url, json={"message": "x"}, headers=headers)
        assert response.code == 200, (url, body)
    _, events = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert [e["project"] for e in events["events"]] == [1, 1, 3]


@pytest_twisted.ensureDeferred
async def test_store_bad_bodies(sentry):
    url = f"{sentry.url}/api/1/store/"
    await request_json("POST", url, json={"message": "kept"})
    for data in (b"{not json", b"[1,2,3]", b'"a string"', b"\xff\xfe\x00"):
        response, body = await request_json("POST", url, data=data, headers={"Content-Type": "application/json"})
        assert response.code == 400, data
        assert isinstance(body, dict) and "detail" in body, body
    response, body = await request_json("POST", url, data=b"")
    assert response.code == 400 and body == {"detail": "empty request body"}
    response, body = await request_json("POST", f"{sentry.url}/api/abc/store/", json={})
    assert response.code == 400 and body == {"detail": "bad project path parameter"}
    response, body = await request_json("GET", url)
    assert response.code == 405 and "POST" in response.headers.getRawHeaders("allow")[0]
    _, events = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert events["count"] == 1 and events["events"][0]["logentry"]["formatted"] == "kept"


@pytest_twisted.ensureDeferred
async def test_oversize_body_is_413_and_nothing_is_lost():
    sentry = await start_sentry(max_body=10_000)
    try:
        ok, _ = await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "small"})
        assert ok.code == 200
        big = {"message": "x" * 20_000}
        response, body = await request_json("POST", f"{sentry.url}/api/1/store/", json=big)
        assert response.code == 413
        assert body == {"detail": "request body exceeds the size limit of 10000 bytes"}
        _, events = await request_json("GET", f"{sentry.url}/__parlel/events")
        assert events["count"] == 1
        response, body = await request_json("GET", f"{sentry.url}/health")
        assert response.code == 200
    finally:
        await sentry.stop()
