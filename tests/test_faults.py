"""Sentry-aware fault injection (``/__parlel/faults``) over real HTTP: Relay's answers for rate
limits, quotas, statuses, delays and dropped connections, and what they leave in the outcomes and
the journal. The real SDKs' reaction to them is in ``test_fault_clients.py``."""

from __future__ import annotations

import json
import random
import time
import uuid
from typing import Any

import pytest
import pytest_twisted
import treq
from twisted.internet import reactor, task
from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.web._newclient import ResponseFailed, ResponseNeverReceived

from conftest import AUTH, request_json
from sentry_daemon.ingest.faults import RATE_LIMITED
from sentry_daemon.testing import start_sentry

ENVELOPE = "/api/1/envelope/"


def envelope(*items: tuple[dict[str, Any], bytes], event_id: str | None = None) -> bytes:
    header = {"event_id": event_id} if event_id else {}
    lines = [json.dumps(header).encode()]
    for item_header, payload in items:
        lines += [json.dumps({**item_header, "length": len(payload)}).encode(), payload]
    return b"\n".join(lines) + b"\n"


def event_item(message: str = "boom") -> tuple[dict[str, Any], bytes]:
    return {"type": "event"}, json.dumps({"message": message, "level": "error"}).encode()


def transaction_item() -> tuple[dict[str, Any], bytes]:
    now = time.time()
    return {"type": "transaction"}, json.dumps({
        "type": "transaction", "transaction": "/checkout", "start_timestamp": now - 1, "timestamp": now,
        "contexts": {"trace": {"trace_id": uuid.uuid4().hex, "span_id": uuid.uuid4().hex[:16], "op": "http"}},
    }).encode()


def attachment_item() -> tuple[dict[str, Any], bytes]:
    return {"type": "attachment", "filename": "a.txt"}, b"hello"


def client_report_item() -> tuple[dict[str, Any], bytes]:
    return {"type": "client_report"}, json.dumps({"timestamp": time.time(), "discarded_events": [
        {"reason": "queue_overflow", "category": "error", "quantity": 1}]}).encode()


async def post(sentry: Any, body: bytes, path: str = ENVELOPE, **headers: str) -> tuple[Any, Any]:
    return await request_json("POST", sentry.url + path, data=body,
                              headers={"Content-Type": "application/x-sentry-envelope", **headers})


