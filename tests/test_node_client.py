"""End to end with the real ``@sentry/node`` 11.12.0 SDK.

The SDK is installed once with npm into a cache outside the repository
(``$XDG_CACHE_HOME/sentryfake-tests/node-11.12.0``, default ``~/.cache/…``) and reused while it
holds that exact version; without ``node``/``npm``, or when the install fails (no network), the
module is skipped.

The driver is ``tests/clients/node_sdk.mjs``. It runs in a subprocess (the SDK blocks while it
flushes; the daemon runs on this test's reactor) and prints the ids it captured and, for every
envelope its transport sent, the item types and the status the daemon answered. When it has
exited, everything was answered, and the daemon stores before it answers: the control API is read
with no waiting.

Every run also checks the wire contract of CLIENTS.md §2/§4 from the daemon's side: one stored
envelope per request, key in the query string (``auth == "query"``), no Content-Type, and gzip
only for bodies over 32 KiB.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet.threads import deferToThread

from real_clients import (
    BINARY,
    HEX32,
    TEXT,
    assert_attachments_stored,
    client_env,
    events,
    get,
    issues,
    items,
    message_of,
    run_client,
    tag_pairs,
)

SDK_VERSION = "11.12.0"
CLIENT = f"sentry.javascript.node/{SDK_VERSION}"
SDK_SCRIPT = Path(__file__).parent / "clients" / "node_sdk.mjs"
RELEASE = "myapp@1.0.0"
ENVIRONMENT = "acceptance"
HEX16 = re.compile(r"[0-9a-f]{16}")
GZIP_THRESHOLD = 32 * 1024  # the Node transport gzips bodies over 32 KiB


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "sentryfake-tests" / f"node-{SDK_VERSION}"


def _installed_version(cache: Path) -> str | None:
    try:
        manifest = json.loads((cache / "node_modules" / "@sentry" / "node" / "package.json").read_text())
    except (OSError, ValueError):
        return None
    return manifest.get("version")


@dataclass(frozen=True)
class NodeSDK:
    node: str
    root: Path  # holds node_modules/@sentry/node


@pytest.fixture(scope="module")
def node_sdk() -> NodeSDK:
    """``node`` and ``@sentry/node@11.12.0`` installed in the cache; skips the module otherwise."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip(f"needs node and npm on PATH (node={node}, npm={npm})")
    cache = _cache_dir()
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        pytest.skip(f"cannot create the npm cache dir {cache}: {e}")
    with open(cache / ".install.lock", "w") as lock:  # parallel sessions install once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if _installed_version(cache) != SDK_VERSION:
            if not (cache / "package.json").exists():  # keeps npm from picking a parent as prefix
                (cache / "package.json").write_text('{"private": true}\n')
            try:
                done = subprocess.run(
                    [npm, "install", "--no-audit", "--no-fund", "--loglevel=error", "--save-exact",
                     "--fetch-retries=1", "--fetch-timeout=30000", "--prefix", str(cache),
                     f"@sentry/node@{SDK_VERSION}"],
                    cwd=cache, capture_output=True, timeout=240, check=False,
                )
            except subprocess.TimeoutExpired:
                pytest.skip(f"npm install @sentry/node@{SDK_VERSION} timed out (no network?)")
            if done.returncode != 0 or _installed_version(cache) != SDK_VERSION:
                tail = done.stderr.decode(errors="replace").strip()[-500:]
                pytest.skip(f"npm install @sentry/node@{SDK_VERSION} failed (no network?): {tail}")
    return NodeSDK(node, cache)


def _client_env(sdk: NodeSDK, **extra: str) -> dict[str, str]:
    return client_env("NODE_", SENTRY_NODE_DIR=str(sdk.root), **extra)


async def envelopes(sentry: Any) -> list[dict[str, Any]]:
    body = await get(sentry, "/__parlel/envelopes")
    return body["envelopes"]


