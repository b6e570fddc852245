"""Retention (``--max-events``, ``--max-bytes``, ``--retention-days``): the oldest go first, whole,
and issues keep their counts; ``GET /__parlel/retention`` shows the figures."""

from __future__ import annotations

import json
import uuid
from contextlib import asynccontextmanager
from typing import Any, AsyncIterator

import pytest
import pytest_twisted
from twisted.internet import task
from twisted.internet.testing import MemoryReactorClock
from twisted.python import usage

from conftest import request_json
from issue_helpers import api, error_event, send
from sentry_daemon.api.issue_events import EVENT_NOT_FOUND, NO_MATCHING_EVENT
from sentry_daemon.store.records import Event, Issue
from sentry_daemon.store.retention import DEFAULT_MAX_BYTES, DEFAULT_MAX_EVENTS, Eviction
from sentry_daemon.tap import Options, makeService
from sentry_daemon.testing import RunningSentry, start_sentry

RETENTION = "/__parlel/retention"
ORG_ISSUE = "/api/0/organizations/parlel/issues/{}/"
T0 = 1_709_294_400.0  # 2024-03-01T12:00:00Z
DAY = 86400


async def figures(sentry: Any) -> dict[str, Any]:
    response, body = await request_json("GET", sentry.url + RETENTION)
    assert response.code == 200 and response.headers.getRawHeaders("content-type") == ["application/json"]
    return body


async def listed(sentry: Any, what: str, **filters: Any) -> list[dict[str, Any]]:
    query = "&".join(f"{k}={v}" for k, v in filters.items())
    response, body = await request_json("GET", f"{sentry.url}/__parlel/{what}?{query}")
    assert response.code == 200, body
    return body[what]


def event_of(function: str, user: str, **extra: Any) -> dict[str, Any]:
    """An error event dated when it is received (the store's clock), by ``user``."""
    event = error_event(function, user={"id": user}, **extra)
    del event["timestamp"]
    return event


def envelope_with_attachment(event: dict[str, Any], attachment: bytes) -> bytes:
    def line(value: Any) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode()

    payload = line(event)
    return b"\n".join([line({"event_id": event["event_id"]}),
                       line({"type": "event", "length": len(payload)}), payload,
                       line({"type": "attachment", "filename": "log.txt", "length": len(attachment)}),
                       attachment]) + b"\n"


async def send_envelope(sentry: Any, body: bytes) -> None:
    response, answer = await request_json("POST", f"{sentry.url}/api/1/envelope/", data=body)
    assert response.code == 200, answer


def stored_payload(sentry: Any) -> int:
    """What ``stored_bytes`` counts, added up from what the store holds."""
    store = sentry.store
    return (sum(len(e.raw) for e in store.envelopes.values()) + sum(len(e.payload) for e in store.events)
            + sum(len(a.data) for a in store.attachments.values()))


@asynccontextmanager
async def running(**config: Any) -> AsyncIterator[RunningSentry]:
    """A daemon started with ``config`` (``start_sentry``'s), stopped gracefully at the end."""
    sentry = await start_sentry(**config)
    try:
        yield sentry
    finally:
        await sentry.stop()


