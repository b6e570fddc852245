"""Usage stats (``stats_v2``, the legacy org and project ``stats``) from what ingest really counted.

Real envelopes go in: accepted error events and an attachment, an item that is not JSON (an
``invalid`` outcome) and a client report (the SDK's ``client_discard``, ``rate_limited`` and
``filtered`` losses). The figures are then read back per group and per time bucket, around the
moment they were sent.
"""

from __future__ import annotations

import json
import math
import time
import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

import pytest
import pytest_twisted

from conftest import AUTH, request_json
from sentry_daemon.store.outcomes import BUCKET_SECONDS, OutcomeStore
from test_api_schema import check, schema  # noqa: F401  (the fixture)

STATS_V2 = "/api/0/organizations/parlel/stats_v2/"
ORG_STATS = "/api/0/organizations/parlel/stats/"
PROJECT_STATS = "/api/0/projects/parlel/hello-world/stats/"
SCHEMA_ORG = "/api/0/organizations/{organization_id_or_slug}"
ATTACHMENT = b"twelve bytes"


def _line(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def envelope(*items: tuple[dict[str, Any], bytes]) -> bytes:
    parts = [_line({"event_id": uuid.uuid4().hex})]
    for headers, payload in items:
        parts += [_line({**headers, "length": len(payload)}), payload]
    return b"\n".join(parts) + b"\n"


async def ingest(sentry: Any, body: bytes, project: int = 1) -> None:
    response, answer = await request_json("POST", f"{sentry.url}/api/{project}/envelope/", data=body)
    assert response.code == 200, answer


async def send_traffic(sentry: Any) -> tuple[float, float]:
    """Two accepted errors (one with an attachment), one invalid item, one client report; returns
    the time range they were sent in."""
    before = time.time()
    await ingest(sentry, envelope(({"type": "event"}, _line({"message": "one"})),
                                  ({"type": "attachment", "filename": "a.txt"}, ATTACHMENT)))
    await ingest(sentry, envelope(({"type": "event"}, _line({"message": "two"}))))
    await ingest(sentry, envelope(({"type": "event"}, b"{not json")))
    report = {"timestamp": time.time(),
              "discarded_events": [{"reason": "ratelimit_backoff", "category": "error", "quantity": 3}],
              "rate_limited_events": [{"reason": "", "category": "error", "quantity": 4}],
              "filtered_events": [{"reason": "browser-extensions", "category": "error", "quantity": 5}]}
    await ingest(sentry, envelope(({"type": "client_report"}, _line(report))))
    return before, time.time()


async def api(sentry: Any, path: str, params: Any = (), expect: int = 200) -> Any:
    response, body = await request_json("GET", sentry.url + path + ("?" + urlencode(params) if params else ""),
                                        headers=AUTH)
    assert response.code == expect, (path, params, response.code, body)
    assert response.headers.getRawHeaders("content-type") == ["application/json"]
    return body


@pytest.fixture
def openapi(schema: dict[str, Any]) -> dict[str, Any]:  # noqa: F811  (the imported fixture)
    """Sentry's published API schema (the test skips without it)."""
    return schema


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def by_group(body: dict[str, Any]) -> dict[tuple, dict[str, Any]]:
    return {tuple(sorted(g["by"].items())): g for g in body["groups"]}


@pytest_twisted.ensureDeferred
async def test_stats_v2_groups_every_outcome_in_its_minute(sentry, openapi):
    before, after = await send_traffic(sentry)
    params = [("field", "sum(quantity)"), ("field", "sum(times_seen)"), ("groupBy", "outcome"),
              ("groupBy", "category"), ("statsPeriod", "1h"), ("interval", "1m")]
    body = await api(sentry, STATS_V2, params)
    check(openapi, f"{SCHEMA_ORG}/stats_v2/", "get", body)

    # the range is the last hour rounded out to whole hours, its end cut to the next minute
    now = time.time()
    assert body["end"] == iso(60 * (math.floor(now / 60) + 1)) or body["end"] == iso(60 * math.floor(now / 60))
    assert body["start"].endswith(":00:00Z")
    assert body["intervals"][0] == body["start"] and len(set(body["intervals"])) == len(body["intervals"])
    steps = [datetime.fromisoformat(t.replace("Z", "+00:00")).timestamp() for t in body["intervals"]]
    assert all(b - a == 60 for a, b in zip(steps, steps[1:]))

    groups = by_group(body)
    expected = {  # (outcome, category) -> (quantity, times seen)
        ("accepted", "error"): (2, 2),
        ("accepted", "attachment"): (len(ATTACHMENT), 1),
        ("invalid", "error"): (1, 1),
        ("client_discard", "error"): (3, 1),
        ("rate_limited", "error"): (4, 1),
        ("filtered", "error"): (5, 1),
    }
    assert set(groups) == {(("category", c), ("outcome", o)) for o, c in expected}
    sent_in = {iso(60 * math.floor(before / 60)), iso(60 * math.floor(after / 60))}
    for (outcome, category), (quantity, seen) in expected.items():
        group = groups[(("category", category), ("outcome", outcome))]
        assert group["totals"] == {"sum(quantity)": quantity, "sum(times_seen)": seen}
        series = group["series"]["sum(quantity)"]
        assert len(series) == len(body["intervals"]) and sum(series) == quantity
        assert sum(group["series"]["sum(times_seen)"]) == seen
        assert {body["intervals"][n] for n, v in enumerate(series) if v} <= sent_in

    # the control API still lists the same totals, without time
    response, control = await request_json("GET", f"{sentry.url}/__parlel/outcomes?project=1")
    rows = {(o["category"], o["outcome"], o["reason"]): o["quantity"] for o in control["outcomes"]}
    assert rows[("error", "accepted", None)] == 2 and rows[("attachment", "accepted", None)] == len(ATTACHMENT)
    assert rows[("error", "client_discard", "ratelimit_backoff")] == 3


@pytest_twisted.ensureDeferred
async def test_stats_v2_filters_and_groups(sentry, openapi):
    await send_traffic(sentry)
    await ingest(sentry, envelope(({"type": "event"}, _line({"message": "elsewhere"}))), project=7)
    hour = time.time() // 3600 * 3600
    window = [("start", iso(hour - 3600)), ("end", iso(hour + 3599))]

    # one filtered outcome, no groupBy: one group with no "by"
    body = await api(sentry, STATS_V2, [("field", "sum(quantity)"), ("category", "error"),
                                        ("outcome", "invalid"), *window])
    assert body["start"] == iso(hour - 3600) and body["end"] in (iso(hour + 3600), iso(60 * (time.time() // 60 + 1)))
    assert body["intervals"][:2] == [iso(hour - 3600), iso(hour)]
    assert body["groups"] == [{"by": {}, "totals": {"sum(quantity)": 1},
                               "series": {"sum(quantity)": [0, 1][:len(body["intervals"])]}}]

    # nothing matched: still one group without groupBy, all zero
    body = await api(sentry, STATS_V2, [("field", "sum(quantity)"), ("category", "replay"), *window])
    assert body["groups"] == [{"by": {}, "totals": {"sum(quantity)": 0},
                               "series": {"sum(quantity)": [0] * len(body["intervals"])}}]

    # by project: totals only (Sentry offers no per-project series), every project of the org
    body = await api(sentry, STATS_V2, [("field", "sum(quantity)"), ("groupBy", "project"), ("category", "error"),
                                        ("outcome", "accepted"), ("statsPeriod", "1d")])
    check(openapi, f"{SCHEMA_ORG}/stats_v2/", "get", {**body, "intervals": [],
                                                      "groups": [{**g, "series": {}} for g in body["groups"]]})
    assert "intervals" not in body and all("series" not in g for g in body["groups"])
    assert {g["by"]["project"]: g["totals"]["sum(quantity)"] for g in body["groups"]} == {1: 2, 7: 1}
    body = await api(sentry, STATS_V2, [("field", "sum(quantity)"), ("groupBy", "project"), ("category", "error"),
                                        ("project", "7"), ("statsPeriod", "1d")])
    assert [(g["by"], g["totals"]) for g in body["groups"]] == [({"project": 7}, {"sum(quantity)": 1})]
    body = await api(sentry, STATS_V2, [("field", "sum(quantity)"), ("category", "error"), ("project", "-1"),
                                        ("outcome", "accepted"), ("statsPeriod", "1d")])
    assert body["groups"][0]["totals"] == {"sum(quantity)": 3}

    # a missing reason is "none" in hourly buckets (Snuba's hourly rollup) and null in minute ones
    params = [("field", "sum(quantity)"), ("groupBy", "reason"), ("groupBy", "outcome"), ("category", "error"),
              ("project", "1")]
    hourly = by_group(await api(sentry, STATS_V2, [*params, ("statsPeriod", "1d")]))
    assert hourly[(("outcome", "accepted"), ("reason", "none"))]["totals"] == {"sum(quantity)": 2}
    assert hourly[(("outcome", "client_discard"), ("reason", "ratelimit_backoff"))]["totals"] == {"sum(quantity)": 3}
    assert hourly[(("outcome", "filtered"), ("reason", "browser-extensions"))]["totals"] == {"sum(quantity)": 5}
    assert hourly[(("outcome", "invalid"), ("reason", "invalid_json"))]["totals"] == {"sum(quantity)": 1}
    minutes = by_group(await api(sentry, STATS_V2, [*params, ("statsPeriod", "1h"), ("interval", "1m")]))
    assert minutes[(("outcome", "accepted"), ("reason", None))]["totals"] == {"sum(quantity)": 2}
    only = await api(sentry, STATS_V2, [*params, ("statsPeriod", "1d"), ("reason", "ratelimit_backoff")])
    assert [g["by"] for g in only["groups"]] == [{"reason": "ratelimit_backoff", "outcome": "client_discard"}]

    # a day interval: the data is in today's bucket
    body = await api(sentry, STATS_V2, [("field", "sum(times_seen)"), ("category", "attachment"),
                                        ("statsPeriod", "7d"), ("interval", "1d")])
    assert body["intervals"][-1] == iso(time.time() // 86400 * 86400) and len(body["intervals"]) == 7
    assert body["groups"][0]["series"]["sum(times_seen)"] == [0] * 6 + [1]


@pytest_twisted.ensureDeferred
async def test_an_envelope_over_a_size_limit_counts_as_invalid(sentry):
    """Relay refuses it whole (413) and counts what it held: its event once, its attachment in bytes."""
    big = _line({"message": "x" * (1024 * 1024)})  # over Relay's 1 MiB event limit
    body = envelope(({"type": "event"}, big), ({"type": "attachment", "filename": "a.txt"}, ATTACHMENT))
    response, answer = await request_json("POST", f"{sentry.url}/api/1/envelope/", data=body)
    assert response.code == 413, answer
    groups = by_group(await api(sentry, STATS_V2, [
        ("field", "sum(quantity)"), ("groupBy", "category"), ("groupBy", "outcome"), ("groupBy", "reason"),
        ("statsPeriod", "1h"), ("interval", "1m")]))
    assert {key: g["totals"]["sum(quantity)"] for key, g in groups.items()} == {
        (("category", "error"), ("outcome", "invalid"), ("reason", "too_large:event")): 1,
        (("category", "attachment"), ("outcome", "invalid"), ("reason", "too_large:event")): len(ATTACHMENT),
    }
    # invalid is not "received" in the legacy stats
    assert sum(n for _, n in await api(sentry, PROJECT_STATS)) == 0


@pytest_twisted.ensureDeferred
async def test_stats_v2_bad_parameters_are_sentrys_400s(sentry):
    base = [("field", "sum(quantity)"), ("category", "error"), ("statsPeriod", "1d")]
    cases = [
        ([("category", "error"), ("statsPeriod", "1d")], 'At least one "field" is required.'),
        ([("field", "count()"), ("category", "error"), ("statsPeriod", "1d")], 'Invalid field: "count()"'),
        ([*base, ("groupBy", "release")], 'Invalid groupBy: "release"'),
        ([("field", "sum(quantity)"), ("statsPeriod", "1d")], "Query must have category as groupby or filter"),
        ([*base, ("interval", "15s")], "The interval has to be a multiple of the minimum interval of one minute."),
        ([*base, ("interval", "59m")], "The interval should divide one day without a remainder."),
        ([*base, ("interval", "2d")], "The interval has to be less than one day."),
        ([*base[:2], ("statsPeriod", "7h"), ("interval", "1m")],
         "The time-range when using one-minute resolution intervals is restricted to 6 hours."),
        ([*base[:2], ("statsPeriod", "90d")],
         "Your interval and date range would create too many results. Use a larger interval, or a smaller date range."),
        ([*base[:2]], "Your interval and date range would create too many results. Use a larger interval, "
                      "or a smaller date range."),  # the default range is 90 days
        ([*base[:2], ("statsPeriod", "soon")], "Invalid statsPeriod: 'soon'"),
        ([*base[:2], ("start", "2026-01-01T00:00:00")], "start and end are both required"),
        ([*base[:2], ("start", "yesterday"), ("end", "today")], "yesterday is not a valid ISO8601 date query"),
        ([*base, ("category", "bogus")], 'Invalid category: "bogus"'),
        ([*base, ("category", "attachment")], "if filtering by attachment no other category may be present"),
        ([*base, ("outcome", "lost")], 'Invalid outcome: "lost"'),
        ([*base, ("project", "hello-world")], "Invalid project parameter. Values must be numbers."),
    ]
    for params, detail in cases:
        assert await api(sentry, STATS_V2, params, expect=400) == {"detail": detail}, params
    assert await api(sentry, STATS_V2, [*base, ("project", "999")], expect=403) == {
        "detail": "You do not have permission to perform this action."}
    # what Sentry reads as no interval at all is its default hour; case does not matter for outcomes
    body = await api(sentry, STATS_V2, [*base, ("interval", "hourly"), ("outcome", "ACCEPTED")])
    assert len(body["intervals"]) == 24
    assert (await api(sentry, "/api/0/organizations/nope/stats_v2/", base, expect=404))["detail"]


@pytest_twisted.ensureDeferred
async def test_legacy_stats_count_received_rejected_blacklisted_and_generated(sentry, openapi):
    before, after = await send_traffic(sentry)
    window = {"since": int(before) - 30, "until": int(after) + 30, "resolution": "10s"}
    sent_in = {int(before) // 10 * 10, int(after) // 10 * 10}

    def counted(points: list[list[int]]) -> tuple[int, set[int]]:
        return sum(n for _, n in points), {ts for ts, n in points if n}

    received = await api(sentry, PROJECT_STATS, window)
    check(openapi, "/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}/stats/", "get", received)
    # 10-second buckets back from ``until`` while not before ``since`` (Sentry's TSDB series)
    stamps = [ts for ts, _ in received]
    assert stamps == list(range(stamps[0], window["until"] // 10 * 10 + 1, 10))
    assert window["since"] - 10 < stamps[0] < window["since"] + 10
    # received = accepted + filtered + rate-limited errors: not the invalid item, the client's own
    # discards or the attachment's bytes
    total, buckets = counted(received)
    assert total == 2 + 4 + 5 and buckets <= sent_in
    assert counted(await api(sentry, PROJECT_STATS, {**window, "stat": "rejected"}))[0] == 4
    assert counted(await api(sentry, PROJECT_STATS, {**window, "stat": "blacklisted"}))[0] == 5
    assert counted(await api(sentry, PROJECT_STATS, {**window, "stat": "browser-extensions"}))[0] == 5
    assert counted(await api(sentry, PROJECT_STATS, {**window, "stat": "generated"}))[0] == 2
    assert counted(await api(sentry, PROJECT_STATS, {**window, "stat": "forwarded"}))[0] == 0

    # the organization: summed, or per project
    assert counted(await api(sentry, ORG_STATS, window))[0] == 11
    per_project = await api(sentry, ORG_STATS, {**window, "group": "project", "stat": "generated"})
    assert set(per_project) == {"1"} and counted(per_project["1"])[0] == 2
    assert await api(sentry, ORG_STATS, {**window, "group": "project", "projectID": "999"}) == []

    # defaults: the last day, hourly
    hourly = await api(sentry, PROJECT_STATS)
    assert len(hourly) in (24, 25) and hourly[-1][0] == int(time.time()) // 3600 * 3600
    assert sum(n for _, n in hourly) == 11


@pytest_twisted.ensureDeferred
async def test_legacy_stats_bad_parameters(sentry):
    cases = [
        ({"resolution": "1m"}, "Invalid resolution"),
        ({"resolution": "often"}, "Invalid resolution"),
        ({"until": "later"}, "until must be a numeric timestamp."),
        ({"since": "earlier"}, "since must be a numeric timestamp"),
        ({"since": "200", "until": "100"}, "start must be before or equal to end"),
        ({"stat": "everything"}, "Invalid stat: everything"),
    ]
    for params, detail in cases:
        assert await api(sentry, PROJECT_STATS, params, expect=400) == {"detail": detail}, params
    assert await api(sentry, ORG_STATS, {"group": "team"}, expect=400) == {"detail": "Invalid group: team"}
    assert await api(sentry, ORG_STATS, {"stat": "generated"}, expect=400) == {
        "detail": "Invalid group: organization, stat: generated"}
    assert await api(sentry, PROJECT_STATS, {"stat": "generated", "environment": "nowhere"}, expect=404)
    assert await api(sentry, "/api/0/projects/parlel/nope/stats/", expect=404)


def test_outcome_memory_is_per_bucket_not_per_outcome():
    outcomes = OutcomeStore()
    key = (1, "error", "accepted", None)
    start = 1_800_000_000
    for n in range(10_000):
        outcomes.add(key, 1, start + n % BUCKET_SECONDS)
    outcomes.add(key, 1, start + BUCKET_SECONDS)
    cells = outcomes.rollup(0, math.inf, BUCKET_SECONDS, lambda k: k)[key]
    assert cells == {start: [10_000, 10_000], start + BUCKET_SECONDS: [1, 1]}
    assert outcomes.totals() == {key: 10_001}


def test_error_counts_follow_the_events_kept() -> None:
    """The per-project, per-environment buckets the ``generated`` stat and project list ``stats``
    read: an error event counts once in its bucket, a transaction or feedback never, and a
    forgotten event no more."""
    from sentry_daemon.store.store import Store

    store = Store(now=lambda: 1_000_000.0)
    project = store.projects[1]
    for when, kind, environment in ((1000.0, "error", "prod"), (1005.0, "error", None), (4599.0, "error", "prod"),
                                    (1001.0, "transaction", "prod"), (1002.0, "feedback", None)):
        store.add_event(project, {"event_id": f"{int(when):032x}", "type": kind, "timestamp": when,
                                  "received": when, "environment": environment, "message": "m"})
    counts = store.error_counts
    assert counts.by_slot(1, 0, 7200, 3600) == {0: 2, 3600: 1}
    assert counts.by_slot(1, 990, 1010, 10) == {1000: 2}
    assert counts.by_slot(1, 0, 7200, 3600, "prod") == {0: 1, 3600: 1}
    store.forget_events([store.event(f"{1000:032x}"), store.event(f"{1000:032x}")])  # twice: counted once
    assert counts.by_slot(1, 0, 7200, 3600) == {0: 1, 3600: 1}
    assert counts.by_slot(2, 0, 7200, 3600) == {}
