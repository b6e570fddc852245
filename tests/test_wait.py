"""Waiting without sleeps over real HTTP: ``GET /__parlel/wait`` answers as soon as enough matching
records exist (``200``, the list's shape) or at its timeout (``408`` with what matched), holds no
thread, and many waiters are fired by one send; ``RunningSentry.wait_for`` is the same in Python."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any
from urllib.parse import quote

import pytest
import pytest_twisted
import treq
from twisted.internet.defer import gatherResults

from conftest import AUTH, eventually, request_json
from issue_helpers import error_event, send
from sentry_daemon.testing import WaitTimeout, start_sentry

WAIT = "/__parlel/wait"


def envelope(*items: tuple[dict[str, Any], dict[str, Any]], event_id: str | None = None) -> bytes:
    header = {"event_id": event_id} if event_id else {}
    lines = [json.dumps(header)]
    for item_header, payload in items:
        lines += [json.dumps(item_header), json.dumps(payload)]
    return ("\n".join(lines) + "\n").encode()


async def post_envelope(sentry: Any, body: bytes, project: int = 1) -> None:
    response, answer = await request_json("POST", f"{sentry.url}/api/{project}/envelope/", data=body,
                                          headers={"Content-Type": "application/x-sentry-envelope"})
    assert response.code == 200, answer


def transaction() -> dict[str, Any]:
    now = time.time()
    return {"event_id": uuid.uuid4().hex, "type": "transaction", "transaction": "/checkout",
            "start_timestamp": now - 1, "timestamp": now, "release": "shop@2", "environment": "staging",
            "contexts": {"trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16], "op": "http"}},
            "spans": []}


@pytest_twisted.ensureDeferred
async def test_enough_records_already_there_answer_at_once(sentry: Any) -> None:
    event_id = await send(sentry, error_event())
    response, body = await request_json("GET", f"{sentry.url}{WAIT}?for=events&count=1")
    assert response.code == 200
    assert body["count"] == 1 and [e["event_id"] for e in body["events"]] == [event_id]
    response, listed = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert body == listed  # the list's shape, exactly


@pytest_twisted.ensureDeferred
async def test_a_waiter_answers_when_a_matching_event_arrives(sentry: Any) -> None:
    started = time.monotonic()
    waiting = treq.get(f"{sentry.url}{WAIT}?for=events&count=2&timeout=20&query={quote('level:error')}")
    await eventually(lambda: sentry.service.control.waiters.pending == 1)
    await send(sentry, error_event(level="info", value="not an error"))
    first = await send(sentry, error_event(value="one"))
    assert sentry.service.control.waiters.pending == 1
    second = await send(sentry, error_event(value="two", function="other"))
    response = await waiting
    body = await response.json()
    assert response.code == 200 and time.monotonic() - started < 10
    assert [e["event_id"] for e in body["events"]] == [first, second] and body["count"] == 2
    assert sentry.service.control.waiters.pending == 0


@pytest_twisted.ensureDeferred
async def test_a_timed_out_waiter_is_408_with_what_matched(sentry: Any) -> None:
    event_id = await send(sentry, error_event())
    started = time.monotonic()
    response, body = await request_json("GET", f"{sentry.url}{WAIT}?for=events&count=3&timeout=0.3")
    assert response.code == 408 and 0.25 < time.monotonic() - started < 5
    assert body["count"] == 1 and [e["event_id"] for e in body["events"]] == [event_id]
    assert "timed out" in body["detail"]
    response, body = await request_json("GET", f"{sentry.url}{WAIT}?for=issues&query=is:resolved&timeout=0")
    assert response.code == 408 and body["count"] == 0 and body["issues"] == []


@pytest_twisted.ensureDeferred
async def test_two_hundred_waiters_are_fired_by_one_send(sentry: Any) -> None:
    tenant = await sentry.create_tenant()
    other = await sentry.create_tenant()
    waiting = [treq.get(f"{sentry.url}{WAIT}?for=events&tenant={tenant.id}&timeout=30") for _ in range(200)]
    waiters = sentry.service.control.waiters
    await eventually(lambda: waiters.pending == 200, timeout=20)
    await send(sentry, error_event(), project=other.project_id)  # another tenant's: nobody answers
    # the other tenant's own waiter is answered by that send, so the store has offered it to all
    response, seen = await request_json("GET", f"{sentry.url}{WAIT}?for=events&tenant={other.id}&timeout=5")
    assert response.code == 200 and seen["count"] == 1
    assert waiters.pending == 200
    event_id = await send(sentry, error_event(), project=tenant.project_id)
    responses = await gatherResults(waiting)
    bodies = await gatherResults([r.json() for r in responses])
    assert {r.code for r in responses} == {200}
    assert all([e["event_id"] for e in b["events"]] == [event_id] for b in bodies)
    assert waiters.pending == 0


@pytest_twisted.ensureDeferred
async def test_a_client_that_goes_away_cancels_its_waiter(sentry: Any) -> None:
    waiters = sentry.service.control.waiters
    waiting = treq.get(f"{sentry.url}{WAIT}?for=events&timeout=30")
    await eventually(lambda: waiters.pending == 1)
    waiting.cancel()
    waiting.addErrback(lambda _: None)
    await eventually(lambda: waiters.pending == 0)
    await send(sentry, error_event())  # nobody left to answer: nothing breaks


@pytest_twisted.ensureDeferred
async def test_every_kind_of_record_can_be_waited_for(sentry: Any) -> None:
    base = f"{sentry.url}{WAIT}?timeout=20"
    waits = {
        "transactions": treq.get(f"{base}&for=transactions&release=shop@2&environment=staging"),
        "items": treq.get(f"{base}&for=items&type=check_in"),
        "envelopes": treq.get(f"{base}&for=envelopes&project=1&count=2"),
        "check_ins": treq.get(f"{base}&for=check_ins&status=ok&monitor=nightly"),
        "outcomes": treq.get(f"{base}&for=outcomes&category=transaction&outcome=accepted"),
        "issues": treq.get(f"{base}&for=issues&query={quote('is:resolved')}"),
        "attachments": treq.get(f"{base}&for=attachments"),
    }
    await eventually(lambda: sentry.service.control.waiters.pending == len(waits))
    check_in_id = uuid.uuid4().hex
    await post_envelope(sentry, envelope(({"type": "transaction"}, transaction())))
    await post_envelope(sentry, envelope(
        ({"type": "check_in"}, {"check_in_id": check_in_id, "monitor_slug": "nightly", "status": "in_progress"})))
    assert sentry.service.control.waiters.pending == 3  # check_ins, issues, attachments
    await post_envelope(sentry, envelope(
        ({"type": "check_in"}, {"check_in_id": check_in_id, "monitor_slug": "nightly", "status": "ok"})))
    event = error_event()
    await post_envelope(sentry, envelope(({"type": "event"}, event),
                                         ({"type": "attachment", "filename": "a.txt"}, {"a": 1}),
                                         event_id=event["event_id"]))
    assert sentry.service.control.waiters.pending == 1  # the resolved issue
    issue = sentry.store.issues.by_id[sentry.store.event(event["event_id"]).group_id]
    response, _ = await request_json("PUT", f"{sentry.url}/api/0/organizations/parlel/issues/{issue.id}/",
                                     json={"status": "resolved"}, headers=AUTH)
    assert response.code == 200
    for plural, waiting in waits.items():
        response = await waiting
        body = await response.json()
        assert response.code == 200, (plural, body)
        assert body["count"] == len(body[plural]) >= 1, plural
        if plural == "check_ins":
            assert [c["status"] for c in body[plural]] == ["ok"]


@pytest.mark.parametrize("query, detail", [
    ("", "for is required"),
    ("for=spans", "invalid for"),
    ("for=events&count=0", "invalid count"),
    ("for=events&count=two", "invalid count"),
    ("for=events&timeout=61", "invalid timeout"),
    ("for=events&timeout=-1", "invalid timeout"),
    ("for=events&timeout=soon", "invalid timeout"),
    ("for=events&timeout=nan", "invalid timeout"),
    ("for=events&colour=red", "unknown filter colour"),
    ("for=envelopes&query=level:error", "unknown filter query"),
    ("for=events&project=one", "invalid project"),
    ("for=issues&query=" + quote("is:nonsense"), "Error parsing search query"),
])
@pytest_twisted.ensureDeferred
async def test_bad_values_are_400(sentry: Any, query: str, detail: str) -> None:
    response, body = await request_json("GET", f"{sentry.url}{WAIT}?{query}")
    assert response.code == 400 and detail in body["detail"], body
    assert sentry.service.control.waiters.pending == 0


@pytest_twisted.ensureDeferred
async def test_wait_for_from_python(sentry: Any) -> None:
    waiting = sentry.wait_for("events", count=2, query="level:error", timeout=20)
    await send(sentry, error_event(level="warning"))
    first = await send(sentry, error_event(value="a"))
    second = await send(sentry, error_event(value="b", function="elsewhere"))
    events = await waiting
    assert [e["event_id"] for e in events] == [first, second]
    with pytest.raises(WaitTimeout) as timed_out:
        await sentry.wait_for("events", count=5, query="level:error", timeout=0.1)
    assert timed_out.value.count == 2 and len(timed_out.value.rows) == 2


@pytest_twisted.ensureDeferred
async def test_a_stopping_daemon_answers_its_waiters() -> None:
    running = await start_sentry(drain_timeout=5)
    waiting = treq.get(f"{running.url}{WAIT}?for=events&timeout=30")
    await eventually(lambda: running.service.control.waiters.pending == 1)
    started = time.monotonic()
    stopped = running.stop()
    response = await waiting
    assert response.code == 503 and (await response.json())["count"] == 0
    await stopped
    assert time.monotonic() - started < 4


@pytest_twisted.ensureDeferred
async def test_a_missed_check_in_made_by_the_clock_fires_a_waiter() -> None:
    running = await start_sentry(clock="manual")
    try:
        config = {"schedule": {"type": "crontab", "value": "*/10 * * * *"}, "checkin_margin": 5}
        await post_envelope(running, envelope(({"type": "check_in"}, {
            "check_in_id": uuid.uuid4().hex, "monitor_slug": "every-ten", "status": "ok", "monitor_config": config})))
        waiting = treq.get(f"{running.url}{WAIT}?for=check_ins&status=missed&monitor=every-ten&timeout=20")
        await eventually(lambda: running.service.control.waiters.pending == 1)
        response, _ = await request_json("POST", f"{running.url}/__parlel/clock", json={"advance": 3600})
        assert response.code == 200
        response = await waiting
        body = await response.json()
        assert response.code == 200 and body["count"] >= 1
        assert {c["status"] for c in body["check_ins"]} == {"missed"}
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_the_record_log_numbers_what_the_store_commits(sentry: Any) -> None:
    seen: list[tuple[int, str]] = []
    unsubscribe = sentry.store.record_log.subscribe(lambda seq, kind, record: seen.append((seq, kind)))

    def broken(seq: int, kind: str, record: Any) -> None:
        raise RuntimeError("a subscriber that fails")

    sentry.store.record_log.subscribe(broken)
    event_id = await send(sentry, error_event())
    assert sentry.store.event(event_id) is not None  # the failing subscriber failed nothing
    assert [kind for _, kind in seen] == ["envelope", "item", "event", "issue", "outcome"]
    response, _ = await request_json("POST", f"{sentry.url}/__parlel/reset")
    await send(sentry, error_event())
    numbers = [seq for seq, _ in seen]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)  # across the reset too
    assert "reset" in [kind for _, kind in seen]
    unsubscribe()
    before = len(seen)
    await send(sentry, error_event())
    assert len(seen) == before
