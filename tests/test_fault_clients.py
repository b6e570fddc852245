"""Real SDKs against a rate-limit fault: sentry-sdk 2.75 (Python) and @sentry/node 11.12.

Each SDK runs in a subprocess (``tests/clients/python_backoff.py``, ``node_backoff.mjs``): one
event is answered ``429`` with ``X-Sentry-Rate-Limits: 1:error:project``; the SDK then sends
nothing of that category until the second is over (the two events captured meanwhile never reach
the daemon: it journals one refusal, and stores neither), reports those two as
``ratelimit_backoff`` in its next client report, and sends again once the window has passed. What
the daemon shows of it: the ``rate_limited`` outcome it counted, the SDK's ``client_discard``
outcomes, the one near miss in the journal, and the events it kept.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest_twisted
from twisted.internet.threads import deferToThread

from real_clients import client_env, events, get, run_client
from test_node_client import SDK_VERSION, _client_env, node_sdk  # noqa: F401  (the fixture)

CLIENTS = Path(__file__).parent / "clients"
BACKOFF = "1.3"  # seconds the drivers wait before their last event: past the 1 s window


async def limit_errors_once(sentry: Any) -> None:
    response = await get_fault(sentry)
    assert response["categories"] == ["error"]


async def get_fault(sentry: Any) -> dict[str, Any]:
    import treq

    made = await treq.post(sentry.url + "/__parlel/faults", json={
        "action": "rate_limit", "categories": ["error"], "retry_after": 1, "times": 1})
    assert made.code == 201
    return await made.json()


async def run(args: list[str], env: dict[str, str]) -> dict[str, Any]:
    done = await deferToThread(run_client, args, env)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


async def assert_backed_off_and_reported(sentry: Any, result: dict[str, Any], client: str) -> None:
    requests = result["requests"]
    event_requests = [r for r in requests if "event" in r["types"]]
    # one event answered 429, then nothing of the category until the window passed: one more, 200
    assert [r["status"] for r in event_requests] == [429, 200], requests
    assert event_requests[0]["rate_limits"] == "1:error:project"
    assert all(r["status"] == 200 for r in requests if "event" not in r["types"]), requests
    assert any("client_report" in r["types"] for r in requests), requests

    stored = await events(sentry)
    assert list(stored) == [result["ids"]["fourth"]]
    body = await get(sentry, "/__parlel/outcomes?outcome=rate_limited&outcome=client_discard")
    found = {(o["category"], o["outcome"], o["reason"]): o["quantity"] for o in body["outcomes"]}
    assert found == {("error", "rate_limited", None): 1, ("error", "client_discard", "ratelimit_backoff"): 2}

    (entry,) = (await get(sentry, "/__parlel/journal"))["journal"]
    assert entry["status"] == 429 and entry["client"].startswith(client)
    assert entry["dropped"] == [{"category": "error", "quantity": 1}]


@pytest_twisted.ensureDeferred
async def test_sentry_python_backs_off_and_reports_what_it_dropped(sentry):
    await limit_errors_once(sentry)
    result = await run([sys.executable, str(CLIENTS / "python_backoff.py"), sentry.dsn, BACKOFF], client_env())
    await assert_backed_off_and_reported(sentry, result, "sentry.python/")


@pytest_twisted.ensureDeferred
async def test_sentry_node_backs_off_and_reports_what_it_dropped(sentry, node_sdk):  # noqa: F811
    await limit_errors_once(sentry)
    result = await run([node_sdk.node, str(CLIENTS / "node_backoff.mjs"), sentry.dsn, BACKOFF],
                       _client_env(node_sdk))
    await assert_backed_off_and_reported(sentry, result, f"sentry.javascript.node/{SDK_VERSION}")