async def run_node(sentry: Any, sdk: NodeSDK, *scenarios: str, **env: str) -> dict[str, Any]:
    """Run the driver; fail unless it exited 0, every request got a 2xx, and the daemon stored
    exactly those envelopes, each in the shape the Node SDK sends it."""
    done = await deferToThread(
        run_client, [sdk.node, str(SDK_SCRIPT), sentry.dsn, *scenarios], _client_env(sdk, **env))
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    assert result["flushed"] is True
    requests = result["requests"]
    assert requests and all(r["status"] is not None and 200 <= r["status"] < 300 for r in requests), requests

    stored = await envelopes(sentry)
    assert len(stored) == len(requests), (stored, requests)
    sent_types = Counter(tuple(r["types"]) for r in requests)
    assert Counter(tuple(i["type"] for i in e["items"]) for e in stored) == sent_types
    for envelope in stored:
        assert envelope["endpoint"] == "envelope" and envelope["project"] == 1
        assert envelope["auth"] == "query", envelope  # no X-Sentry-Auth: the key rides in the URL
        assert envelope["client"] == CLIENT
        assert envelope["content_type"] is None  # Node sends no Content-Type on envelopes
        assert envelope["headers"]["sdk"] == {"name": "sentry.javascript.node", "version": SDK_VERSION}
        expected_encoding = "gzip" if envelope["size"] > GZIP_THRESHOLD else None
        assert envelope["content_encoding"] == expected_encoding, envelope
        for item in envelope["items"]:  # no length on JSON items; attachments carry one
            assert ("length" in item) == (item["type"] == "attachment"), item
    return result


def attribute(entry: dict[str, Any], name: str) -> Any:
    return entry["attributes"][name]


# --- events and issues -----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_node_message_event_and_issue(sentry, node_sdk):
    result = await run_node(sentry, node_sdk, "message")
    message_id = result["ids"]["message"]
    assert HEX32.fullmatch(message_id)

    found = await events(sentry)
    assert list(found) == [message_id]
    event = found[message_id]
    assert message_of(event) == "hello from node sdk"  # sent as a plain "message" string
    assert event["level"] == "warning"
    assert event["sdk"]["name"] == "sentry.javascript.node" and event["sdk"]["version"] == SDK_VERSION
    assert event["platform"] == "node"
    assert event["release"] == RELEASE and event["environment"] == ENVIRONMENT
    assert event["project"] == 1
    assert tag_pairs(event)["scenario"] == "message"
    assert event["user"]["id"] == "42"
    # Node attaches the call site as a synthetic exception, so Relay infers an error event.
    (synthetic,) = event["exception"]["values"]
    assert synthetic["mechanism"] == {"type": "generic", "handled": True, "synthetic": True}
    assert synthetic["value"] == "hello from node sdk" and "type" not in synthetic
    assert event["type"] == "error"
    assert isinstance(event["timestamp"], float)

    (issue,) = await issues(sentry)
    assert issue["id"] == str(event["group_id"])
    assert issue["level"] == "warning" and issue["count"] == "1"
    assert issue["culprit"] == ""  # Sentry: synthetic exceptions have no culprit
    assert "type" not in issue["metadata"]  # left out for a synthetic exception
    assert issue["metadata"]["value"] == "hello from node sdk"
    assert issue["metadata"]["function"] == "run"  # the crash frame: the in-app caller
    assert issue["project"]["slug"] == "hello-world"


@pytest_twisted.ensureDeferred
async def test_node_message_issue_title_is_the_crash_function(sentry, node_sdk):
    await run_node(sentry, node_sdk, "message")
    (issue,) = await issues(sentry)
    assert issue["metadata"]["function"] == "run"
    assert issue["title"] == "run"


@pytest_twisted.ensureDeferred
async def test_node_exception_event_and_issue(sentry, node_sdk):
    result = await run_node(sentry, node_sdk, "exception")
    exception_id = result["ids"]["exception"]

    found = await events(sentry)
    assert list(found) == [exception_id]
    error = found[exception_id]
    assert error["type"] == "error" and error["level"] == "error"
    assert error["sdk"]["name"] == "sentry.javascript.node"
    (exc,) = error["exception"]["values"]
    assert exc["type"] == "Error" and exc["value"] == "missing key missing-key"
    assert exc["mechanism"] == {"type": "generic", "handled": True}
    frames = exc["stacktrace"]["frames"]
    functions = [f["function"] for f in frames]
    assert functions[-3:] == ["outer", "middle", "lookup"], functions  # oldest first
    for frame in frames[-3:]:
        assert frame["in_app"] is True and frame["module"] == "node_sdk"
        assert frame["lineno"] and frame["colno"]
        assert frame["context_line"].strip()  # ContextLines integration
    assert frames[0]["in_app"] is False

    (issue,) = await issues(sentry)
    assert issue["title"] == "Error: missing key missing-key"
    assert issue["culprit"] == "lookup(node_sdk)"  # javascript/node: function(module)
    assert issue["level"] == "error" and issue["count"] == "1"
    assert issue["metadata"]["type"] == "Error"
    assert issue["metadata"]["value"] == "missing key missing-key"
    assert issue["metadata"]["function"] == "lookup"
    assert issue["id"] == str(error["group_id"])
    assert re.fullmatch(r"HELLO-WORLD-[0-9A-Z]+", issue["shortId"])