async def control(sentry: Any, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
    response, body = await request_json(method, sentry.url + "/__parlel/" + path, **kwargs)
    assert response.code == expect, (method, path, response.code, body)
    return body


async def add_fault(sentry: Any, headers: dict[str, str] | None = None, **fields: Any) -> dict[str, Any]:
    return await control(sentry, "POST", "faults", 201, json=fields, headers=headers or {})


def header(response: Any, name: str) -> str | None:
    values = response.headers.getRawHeaders(name)
    return values[0] if values else None


async def outcomes(sentry: Any, outcome: str) -> dict[tuple[str, str | None], int]:
    body = await control(sentry, "GET", f"outcomes?outcome={outcome}")
    return {(o["category"], o["reason"]): o["quantity"] for o in body["outcomes"]}


async def journal(sentry: Any, query: str = "") -> list[dict[str, Any]]:
    body = await control(sentry, "GET", "journal" + query)
    assert body["count"] == len(body["journal"])
    return body["journal"]


@pytest_twisted.async_yield_fixture()
async def clocked() -> Any:
    """A daemon whose domain clock is the test's: rate-limit windows move only when it says."""
    clock = task.Clock()
    clock.advance(1_700_000_000)
    running = await start_sentry(clock=clock)
    running.test_clock = clock
    yield running
    await running.stop()


# --- the faults resource ----------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_a_fault_is_stored_listed_and_deleted(sentry):
    made = await add_fault(sentry, action="rate_limit", endpoint="envelope", project=7,
                           categories=["transaction", "log"], times=2)
    assert made == {
        "id": made["id"], "action": "rate_limit", "endpoint": "envelope", "project": 7, "tenant": None,
        "categories": ["transaction", "log_item"], "retry_after": 60, "scope": "project", "reason_code": None,
        "times": 2, "probability": None, "seed": None, "created": made["created"], "fired": 0, "remaining": 2,
        "limited_until": None,
    }
    assert isinstance(made["id"], int) and made["created"].endswith("Z")
    other = await add_fault(sentry, action="status", status=503)
    assert other["endpoint"] == "any" and other["status"] == 503 and other["retry_after"] is None

    listed = await control(sentry, "GET", "faults")
    assert listed["count"] == 2 and [f["id"] for f in listed["faults"]] == [made["id"], other["id"]]
    assert (await control(sentry, "GET", "faults?project=7"))["faults"] == [made]
    assert await control(sentry, "GET", f"faults/{made['id']}") == made

    response, _ = await request_json("DELETE", f"{sentry.url}/__parlel/faults/{made['id']}")
    assert response.code == 204
    await control(sentry, "GET", f"faults/{made['id']}", 404)
    await control(sentry, "DELETE", f"faults/{made['id']}", 404)
    response, _ = await request_json("DELETE", f"{sentry.url}/__parlel/faults")
    assert response.code == 204
    assert await control(sentry, "GET", "faults") == {"faults": [], "count": 0}

    quota = await add_fault(sentry, action="quota", limit=2, window=60)
    assert quota["categories"] == ["default", "error", "security"]
    assert quota["reason_code"] == "project_quota" and quota["used"] == 0 and "times" not in quota
    await control(sentry, "POST", "reset")
    assert (await control(sentry, "GET", "faults"))["count"] == 0  # a reset forgets faults


@pytest.mark.parametrize(("body", "errors"), [
    ({}, {"action": ["This field is required."]}),
    ({"action": "explode"}, {"action": ['"explode" is not a valid choice.']}),
    ({"action": "status"}, {"status": ["This field is required."]}),
    ({"action": "status", "status": 200}, {"status": ["Ensure this value is greater than or equal to 400."]}),
    ({"action": "delay"}, {"delay": ["This field is required."]}),
    ({"action": "delay", "delay": "1"}, {"delay": ["A valid number is required."]}),
    ({"action": "quota", "limit": 1}, {"window": ["This field is required."]}),
    ({"action": "quota", "limit": 1, "window": 60, "times": 2},
     {"times": ["Not used by the quota action: it counts every matching request."]}),
    ({"action": "rate_limit", "delay": 2}, {"delay": ["Not used by the rate_limit action."]}),
    ({"action": "status", "status": 500, "categories": ["error"]},
     {"categories": ["Only rate_limit and quota refuse items by category, and not on the web API."]}),
    ({"action": "rate_limit", "categories": ["errors"]}, {"categories": {"0": ['"errors" is not a valid choice.']}}),
    ({"action": "rate_limit", "endpoint": "graphql"}, {"endpoint": ['"graphql" is not a valid choice.']}),
    ({"action": "rate_limit", "probability": 1.5},
     {"probability": ["Ensure this value is less than or equal to 1."]}),
    ({"action": "rate_limit", "project": "one"}, {"project": ["A valid integer is required."]}),
    ({"action": "rate_limit", "tenant": "nobody"}, {"tenant": ["No tenant or organization has this id or slug."]}),
    ({"action": "drop_connection", "times": 0}, {"times": ["Ensure this value is greater than or equal to 1."]}),
])
@pytest_twisted.ensureDeferred
async def test_a_bad_fault_is_refused_field_by_field(sentry, body, errors):
    assert await control(sentry, "POST", "faults", 400, json=body) == errors
    assert (await control(sentry, "GET", "faults"))["count"] == 0


@pytest_twisted.ensureDeferred
async def test_a_fault_body_must_be_a_json_object(sentry):
    body = await control(sentry, "POST", "faults", 400, data=b"[1]")
    assert "detail" in body


# --- rate limits, as Relay answers them -------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_rate_limit_refuses_the_envelope_and_keeps_limiting_while_its_window_lasts(sentry):
    fault = await add_fault(sentry, action="rate_limit", retry_after=30, times=1, reason_code="my_quota")
    response, body = await post(sentry, envelope(event_item(), attachment_item(), event_id=uuid.uuid4().hex))
    assert response.code == 429
    assert body == {"detail": RATE_LIMITED}
    assert header(response, "Retry-After") == "30"
    assert header(response, "X-Sentry-Rate-Limits") == "30::project:my_quota"

    # the one time is spent, but the limit holds for its window, as Relay's cached limits do
    response, _ = await post(sentry, envelope(event_item()))
    assert response.code == 429
    assert 29 <= int(header(response, "Retry-After")) <= 30
    # a client report is never limited (Relay keeps it), and the others are counted
    response, _ = await post(sentry, envelope(client_report_item()))
    assert response.code == 200

    assert (await control(sentry, "GET", "events"))["count"] == 0
    assert await outcomes(sentry, "rate_limited") == {("error", "my_quota"): 2, ("attachment", "my_quota"): 5}
    listed = await control(sentry, "GET", f"faults/{fault['id']}")
    assert listed["fired"] == 1 and listed["remaining"] == 0 and listed["limited_until"].endswith("Z")

    entries = await journal(sentry)
    assert [(e["status"], e["fault"]) for e in entries] == [(429, fault["id"]), (429, fault["id"])]
    assert entries[0]["cause"] == f"rate limited by fault {fault['id']}: attachment, event dropped"
    assert entries[0]["dropped"] == [{"category": "error", "quantity": 1}, {"category": "attachment", "quantity": 5}]
    assert entries[0]["detail"] == RATE_LIMITED


@pytest_twisted.ensureDeferred
async def test_rate_limit_by_category_drops_only_those_items(sentry):
    await add_fault(sentry, action="rate_limit", categories=["attachment"], retry_after=60)
    event_id = uuid.uuid4().hex
    response, body = await post(sentry, envelope(event_item("kept"), attachment_item(), event_id=event_id))
    assert response.code == 200 and body == {"id": event_id}
    assert header(response, "X-Sentry-Rate-Limits") == "60:attachment:project"
    assert header(response, "Retry-After") is None

    assert [e["event_id"] for e in (await control(sentry, "GET", "events"))["events"]] == [event_id]
    assert (await control(sentry, "GET", "attachments"))["count"] == 0
    stored = (await control(sentry, "GET", "envelopes"))["envelopes"]
    assert [[i["type"] for i in e["items"]] for e in stored] == [["event"]]

    # an envelope of limited items only is refused whole
    response, body = await post(sentry, envelope(attachment_item(), event_id=uuid.uuid4().hex))
    assert response.code == 429 and body == {"detail": RATE_LIMITED}
    assert header(response, "X-Sentry-Rate-Limits") == "60:attachment:project"
    # other categories pass untouched, without the header
    response, _ = await post(sentry, envelope(event_item()))
    assert response.code == 200 and header(response, "X-Sentry-Rate-Limits") is None
    assert await outcomes(sentry, "rate_limited") == {("attachment", None): 10}

    entries = await journal(sentry)
    assert [e["status"] for e in entries] == [200, 429]
    assert entries[0]["dropped"] == [{"category": "attachment", "quantity": 5}]
    assert entries[0]["detail"] is None


@pytest_twisted.ensureDeferred
async def test_a_refused_transaction_takes_what_needs_it_and_sessions_are_limited_without_outcomes(sentry):
    await add_fault(sentry, action="rate_limit", categories=["transaction", "session"], retry_after=60)
    session = {"type": "session"}, json.dumps({"sid": uuid.uuid4().hex, "init": True, "status": "ok",
                                               "attrs": {"release": "app@1"}}).encode()
    response, _ = await post(sentry, envelope(transaction_item(), attachment_item(), client_report_item(),
                                              event_id=uuid.uuid4().hex))
    assert response.code == 200 and header(response, "X-Sentry-Rate-Limits") == "60:transaction;session:project"
    response, _ = await post(sentry, envelope(session))
    assert response.code == 429
    assert (await control(sentry, "GET", "items"))["items"][0]["type"] == "client_report"
    assert await outcomes(sentry, "rate_limited") == {("transaction", None): 1, ("attachment", None): 5}


@pytest_twisted.ensureDeferred
async def test_the_store_endpoint_answers_any_rate_limit_429(sentry):
    await add_fault(sentry, action="rate_limit", endpoint="store", categories=["error"], retry_after=5)
    response, body = await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "limited"})
    assert response.code == 429 and body == {"detail": RATE_LIMITED}
    assert header(response, "X-Sentry-Rate-Limits") == "5:error:project"
    # the fault names the store endpoint only
    response, _ = await post(sentry, envelope(event_item()))
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_a_rate_limit_window_ends_on_the_store_clock(clocked):
    await add_fault(clocked, action="rate_limit", retry_after=10, times=1)
    assert (await post(clocked, envelope(event_item())))[0].code == 429
    clocked.test_clock.advance(9.5)
    response, _ = await post(clocked, envelope(event_item()))
    assert response.code == 429 and header(response, "Retry-After") == "1"
    clocked.test_clock.advance(0.5)
    response, _ = await post(clocked, envelope(event_item()))
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_a_fault_may_name_a_project_before_it_exists(sentry):
    await add_fault(sentry, action="rate_limit", project=77)
    response, _ = await post(sentry, envelope(event_item()), path="/api/77/envelope/")
    assert response.code == 429
    response, _ = await post(sentry, envelope(event_item()))
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_a_tenants_fault_leaves_everyone_else_alone(sentry):
    tenant = await control(sentry, "POST", "tenants", 201, json={"name": "faulty"})
    made = await add_fault(sentry, action="status", status=503, tenant=tenant["id"])
    response, body = await post(sentry, envelope(event_item()), path=f"/api/{tenant['project_id']}/envelope/")
    assert response.code == 503 and body == {"detail": "the service is overloaded"}
    assert (await post(sentry, envelope(event_item())))[0].code == 200
    assert (await control(sentry, "GET", f"faults?tenant={tenant['id']}"))["faults"] == [
        {**made, "fired": 1}]
    assert [e["org"] for e in await journal(sentry, f"?tenant={tenant['id']}")] == [tenant["org"]]
    # the tenant's reset takes its faults and its near misses along
    await control(sentry, "POST", f"tenants/{tenant['id']}/reset")
    assert (await control(sentry, "GET", "faults"))["count"] == 0
    assert await journal(sentry) == []


