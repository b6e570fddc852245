"""The transform API (``--transform``): beforeSend callbacks run by the real SDKs in child processes.

One daemon serves the module (its warm workers start once): ``python`` runs in this interpreter's
``sentry_sdk``, ``javascript`` in the ``@sentry/node`` that ``tests/test_node_client.py``
installs into the npm cache. Without node/npm (or the install) the javascript cases skip, saying
why; the python ones still run. The timeout is short (``TIMEOUT``) so the runaway callbacks are
cheap to wait for.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import sys
import uuid
from datetime import datetime
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import DeferredList, ensureDeferred

from conftest import request_json
from sentry_daemon.testing import start_sentry
from sentry_daemon.transform import engine
from sentry_daemon.transform.pool import WorkerFault, WorkerPool
from sentry_daemon.transform.sdks import Runtime, worker_env
from test_node_client import node_sdk  # noqa: F401  (requested by name below)

TIMEOUT = 2.0  # seconds a hook may run: short for the loop tests, long enough for a loaded machine
SECRET = "sntrys_not_for_callbacks"
JSON = {"Content-Type": "application/json"}

# The same callbacks in both languages.
CODE = {
    "python": {
        "tag": 'def before_send(event, hint):\n    event.setdefault("tags", {})["team"] = "backend"\n    return event\n',
        "scrub": ('def before_send(event, hint):\n'
                  '    event["user"].pop("email", None)\n'
                  '    event["request"]["headers"]["Authorization"] = "[Filtered]"\n'
                  '    return event\n'),
        "drop": 'lambda event, hint: None if "healthcheck" in event.get("message", "") else event',
        "raise": 'def before_send(event, hint):\n    raise ValueError("boom")\n',
        "syntax": "def before_send(event, hint)\n    return event\n",
        "loop": "def before_send(event, hint):\n    while True:\n        pass\n",
    },
    "javascript": {
        "tag": "(event, hint) => { event.tags = { ...event.tags, team: 'backend' }; return event; }",
        "scrub": ("(event) => { delete event.user.email; "
                  "event.request.headers.Authorization = '[Filtered]'; return event; }"),
        "drop": "(event) => (event.message || '').includes('healthcheck') ? null : event",
        "raise": "(event, hint) => { throw new Error('boom'); }",
        "syntax": "(event, hint) => { return event",
        "loop": "(event) => { while (true) {} }",
    },
}
SDK_NAMES = {"python": "sentry.python", "javascript": "sentry.javascript.node"}


@pytest_twisted.async_yield_fixture(scope="module")
async def transform_sentry(request) -> Any:
    """A daemon with ``--transform``; ``.node_skip`` says why javascript cannot run (or None)."""
    try:
        sdk = request.getfixturevalue("node_sdk")
        node_modules, node_skip = str(sdk.root / "node_modules"), None
    except pytest.skip.Exception as skipped:
        node_modules, node_skip = None, f"javascript transforms: {skipped}"
    saved = os.environ.get("SENTRY_AUTH_TOKEN")
    os.environ["SENTRY_AUTH_TOKEN"] = SECRET  # the daemon's environment: the workers must not see it
    try:
        running = await start_sentry(transform=True, transform_timeout=TIMEOUT, transform_node_modules=node_modules)
    finally:
        if saved is None:
            os.environ.pop("SENTRY_AUTH_TOKEN")
        else:
            os.environ["SENTRY_AUTH_TOKEN"] = saved
    running.node_skip = node_skip
    yield running
    pools = list(running.service.transform.pools.values())
    await running.stop()
    assert pools and all(not pool.workers for pool in pools)  # every worker ended with the daemon


@pytest.fixture(params=["python", "javascript"])
def sdk(request, transform_sentry) -> str:
    if request.param == "javascript" and transform_sentry.node_skip:
        pytest.skip(transform_sentry.node_skip)
    return request.param


async def transform(sentry: Any, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    response, parsed = await request_json("POST", f"{sentry.url}/api/transform", data=data,
                                          headers=JSON if headers is None else headers)
    assert response.headers.getRawHeaders("content-type") == ["application/json"]
    return response.code, parsed


def error_event(**extra: Any) -> dict[str, Any]:
    event = {
        "event_id": uuid.uuid4().hex,
        "level": "error",
        "message": "payment failed",
        "user": {"id": "42", "email": "jane@example.com"},
        "request": {"url": "https://shop.example.com/pay", "headers": {"Authorization": "Bearer abc"}},
        "exception": {"values": [{"type": "ValueError", "value": "card declined"}]},
    }
    event.update(extra)
    return event


async def run(sentry: Any, sdk: str, code: str, event: dict[str, Any] | None = None) -> tuple[int, Any]:
    return await transform(sentry, {"sdk": sdk, "event": event or error_event(), "beforeSendCode": code})


def assert_refused(status: int, body: Any, error: str, http_status: int = 400) -> None:
    assert status == http_status, body
    assert body["success"] is False and isinstance(body["traceback"], str), body
    assert set(body) == {"success", "error", "traceback"}
    assert body["error"].startswith(error), body["error"]


# --- the callbacks ---------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_callback_that_adds_a_tag_runs_through_the_sdk(transform_sentry, sdk):
    event = error_event(tags={"region": "eu"})
    status, body = await run(transform_sentry, sdk, CODE[sdk]["tag"], event)
    assert status == 200, body
    assert set(body) == {"success", "originalEvent", "transformedEvent", "sdk"}
    assert body["success"] is True and body["sdk"] == sdk
    assert body["originalEvent"] == event  # as sent, untouched
    sent = body["transformedEvent"]
    assert sent["tags"] == {"region": "eu", "team": "backend"}
    # What the SDK's own pipeline adds before beforeSend, and its transport carried.
    assert sent["event_id"] == event["event_id"]
    assert sent["sdk"]["name"] == SDK_NAMES[sdk]
    assert sent["environment"] == "production"
    assert sent["platform"] == ("python" if sdk == "python" else "node")
    assert sent["exception"]["values"][0]["value"] == "card declined"
    assert "timestamp" in sent and "trace" in sent["contexts"]


@pytest_twisted.ensureDeferred
async def test_a_callback_that_scrubs_fields(transform_sentry, sdk):
    status, body = await run(transform_sentry, sdk, CODE[sdk]["scrub"])
    assert status == 200, body
    sent = body["transformedEvent"]
    assert sent["user"] == {"id": "42"}
    assert sent["request"]["headers"] == {"Authorization": "[Filtered]"}
    assert body["originalEvent"]["user"]["email"] == "jane@example.com"


@pytest_twisted.ensureDeferred
async def test_a_callback_that_drops_the_event(transform_sentry, sdk):
    status, body = await run(transform_sentry, sdk, CODE[sdk]["drop"], error_event(message="healthcheck ok"))
    assert status == 200, body
    assert body["success"] is True and body["transformedEvent"] is None
    assert body["originalEvent"]["message"] == "healthcheck ok"
    status, body = await run(transform_sentry, sdk, CODE[sdk]["drop"])
    assert status == 200 and body["transformedEvent"]["message"] == "payment failed"


@pytest_twisted.ensureDeferred
async def test_a_callback_that_raises(transform_sentry, sdk):
    status, body = await run(transform_sentry, sdk, CODE[sdk]["raise"])
    expected = "ValueError: boom" if sdk == "python" else "Error: boom"
    assert_refused(status, body, f"Transformation error: {expected}")
    assert body["error"] == f"Transformation error: {expected}"
    where = '"<beforeSend>", line 2, in before_send' if sdk == "python" else "beforeSend.js:1"
    assert where in body["traceback"], body["traceback"]
    assert "sentry_sdk" not in body["traceback"] and "node_worker" not in body["traceback"]


@pytest_twisted.ensureDeferred
async def test_a_callback_that_does_not_compile(transform_sentry, sdk):
    status, body = await run(transform_sentry, sdk, CODE[sdk]["syntax"])
    assert_refused(status, body, "Compilation failed: SyntaxError")
    assert ("<beforeSend>" if sdk == "python" else "beforeSend.js") in body["traceback"]


@pytest_twisted.ensureDeferred
async def test_a_callback_that_loops_forever_times_out_and_its_worker_is_replaced(transform_sentry, sdk):
    started = reactor.seconds()
    status, body = await run(transform_sentry, sdk, CODE[sdk]["loop"])
    assert_refused(status, body, "Timeout: ")
    assert TIMEOUT <= reactor.seconds() - started < TIMEOUT + 5
    status, body = await run(transform_sentry, sdk, CODE[sdk]["tag"])  # a warm worker took over
    assert status == 200 and body["transformedEvent"]["tags"]["team"] == "backend"


@pytest_twisted.ensureDeferred
async def test_the_callback_must_return_an_event_or_none(transform_sentry, sdk):
    code = "lambda event, hint: True" if sdk == "python" else "(event) => { event.tags = {a: 'b'}; }"
    status, body = await run(transform_sentry, sdk, code)
    assert_refused(status, body, "Transformation error: before")
    assert ("not bool" if sdk == "python" else "not undefined") in body["error"]


@pytest_twisted.ensureDeferred
async def test_transactions_go_through_the_same_callback(transform_sentry, sdk):
    event = {"type": "transaction", "transaction": "GET /pay", "start_timestamp": 1700000000.0,
             "timestamp": 1700000000.5, "contexts": {"trace": {"trace_id": uuid.uuid4().hex,
                                                               "span_id": uuid.uuid4().hex[:16], "op": "http"}},
             "spans": []}
    status, body = await run(transform_sentry, sdk, CODE[sdk]["tag"], event)
    assert status == 200, body
    sent = body["transformedEvent"]
    assert sent["type"] == "transaction" and sent["tags"]["team"] == "backend"


@pytest_twisted.ensureDeferred
async def test_python_code_forms_and_a_json_string_event(transform_sentry):
    event = error_event()
    for code in ("lambda event, hint: {**event, 'level': 'warning'}",
                 "import copy\n\ndef scrub(event, hint):\n    event = copy.deepcopy(event)\n"
                 "    event['level'] = 'warning'\n    return event\n"):
        status, body = await transform(transform_sentry, {"sdk": "python", "event": json.dumps(event),
                                                          "beforeSendCode": code})
        assert status == 200, body
        assert body["originalEvent"] == event and body["transformedEvent"]["level"] == "warning"


@pytest_twisted.ensureDeferred
async def test_a_javascript_callback_may_be_async_and_require_modules(transform_sentry):
    if transform_sentry.node_skip:
        pytest.skip(transform_sentry.node_skip)
    code = ("async (event) => { const { createHash } = require('node:crypto'); await null; "
            "event.user.id = createHash('sha256').update(event.user.id).digest('hex').slice(0, 8); return event; }")
    status, body = await run(transform_sentry, "javascript", code)
    assert status == 200, body
    assert body["transformedEvent"]["user"]["id"] == "73475cb4"


@pytest_twisted.ensureDeferred
async def test_callbacks_are_isolated_from_the_daemon_and_from_each_other(transform_sentry, sdk):
    if sdk == "python":
        leak = ("import os, sentry_sdk\n"
                "def before_send(event, hint):\n"
                "    sentry_sdk.get_global_scope().set_tag('leaked', 'yes')\n"
                "    event['extra'] = {'token': os.environ.get('SENTRY_AUTH_TOKEN'), 'cwd': os.getcwd()}\n"
                "    return event\n")
    else:
        leak = ("(event) => { require('@sentry/node').getGlobalScope().setTag('leaked', 'yes'); "
                "event.extra = { token: process.env.SENTRY_AUTH_TOKEN ?? null, cwd: process.cwd() }; return event; }")
    status, body = await run(transform_sentry, sdk, leak)
    assert status == 200, body
    extra = body["transformedEvent"]["extra"]
    assert extra["token"] is None  # the daemon's environment, less SENTRY_*
    assert extra["cwd"] != os.getcwd() and "sentryfake-transform-" in extra["cwd"]
    for _ in range(3):  # whichever warm worker answers, the global scope is clean
        status, body = await run(transform_sentry, sdk, CODE[sdk]["tag"])
        assert status == 200 and "leaked" not in body["transformedEvent"]["tags"], body


@pytest_twisted.ensureDeferred
async def test_a_python_callback_has_a_memory_limit(transform_sentry):
    status, body = await run(transform_sentry, "python", "lambda event, hint: 'x' * (2 ** 31)")
    assert_refused(status, body, "Transformation error: MemoryError")


# --- the requests it refuses -----------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_every_refusal_has_its_kind(transform_sentry):
    good = {"sdk": "python", "event": {"message": "x"}, "beforeSendCode": "lambda e, h: e"}
    cases = [
        ({k: v for k, v in good.items() if k != "sdk"}, "Missing required fields: sdk"),
        ({"sdk": "python"}, "Missing required fields: event, beforeSendCode"),
        ({**good, "beforeSendCode": ""}, "Missing required fields: beforeSendCode"),
        ({**good, "event": None}, "Missing required fields: event"),
        ({**good, "event": "{not json"}, "Invalid JSON in event input: Expecting property name"),
        ({**good, "event": [1, 2]}, "Invalid JSON in event input: the event must be a JSON object, not an array"),
        ({**good, "event": "[1]"}, "Invalid JSON in event input: the event must be a JSON object"),
        ({**good, "sdk": "cocoa"}, "Unsupported SDK: cocoa"),
        ({**good, "sdk": 7}, "Unsupported SDK: 7"),
        ({**good, "beforeSendCode": 42}, "Compilation failed: beforeSendCode must be a string"),
        ({**good, "beforeSendCode": "x = 1\n"}, "Compilation failed: the code defines no function"),
        ({**good, "beforeSendCode": "lambda e, h: undefined_name"}, "Transformation error: NameError"),
    ]
    for request_body, error in cases:
        status, body = await transform(transform_sentry, request_body)
        assert_refused(status, body, error)
    for sdk in ("ruby", "php", "go", "dotnet", "java", "android", "react-native"):
        status, body = await transform(transform_sentry, {**good, "sdk": sdk})
        assert_refused(status, body, f"SDK not installed: {sdk}")
        assert body["error"] == f"SDK not installed: {sdk}"


@pytest_twisted.ensureDeferred
async def test_only_json_bodies_from_loopback_pages_run(transform_sentry):
    good = {"sdk": "python", "event": {"message": "x"}, "beforeSendCode": "lambda e, h: e"}
    status, body = await transform(transform_sentry, b"{oops", JSON)
    assert_refused(status, body, "Missing required fields: sdk, event, beforeSendCode")
    # A form post (what a cross-site page can send without a preflight) runs nothing.
    status, body = await transform(transform_sentry, json.dumps(good).encode(),
                                   {"Content-Type": "application/x-www-form-urlencoded"})
    assert_refused(status, body, "Missing required fields")
    for origin in ("http://attacker.example:4773", "null", "http://[::1"):
        status, body = await transform(transform_sentry, good, {**JSON, "Origin": origin})
        assert_refused(status, body, "Forbidden: ", 403)
    for origin in ("http://localhost:3000", "http://127.0.0.1:5173"):
        status, body = await transform(transform_sentry, good, {**JSON, "Origin": origin})
        assert status == 200, body


@pytest_twisted.ensureDeferred
async def test_a_body_over_10_mib_is_refused_unread(transform_sentry):
    event = {"message": "x" * (10 * 1024 * 1024)}
    status, body = await transform(transform_sentry, {"sdk": "python", "event": event, "beforeSendCode": "lambda e, h: e"})
    assert (status, body) == (413, {"success": False, "error": "Payload too large: a transform request is at most 10 MiB",
                                    "traceback": ""})


# --- the other routes ------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_sdks_lists_every_sdk_with_the_installed_versions(transform_sentry):
    response, body = await request_json("GET", f"{transform_sentry.url}/api/transform/sdks")
    assert response.code == 200
    rows = {row["key"]: row for row in body["sdks"]}
    assert list(rows) == ["javascript", "python", "ruby", "php", "go", "dotnet", "java", "android", "react-native"]
    assert all(set(row) == {"key", "name", "language", "default", "status", "package", "version"}
               for row in rows.values())
    assert rows["python"] == {"key": "python", "name": "Python", "language": "python", "default": True,
                              "status": "available", "package": "sentry-sdk",
                              "version": importlib.metadata.version("sentry-sdk")}
    javascript = rows["javascript"]
    assert (javascript["package"], javascript["default"]) == ("@sentry/node", True)
    if transform_sentry.node_skip:
        assert (javascript["status"], javascript["version"]) == ("not-installed", None)
    else:
        assert (javascript["status"], javascript["version"]) == ("available", "11.12.0")
    for key in ("ruby", "php", "go", "dotnet", "java", "android", "react-native"):
        assert (rows[key]["status"], rows[key]["version"], rows[key]["default"]) == ("not-installed", None, False)


@pytest_twisted.ensureDeferred
async def test_transform_health_and_the_daemons_own_health(transform_sentry):
    response, body = await request_json("GET", f"{transform_sentry.url}/api/transform/health")
    assert response.code == 200 and body["status"] == "healthy" and set(body) == {"status", "timestamp"}
    assert body["timestamp"].endswith("Z")
    assert abs(datetime.fromisoformat(body["timestamp"]).timestamp() - transform_sentry.store.now()) < 5
    response, body = await request_json("GET", f"{transform_sentry.url}/health")
    assert (response.code, body) == (200, {"status": "ok"})


@pytest_twisted.ensureDeferred
async def test_off_unless_asked_for(sentry):
    for method, path in (("POST", "/api/transform"), ("GET", "/api/transform/sdks"),
                         ("GET", "/api/transform/health"), ("POST", "/api/transform/")):
        response, body = await request_json(method, sentry.url + path, headers=JSON,
                                            data=b'{"sdk": "python", "event": {}, "beforeSendCode": "lambda e, h: e"}')
        assert response.code == 404, (path, body)
        assert set(body) == {"detail"} and "--transform" in body["detail"]
    assert sentry.service.transform is None
    response, body = await request_json("GET", f"{sentry.url}/health")
    assert (response.code, body) == (200, {"status": "ok"})


@pytest_twisted.ensureDeferred
async def test_without_node_javascript_is_not_installed(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))  # no node here; python runs from sys.executable
    running = await start_sentry(transform=True, transform_timeout=TIMEOUT)
    try:
        response, body = await request_json("GET", f"{running.url}/api/transform/sdks")
        (javascript,) = [row for row in body["sdks"] if row["key"] == "javascript"]
        assert (javascript["status"], javascript["version"]) == ("not-installed", None)
        status, body = await run(running, "javascript", CODE["javascript"]["tag"])
        assert_refused(status, body, "SDK not installed: javascript")
        assert "npm install" in body["traceback"]  # how to install it
        status, body = await run(running, "python", CODE["python"]["tag"])
        assert status == 200, body
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_a_worker_that_will_not_start_is_the_daemons_fault(monkeypatch):
    broken = Runtime("python", "2.75.0", (sys.executable, "-c", "import sys; sys.stderr.write('no sdk'); sys.exit(3)"))
    monkeypatch.setattr(engine, "python_runtime", lambda cpu_seconds, memory: broken)
    running = await start_sentry(transform=True, transform_timeout=TIMEOUT, transform_node_modules=None)
    try:
        status, body = await run(running, "python", CODE["python"]["tag"])
        assert_refused(status, body, "Internal error: the python worker did not start (exit code 3)", 500)
        assert body["traceback"] == "no sdk"
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_a_worker_that_breaks_protocol_is_replaced(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text("import sys\nprint('{\"ready\": true}', flush=True)\nsys.stdin.readline()\n"
                      "print('not json', flush=True)\nsys.stdin.readline()\n")
    runtime = Runtime("python", "0", (sys.executable, str(script)))
    pool = WorkerPool(reactor, runtime, size=1, timeout=5, cwd=str(tmp_path), env=worker_env())
    pool.start()
    try:
        with pytest.raises(WorkerFault, match="not a JSON object"):
            await pool.submit({}, "lambda e, h: e")
        with pytest.raises(WorkerFault, match="not a JSON object"):  # a fresh worker, same script
            await pool.submit({}, "lambda e, h: e")
    finally:
        await pool.stop()
    assert pool.workers == []


# --- under load ------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_many_transforms_at_once_while_ingest_keeps_answering(transform_sentry):
    sdks = ["python"] + ([] if transform_sentry.node_skip else ["javascript"])
    finished: dict[str, float] = {}

    async def timed(name: str, coroutine: Any) -> Any:
        result = await coroutine
        finished[name] = reactor.seconds()
        return result

    # Two callbacks per SDK that wait (not spin) long enough to hold every warm worker, then a
    # crowd of quick ones queued behind them.
    slow = {"python": "import time\ndef before_send(event, hint):\n    time.sleep(0.6)\n    return event\n",
            "javascript": "async (event) => { await new Promise((r) => setTimeout(r, 600)); return event; }"}
    jobs = [timed(f"slow-{sdk}-{n}", run(transform_sentry, sdk, slow[sdk])) for sdk in sdks for n in range(2)]
    jobs += [timed(f"quick-{sdk}-{n}", run(transform_sentry, sdk, CODE[sdk]["tag"]))
             for sdk in sdks for n in range(12)]

    async def envelope(n: int) -> int:
        event_id = uuid.uuid4().hex
        body = (json.dumps({"event_id": event_id}) + "\n" + json.dumps({"type": "event"}) + "\n"
                + json.dumps({"event_id": event_id, "message": f"ingest {n}"}) + "\n").encode()
        response = await treq.post(f"{transform_sentry.url}/api/1/envelope/?sentry_key=parlel", data=body)
        await response.content()
        return response.code

    ingests = [timed(f"ingest-{n}", envelope(n)) for n in range(20)]
    results = await DeferredList([ensureDeferred(c) for c in jobs + ingests], fireOnOneErrback=True, consumeErrors=True)
    outcomes = [value for _, value in results]
    transforms, answered = outcomes[:len(jobs)], outcomes[len(jobs):]
    assert all(status == 200 and body["success"] for status, body in transforms), transforms
    assert answered == [200] * 20
    # Every envelope was answered while the slow callbacks still held the workers.
    last_ingest = max(t for name, t in finished.items() if name.startswith("ingest-"))
    first_slow = min(t for name, t in finished.items() if name.startswith("slow-"))
    assert last_ingest < first_slow
    messages = {e.get("logentry", {}).get("formatted") or e.get("message") for e in
                (await request_json("GET", f"{transform_sentry.url}/__parlel/events"))[1]["events"]}
    assert {f"ingest {n}" for n in range(20)} <= messages