@pytest_twisted.ensureDeferred
async def test_node_feedback(sentry, node_sdk):
    result = await run_node(sentry, node_sdk, "message", "feedback")
    message_id, feedback_id = result["ids"]["message"], result["ids"]["feedback"]
    assert HEX32.fullmatch(feedback_id)

    feedback = await events(sentry, "?type=feedback")
    assert list(feedback) == [feedback_id]
    event = feedback[feedback_id]
    assert event["type"] == "feedback"
    context = {k: v for k, v in event["contexts"]["feedback"].items() if k != "type"}
    assert context == {"contact_email": "jane@example.com", "name": "Jane Doe",
                       "message": "the button does nothing", "associated_event_id": message_id}
    (row,) = await items(sentry, "feedback")
    assert row["payload"]["event_id"] == feedback_id
    assert set(await events(sentry)) == {message_id, feedback_id}


@pytest_twisted.ensureDeferred
async def test_node_large_event_is_gzipped(sentry, node_sdk):
    result = await run_node(sentry, node_sdk, "message", "large")
    large_id, message_id = result["ids"]["large"], result["ids"]["message"]

    by_event = {e["headers"].get("event_id"): e for e in await envelopes(sentry)}
    large, small = by_event[large_id], by_event[message_id]
    assert large["content_encoding"] == "gzip" and large["size"] > GZIP_THRESHOLD
    assert small["content_encoding"] is None and small["size"] < GZIP_THRESHOLD
    response = await treq.get(f"{sentry.url}/__parlel/envelopes/{large['id']}/raw")
    raw = await response.content()
    assert response.code == 200 and len(raw) == large["size"]
    assert json.loads(raw.split(b"\n", 1)[0])["event_id"] == large_id  # stored decoded

    event = (await events(sentry))[large_id]
    assert message_of(event) == "large node event"
    blob = event["contexts"]["blob"]
    assert len([k for k in blob if k.startswith("k")]) == 400
    assert blob["k399"] == "399:".ljust(96, "x")


# --- spans, attachments, check-ins, logs, metrics --------------------------------------------


@pytest_twisted.ensureDeferred
async def test_node_streamed_spans(sentry, node_sdk):
    result = await run_node(sentry, node_sdk, "spans")
    root = result["ids"]["spans"]
    assert HEX32.fullmatch(root["trace_id"]) and HEX16.fullmatch(root["span_id"])

    (row,) = await items(sentry, "span")
    assert row["headers"] == {"type": "span", "item_count": 3,
                              "content_type": "application/vnd.sentry.items.span.v2+json"}
    assert "error" not in row
    assert row["payload"]["version"] == 2
    spans = {s["name"]: s for s in row["payload"]["items"]}
    assert set(spans) == {"node-acceptance-txn", "SELECT 1", "GET /thing"}
    segment = spans["node-acceptance-txn"]
    assert segment["is_segment"] is True and segment["span_id"] == root["span_id"]
    assert "parent_span_id" not in segment
    assert attribute(segment, "sentry.op") == {"value": "task", "type": "string"}
    for name, op in (("SELECT 1", "db.query"), ("GET /thing", "http.client")):
        child = spans[name]
        assert child["is_segment"] is False and child["status"] == "ok"
        assert child["parent_span_id"] == root["span_id"]
        assert attribute(child, "sentry.op") == {"value": op, "type": "string"}
        assert attribute(child, "sentry.segment.id")["value"] == root["span_id"]
        assert child["start_timestamp"] <= child["end_timestamp"]
    assert attribute(spans["SELECT 1"], "db.system") == {"value": "sqlite", "type": "string"}
    assert all(s["trace_id"] == root["trace_id"] for s in spans.values())
    assert attribute(segment, "sentry.release")["value"] == RELEASE

    # The spans reached the store, and were counted as accepted spans.
    stored = [s for s in sentry.store.spans if s.get("trace_id") == root["trace_id"]]
    assert sorted(s["span_id"] for s in stored) == sorted(s["span_id"] for s in spans.values())
    assert all(s["project"] == 1 for s in stored)
    outcomes = (await get(sentry, "/__parlel/outcomes"))["outcomes"]
    assert {"project": 1, "category": "span", "outcome": "accepted", "reason": None,
            "quantity": 3} in outcomes
    # Span streaming sends no transaction, and spans are not issues.
    assert await events(sentry) == {}
    assert await issues(sentry) == []