@pytest_twisted.ensureDeferred
async def test_quota_accepts_n_events_per_window_then_rate_limits(clocked):
    await add_fault(clocked, action="quota", limit=2, window=60)
    for _ in range(2):
        assert (await post(clocked, envelope(event_item())))[0].code == 200
    clocked.test_clock.advance(15)
    response, body = await post(clocked, envelope(event_item()))
    assert response.code == 429 and body == {"detail": RATE_LIMITED}
    assert header(response, "X-Sentry-Rate-Limits") == "45:default;error;security:project:project_quota"
    assert header(response, "Retry-After") == "45"
    # what a project quota does not cover passes
    assert (await post(clocked, envelope(transaction_item())))[0].code == 200
    clocked.test_clock.advance(45)  # the next window
    assert (await post(clocked, envelope(event_item())))[0].code == 200
    assert await outcomes(clocked, "rate_limited") == {("error", "project_quota"): 1}
    assert (await control(clocked, "GET", "faults"))["faults"][0]["used"] == 1


# --- statuses, delays, dropped connections ----------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_status_answers_relays_body_for_the_next_n_requests(sentry):
    fault = await add_fault(sentry, action="status", status=503, times=2, endpoint="envelope")
    for _ in range(2):
        response, body = await post(sentry, envelope(event_item()))
        assert response.code == 503 and body == {"detail": "the service is overloaded"}
        assert header(response, "Access-Control-Allow-Origin") == "*"
    assert (await post(sentry, envelope(event_item())))[0].code == 200
    assert (await control(sentry, "GET", "events"))["count"] == 1
    entries = await journal(sentry)
    assert [(e["status"], e["cause"]) for e in entries] == [(503, f"answered 503 by fault {fault['id']}")] * 2

    await add_fault(sentry, action="status", status=413, endpoint="store")
    response, body = await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "x"})
    assert response.code == 413 and body["detail"].startswith("envelope exceeded size limits for type 'event'")
    await add_fault(sentry, action="status", status=429, retry_after=7, endpoint="minidump")
    response, body = await request_json("POST", f"{sentry.url}/api/1/minidump/", data=b"x")
    assert response.code == 429 and body == {"detail": RATE_LIMITED} and header(response, "Retry-After") == "7"