# --- by count --------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_oldest_events_go_first_and_issues_keep_their_counts():
    async with running(max_events=50) as capped:
        evictions: list[Eviction] = []
        unsubscribe = capped.store.record_log.subscribe(
            lambda seq, kind, record: evictions.append(record) if kind == "evicted" else None)
        ids = []
        for n in range(60):
            ids.append(await send(capped, event_of("handle", f"user-{n % 7}", tags={"shard": str(n % 3)})))
            events = await listed(capped, "events")  # read-your-write: each one is there at its 200
            assert events[-1]["event_id"] == ids[-1] and len(events) == min(n + 1, 50)
        unsubscribe()
        assert [e["event_id"] for e in await listed(capped, "events")] == ids[10:]
        assert [e.event_id for eviction in evictions for e in eviction.events] == ids[:10]
        assert {eviction.reason for eviction in evictions} == {"max_events"}

        found = await api(capped, "GET", f"/api/0/organizations/parlel/eventids/{ids[-1]}/")
        issue = await api(capped, "GET", ORG_ISSUE.format(found["groupId"]))
        assert (issue["count"], issue["userCount"]) == ("60", 7)
        assert sum(count for _, count in issue["stats"]["24h"]) == 60
        shards = await api(capped, "GET", ORG_ISSUE.format(found["groupId"]) + "tags/shard/")
        assert shards["totalValues"] == 60 and sorted(v["count"] for v in shards["topValues"]) == [20, 20, 20]
        listed_issue = (await api(capped, "GET", "/api/0/projects/parlel/hello-world/issues/"))[0]
        assert (listed_issue["count"], listed_issue["userCount"]) == ("60", 7)

        events = await api(capped, "GET", ORG_ISSUE.format(found["groupId"]) + "events/?limit=100")
        assert len(events) == 50
        oldest = await api(capped, "GET", ORG_ISSUE.format(found["groupId"]) + "events/oldest/")
        latest = await api(capped, "GET", ORG_ISSUE.format(found["groupId"]) + "events/latest/")
        assert (oldest["eventID"], latest["eventID"]) == (ids[10], ids[-1])
        gone = await api(capped, "GET", ORG_ISSUE.format(found["groupId"]) + f"events/{ids[0]}/", expect=404)
        assert gone == {"detail": EVENT_NOT_FOUND}
        await api(capped, "GET", f"/api/0/projects/parlel/hello-world/events/{ids[0]}/", expect=404)
        await api(capped, "GET", f"/api/0/organizations/parlel/eventids/{ids[0]}/", expect=404)

        shown = await figures(capped)
        assert (shown["stored_events"], shown["evicted_events"]) == (50, 10)
        assert shown["stored_bytes"] == stored_payload(capped) and shown["evicted_bytes"] > 0


@pytest_twisted.ensureDeferred
async def test_a_large_cap_is_swept_a_thousandth_below_it_oldest_first():
    """At a cap of 2,000 a sweep goes down to 1,998 (``EVICTION_BATCH``), so the next two
    envelopes need none; the store never holds more than the cap."""
    async with running(max_events=2000) as capped:
        evictions: list[Eviction] = []
        unsubscribe = capped.store.record_log.subscribe(
            lambda seq, kind, record: evictions.append(record) if kind == "evicted" else None)
        ids = [uuid.uuid4().hex for _ in range(2004)]
        shown = []
        for n, event_id in enumerate(ids):
            await send(capped, {"event_id": event_id, "message": "a message"})
            if n >= 1998:
                now = await figures(capped)
                shown.append((now["stored_events"], now["evicted_events"]))
        unsubscribe()
        assert shown == [(1999, 0), (2000, 0), (1998, 3), (1999, 3), (2000, 3), (1998, 6)]
        assert [[e.event_id for e in eviction.events] for eviction in evictions] == [ids[:3], ids[3:6]]
        assert [e["event_id"] for e in await listed(capped, "events")] == ids[6:]


@pytest_twisted.ensureDeferred
async def test_an_issue_whose_events_are_all_evicted_stays_listed_with_its_counts():
    async with running(max_events=3) as sentry:
        early = [await send(sentry, event_of("early", "ann")) for _ in range(2)]
        for n in range(3):
            await send(sentry, event_of("later", f"u{n}"))
        assert not any(sentry.store.event(e) for e in early)
        issues = {i["culprit"]: i for i in await api(sentry, "GET", "/api/0/projects/parlel/hello-world/issues/")}
        emptied = issues["app.views in early"]
        assert (emptied["count"], emptied["userCount"]) == ("2", 1)
        assert sum(count for _, count in emptied["stats"]["24h"]) == 2
        assert await api(sentry, "GET", ORG_ISSUE.format(emptied["id"]) + "events/") == []
        for which in ("latest", "oldest", "recommended"):
            answer = await api(sentry, "GET", ORG_ISSUE.format(emptied["id"]) + f"events/{which}/", expect=404)
            assert answer == {"detail": NO_MATCHING_EVENT}
        assert {i["id"] for i in await listed(sentry, "issues", project=1)} == {i["id"] for i in issues.values()}
        # deleting the project takes the emptied issue too (found without events)
        await api(sentry, "DELETE", "/api/0/projects/parlel/hello-world/", expect=204)
        assert sentry.store.issues.by_id == {} and (await figures(sentry))["stored_bytes"] == stored_payload(sentry)


