"""End to end with the real clients: sentry-sdk 2.75 (Python) and sentry-cli 3.8.

Every client runs in a subprocess (an SDK blocks while it flushes; the daemon runs on this test's
reactor). When the subprocess has exited, everything it sent was answered, and the daemon stores
before it answers: the control API (``/__parlel/…``) and the web API are read with no waiting.

The SDK driver is ``tests/clients/python_sdk.py``; it prints the ids it captured and, for every
request its transport made, the URL, ``Content-Encoding`` and the status the daemon answered.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
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

CLIENTS = Path(__file__).parent / "clients"
SDK_SCRIPT = CLIENTS / "python_sdk.py"
SENTRY_CLI = shutil.which("sentry-cli", path=str(Path(sys.executable).parent))
RELEASE = "myapp@1.0.0"
ENVIRONMENT = "acceptance"

needs_cli = pytest.mark.skipif(SENTRY_CLI is None, reason="sentry-cli is not installed next to python")


async def run_sdk(dsn: str, *scenarios: str, compression: str = "default", **env: str) -> dict[str, Any]:
    """Run the SDK driver; fail unless it exited 0 and the daemon answered every request 200."""
    done = await deferToThread(
        run_client, [sys.executable, str(SDK_SCRIPT), dsn, *scenarios],
        client_env(SDK_COMPRESSION=compression, **env),
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    result = json.loads(done.stdout.decode().strip().splitlines()[-1])
    statuses = [(r["url"], r["status"]) for r in result["requests"]]
    assert result["requests"] and all(status == 200 for _, status in statuses), statuses
    return result


# --- sentry-python ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_python_message_and_exception_become_events_and_issues(sentry):
    result = await run_sdk(sentry.dsn, "message", "exception")
    message_id, exception_id = result["ids"]["message"], result["ids"]["exception"]
    assert HEX32.fullmatch(message_id) and HEX32.fullmatch(exception_id)
    assert [r["url"] for r in result["requests"]] == [f"{sentry.url}/api/1/envelope/"] * 2

    found = await events(sentry)
    assert set(found) == {message_id, exception_id}

    message = found[message_id]
    assert message_of(message) == "hello from python sdk"
    assert message["level"] == "warning"
    assert message["type"] == "default"
    assert message["release"] == RELEASE and message["environment"] == ENVIRONMENT
    assert message["platform"] == "python"
    assert message["sdk"]["name"] == "sentry.python" and message["sdk"]["version"] == "2.75.0"
    assert message["project"] == 1
    assert tag_pairs(message)["scenario"] == "message"
    assert message["user"]["id"] == "42"

    error = found[exception_id]
    assert error["type"] == "error" and error["level"] == "error"
    exc = error["exception"]["values"][-1]
    assert exc["type"] == "KeyError" and exc["value"] == "'missing-key'"
    assert exc["mechanism"]["handled"] is True
    functions = [f["function"] for f in exc["stacktrace"]["frames"]]
    assert functions[-3:] == ["outer", "middle", "lookup"], functions  # oldest first
    assert all(f.get("lineno") for f in exc["stacktrace"]["frames"])
    assert exc["stacktrace"]["frames"][-1]["module"] == "__main__"

    listed = await issues(sentry)
    by_title = {i["title"]: i for i in listed}
    assert set(by_title) == {"hello from python sdk", "KeyError: 'missing-key'"}, listed
    key_error = by_title["KeyError: 'missing-key'"]
    assert key_error["culprit"] == "__main__ in lookup"
    assert key_error["level"] == "error" and key_error["count"] == "1"
    assert key_error["metadata"]["type"] == "KeyError"
    assert key_error["metadata"]["value"] == "'missing-key'"
    assert key_error["id"] == str(error["group_id"])
    assert re.fullmatch(r"HELLO-WORLD-[0-9A-Z]+", key_error["shortId"])
    hello = by_title["hello from python sdk"]
    assert hello["level"] == "warning" and hello["id"] == str(message["group_id"])
    assert hello["project"]["slug"] == "hello-world"


@pytest_twisted.ensureDeferred
async def test_python_transaction_with_two_child_spans(sentry):
    result = await run_sdk(sentry.dsn, "transaction")
    trace = result["ids"]["transaction"]

    found = list((await events(sentry, "?type=transaction")).values())
    assert len(found) == 1
    txn = found[0]
    assert txn["type"] == "transaction" and txn["transaction"] == "python-acceptance-txn"
    assert txn["contexts"]["trace"]["trace_id"] == trace["trace_id"]
    assert txn["contexts"]["trace"]["span_id"] == trace["span_id"]
    assert txn["contexts"]["trace"]["op"] == "task"
    spans = txn["spans"]
    assert len(spans) == 2
    assert sorted(s["op"] for s in spans) == ["db.query", "http.client"]
    assert sorted(s["description"] for s in spans) == ["GET /thing", "SELECT 1"]
    for span in spans:
        assert span["trace_id"] == trace["trace_id"]
        assert span["parent_span_id"] == trace["span_id"]
        # Normalized to float seconds (the SDK sends ISO strings). No ordering against the
        # transaction's own bounds: the SDK's clocks let a span end a few µs after it.
        assert isinstance(span["start_timestamp"], float) and isinstance(span["timestamp"], float)
        assert span["start_timestamp"] <= span["timestamp"]
        assert abs(span["start_timestamp"] - txn["start_timestamp"]) < 5
    # A transaction is not an error: no error event, no issue.
    assert await events(sentry, "?type=error") == {}
    assert await events(sentry, "?type=default") == {}
    assert await issues(sentry) == []


@pytest_twisted.ensureDeferred
async def test_python_attachments_arrive_byte_for_byte(sentry, tmp_path):
    (tmp_path / "note.txt").write_bytes(TEXT)
    (tmp_path / "data.bin").write_bytes(BINARY)
    result = await run_sdk(sentry.dsn, "attachments", SDK_ATTACHMENTS=str(tmp_path))
    event_id = result["ids"]["attachments"]

    found = await events(sentry)
    assert list(found) == [event_id]
    assert message_of(found[event_id]) == "event with attachments"

    stored = await assert_attachments_stored(sentry, event_id)

    # The attachment items rode in the same envelope as the event, and point at the stored bytes.
    rows = await items(sentry, "attachment")
    (event_row,) = await items(sentry, "event")
    assert {r["envelope"] for r in rows} == {event_row["envelope"]}
    assert sorted(r["attachment"] for r in rows) == sorted(a["id"] for a in stored)
    assert sorted(r["headers"]["length"] for r in rows) == sorted([len(TEXT), len(BINARY)])


@pytest_twisted.ensureDeferred
async def test_python_cron_check_ins(sentry):
    result = await run_sdk(sentry.dsn, "checkin")
    check_in_id = result["ids"]["checkin"]

    rows = await items(sentry, "check_in")
    assert [r["payload"]["status"] for r in rows] == ["in_progress", "ok"]
    first, second = (r["payload"] for r in rows)
    assert first["check_in_id"] == second["check_in_id"] == check_in_id
    assert first["monitor_slug"] == second["monitor_slug"] == "my-cron"
    assert first["monitor_config"]["schedule"] == {"type": "crontab", "value": "*/5 * * * *"}
    assert first["monitor_config"]["timezone"] == "UTC"
    assert second["duration"] == pytest.approx(0.01)
    assert second["release"] == RELEASE and second["environment"] == ENVIRONMENT
    # Check-ins are not events.
    assert await events(sentry) == {}


@pytest_twisted.ensureDeferred
async def test_python_session(sentry):
    await run_sdk(sentry.dsn, "session")
    (row,) = await items(sentry, "session")
    session = row["payload"]
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", session["sid"])
    assert session["status"] == "exited" and session["init"] is True
    assert session.get("errors", 0) == 0  # the SDK leaves out a zero count
    assert session["attrs"]["release"] == RELEASE
    assert session["attrs"]["environment"] == ENVIRONMENT
    (envelope,) = [e for e in (await get(sentry, "/__parlel/envelopes"))["envelopes"]
                   if e["id"] == row["envelope"]]
    assert envelope["items"] == [row["headers"]]


@pytest_twisted.ensureDeferred
async def test_python_logs(sentry):
    await run_sdk(sentry.dsn, "logs")
    (row,) = await items(sentry, "log")
    assert row["headers"]["item_count"] == 3
    assert row["headers"]["content_type"] == "application/vnd.sentry.items.log+json"
    assert "error" not in row
    logs = row["payload"]["items"]
    assert [log["body"] for log in logs] == [
        "user 42 logged in", "disk at 91.5%", "payment failed for order A-1"]
    assert [log["level"] for log in logs] == ["info", "warn", "error"]
    template = logs[0]["attributes"]["sentry.message.template"]
    assert template == {"value": "user {user_id} logged in", "type": "string"}
    assert logs[0]["attributes"]["sentry.message.parameter.user_id"] == {"value": 42, "type": "integer"}
    assert logs[0]["attributes"]["sentry.release"]["value"] == RELEASE
    # Logs are not events.
    assert await events(sentry) == {}


@pytest_twisted.ensureDeferred
async def test_python_metrics(sentry):
    await run_sdk(sentry.dsn, "metrics")
    (row,) = await items(sentry, "trace_metric")
    assert row["headers"]["item_count"] == 3
    assert row["headers"]["content_type"] == "application/vnd.sentry.items.trace-metric+json"
    assert "error" not in row
    metrics = {m["name"]: m for m in row["payload"]["items"]}
    assert set(metrics) == {"button_click", "queue_depth", "page_load"}
    assert (metrics["button_click"]["type"], metrics["button_click"]["value"]) == ("counter", 1.0)
    assert metrics["button_click"]["attributes"]["browser"] == {"value": "firefox", "type": "string"}
    assert (metrics["queue_depth"]["type"], metrics["queue_depth"]["value"]) == ("gauge", 7.0)
    assert metrics["queue_depth"]["unit"] == "item"
    assert (metrics["page_load"]["type"], metrics["page_load"]["value"]) == ("distribution", 123.5)
    assert metrics["page_load"]["unit"] == "millisecond"


@pytest.mark.parametrize(
    "compression, wire_encoding",
    [("default", "br"), ("gzip", "gzip"), ("nobrotli", "gzip"), ("none", None)],
    ids=["brotli-default", "gzip-forced", "gzip-without-brotli", "plain"],
)
@pytest_twisted.ensureDeferred
async def test_python_body_encodings(sentry, compression, wire_encoding):
    """Whatever the SDK compresses with, the daemon stores the decoded envelope.

    The encoding on the wire is taken from the SDK's own request headers: the control API does not
    record the request's ``Content-Encoding`` (only the envelope's own headers).
    """
    result = await run_sdk(sentry.dsn, "message", "logs", compression=compression)
    assert result["compression"] == wire_encoding
    assert [r["content_encoding"] for r in result["requests"]] == [wire_encoding] * 2
    assert all(r["content_type"] == "application/x-sentry-envelope" for r in result["requests"])

    found = await events(sentry)
    assert message_of(found[result["ids"]["message"]]) == "hello from python sdk"
    (log_row,) = await items(sentry, "log")
    assert len(log_row["payload"]["items"]) == 3

    listed = (await get(sentry, "/__parlel/envelopes"))["envelopes"]
    assert len(listed) == 2
    for envelope in listed:
        assert envelope["client"] == "sentry.python/2.75.0"
        assert envelope["auth"]
        if "content_encoding" in envelope:  # recorded by newer daemons; not yet (see docstring)
            assert envelope["content_encoding"] == wire_encoding
        response = await treq.get(f"{sentry.url}/__parlel/envelopes/{envelope['id']}/raw")
        raw = await response.content()
        assert response.code == 200 and len(raw) == envelope["size"]
        header = json.loads(raw.split(b"\n", 1)[0])  # decoded: a plain JSON envelope header
        assert "sent_at" in header


@pytest_twisted.ensureDeferred
async def test_python_dsn_with_path_prefix(sentry):
    dsn = sentry.url.replace("://", "://parlel@", 1) + "/some/prefix/1"
    result = await run_sdk(dsn, "message")
    assert [r["url"] for r in result["requests"]] == [f"{sentry.url}/some/prefix/api/1/envelope/"]
    found = await events(sentry)
    event = found[result["ids"]["message"]]
    assert event["project"] == 1 and message_of(event) == "hello from python sdk"
    assert [i["title"] for i in await issues(sentry)] == ["hello from python sdk"]


# --- sentry-cli ------------------------------------------------------------------------------


async def run_cli(sentry: Any, home: Path, *args: str, timeout: float = 60, token: str | None = None,
                  cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = client_env(
        HOME=str(home),
        SENTRY_DSN=sentry.dsn,
        SENTRY_URL=sentry.url,
        SENTRY_AUTH_TOKEN=token or sentry.token,
        SENTRY_ORG="parlel",
        SENTRY_PROJECT="hello-world",
        SENTRY_DISABLE_UPDATE_CHECK="true",
        SENTRY_HTTP_MAX_RETRIES="0",
    )
    assert SENTRY_CLI is not None
    return await deferToThread(run_client, [SENTRY_CLI, *args], env, cwd or home, timeout)


def _output(done: subprocess.CompletedProcess) -> str:
    return done.stdout.decode(errors="replace") + done.stderr.decode(errors="replace")


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_send_event(sentry, tmp_path):
    done = await run_cli(sentry, tmp_path, "send-event", "-m", "hello", "--level", "warning",
                         "-t", "k:v", "--release", "1.2.3", "--no-environ")
    assert done.returncode == 0, _output(done)

    (event,) = (await events(sentry)).values()
    assert HEX32.fullmatch(event["event_id"])
    assert event["event_id"] in _output(done).replace("-", "")
    assert message_of(event) == "hello"
    assert event["level"] == "warning"
    assert tag_pairs(event)["k"] == "v"
    assert event["release"] == "1.2.3"
    assert event["sdk"]["name"] == "sentry-cli"
    assert "environ" not in (event.get("extra") or {})
    assert event["user"]["ip_address"] == "127.0.0.1"  # Relay fills in "{{auto}}"

    (envelope,) = (await get(sentry, "/__parlel/envelopes"))["envelopes"]
    assert envelope["client"].startswith("sentry-cli/")
    assert [i["type"] for i in envelope["items"]] == ["event"]
    # The raw envelope is what the CLI sent: its header names the event by its hyphenated UUID.
    response = await treq.get(f"{sentry.url}/__parlel/envelopes/{envelope['id']}/raw")
    header = json.loads((await response.content()).split(b"\n", 1)[0])
    assert header["event_id"].replace("-", "") == event["event_id"] and "-" in header["event_id"]

    (issue,) = await issues(sentry)
    assert issue["title"] == "hello" and issue["level"] == "warning"


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_monitors_run(sentry, tmp_path):
    done = await run_cli(sentry, tmp_path, "monitors", "run", "my-cron", "--", "true")
    assert done.returncode == 0, _output(done)
    failed = await run_cli(sentry, tmp_path, "monitors", "run", "my-cron", "--", "sh", "-c", "exit 3")
    assert failed.returncode == 3, _output(failed)

    rows = await items(sentry, "check_in")
    payloads = [r["payload"] for r in rows]
    assert [p["status"] for p in payloads] == ["in_progress", "ok", "in_progress", "error"]
    assert all(p["monitor_slug"] == "my-cron" for p in payloads)
    assert payloads[0]["check_in_id"] == payloads[1]["check_in_id"]
    assert payloads[2]["check_in_id"] == payloads[3]["check_in_id"] != payloads[0]["check_in_id"]
    assert isinstance(payloads[1]["duration"], (int, float)) and payloads[1]["duration"] >= 0
    assert all(r["project"] == 1 for r in rows)


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_projects_list_and_info(sentry, tmp_path):
    done = await run_cli(sentry, tmp_path, "projects", "list", timeout=30)
    assert done.returncode == 0, _output(done)
    assert "hello-world" in done.stdout.decode()

    info = await run_cli(sentry, tmp_path, "info", timeout=30)
    assert info.returncode == 0, _output(info)
    assert sentry.url in info.stdout.decode()


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_issues_list(sentry, tmp_path):
    sent = await run_cli(sentry, tmp_path, "send-event", "-m", "issue listed by the cli", "--no-environ")
    assert sent.returncode == 0, _output(sent)
    await run_sdk(sentry.dsn, "exception")

    done = await run_cli(sentry, tmp_path, "issues", "list", timeout=30)
    assert done.returncode == 0, _output(done)
    out = done.stdout.decode()
    listed = await issues(sentry)
    assert len(listed) == 2
    for issue in listed:
        assert issue["shortId"] in out and issue["title"] in out


# --- grouping, as the real SDK's events are grouped ------------------------------------------

GROUPING_SCRIPT = CLIENTS / "python_grouping.py"


@pytest_twisted.ensureDeferred
async def test_python_errors_group_as_sentry_groups_them(sentry, tmp_path):
    library = tmp_path / "site-packages"  # the SDK marks frames of installed libraries as not in-app
    library.mkdir()
    (library / "vendor_a.py").write_text("def call(fn):\n    return fn()\n")
    (library / "vendor_b.py").write_text("def call(fn):\n    result = fn()\n    return result\n")
    # run from the driver's folder: the SDK counts frames under its working directory as in-app
    done = await deferToThread(run_client, [sys.executable, str(GROUPING_SCRIPT), sentry.dsn, str(library)],
                               client_env(), CLIENTS)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    ids = json.loads(done.stdout.decode().strip().splitlines()[-1])
    stored = await events(sentry)
    group = {event_id: stored[event_id]["group_id"] for event_ids in ids.values() for event_id in event_ids}
    same = lambda name: len({group[e] for e in ids[name]}) == 1  # noqa: E731

    assert same("same_place")  # one exception, raised twice from one place: one issue
    issue = next(i for i in await issues(sentry, "?query=") if int(i["id"]) == group[ids["same_place"][0]])
    assert issue["count"] == "2" and issue["title"].startswith("PaymentError: card declined")
    assert group[ids["other_function"][0]] != group[ids["same_place"][0]]  # same type, other function
    assert same("custom_fingerprint")  # two different errors, one fingerprint
    assert group[ids["salted"][0]] != group[ids["same_place"][0]]  # {{ default }} plus a value: split off
    assert same("messages")  # messages differing only in numbers, ids, emails, durations
    assert same("library")  # only a library frame differs: the in-app frames decide
    assert same("chained")

    explained = await get(sentry, f"/__parlel/events/{ids['library'][0]}/grouping")
    app, system = explained["variants"]["app"], explained["variants"]["system"]
    assert explained["primary_hash"] == app["hash"] and app["contributes"] and app["description"] == (
        "in-app exception stacktrace")
    assert system["contributes"] and system["hash"] != app["hash"]  # the library frame counts there
    frames = app["component"]["values"][0]["values"][0]["values"]
    library_frame = next(f for f in frames if any(v["values"] == ["vendor_a"] for v in f["values"]))
    assert not library_frame["contributes"]
    assert library_frame["hint"] == "marked out of app by stack trace rule (path:**/site-packages/** -app)"
    custom = await get(sentry, f"/__parlel/events/{ids['custom_fingerprint'][0]}/grouping")
    assert custom["variants"]["custom_fingerprint"]["values"] == ["payments"]
    assert custom["variants"]["app"]["hint"] == "custom fingerprint takes precedence"


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_issues_resolve_mute_and_unresolve(sentry, tmp_path):
    await run_sdk(sentry.dsn, "exception")
    (issue,) = await issues(sentry)
    done = await run_cli(sentry, tmp_path, "issues", "resolve", "-i", issue["id"], timeout=30)
    assert done.returncode == 0, _output(done)
    detail = await get(sentry, f"/api/0/issues/{issue['id']}/", headers={"Authorization": "Bearer sntrys_parlel"})
    assert (detail["status"], detail["statusDetails"]) == ("resolved", {})
    listed = await run_cli(sentry, tmp_path, "issues", "list", "--query", "is:resolved", timeout=30)
    assert listed.returncode == 0 and issue["shortId"] in listed.stdout.decode(), _output(listed)
    done = await run_cli(sentry, tmp_path, "issues", "unresolve", "-i", issue["id"], timeout=30)
    assert done.returncode == 0, _output(done)
    assert (await get(sentry, f"/api/0/issues/{issue['id']}/",
                      headers={"Authorization": "Bearer sntrys_parlel"}))["status"] == "unresolved"
    done = await run_cli(sentry, tmp_path, "issues", "mute", "-i", issue["id"], timeout=30)
    assert done.returncode == 0, _output(done)
    assert (await get(sentry, f"/api/0/issues/{issue['id']}/",
                      headers={"Authorization": "Bearer sntrys_parlel"}))["status"] == "ignored"