@pytest_twisted.ensureDeferred
async def test_the_web_api_is_faulted_only_when_a_fault_says_api(sentry):
    await add_fault(sentry, action="status", status=500)  # endpoint any: every ingest endpoint
    response, _ = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/", headers=AUTH)
    assert response.code == 200
    await control(sentry, "DELETE", "faults", 204)

    await add_fault(sentry, action="status", status=500, endpoint="api", times=1)
    response, body = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/", headers=AUTH)
    assert response.code == 500 and body == {"detail": "Internal Error"}
    await control(sentry, "DELETE", "faults", 204)

    await add_fault(sentry, action="rate_limit", endpoint="api", retry_after=20)
    response, body = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH)
    assert response.code == 429
    assert body == {"detail": "You are attempting to use this endpoint too frequently. Limit is 0 requests in 20 seconds"}
    assert header(response, "X-Sentry-Rate-Limit-Remaining") == "0"
    assert int(header(response, "X-Sentry-Rate-Limit-Reset")) >= int(time.time()) + 19
    assert (await post(sentry, envelope(event_item())))[0].code == 200  # ingest is not the web API
    assert (await control(sentry, "GET", "events"))["count"] == 1  # nor is the control API
    assert await journal(sentry) == []  # the journal is of ingest


@pytest_twisted.ensureDeferred
async def test_delay_answers_later_without_holding_the_reactor(sentry):
    await add_fault(sentry, action="delay", delay=0.6, times=1)
    started = time.monotonic()
    delayed = post(sentry, envelope(event_item()))
    health = await request_json("GET", f"{sentry.url}/health")  # answered while the other waits
    assert health[0].code == 200 and time.monotonic() - started < 0.5
    assert (await control(sentry, "GET", "events"))["count"] == 0  # handled when the delay is over
    response, body = await delayed
    assert response.code == 200 and "id" in body
    assert time.monotonic() - started >= 0.6
    assert (await control(sentry, "GET", "events"))["count"] == 1
    assert await journal(sentry) == []  # late is not lost


