"""``GET /metrics``: real traffic in, the figures read back with ``prometheus_client``'s own parser.

Requests by route template and status, outcomes (compared with the control API's own totals),
stored records and bytes, evictions by retention, connections, resident memory; counters that
outlive a reset; a registry per service; the control API's auth rules.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest_twisted
import treq
from prometheus_client.parser import text_string_to_metric_families

from conftest import AUTH, request_json
from issue_helpers import api, error_event, send
from sentry_daemon.metrics import MAX_OUTCOME_SERIES, RecordCounts
from sentry_daemon.store.record_log import RecordLog
from sentry_daemon.testing import start_sentry
from test_api_stats import _line, envelope, ingest, send_traffic

ADMIN = "admin-metrics-token"


async def scrape(sentry: Any, headers: dict[str, str] | None = None) -> dict[str, dict[tuple, float]]:
    """``/metrics`` parsed: sample name -> {sorted label items: value}."""
    response = await treq.get(sentry.url + "/metrics", headers=headers)
    text = (await response.content()).decode()
    assert response.code == 200, text
    assert response.headers.getRawHeaders("content-type")[0].startswith("text/plain; version=")
    samples: dict[str, dict[tuple, float]] = {}
    for family in text_string_to_metric_families(text):
        assert family.name.startswith("sentryfake_"), family.name
        for sample in family.samples:
            samples.setdefault(sample.name, {})[tuple(sorted(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict[str, dict[tuple, float]], name: str, **labels: str) -> float:
    """One sample's value (0 when there is none: a counter not yet counted)."""
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


@pytest_twisted.ensureDeferred
async def test_requests_outcomes_and_stored_counts_after_real_traffic(sentry: Any) -> None:
    await send_traffic(sentry)  # four envelopes: two errors (one with an attachment), one invalid, a client report
    for _ in range(2):
        await send(sentry, error_event())  # the store endpoint
    issues = await api(sentry, "GET", "/api/0/projects/parlel/hello-world/issues/")
    for issue in issues:  # distinct paths, one route
        await api(sentry, "GET", f"/api/0/organizations/parlel/issues/{issue['id']}/")
    response, _ = await request_json("GET", sentry.url + "/no/such/route")
    assert response.code == 404
    response, _ = await request_json("GET", sentry.url + "/api/0/projects/parlel/nope/", headers=AUTH)
    assert response.code == 404

    samples = await scrape(sentry)
    requests = "sentryfake_requests_total"
    assert value(samples, requests, route="/api/{project_id}/envelope/", method="POST", status="200") == 4
    assert value(samples, requests, route="/api/{project_id}/store/", method="POST", status="200") == 2
    assert value(samples, requests, route="/api/0/organizations/{org}/issues/{issue_id}/",
                 method="GET", status="200") == len(issues) >= 2
    assert value(samples, requests, route="/api/0/projects/{org}/{project}/",
                 method="GET", status="404") == 1
    assert value(samples, requests, route="unmatched", method="GET", status="404") == 1
    assert not any(dict(labels)["route"].startswith(("/no/", "/api/0/organizations/parlel"))
                   for labels in samples[requests]), "raw paths leaked into the route label"

    # the histogram saw each answered request once, by route
    histogram = "sentryfake_request_duration_seconds"
    assert value(samples, histogram + "_count", route="/api/{project_id}/envelope/") == 4
    assert value(samples, histogram + "_bucket", route="/api/{project_id}/envelope/", le="+Inf") == 4
    assert 0 < value(samples, histogram + "_sum", route="/api/{project_id}/envelope/") < 4 * 5

    # outcomes: the same figures as the control API's totals, and the ones sent
    _, listed = await request_json("GET", sentry.url + "/__parlel/outcomes")
    expected: dict[tuple, float] = {}
    for row in listed["outcomes"]:
        key = (("category", row["category"]), ("outcome", row["outcome"]), ("reason", row["reason"] or ""))
        expected[key] = expected.get(key, 0) + row["quantity"]
    assert samples["sentryfake_outcomes_total"] == expected
    outcomes = "sentryfake_outcomes_total"
    assert value(samples, outcomes, category="error", outcome="accepted", reason="") == 4
    assert value(samples, outcomes, category="error", outcome="client_discard", reason="ratelimit_backoff") == 3
    assert value(samples, outcomes, category="error", outcome="filtered", reason="browser-extensions") == 5
    assert value(samples, outcomes, category="attachment", outcome="accepted", reason="") == len(b"twelve bytes")

    stored = "sentryfake_stored_records"
    assert value(samples, stored, kind="event") == len(sentry.store.events) == 4
    assert value(samples, stored, kind="envelope") == len(sentry.store.envelopes) == 6
    assert value(samples, stored, kind="attachment") == 1
    assert value(samples, stored, kind="issue") == len(sentry.store.issues.by_id) >= 2
    assert value(samples, "sentryfake_stored_bytes") == sentry.store.retention.stored_bytes > 0
    assert value(samples, "sentryfake_records_total", kind="event") == 4
    assert value(samples, "sentryfake_connections_open") >= 1
    assert value(samples, "sentryfake_requests_in_flight") == 1  # this scrape
    assert value(samples, "sentryfake_waiters") == 0
    assert value(samples, "sentryfake_process_resident_memory_bytes") > 10 * 2**20
    assert value(samples, "sentryfake_retention_max_events") == 100_000