@pytest_twisted.ensureDeferred
async def test_a_merged_issue_loses_its_oldest_events_across_both_parents():
    async with running(max_events=4) as sentry:
        first = [await send(sentry, event_of(name, "ann")) for name in ("alpha", "beta", "alpha", "beta")]
        groups = [(await api(sentry, "GET", f"/api/0/organizations/parlel/eventids/{e}/"))["groupId"]
                  for e in first[:2]]
        await api(sentry, "PUT", f"/api/0/projects/parlel/hello-world/issues/?id={groups[0]}&id={groups[1]}",
                  json={"merge": 1})
        for _ in range(2):
            await send(sentry, event_of("gamma", "bob"))
        merged = sentry.store.issues.get(int(groups[0]))
        assert [e.event_id for e in merged.events] == first[2:] and merged.times_seen == 4


# --- what goes with an event -----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_envelopes_items_attachments_and_batches_go_with_their_events():
    async with running(max_events=2) as sentry:
        events = [event_of("handle", "ann") for _ in range(3)]
        for n, event in enumerate(events):
            await send_envelope(sentry, envelope_with_attachment(event, b"attachment %d" % n))
        attachments = await listed(sentry, "attachments")
        assert [a["event_id"] for a in attachments] == [e["event_id"] for e in events[1:]]
        assert len(await listed(sentry, "envelopes")) == 2 and len(await listed(sentry, "items")) == 4
        assert len(await listed(sentry, "envelopes", project=1)) == 2
        assert len(await listed(sentry, "items", project=1)) == 4
        gone = sentry.store.record_log.recent[-1][2]
        assert isinstance(gone, Eviction) and [e.event_id for e in gone.events] == [events[0]["event_id"]]
        response, _ = await request_json("GET", f"{sentry.url}/__parlel/envelopes/{gone.envelopes[0].id}/raw")
        assert response.code == 404
        response, _ = await request_json("GET", f"{sentry.url}/__parlel/attachments/{gone.attachments[0].id}")
        assert response.code == 404

        for n in range(3):  # an Open Sentry batch of three: it goes with its last envelope
            response, answer = await request_json(
                "POST", sentry.url + "/v1/ingest", headers={"X-Open-Sentry-Key": "parlel"},
                json={"type": "error", "exception": {"type": "TypeError", "value": f"batch {n}"}})
            assert response.code == 202, answer
        batches = await listed(sentry, "batches")
        assert len(batches) == 2
        await send_envelope(sentry, envelope_with_attachment(event_of("handle", "ann"), b"x"))
        assert len(await listed(sentry, "batches")) == 1


# --- by size ---------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_max_bytes_keeps_the_stored_payload_under_its_cap():
    async with running(max_bytes=12_000) as sentry:
        sent: list[str] = []
        one = 0  # what one event costs: its envelope and its payload
        for n in range(20):
            sent.append(await send(sentry, event_of("handle", "ann", extra={"pad": "x" * 500})))
            shown = await figures(sentry)
            assert shown["stored_bytes"] == stored_payload(sentry) <= 12_000
            assert sentry.store.event(sent[-1]) is not None
            one = one or shown["stored_bytes"]
            if shown["evicted_events"]:  # only as many went as had to
                assert shown["stored_bytes"] + one * 1.05 > 12_000
        assert 2 < shown["stored_events"] < 20 and shown["evicted_events"] == 20 - shown["stored_events"]
        kept = [e["event_id"] for e in await listed(sentry, "events")]
        assert kept == sent[-len(kept):]
        # one envelope larger than the cap: everything older goes, it stays (read-your-write)
        big = event_of("handle", "ann")
        await send_envelope(sentry, envelope_with_attachment(big, b"z" * 20_000))
        shown = await figures(sentry)
        assert [e["event_id"] for e in await listed(sentry, "events")] == [big["event_id"]]
        assert shown["stored_bytes"] == stored_payload(sentry) > 12_000
        assert shown["max_bytes"] == 12_000


# --- by age ----------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_retention_days_drops_by_age_on_the_minute_tick_and_on_ingest():
    clock = task.Clock()
    clock.advance(T0)
    async with running(clock=clock, retention_days=1) as sentry:
        for _ in range(2):
            await send(sentry, event_of("handle", "ann"))
        clock.advance(12 * 3600)
        young = await send(sentry, event_of("handle", "bob"))
        clock.advance(12 * 3600 + 30)  # past a day for the first two: the minute tick drops them
        assert [e["event_id"] for e in await listed(sentry, "events")] == [young]
        assert (await figures(sentry))["evicted_events"] == 2
        clock.advance(12 * 3600)  # the young one too, though it is the newest
        assert await listed(sentry, "events") == [] and await listed(sentry, "envelopes") == []
        issue = (await api(sentry, "GET", "/api/0/projects/parlel/hello-world/issues/?statsPeriod=14d"))[0]
        assert (issue["count"], issue["userCount"]) == ("3", 2)

        sentry.clock.stop_ticking()  # hold the tick back: ingest checks age as well
        stale = await send(sentry, event_of("handle", "cy"))
        clock.advance(DAY + 60)
        fresh = await send(sentry, event_of("handle", "cy"))
        assert [e["event_id"] for e in await listed(sentry, "events")] == [fresh] != [stale]


