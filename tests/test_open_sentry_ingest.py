"""``POST /v1/ingest``, the Open Sentry ingest API: its contract, answer by answer, and each item
read back as Sentry shows it (web API) and as it arrived (control API)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest_twisted

from conftest import request_json
from issue_helpers import ISSUES, api
from sentry_daemon.http.site import SentrySite
from sentry_daemon.ingest import open_sentry
from test_api_schema import PROJECT, check, schema  # noqa: F401  (the fixture)
from test_ingest import raw_http

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
KEY = {"X-Open-Sentry-Key": "parlel"}
JSON = {"Content-Type": "application/json"}
LIMIT = 256 * 1024


def iso(stamp: float) -> str:
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def error_item(value: str = "x is undefined", **extra: Any) -> dict[str, Any]:
    """An error as the Open Sentry SDK sends it: thrown in lib.js, called from app.js."""
    return {
        "type": "error",
        "exception": {"type": "TypeError", "value": value, "stacktrace": {"frames": [
            {"filename": "src/app.js", "function": "main", "lineno": 3, "colno": 7, "inApp": True},
            {"filename": "node_modules/lib/index.js", "function": "boom", "lineno": 10, "colno": 2,
             "inApp": False},
        ]}},
        **extra,
    }


async def post(sentry: Any, body: Any, headers: dict[str, str] | None = KEY, path: str = "/v1/ingest",
               raw: bytes | None = None) -> tuple[int, Any, Any]:
    """(status, JSON answer, response) of one ingest request."""
    data = raw if raw is not None else json.dumps(body).encode()
    response, answer = await request_json("POST", sentry.url + path, data=data, headers={**JSON, **(headers or {})})
    return response.code, answer, response


async def accepted(sentry: Any, body: Any, **kwargs: Any) -> dict[str, Any]:
    """Send a batch that must be accepted; the batch as the control API shows it."""
    status, answer, response = await post(sentry, body, **kwargs)
    assert status == 202, answer
    assert set(answer) == {"id"} and str(uuid.UUID(answer["id"])) == answer["id"]
    assert response.headers.getRawHeaders("content-type") == ["application/json"]
    return await control(sentry, f"/__parlel/batches/{answer['id']}")


async def control(sentry: Any, path: str) -> Any:
    response, body = await request_json("GET", sentry.url + path)
    assert response.code == 200, (path, body)
    return body


async def stored(sentry: Any) -> tuple[int, int, int, int]:
    """(events, envelopes, batches, issues) the daemon holds."""
    events = (await control(sentry, "/__parlel/events"))["count"]
    envelopes = (await control(sentry, "/__parlel/envelopes"))["count"]
    batches = (await control(sentry, "/__parlel/batches"))["count"]
    issues = len(await api(sentry, "GET", ISSUES))
    return events, envelopes, batches, issues


async def outcomes(sentry: Any) -> dict[tuple[str, str, str | None], int]:
    rows = (await control(sentry, "/__parlel/outcomes?project=1"))["outcomes"]
    return {(r["category"], r["outcome"], r["reason"]): r["quantity"] for r in rows}


def event_path(event_id: str) -> str:
    return f"/api/0/projects/parlel/hello-world/events/{event_id}/"


def entry(event: dict[str, Any], kind: str) -> Any:
    return next(e["data"] for e in event["entries"] if e["type"] == kind)


# --- the three item kinds --------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_an_error_becomes_an_issue_grouped_like_an_sdk_event(sentry, schema):  # noqa: F811
    sent_at = time.time() - 30
    item = error_item(message="checkout failed", tags={"flow": "checkout", "attempt": 2, "beta": True},
                      user={"id": "u-7", "email": "ada@example.com", "ipAddress": "10.0.0.1"},
                      environment="staging", release="shop@1.4.0", timestamp=iso(sent_at),
                      breadcrumbs=[{"category": "ui.click", "message": "Pay", "level": "info",
                                    "timestamp": iso(sent_at - 1)},
                                   {"category": "navigation", "message": "/cart"}],
                      unknownField={"is": "ignored"})
    batch = await accepted(sentry, item)  # one item, not an array
    assert (batch["count"], batch["key"], batch["auth"], batch["project"]) == (1, "parlel", "x-open-sentry-key", 1)
    (only,) = batch["items"]
    assert (only["index"], only["type"], only["item"], only["span_id"]) == (0, "error", item, None)

    issues = await api(sentry, "GET", ISSUES)
    check(schema, f"{PROJECT}/issues/", "get", issues)
    (issue,) = issues
    assert (issue["title"], issue["culprit"], issue["platform"], issue["count"]) == (
        "TypeError: x is undefined", "main(src/app.js)", "javascript", "1")

    event = await api(sentry, "GET", event_path(only["event_id"]))
    check(schema, f"{PROJECT}/events/{{event_id}}/", "get", event)
    assert event["groupID"] == issue["id"] and event["platform"] == "javascript"
    assert event["dateCreated"] == iso(sent_at)
    (exception,) = entry(event, "exception")["values"]
    assert (exception["type"], exception["value"]) == ("TypeError", "x is undefined")
    frames = exception["stacktrace"]["frames"]
    assert [(f["filename"], f["function"], f["lineNo"], f["colNo"], f["inApp"]) for f in frames] == [
        ("src/app.js", "main", 3, 7, True), ("node_modules/lib/index.js", "boom", 10, 2, False)]
    assert entry(event, "message")["formatted"] == "checkout failed"
    crumbs = entry(event, "breadcrumbs")["values"]
    assert [(c["category"], c["message"], c["timestamp"]) for c in crumbs] == [
        ("ui.click", "Pay", iso(sent_at - 1)), ("navigation", "/cart", iso(sent_at))]
    tags = {t["key"]: t["value"] for t in event["tags"]}
    assert {k: tags[k] for k in ("flow", "attempt", "beta", "environment", "release")} == {
        "flow": "checkout", "attempt": "2", "beta": "true", "environment": "staging", "release": "shop@1.4.0"}
    assert (event["user"]["id"], event["user"]["email"], event["user"]["ip_address"]) == (
        "u-7", "ada@example.com", "10.0.0.1")

    # the same error from a JavaScript SDK joins the same issue: one pipeline for both front doors
    sdk_event = {"platform": "javascript", "exception": {"values": [{
        "type": "TypeError", "value": "x is undefined", "stacktrace": {"frames": [
            {"filename": "src/app.js", "function": "main", "lineno": 3, "colno": 7, "in_app": True},
            {"filename": "node_modules/lib/index.js", "function": "boom", "lineno": 10, "colno": 2, "in_app": False},
        ]}}]}}
    response, answer = await request_json("POST", f"{sentry.url}/api/1/store/", json=sdk_event)
    assert response.code == 200, answer
    again = await accepted(sentry, [error_item("y is undefined")])
    (issue,) = await api(sentry, "GET", ISSUES)
    assert issue["count"] == "3"
    detail = await control(sentry, f"/__parlel/events/{again['items'][0]['event_id']}/grouping")
    assert detail  # the grouping info is there for it, as for any error event

    # the control API finds it by its batch: the event, its item and its envelope
    events = await control(sentry, f"/__parlel/events?batch={batch['id']}")
    assert [e["event_id"] for e in events["events"]] == [only["event_id"]]
    assert events["events"][0]["exception"]["values"][0]["stacktrace"]["frames"][0]["in_app"] is True
    (envelope,) = (await control(sentry, f"/__parlel/envelopes?batch={batch['id']}"))["envelopes"]
    assert (envelope["id"], envelope["endpoint"], envelope["batch"], envelope["auth"]) == (
        only["envelope"], "open-sentry", batch["id"], "x-open-sentry-key")
    assert envelope["headers"] == {"event_id": only["event_id"]} and envelope["items"] == [{"type": "event"}]
    _, raw = await request_json("GET", f"{sentry.url}/__parlel/envelopes/{envelope['id']}/raw")
    header, item_header, payload = raw.splitlines()
    assert json.loads(header) == {"event_id": only["event_id"]} and json.loads(item_header)["type"] == "event"
    assert json.loads(payload)["exception"]["values"][0]["stacktrace"]["frames"][0]["in_app"] is True
    (item,) = (await control(sentry, f"/__parlel/items?batch={batch['id']}"))["items"]
    assert item["type"] == "event" and item["payload"]["event_id"] == only["event_id"]


@pytest_twisted.ensureDeferred
async def test_a_transaction_and_its_spans(sentry, schema):  # noqa: F811
    end = time.time() - 5
    item = {"type": "transaction", "name": "GET /checkout", "traceId": TRACE.upper(), "durationMs": 1250,
            "status": "error", "environment": "production", "timestamp": iso(end), "spans": [
                {"spanId": "a1b2c3d4e5f60718", "op": "db.query", "description": "SELECT 1", "durationMs": 40},
                {"spanId": "b1b2c3d4e5f60718", "op": "http.client", "description": "GET /api",
                 "durationMs": 300, "parentSpanId": "a1b2c3d4e5f60718"},
                {"op": "ui.render"}]}
    batch = await accepted(sentry, [item])
    (only,) = batch["items"]
    event = await api(sentry, "GET", event_path(only["event_id"]))
    check(schema, f"{PROJECT}/events/{{event_id}}/", "get", event)
    assert (event["type"], event["title"]) == ("transaction", "GET /checkout")
    assert abs(event["endTimestamp"] - end) < 1e-3 and abs(event["startTimestamp"] - (end - 1.25)) < 1e-3
    trace = event["contexts"]["trace"]
    assert (trace["trace_id"], trace["op"], trace["status"]) == (TRACE, "default", "internal_error")
    spans = entry(event, "spans")
    assert [(s["op"], s.get("description"), s["parent_span_id"]) for s in spans] == [
        ("db.query", "SELECT 1", trace["span_id"]), ("http.client", "GET /api", "a1b2c3d4e5f60718"),
        ("ui.render", None, trace["span_id"])]
    assert all(s["trace_id"] == TRACE and abs(s["start_timestamp"] - (end - 1.25)) < 1e-3 for s in spans)
    assert [round(s["timestamp"] - s["start_timestamp"], 3) for s in spans] == [0.04, 0.3, 1.25]
    assert len(spans[2]["span_id"]) == 16

    # transactions open no issue, and are listed as transactions in the control API
    assert await api(sentry, "GET", ISSUES) == []
    listed = await control(sentry, f"/__parlel/events?type=transaction&batch={batch['id']}")
    assert [e["event_id"] for e in listed["events"]] == [only["event_id"]]
    assert (await control(sentry, f"/__parlel/envelopes?batch={batch['id']}"))["envelopes"][0]["items"] == [
        {"type": "transaction"}]
    # status defaults to ok
    batch = await accepted(sentry, {"type": "transaction", "name": "idle", "traceId": TRACE, "durationMs": 0})
    event = await api(sentry, "GET", event_path(batch["items"][0]["event_id"]))
    assert event["contexts"]["trace"]["status"] == "ok" and entry(event, "spans") == []


@pytest_twisted.ensureDeferred
async def test_an_ai_generation_is_a_gen_ai_chat_span_in_a_transaction_of_its_trace(sentry):
    end = time.time() - 2
    generation = {"type": "ai_generation", "provider": "openai", "model": "gpt-4o", "inputTokens": 1200,
                  "outputTokens": 300, "totalCostUsd": 0.0105, "inputCostUsd": 0.006, "outputCostUsd": 0.0045,
                  "latencyMs": 1500, "timeToFirstTokenMs": 250, "status": "error", "traceId": TRACE,
                  "spanId": "ABCDEF0123456789", "tags": {"feature": "summary"}, "user": {"id": "u-1"},
                  "metadata": {"prompt": "v2"}, "environment": "production", "timestamp": iso(end)}
    batch = await accepted(sentry, [generation])
    (only,) = batch["items"]
    assert only["span_id"] == "abcdef0123456789"
    event = await api(sentry, "GET", event_path(only["event_id"]))
    assert (event["type"], event["title"]) == ("transaction", "chat gpt-4o")
    trace = event["contexts"]["trace"]
    assert (trace["trace_id"], trace["status"]) == (TRACE, "internal_error")
    assert event["user"]["id"] == "u-1"
    (captured,) = (await control(sentry, f"/__parlel/events?batch={batch['id']}"))["events"]
    assert ["feature", "summary"] in captured["tags"] and captured["environment"] == "production"
    (span,) = entry(event, "spans")
    assert (span["op"], span["description"], span["span_id"], span["parent_span_id"], span["status"]) == (
        "gen_ai.chat", "chat gpt-4o", "abcdef0123456789", trace["span_id"], "internal_error")
    assert abs(span["timestamp"] - end) < 1e-3 and abs(span["timestamp"] - span["start_timestamp"] - 1.5) < 1e-3
    assert span["data"] == {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": "openai",
        "gen_ai.request.model": "gpt-4o",
        "gen_ai.usage.input_tokens": 1200,
        "gen_ai.usage.output_tokens": 300,
        "gen_ai.usage.total_tokens": 1500,
        "gen_ai.response.tokens_per_second": 200.0,
        "gen_ai.cost.total_tokens": 0.0105,
        "gen_ai.usage.total_cost": 0.0105,
        "gen_ai.cost.input_tokens": 0.006,
        "gen_ai.cost.output_tokens": 0.0045,
        "gen_ai.response.time_to_first_token": 0.25,
        "user.id": "u-1",
        "metadata": {"prompt": "v2"},
    }
    assert span["tags"] == {"feature": "summary"}

    # with the request's transaction in the same batch (before or after it), the LLM call is a
    # span of that transaction; without a trace id it gets a trace of its own
    minimal = {"type": "ai_generation", "provider": "anthropic", "model": "claude-sonnet-4", "inputTokens": 5}
    request = {"type": "transaction", "name": "POST /chat", "traceId": TRACE, "durationMs": 2000}
    batch = await accepted(sentry, [{**minimal, "traceId": TRACE}, request, minimal])
    first, host, alone = batch["items"]
    assert first["event_id"] == host["event_id"] and first["envelope"] == host["envelope"]
    assert alone["event_id"] != host["event_id"]
    event = await api(sentry, "GET", event_path(host["event_id"]))
    assert event["title"] == "POST /chat"
    (span,) = entry(event, "spans")
    assert (span["span_id"], span["parent_span_id"], span["op"]) == (
        first["span_id"], event["contexts"]["trace"]["span_id"], "gen_ai.chat")
    assert span["data"] == {"gen_ai.operation.name": "chat", "gen_ai.system": "anthropic",
                            "gen_ai.request.model": "claude-sonnet-4", "gen_ai.usage.input_tokens": 5,
                            "gen_ai.usage.total_tokens": 5}
    event = await api(sentry, "GET", event_path(alone["event_id"]))
    assert event["title"] == "chat claude-sonnet-4" and event["contexts"]["trace"]["trace_id"] != TRACE
    assert len((await control(sentry, f"/__parlel/events?batch={batch['id']}"))["events"]) == 2


# --- batches ------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_batch_of_20_is_accepted_and_21_refused(sentry):
    items = [error_item(f"failure {n}") if n % 2 else
             {"type": "transaction", "name": f"job {n}", "traceId": uuid.uuid4().hex, "durationMs": n}
             for n in range(20)]
    batch = await accepted(sentry, items)
    assert batch["count"] == 20 and [i["index"] for i in batch["items"]] == list(range(20))
    assert [i["type"] for i in batch["items"]] == [i["type"] for i in items]
    events = (await control(sentry, f"/__parlel/events?batch={batch['id']}"))["events"]
    assert [e["event_id"] for e in events] == [i["event_id"] for i in batch["items"]]
    assert len(await api(sentry, "GET", ISSUES)) == 1  # ten errors, one stack: one issue
    before = await stored(sentry)

    status, answer, _ = await post(sentry, items + [error_item()])
    assert (status, answer) == (400, {"error": "Invalid payload"})
    assert await stored(sentry) == before
    counted = await outcomes(sentry)
    assert counted[("error", "accepted", None)] == 10 and counted[("transaction", "accepted", None)] == 10
    assert counted[("error", "invalid", "payload")] == 11 and counted[("transaction", "invalid", "payload")] == 10


@pytest_twisted.ensureDeferred
async def test_an_invalid_batch_stores_nothing(sentry):
    before = await stored(sentry)
    bad = {"type": "transaction", "name": "GET /", "traceId": TRACE, "durationMs": "12"}
    status, answer, _ = await post(sentry, [error_item(), bad])
    assert (status, answer) == (400, {"error": "Invalid payload"})
    assert await stored(sentry) == before
    assert (await control(sentry, "/__parlel/items"))["count"] == 0
    assert await outcomes(sentry) == {("error", "invalid", "payload"): 1, ("transaction", "invalid", "payload"): 1}


@pytest_twisted.ensureDeferred
async def test_outcomes_show_in_stats_v2(sentry):
    await accepted(sentry, [error_item(), {"type": "ai_generation", "provider": "openai", "model": "m",
                                           "inputTokens": 1}])
    await post(sentry, None, raw=b"{nope")
    params = "field=sum(quantity)&groupBy=category&groupBy=outcome&statsPeriod=1h&interval=1h"
    body = await api(sentry, "GET", f"/api/0/organizations/parlel/stats_v2/?{params}")
    totals = {(g["by"]["category"], g["by"]["outcome"]): g["totals"]["sum(quantity)"] for g in body["groups"]}
    assert totals == {("error", "accepted"): 1, ("transaction", "accepted"): 1, ("error", "invalid"): 1}


# --- answers ------------------------------------------------------------------------------------

TRANSACTION = {"type": "transaction", "name": "n", "traceId": TRACE, "durationMs": 1}
INVALID_PAYLOADS = [
    [],
    "an error",
    42,
    [error_item(), "not an item"],
    {"exception": {"type": "E", "value": "v"}},                      # no type
    {"type": "log", "message": "unknown kind"},
    {"type": "error"},                                               # no exception
    {"type": "error", "exception": {"value": "v"}},                  # no exception type
    {"type": "error", "exception": {"type": "E", "value": "v", "stacktrace": {}}},
    {"type": "error", "exception": {"type": "E", "value": "v", "stacktrace": {"frames": [{"lineno": "3"}]}}},
    {"type": "error", "exception": {"type": "E", "value": "v", "stacktrace": {"frames": [{"inApp": "yes"}]}}},
    {"type": "error", "exception": {"type": "E", "value": "v"}, "timestamp": "yesterday"},
    {"type": "error", "exception": {"type": "E", "value": "v"}, "timestamp": 1700000000},
    {"type": "error", "exception": {"type": "E", "value": "v"}, "tags": {"a": {"b": 1}}},
    {"type": "error", "exception": {"type": "E", "value": "v"}, "message": None},
    {"type": "transaction", "traceId": TRACE, "durationMs": 1},      # no name
    {**TRANSACTION, "durationMs": 1.5},
    {**TRANSACTION, "durationMs": -1},
    {**TRANSACTION, "durationMs": True},
    {**TRANSACTION, "traceId": "not-a-trace"},
    {**TRANSACTION, "status": "unknown"},
    {**TRANSACTION, "spans": [{"spanId": "xyz"}]},
    {**TRANSACTION, "spans": {"op": "db"}},
    {"type": "ai_generation", "provider": "openai", "model": "gpt-4o"},  # no inputTokens
    {"type": "ai_generation", "provider": "openai", "model": "gpt-4o", "inputTokens": 2 ** 60},
    {"type": "ai_generation", "provider": "openai", "model": "gpt-4o", "inputTokens": 1, "totalCostUsd": "1"},
    {"type": "ai_generation", "provider": "", "model": "gpt-4o", "inputTokens": 1},
    {"type": "ai_generation", "provider": "openai", "model": "gpt-4o", "inputTokens": 1, "status": "cancelled"},
    {"type": "ai_generation", "provider": "openai", "model": "gpt-4o", "inputTokens": 1,
     "metadata": json.loads("[" * 70 + "]" * 70)},
]


@pytest_twisted.ensureDeferred
async def test_every_error_answer(sentry):
    for raw in (b"{nope", b"", b"NaN", b"[1, 2", "{\"a\": \"\udc00\"}".encode("utf-8", "surrogatepass")):
        status, answer, response = await post(sentry, None, raw=raw)
        assert (status, answer) == (400, {"error": "Invalid JSON"}), raw
        assert response.headers.getRawHeaders("content-type") == ["application/json"]
    for body in INVALID_PAYLOADS:
        status, answer, _ = await post(sentry, body)
        assert (status, answer) == (400, {"error": "Invalid payload"}), body
    for headers in ({}, {"X-Open-Sentry-Key": ""}, {"X-Sentry-Clone-Key": "  "}):
        status, answer, _ = await post(sentry, error_item(), headers=headers)
        assert (status, answer) == (401, {"error": "Missing auth key"})
    status, answer, _ = await post(sentry, error_item(), headers=None, path="/v1/ingest?key=")
    assert (status, answer) == (401, {"error": "Missing auth key"})
    # auth is checked before the body is read
    status, answer, _ = await post(sentry, None, headers={"X-Open-Sentry-Key": "nobody"}, raw=b"{nope")
    assert (status, answer) == (403, {"error": "Invalid DSN key"})
    assert await stored(sentry) == (0, 0, 0, 0)


@pytest_twisted.ensureDeferred
async def test_disabled_and_deleted_keys_are_refused(sentry):
    keys = "/api/0/projects/parlel/hello-world/keys/"
    created = await api(sentry, "POST", keys, 201, json={"name": "beacon"})
    key = {"X-Open-Sentry-Key": created["public"]}
    await accepted(sentry, error_item(), headers=key)
    await api(sentry, "PUT", f"{keys}{created['id']}/", json={"isActive": False})
    status, answer, _ = await post(sentry, error_item(), headers=key)
    assert (status, answer) == (403, {"error": "Invalid DSN key"})
    await api(sentry, "PUT", f"{keys}{created['id']}/", json={"isActive": True})
    await accepted(sentry, error_item(), headers=key)
    await api(sentry, "DELETE", f"{keys}{created['id']}/", 204)
    status, answer, _ = await post(sentry, error_item(), headers=key)
    assert (status, answer) == (403, {"error": "Invalid DSN key"})
    # and lenient SDK ingest does not bring a deleted key back for this API either
    await request_json("POST", f"{sentry.url}/api/1/store/?sentry_key={created['public']}", json={"message": "m"})
    status, _, _ = await post(sentry, error_item(), headers=key)
    assert status == 403


@pytest_twisted.ensureDeferred
async def test_every_auth_form_and_the_dsn_names_the_project(sentry):
    forms = [({"X-Open-Sentry-Key": "parlel"}, "/v1/ingest", "x-open-sentry-key"),
             ({"X-Sentry-Clone-Key": "parlel"}, "/v1/ingest/", "x-sentry-clone-key"),
             ({}, "/v1/ingest?key=parlel", "query"),
             ({}, "/v1/ingest/?key=parlel", "query")]
    for headers, path, source in forms:
        batch = await accepted(sentry, error_item(), headers=headers, path=path)
        assert (batch["auth"], batch["key"], batch["project"]) == (source, "parlel", 1)
    # the browser beacon: ?key=, a text/plain body (no preflight)
    response, answer = await request_json("POST", f"{sentry.url}/v1/ingest?key=parlel",
                                          data=json.dumps(error_item()).encode(),
                                          headers={"Content-Type": "text/plain;charset=UTF-8"})
    assert response.code == 202 and response.headers.getRawHeaders("access-control-allow-origin") == ["*"]

    # another project's key files the events under that project
    project = await api(sentry, "POST", "/api/0/teams/parlel/parlel/projects/", 201, json={"name": "Web Shop"})
    (key,) = await api(sentry, "GET", f"/api/0/projects/parlel/{project['slug']}/keys/")
    dsn = f"http://{key['public']}@127.0.0.1:{sentry.port}/v1/ingest"
    public = dsn.split("//", 1)[1].split("@", 1)[0]
    batch = await accepted(sentry, error_item(), headers={"X-Open-Sentry-Key": public})
    assert batch["project"] == int(project["id"])
    (issue,) = await api(sentry, "GET", f"/api/0/projects/parlel/{project['slug']}/issues/")
    assert issue["title"] == "TypeError: x is undefined"
    events = (await control(sentry, f"/__parlel/events?project={project['id']}"))["events"]
    assert [e["event_id"] for e in events] == [batch["items"][0]["event_id"]]


@pytest_twisted.ensureDeferred
async def test_cors_preflight(sentry):
    for path in ("/v1/ingest", "/v1/ingest/"):
        response, _ = await request_json("OPTIONS", sentry.url + path, headers={
            "Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-open-sentry-key, content-type"})
        assert response.code == 200
        allowed = response.headers.getRawHeaders("access-control-allow-headers")[0]
        assert {"x-open-sentry-key", "x-sentry-clone-key", "content-type"} <= set(allowed.split(", "))
        assert response.headers.getRawHeaders("access-control-allow-origin") == ["*"]


# --- the body cap ---------------------------------------------------------------------------------


def padded(size: int) -> bytes:
    """An error item of exactly ``size`` bytes (the padding is an unknown field)."""
    base = json.dumps({**error_item(), "pad": ""}).encode()
    return base.replace(b'"pad": ""', b'"pad": "' + b"p" * (size - len(base)) + b'"')


@pytest_twisted.ensureDeferred
async def test_a_body_over_256_kib_is_refused_before_it_is_buffered(sentry):
    assert len(padded(LIMIT)) == LIMIT
    await accepted(sentry, None, raw=padded(LIMIT))
    status, answer, response = await post(sentry, None, raw=padded(LIMIT + 1))
    assert (status, answer) == (413, {"error": "Payload too large"})
    assert response.headers.getRawHeaders("content-type") == ["application/json"]
    # streamed without a Content-Length, the cap holds as the body arrives
    big = padded(4 * LIMIT)
    status, headers, body = await raw_http(sentry.port, "POST /v1/ingest/ HTTP/1.1\r\nX-Open-Sentry-Key: parlel",
                                           chunks=[big[i:i + 65536] for i in range(0, len(big), 65536)])
    assert (status, json.loads(body), headers["content-type"]) == (413, {"error": "Payload too large"},
                                                                   "application/json")
    # refused before auth: the body never reached the route
    status, answer, _ = await post(sentry, None, headers={}, raw=padded(LIMIT + 1))
    assert (status, answer) == (413, {"error": "Payload too large"})
    assert (await control(sentry, "/__parlel/batches"))["count"] == 1
    # the SDK routes keep their own cap and their own answer
    response, answer = await request_json("POST", f"{sentry.url}/api/1/store/", data=padded(LIMIT + 1))
    assert response.code == 200


def test_the_cap_is_per_path_and_never_above_max_body():
    rule = [(open_sentry.PATH, open_sentry.MAX_BODY, open_sentry.TOO_LARGE)]
    site = SentrySite(None, max_body=200 * 1024 * 1024, capped_bodies=rule)
    assert site.body_limit(b"/v1/ingest") == site.body_limit(b"/v1/ingest/?key=k") == LIMIT
    assert site.body_limit(b"/api/1/envelope/") == 200 * 1024 * 1024
    assert site.too_large_answer(b"/v1/ingest?key=k") == {"error": "Payload too large"}
    assert site.too_large_answer(b"/api/1/envelope/") is None
    assert SentrySite(None, max_body=1000, capped_bodies=rule).body_limit(b"/v1/ingest") == 1000
    assert SentrySite(None, max_body=0, capped_bodies=rule).body_limit(b"/v1/ingest") == LIMIT


@pytest_twisted.ensureDeferred
async def test_the_batch_by_id_and_reset(sentry):
    batch = await accepted(sentry, error_item())
    assert await control(sentry, f"/__parlel/batches/{batch['id'].replace('-', '').upper()}") == batch
    assert (await control(sentry, "/__parlel/batches?project=1"))["batches"] == [batch]
    assert (await control(sentry, "/__parlel/batches?project=2"))["count"] == 0
    for unknown in (str(uuid.uuid4()), "not-a-uuid"):
        response, answer = await request_json("GET", f"{sentry.url}/__parlel/batches/{unknown}")
        assert response.code == 404
        assert (await control(sentry, f"/__parlel/events?batch={unknown}"))["count"] == 0
    response, _ = await request_json("POST", f"{sentry.url}/__parlel/reset")
    assert response.code == 200
    response, _ = await request_json("GET", f"{sentry.url}/__parlel/batches/{batch['id']}")
    assert (response.code, (await control(sentry, "/__parlel/batches"))["count"]) == (404, 0)
    metadata = await control(sentry, "/")
    assert {"POST /v1/ingest", "GET /__parlel/batches", "GET /__parlel/batches/{id}"} <= set(metadata["endpoints"])