@pytest_twisted.ensureDeferred
async def test_counters_outlive_a_reset_and_stored_figures_follow_it(sentry: Any) -> None:
    await send(sentry, error_event())
    response, _ = await request_json("POST", sentry.url + "/__parlel/reset")
    assert response.code == 200
    samples = await scrape(sentry)
    assert value(samples, "sentryfake_outcomes_total", category="error", outcome="accepted", reason="") == 1
    assert value(samples, "sentryfake_requests_total", route="/__parlel/reset", method="POST", status="200") == 1
    assert value(samples, "sentryfake_stored_records", kind="event") == 0
    assert value(samples, "sentryfake_stored_records", kind="issue") == 0


@pytest_twisted.ensureDeferred
async def test_each_service_counts_its_own(sentry: Any) -> None:
    other = await start_sentry()
    try:
        await send(sentry, error_event())
        await send(sentry, error_event())
        await send(other, error_event())
        assert value(await scrape(sentry), "sentryfake_outcomes_total",
                     category="error", outcome="accepted", reason="") == 2
        assert value(await scrape(other), "sentryfake_outcomes_total",
                     category="error", outcome="accepted", reason="") == 1
    finally:
        await other.stop()


@pytest_twisted.ensureDeferred
async def test_evictions_are_counted_by_kind_and_limit() -> None:
    sentry = await start_sentry(max_events=2)
    try:
        for n in range(5):
            await ingest(sentry, envelope(({"type": "event"}, _line({"message": f"m{n}"}))))
        samples = await scrape(sentry)
        assert value(samples, "sentryfake_evicted_total", kind="event", reason="max_events") == 3
        assert value(samples, "sentryfake_evicted_total", kind="envelope", reason="max_events") == 3
        assert value(samples, "sentryfake_evicted_bytes_total", reason="max_events") == \
            sentry.store.retention.evicted_bytes > 0
        assert value(samples, "sentryfake_stored_records", kind="event") == 2
        assert value(samples, "sentryfake_retention_max_events") == 2
    finally:
        await sentry.stop()


@pytest_twisted.ensureDeferred
async def test_with_control_auth_token_metrics_need_an_admin_token() -> None:
    sentry = await start_sentry(control_auth="token", admin_tokens=(ADMIN,))
    try:
        tenant = await sentry.create_tenant()
        for headers, status in (({}, 401), ({"Authorization": "Bearer nope"}, 401),
                                (AUTH, 403),  # a user token belongs to no one organization
                                ({"Authorization": f"Bearer {tenant.token}"}, 403)):
            response, body = await request_json("GET", sentry.url + "/metrics", headers=headers)
            assert (response.code, "detail" in body) == (status, True), (headers, body)
        samples = await scrape(sentry, {"Authorization": f"Bearer {ADMIN}"})
        assert value(samples, "sentryfake_requests_total", route="/metrics", method="GET", status="403") == 2
    finally:
        await sentry.stop()


@pytest_twisted.ensureDeferred
async def test_openmetrics_when_the_scraper_asks(sentry: Any) -> None:
    response = await treq.get(sentry.url + "/metrics",
                              headers={"Accept": "application/openmetrics-text; version=1.0.0; charset=utf-8"})
    text = (await response.content()).decode()
    assert response.headers.getRawHeaders("content-type")[0].startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")


def test_client_chosen_reasons_cannot_grow_the_label_set_without_bound() -> None:
    log = RecordLog()
    counts = RecordCounts(log)
    for n in range(MAX_OUTCOME_SERIES + 50):
        log.append("outcome", ((1, "error", "client_discard", uuid.uuid4().hex), 1, 0.0))
    log.append("outcome", ((1, "made-up", "client_discard", "another"), 2, 0.0))
    log.append("outcome", ((1, "error", "client_discard", "yet-another"), 1, 0.0))
    assert len(counts.outcomes) == MAX_OUTCOME_SERIES + 2
    assert counts.outcomes[("error", "client_discard", "other")] == 51
    assert counts.outcomes[("unknown", "client_discard", "other")] == 2
    assert sum(counts.outcomes.values()) == MAX_OUTCOME_SERIES + 50 + 3
