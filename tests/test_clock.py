"""The clock a test controls (``--clock manual``, ``/__parlel/clock``, ``start_sentry(clock=...)``):
everything that dates, buckets or expires follows it, and cron monitors turn ``missed`` and
``timeout`` when it passes their schedule, as Sentry's clock tasks make them."""

from __future__ import annotations

import base64
import json
import time
from datetime import datetime
from typing import Any
from urllib.parse import quote

import pytest_twisted
from twisted.internet import task

from conftest import AUTH, request_json
from issue_helpers import ISSUES, ORG_ISSUES, api, error_event, issue_of
from sentry_daemon.clock import REAL_CLOCK
from sentry_daemon.store.monitors import CATCH_UP_LIMIT
from sentry_daemon.testing import start_sentry
from test_api_monitors import MONITORS, check_in, get, stamp
from test_api_stats import STATS_V2, _line, envelope, ingest

CLOCK = "/__parlel/clock"
T0 = "2024-03-01T12:00:30.000000Z"  # half a minute past, as a real start-up would be


def at(text: str) -> str:
    """``2024-03-01T12:15:00Z`` as the clock and the web API write it."""
    return datetime.fromisoformat(text.replace("Z", "+00:00")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@pytest_twisted.async_yield_fixture()
async def manual() -> Any:
    """A daemon with ``--clock manual``, set to ``T0``."""
    running = await start_sentry(clock="manual")
    await move(running, {"set": T0})
    yield running
    await running.stop()


async def move(sentry: Any, body: Any, expect: int = 200) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response, answer = await request_json("POST", sentry.url + CLOCK, data=data)
    assert response.code == expect, (body, response.code, answer)
    assert response.headers.getRawHeaders("content-type") == ["application/json"]
    return answer


async def now(sentry: Any) -> str:
    response, answer = await request_json("GET", sentry.url + CLOCK)
    assert response.code == 200
    return answer["now"]


async def send(sentry: Any, function: str = "handle") -> str:
    """An error event without a timestamp: it is dated when the daemon receives it."""
    event = error_event(function)
    del event["timestamp"]
    response, body = await request_json("POST", f"{sentry.url}/api/1/store/", json=event)
    assert response.code == 200, body
    return body["id"]


# --- the routes ----------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_real_clock_is_read_not_moved(sentry):
    response, body = await request_json("GET", sentry.url + CLOCK)
    assert response.code == 200 and set(body) == {"now", "manual"} and body["manual"] is False
    assert abs(stamp(body["now"]) - time.time()) < 5
    for change in ({"advance": 60}, {"set": T0}):
        assert await move(sentry, change, 400) == {"detail": REAL_CLOCK}


@pytest_twisted.ensureDeferred
async def test_a_manual_clock_stands_still_until_moved(manual):
    assert await now(manual) == await now(manual) == T0
    response, body = await request_json("GET", manual.url + CLOCK)
    assert body == {"now": T0, "manual": True}
    assert await move(manual, {"advance": 90}) == {"now": at("2024-03-01T12:02:00Z"), "manual": True}
    assert (await move(manual, {"advance": 0.25}))["now"] == at("2024-03-01T12:02:00.250Z")
    assert (await move(manual, {"set": "2024-06-01T08:00:00+02:00"}))["now"] == at("2024-06-01T06:00:00Z")
    # backwards too: a test that wants fixed dates sets them; what was recorded keeps its time
    assert (await move(manual, {"set": "2020-01-01"}))["now"] == at("2020-01-01T00:00:00Z")
    assert (await move(manual, {"advance": -60}))["now"] == at("2019-12-31T23:59:00Z")


@pytest_twisted.ensureDeferred
async def test_bad_bodies_are_400_and_change_nothing(manual):
    one_of = {"detail": 'give one of "advance" (seconds) or "set" (an ISO 8601 time)'}
    seconds = {"detail": '"advance" is a number of seconds (negative goes back)'}
    iso = {"detail": '"set" is an ISO 8601 time such as "2024-01-01T00:00:00Z"'}
    out_of_range = {"detail": "the clock goes from 1970-01-01T00:00:00.000000Z to 9000-01-01T00:00:00.000000Z"}
    for body, answer in (
        ({}, one_of), (b"", one_of), ({"advance": 1, "set": T0}, one_of), ({"later": 5}, one_of),
        ({"advance": "60"}, seconds), ({"advance": True}, seconds), ({"advance": None}, seconds),
        ({"advance": [1]}, seconds), (b'{"advance": 1e999}', seconds), ({"advance": 10 ** 400}, seconds),
        ({"set": "yesterday"}, iso), ({"set": 1709294400}, iso), ({"set": None}, iso),
        ({"set": "1969-12-31T23:59:59Z"}, out_of_range), ({"advance": 1e300}, out_of_range),
        ({"set": "9999-01-01T00:00:00Z"}, out_of_range),
    ):
        assert await move(manual, body, 400) == answer, body
    for body in (b"[1]", b"{not json"):
        assert set(await move(manual, body, 400)) == {"detail"}
    assert await now(manual) == T0


# --- what the clock dates, buckets and expires ---------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_received_times_first_and_last_seen_and_stats_buckets(manual):
    event_id = await send(manual)
    response, events = await request_json("GET", manual.url + "/__parlel/events")
    assert events["events"][0]["received"] == events["events"][0]["timestamp"] == stamp(T0)
    issue = await issue_of(manual, event_id)
    assert issue["firstSeen"] == issue["lastSeen"] == T0
    await move(manual, {"advance": 2 * 3600})
    await send(manual)
    issue = await api(manual, "GET", f"/api/0/issues/{issue['id']}/")
    assert (issue["firstSeen"], issue["lastSeen"]) == (T0, at("2024-03-01T14:00:30Z"))

    # 24 hourly buckets ending with the clock's hour: one event at 12:00, one at 14:00
    (listed,) = await api(manual, "GET", ISSUES + "?statsPeriod=24h")
    buckets = listed["stats"]["24h"]
    assert len(buckets) == 24 and buckets[-1][0] == stamp("2024-03-01T14:00:00Z")
    assert {b[0]: b[1] for b in buckets if b[1]} == {stamp("2024-03-01T12:00:00Z"): 1, stamp("2024-03-01T14:00:00Z"): 1}
    await move(manual, {"advance": 23 * 3600})  # 13:00:30 the next day: 12:00 has left the day
    (listed,) = await api(manual, "GET", ISSUES + "?statsPeriod=24h")
    assert [b[1] for b in listed["stats"]["24h"] if b[1]] == [1]

    # statsPeriod windows end at the clock's now
    def ids(rows: list[dict[str, Any]]) -> list[str]:
        return [r["id"] for r in rows]

    assert ids(await api(manual, "GET", ORG_ISSUES + "?statsPeriod=24h&query=")) == [issue["id"]]
    assert ids(await api(manual, "GET", ORG_ISSUES + "?statsPeriod=12h&query=")) == []
    events_of = f"/api/0/organizations/parlel/issues/{issue['id']}/events/"
    assert len(await api(manual, "GET", events_of + "?statsPeriod=24h")) == 1
    assert len(await api(manual, "GET", events_of + "?statsPeriod=2d")) == 2


@pytest_twisted.ensureDeferred
async def test_new_turns_ongoing_seven_days_after_first_seen(manual):
    issue = await issue_of(manual, await send(manual))
    assert issue["substatus"] == "new"
    await move(manual, {"advance": 7 * 86400 - 1})
    assert (await api(manual, "GET", f"/api/0/issues/{issue['id']}/"))["substatus"] == "new"
    await move(manual, {"advance": 1})
    assert (await api(manual, "GET", f"/api/0/issues/{issue['id']}/"))["substatus"] == "ongoing"
    assert [i["id"] for i in await api(manual, "GET", ISSUES + "?query=" + quote("is:ongoing"))] == [issue["id"]]


@pytest_twisted.ensureDeferred
async def test_ignore_durations_and_counts_per_window_follow_the_clock(manual):
    issue = await issue_of(manual, await send(manual))
    detail = f"/api/0/issues/{issue['id']}/"
    body = await api(manual, "PUT", f"{ISSUES}?id={issue['id']}",
                     json={"status": "ignored", "statusDetails": {"ignoreDuration": 30}})
    assert body["statusDetails"]["ignoreUntil"] == at("2024-03-01T12:30:30Z")
    await move(manual, {"advance": 30 * 60 - 1})
    assert (await api(manual, "GET", detail))["status"] == "ignored"
    await move(manual, {"advance": 1})
    assert [(d := await api(manual, "GET", detail))["status"], d["substatus"]] == ["unresolved", "ongoing"]

    # three events within an hour bring it back; the one sent before the hour does not count
    await api(manual, "PUT", f"{ISSUES}?id={issue['id']}",
              json={"status": "ignored", "statusDetails": {"ignoreCount": 3, "ignoreWindow": 60}})
    await move(manual, {"advance": 3600})
    for _ in range(2):
        await send(manual)
    assert (await api(manual, "GET", detail))["status"] == "ignored"
    await send(manual)
    assert [(d := await api(manual, "GET", detail))["status"], d["substatus"]] == ["unresolved", "escalating"]


@pytest_twisted.ensureDeferred
async def test_outcome_buckets_in_stats_v2(manual):
    await ingest(manual, envelope(({"type": "event"}, _line({"message": "one"}))))
    await move(manual, {"advance": 3 * 3600})
    await ingest(manual, envelope(({"type": "event"}, _line({"message": "two"}))))
    body = await api(manual, "GET", STATS_V2 + "?field=sum(quantity)&category=error&outcome=accepted"
                                               "&statsPeriod=6h&interval=1h")
    assert body["end"] == "2024-03-01T15:01:00Z"  # the clock's minute, cut up to the next one
    (group,) = body["groups"]
    counted = {t: n for t, n in zip(body["intervals"], group["series"]["sum(quantity)"]) if n}
    assert counted == {"2024-03-01T12:00:00Z": 1, "2024-03-01T15:00:00Z": 1}


@pytest_twisted.ensureDeferred
async def test_org_tokens_are_issued_at_the_clocks_time(manual):
    response, token = await request_json("POST", manual.url + "/api/0/organizations/parlel/org-auth-tokens/",
                                         headers=AUTH, json={"name": "ci"})
    assert response.code == 201, token
    payload = token["token"].split("_")[1]
    assert json.loads(base64.b64decode(payload + "=" * (-len(payload) % 4)))["iat"] == stamp(T0)


# --- cron monitors on the clock ------------------------------------------------------------------


async def environment(sentry: Any, slug: str) -> dict[str, Any]:
    (env,) = (await get(sentry, MONITORS + slug + "/"))["environments"]
    return env


@pytest_twisted.ensureDeferred
async def test_a_monitor_goes_missed_when_the_clock_passes_its_schedule_and_margin(manual):
    config = {"schedule": {"type": "crontab", "value": "*/10 * * * *"}, "checkin_margin": 5}
    await check_in(manual, "every-ten", "ok", monitor_config=config)
    await check_in(manual, "patient", "ok", monitor_config={**config, "failure_issue_threshold": 2})
    env = await environment(manual, "every-ten")
    assert (env["status"], env["nextCheckIn"], env["nextCheckInLatest"]) == (
        "ok", at("2024-03-01T12:10:00Z"), at("2024-03-01T12:15:00Z"))

    await move(manual, {"set": "2024-03-01T12:14:59Z"})  # inside the margin: nothing yet
    assert [c["status"] for c in await get(manual, MONITORS + "every-ten/checkins/")] == ["ok"]
    await move(manual, {"advance": 1})
    missed, ok = await get(manual, MONITORS + "every-ten/checkins/")
    assert (missed["status"], ok["status"]) == ("missed", "ok")
    assert missed["expectedTime"] == missed["dateAdded"] == at("2024-03-01T12:10:00Z")
    assert missed["duration"] is None and missed["environment"] == "production"
    assert missed["monitorConfig"]["schedule"] == "*/10 * * * *"
    env = await environment(manual, "every-ten")
    assert (env["status"], env["lastCheckIn"], env["nextCheckIn"], env["nextCheckInLatest"]) == (
        "error", T0, at("2024-03-01T12:20:00Z"), at("2024-03-01T12:25:00Z"))
    assert (await environment(manual, "patient"))["status"] == "ok"  # one miss of the two it takes

    # a jump is every tick in between, as Sentry's clock backfills them: one miss per slot
    await move(manual, {"set": "2024-03-01T12:45:00Z"})
    rows = await get(manual, MONITORS + "every-ten/checkins/")
    assert [(c["status"], c["expectedTime"]) for c in rows[:-1]] == [
        ("missed", at(f"2024-03-01T12:{m}:00Z")) for m in (40, 30, 20, 10)]
    assert (await environment(manual, "patient"))["status"] == "error"
    await check_in(manual, "every-ten", "ok")
    env = await environment(manual, "every-ten")
    assert (env["status"], env["nextCheckIn"]) == ("ok", at("2024-03-01T12:50:00Z"))


@pytest_twisted.ensureDeferred
async def test_interval_and_timezone_schedules_miss_at_their_own_times(manual):
    await check_in(manual, "two-hourly", "ok", monitor_config={"schedule": {"type": "interval", "value": 2,
                                                                          "unit": "hour"}})
    await check_in(manual, "new-york-nine", "ok", monitor_config={
        "schedule": {"type": "crontab", "value": "0 9 * * *"}, "timezone": "America/New_York"})
    assert (await environment(manual, "two-hourly"))["nextCheckIn"] == at("2024-03-01T14:00:00Z")
    assert (await environment(manual, "new-york-nine"))["nextCheckIn"] == at("2024-03-01T14:00:00Z")  # EST
    await move(manual, {"set": "2024-03-01T14:01:00Z"})
    for slug, next_check_in in (("two-hourly", "2024-03-01T16:00:00Z"), ("new-york-nine", "2024-03-02T14:00:00Z")):
        missed = (await get(manual, MONITORS + slug + "/checkins/"))[0]
        assert (missed["status"], missed["expectedTime"]) == ("missed", at("2024-03-01T14:00:00Z")), slug
        assert (await environment(manual, slug))["nextCheckIn"] == at(next_check_in), slug


@pytest_twisted.ensureDeferred
async def test_an_in_progress_check_in_times_out_after_max_runtime(manual):
    config = {"schedule": {"type": "crontab", "value": "0 * * * *"}, "max_runtime": 20}
    run = await check_in(manual, "slow", "in_progress", monitor_config=config)
    await move(manual, {"set": "2024-03-01T12:19:59Z"})
    assert (await get(manual, MONITORS + "slow/checkins/"))[0]["status"] == "in_progress"
    await move(manual, {"advance": 1})  # 12:00 (the minute it began) + 20 minutes
    (timed_out,) = await get(manual, MONITORS + "slow/checkins/")
    assert (timed_out["status"], timed_out["duration"]) == ("timeout", None)
    assert (await environment(manual, "slow"))["status"] == "error"
    # it ends late: the duration is recorded, the status stays timeout (as Sentry keeps it)
    await move(manual, {"advance": 120})
    await check_in(manual, "slow", "ok", run)
    (closed,) = await get(manual, MONITORS + "slow/checkins/")
    assert (closed["status"], closed["duration"]) == ("timeout", 21.5 * 60 * 1000)

    # a heartbeat (another in_progress with the same id) moves the timeout on
    beating = await check_in(manual, "beating", "in_progress", monitor_config=config)
    await move(manual, {"advance": 15 * 60})
    await check_in(manual, "beating", "in_progress", beating)
    await move(manual, {"advance": 15 * 60})
    assert (await get(manual, MONITORS + "beating/checkins/"))[0]["status"] == "in_progress"
    await move(manual, {"advance": 6 * 60})  # 12:37 (the beat's minute) + 20 minutes has passed
    assert (await get(manual, MONITORS + "beating/checkins/"))[0]["status"] == "timeout"


@pytest_twisted.ensureDeferred
async def test_a_jump_over_years_stays_bounded(manual):
    await check_in(manual, "every-minute", "ok", monitor_config={"schedule": {"type": "crontab",
                                                                             "value": "* * * * *"}})
    started = time.monotonic()
    await move(manual, {"advance": 3 * 365 * 86400})
    rows = await get(manual, MONITORS + "every-minute/checkins/?per_page=100")
    assert time.monotonic() - started < 10
    monitor = manual.store.monitors.values()[0]
    assert len(monitor.check_ins) == CATCH_UP_LIMIT + 2  # the first ok, the slots, the rest as one
    assert rows[0]["status"] == "missed"
    env = await environment(manual, "every-minute")
    assert stamp(env["nextCheckInLatest"]) > stamp(await now(manual))


# --- embedded, on the test's own clock -----------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_start_sentry_with_the_tests_own_clock():
    clock = task.Clock()
    clock.advance(stamp(T0))
    sentry = await start_sentry(clock=clock)
    try:
        await send(sentry)
        assert [e.received for e in sentry.store.project_events(sentry.store.projects[1])] == [stamp(T0)]
        assert await now(sentry) == T0 and sentry.clock.state() == {"now": T0, "manual": True}
        await check_in(sentry, "nightly", "ok", monitor_config={"schedule": {"type": "crontab",
                                                                            "value": "0 0 * * *"}})
        monitor = sentry.store.monitors.values()[0]
        # the test moves its clock; the daemon's minute tick on that clock runs the clock tasks
        clock.advance(12 * 3600)  # midnight has come, its margin not yet
        assert [c.status for c in monitor.check_ins] == ["ok"]
        clock.advance(30)
        assert [c.status for c in monitor.check_ins] == ["ok", "missed"]
        assert await now(sentry) == at("2024-03-02T00:01:00Z")
        await move(sentry, {"advance": 30})  # the control API moves the same clock
        assert clock.seconds() == stamp("2024-03-02T00:01:30Z")
    finally:
        await sentry.stop()
    assert clock.getDelayedCalls() == []  # stopping cancels the daemon's timers on the test's clock