@pytest_twisted.ensureDeferred
async def test_node_attachments_arrive_byte_for_byte(sentry, node_sdk, tmp_path):
    (tmp_path / "note.txt").write_bytes(TEXT)
    (tmp_path / "data.bin").write_bytes(BINARY)
    result = await run_node(sentry, node_sdk, "attachments", SDK_ATTACHMENTS=str(tmp_path))
    event_id = result["ids"]["attachments"]
    # One envelope carries the event and both attachments (the other is the process session).
    assert [r["types"] for r in result["requests"] if "event" in r["types"]] == [
        ["event", "attachment", "attachment"]]

    found = await events(sentry)
    assert list(found) == [event_id]
    assert message_of(found[event_id]) == "event with attachments"

    # Node sends no content_type for the binary one; Relay's default applies.
    stored = await assert_attachments_stored(sentry, event_id)

    rows = {r["headers"]["filename"]: r for r in await items(sentry, "attachment")}
    assert rows["note.txt"]["headers"] == {"type": "attachment", "length": len(TEXT),
                                           "filename": "note.txt", "content_type": "text/plain"}
    assert rows["data.bin"]["headers"] == {"type": "attachment", "length": len(BINARY),
                                           "filename": "data.bin"}
    (event_row,) = await items(sentry, "event")
    assert {r["envelope"] for r in rows.values()} == {event_row["envelope"]}
    assert sorted(r["attachment"] for r in rows.values()) == sorted(a["id"] for a in stored)


@pytest_twisted.ensureDeferred
async def test_node_cron_check_ins(sentry, node_sdk):
    result = await run_node(sentry, node_sdk, "checkin")
    check_in_id = result["ids"]["checkin"]
    assert HEX32.fullmatch(check_in_id)

    rows = await items(sentry, "check_in")
    assert len(rows) == 2  # sent in parallel: either may arrive first
    by_status = {r["payload"]["status"]: r["payload"] for r in rows}
    assert set(by_status) == {"in_progress", "ok"}
    first, second = by_status["in_progress"], by_status["ok"]
    assert first["check_in_id"] == second["check_in_id"] == check_in_id
    assert first["monitor_slug"] == second["monitor_slug"] == "my-cron"
    assert first["monitor_config"] == {
        "schedule": {"type": "crontab", "value": "*/5 * * * *"},
        "checkin_margin": 1, "max_runtime": 10, "timezone": "UTC"}
    assert "monitor_config" not in second
    assert second["duration"] == pytest.approx(0.01)
    assert second["release"] == RELEASE and second["environment"] == ENVIRONMENT
    assert all(r["headers"] == {"type": "check_in"} for r in rows)
    # Check-ins are not events.
    assert await events(sentry) == {}


@pytest_twisted.ensureDeferred
async def test_node_logs(sentry, node_sdk):
    await run_node(sentry, node_sdk, "logs")
    (row,) = await items(sentry, "log")
    assert row["headers"] == {"type": "log", "item_count": 3,
                              "content_type": "application/vnd.sentry.items.log+json"}
    assert "error" not in row
    logs = row["payload"]["items"]
    assert [log["body"] for log in logs] == [
        "user 42 logged in", "disk at 91.5%", "payment failed for order A-1"]
    assert [log["level"] for log in logs] == ["info", "warn", "error"]
    assert [log["severity_number"] for log in logs] == [9, 13, 17]
    assert attribute(logs[0], "sentry.message.template") == {"value": "user %s logged in", "type": "string"}
    assert attribute(logs[0], "sentry.message.parameter.0") == {"value": 42, "type": "integer"}
    assert attribute(logs[1], "percent") == {"value": 91.5, "type": "double"}
    assert attribute(logs[2], "order") == {"value": "A-1", "type": "string"}
    # A counter that orders logs within one millisecond (it restarts when the clock moves on).
    assert all(attribute(log, "sentry.timestamp.sequence")["type"] == "integer" for log in logs)
    assert attribute(logs[0], "sentry.release")["value"] == RELEASE
    (envelope,) = await envelopes(sentry)
    assert set(envelope["headers"]) == {"sdk"}  # Node's log envelopes carry only the sdk header
    # Logs are not events.
    assert await events(sentry) == {}