@pytest_twisted.ensureDeferred
async def test_a_client_that_gives_up_during_a_delay_leaves_nothing_stored(sentry):
    fault = await add_fault(sentry, action="delay", delay=5)
    with pytest.raises(Exception):
        await treq.post(sentry.url + ENVELOPE, data=envelope(event_item()), timeout=0.3)
    deadline = time.monotonic() + 5
    while not await journal(sentry) and time.monotonic() < deadline:
        await task.deferLater(reactor, 0.02, lambda: None)
    (entry,) = await journal(sentry)
    assert entry["status"] is None and entry["fault"] == fault["id"]
    assert "went away during a 5 s delay" in entry["cause"]
    assert (await control(sentry, "GET", "events"))["count"] == 0


@pytest_twisted.ensureDeferred
async def test_drop_connection_closes_without_an_answer(sentry):
    fault = await add_fault(sentry, action="drop_connection", times=1)
    with pytest.raises((ResponseFailed, ResponseNeverReceived, ConnectionDone, ConnectionLost)):
        await post(sentry, envelope(event_item("dropped")))
    assert (await control(sentry, "GET", "events"))["count"] == 0
    (entry,) = await journal(sentry)
    assert entry["status"] is None and entry["cause"] == f"connection dropped by fault {fault['id']}"
    assert '"dropped"' in entry["body"]
    assert (await post(sentry, envelope(event_item())))[0].code == 200