# --- the figures and the options -------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_retention_figures_and_a_reset(sentry):
    shown = await figures(sentry)
    assert shown == {"max_events": DEFAULT_MAX_EVENTS, "max_bytes": DEFAULT_MAX_BYTES, "retention_days": None,
                     "stored_events": 0, "stored_bytes": 0, "evicted_events": 0, "evicted_bytes": 0}
    await send(sentry, event_of("handle", "ann"))
    shown = await figures(sentry)
    assert shown["stored_events"] == 1 and shown["stored_bytes"] == stored_payload(sentry) > 0
    tenant = await sentry.create_tenant()
    await send(sentry, event_of("handle", "ann"), project=tenant.project_id)
    await sentry.delete_tenant(tenant)
    assert (await figures(sentry))["stored_bytes"] == stored_payload(sentry)
    response, _ = await request_json("POST", sentry.url + "/__parlel/reset")
    assert response.code == 200 and (await figures(sentry))["stored_bytes"] == 0


def test_an_issue_drops_its_oldest_events_at_the_cost_of_what_goes():
    nowhere: Any = None  # the records need no project here
    issue = Issue(1, nowhere, 1, "t", "c", {}, "error", "error", None, "python", 0.0, 0.0, 0.0)
    events = [Event(uuid.uuid4().hex, nowhere, "error", b"", 0.0, 0.0, seq=n) for n in range(3000)]
    issue.events.extend(events)
    for event in events[:10]:
        issue.drop_oldest(event)
    assert issue.evicted_head == 10 and len(issue.stored_events) == 3000  # a long list: trimmed later
    assert issue.events == events[10:] and issue.evicted_head == 0  # reading trims it
    for event in events[10:57]:
        issue.drop_oldest(event)
    assert issue.evicted_head == 0 and issue.stored_events == events[57:]  # 1/64 of it gone: trimmed at once
    issue.drop_oldest(events[100])  # not the oldest: taken out all the same
    assert events[100] not in issue.events and len(issue.events) == 2942


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


def test_retention_options_and_their_defaults():
    defaults = parse()
    assert (defaults["max-events"], defaults["max-bytes"], defaults["retention-days"]) == (100_000, 1 << 30, None)
    for given, size in (("1024", 1024), ("512M", 512 << 20), ("1G", 1 << 30), ("2GiB", 2 << 30), ("64k", 64 << 10),
                        ("1T", 1 << 40)):
        assert parse("--max-bytes", given)["max-bytes"] == size
    options = parse("--max-events", "50", "--max-bytes", "1M", "--retention-days", "0.5")
    service = makeService(options, reactor=MemoryReactorClock())
    policy = service.store.retention.policy
    assert (policy.max_events, policy.max_bytes, policy.retention_days) == (50, 1 << 20, 0.5)
    service.store.reset()
    assert service.store.retention.policy == policy  # a reset keeps the limits


@pytest.mark.parametrize("args", [
    ("--max-events", "0"), ("--max-events", "many"), ("--max-events", "-5"),
    ("--max-bytes", "0"), ("--max-bytes", "lots"), ("--max-bytes", "1.5G"), ("--max-bytes", "12P"),
    ("--retention-days", "0"), ("--retention-days", "-1"), ("--retention-days", "soon"),
    ("--retention-days", "inf"), ("--retention-days", "nan"),
])
def test_bad_retention_options_are_usage_errors(args):
    with pytest.raises(usage.UsageError, match=args[0]):
        parse(*args)


@pytest_twisted.ensureDeferred
async def test_with_control_auth_any_control_token_reads_the_figures():
    async with running(control_auth="token", admin_tokens=("admin-secret",)) as sentry:
        tenant = await sentry.create_tenant()
        for headers, status in (({}, 401), ({"Authorization": f"Bearer {tenant.token}"}, 200),
                                ({"Authorization": "Bearer admin-secret"}, 200)):
            response, body = await request_json("GET", sentry.url + RETENTION, headers=headers)
            assert response.code == status, body