@pytest_twisted.ensureDeferred
async def test_node_metrics(sentry, node_sdk):
    await run_node(sentry, node_sdk, "metrics")
    (row,) = await items(sentry, "trace_metric")
    assert row["headers"] == {"type": "trace_metric", "item_count": 3,
                              "content_type": "application/vnd.sentry.items.trace-metric+json"}
    assert "error" not in row
    metrics = {m["name"]: m for m in row["payload"]["items"]}
    assert set(metrics) == {"button_click", "queue_depth", "page_load"}
    assert (metrics["button_click"]["type"], metrics["button_click"]["value"]) == ("counter", 1)
    assert attribute(metrics["button_click"], "browser") == {"value": "firefox", "type": "string"}
    assert (metrics["queue_depth"]["type"], metrics["queue_depth"]["value"]) == ("gauge", 7)
    assert metrics["queue_depth"]["unit"] == "item"
    assert (metrics["page_load"]["type"], metrics["page_load"]["value"]) == ("distribution", 123.5)
    assert metrics["page_load"]["unit"] == "millisecond"
    assert await events(sentry) == {}


# --- everything at once ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_node_all_scenarios_in_one_process(sentry, node_sdk, tmp_path):
    """One SDK process sending everything: up to a dozen envelopes in parallel over keep-alive
    connections, each answered 2xx and stored once (``run_node`` checks the wire contract)."""
    (tmp_path / "note.txt").write_bytes(TEXT)
    (tmp_path / "data.bin").write_bytes(BINARY)
    result = await run_node(sentry, node_sdk, "message", "exception", "spans", "attachments", "checkin",
                            "logs", "metrics", "feedback", "large", SDK_ATTACHMENTS=str(tmp_path))
    ids = result["ids"]
    sent = Counter(t for r in result["requests"] for t in r["types"])
    assert sent["event"] == 4 and sent["attachment"] == 2 and sent["check_in"] == 2
    assert sent["span"] == sent["log"] == sent["trace_metric"] == sent["feedback"] == 1

    found = await events(sentry)
    assert set(found) == {ids["message"], ids["exception"], ids["attachments"], ids["large"], ids["feedback"]}
    assert {e["type"] for e in found.values()} == {"error", "feedback"}
    listed = {i["id"]: i for i in await issues(sentry)}
    errors = [e for e in found.values() if e["type"] == "error"]
    assert {str(e["group_id"]) for e in errors} <= set(listed)
    assert listed[str(found[ids["exception"]]["group_id"])]["title"] == "Error: missing key missing-key"
    encodings = Counter(e["content_encoding"] for e in await envelopes(sentry))
    assert encodings["gzip"] == 1
    for item_type, count in (("span", 1), ("log", 1), ("trace_metric", 1), ("check_in", 2)):
        assert len(await items(sentry, item_type)) == count


@pytest_twisted.ensureDeferred
async def test_node_grouping(sentry, node_sdk):
    result = await run_node(sentry, node_sdk, "exception_twice", "message_params")
    thrown, messages = result["ids"]["exception_twice"], result["ids"]["message_params"]
    found = await events(sentry)
    assert found[thrown[0]]["group_id"] == found[thrown[1]]["group_id"]  # an Error thrown twice: one issue
    errors = next(i for i in await issues(sentry) if i["id"] == str(found[thrown[0]]["group_id"]))
    assert errors["count"] == "2" and errors["title"].startswith("Error: missing key ")
    first, second = (found[m] for m in messages)
    assert first["logentry"]["message"] == "order %s failed for user%s@example.com"
    assert first["logentry"]["params"] == [7, 7] and second["logentry"]["params"] == [8, 8]
    assert first["group_id"] == second["group_id"]
    issue = next(i for i in await issues(sentry) if i["id"] == str(first["group_id"]))
    assert issue["count"] == "2"