# --- a seeded probability repeats exactly -------------------------------------------------------


async def _pattern(seed: int, requests: int = 24) -> list[int]:
    running = await start_sentry()
    try:
        await add_fault(running, action="status", status=500, probability=0.5, seed=seed)
        return [(await post(running, envelope(event_item())))[0].code for _ in range(requests)]
    finally:
        await running.stop()


@pytest_twisted.ensureDeferred
async def test_a_seeded_probability_fault_repeats_exactly_across_runs():
    first, second, other = await _pattern(42), await _pattern(42), await _pattern(7)
    assert first == second
    draws = random.Random(42)
    assert first == [500 if draws.random() < 0.5 else 200 for _ in range(24)]
    assert first != other and {200, 500} == set(first)


# --- from Python, and under --control-auth token ------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_the_embedded_service_has_the_same_faults_and_journal(sentry):
    tenant = await sentry.create_tenant("py")
    made = await sentry.add_fault(action="status", status=500, tenant=tenant)
    assert made["tenant"] == tenant.id and made["action"] == "status"
    assert await sentry.faults() == [made]
    response, _ = await post(sentry, envelope(event_item()), path=f"/api/{tenant.project_id}/envelope/")
    assert response.code == 500
    (entry,) = await sentry.journal(tenant=tenant)
    assert entry["fault"] == made["id"] and entry["status"] == 500
    assert await sentry.journal(project=1) == []
    await sentry.delete_fault(made["id"])
    assert await sentry.faults() == []
    await sentry.add_fault(action="rate_limit")
    await sentry.clear_faults()
    assert await sentry.faults() == []


@pytest_twisted.async_yield_fixture()
async def guarded() -> Any:
    running = await start_sentry(control_auth="token", admin_tokens=("admin-secret",))
    yield running
    await running.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest_twisted.ensureDeferred
async def test_a_tenants_token_makes_sees_and_removes_only_its_own_faults(guarded):
    sentry = guarded
    one, two = await sentry.create_tenant("one"), await sentry.create_tenant("two")
    admin = await add_fault(sentry, action="rate_limit", headers=bearer("admin-secret"))
    mine = await add_fault(sentry, action="status", status=503, headers=bearer(one.token))
    assert mine["tenant"] == one.id  # a tenant's fault is for its tenant
    await control(sentry, "POST", "faults", 403, json={"action": "status", "status": 503, "tenant": two.id},
                  headers=bearer(one.token))
    await control(sentry, "POST", "faults", 401, json={"action": "drop_connection"})

    assert [f["id"] for f in (await control(sentry, "GET", "faults", headers=bearer(one.token)))["faults"]] == [
        mine["id"]]
    assert (await control(sentry, "GET", "faults", headers=bearer(two.token)))["count"] == 0
    assert (await control(sentry, "GET", "faults", headers=bearer("admin-secret")))["count"] == 2
    await control(sentry, "GET", f"faults/{admin['id']}", 403, headers=bearer(one.token))
    await control(sentry, "DELETE", f"faults/{mine['id']}", 403, headers=bearer(two.token))
    await control(sentry, "GET", f"faults?tenant={two.id}", 403, headers=bearer(one.token))

    response, _ = await post(sentry, envelope(event_item()), path=f"/api/{one.project_id}/envelope/")
    assert response.code == 503
    await post(sentry, b"bad", path=f"/api/{two.project_id}/envelope/")
    own = (await control(sentry, "GET", "journal", headers=bearer(one.token)))["journal"]
    assert [e["project"] for e in own] == [one.project_id]
    assert (await control(sentry, "GET", "journal", headers=bearer("admin-secret")))["count"] == 2

    await control(sentry, "DELETE", "faults", 204, headers=bearer(two.token))  # none of its own
    assert (await control(sentry, "GET", "faults", headers=bearer("admin-secret")))["count"] == 2
    await control(sentry, "DELETE", "faults", 204, headers=bearer(one.token))
    assert [f["id"] for f in (await control(sentry, "GET", "faults", headers=bearer("admin-secret")))["faults"]] == [
        admin["id"]]
