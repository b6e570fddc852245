"""Service and inspection endpoints: /, /health, /__parlel/reset, /__parlel/events."""

from __future__ import annotations

import pytest_twisted

from conftest import AUTH, request_json


@pytest_twisted.ensureDeferred
async def test_index_describes_the_service(sentry):
    response, body = await request_json("GET", f"{sentry.url}/")
    assert response.code == 200
    assert body["name"] == "sentry" and body["port"] == sentry.port
    assert body["healthcheck"] == "/health"
    assert "POST /api/{project_id}/store/" in body["endpoints"]
    assert body["dsn"] == sentry.dsn


@pytest_twisted.ensureDeferred
async def test_health(sentry):
    response, body = await request_json("GET", f"{sentry.url}/health")
    assert (response.code, body) == (200, {"status": "ok"})
    response, body = await request_json("POST", f"{sentry.url}/health")
    assert response.code == 405 and "detail" in body


@pytest_twisted.ensureDeferred
async def test_events_and_reset(sentry):
    first, _ = await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "one"})
    second, _ = await request_json(
        "POST", f"{sentry.url}/api/1/store", json={"message": "two", "event_id": "A" * 32}
    )
    assert first.code == second.code == 200
    response, body = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert response.code == 200
    assert body["count"] == 2
    assert [e["logentry"]["formatted"] for e in body["events"]] == ["one", "two"]
    assert body["events"][1]["event_id"] == "a" * 32
    await request_json("POST", f"{sentry.url}/api/0/projects/parlel/extra/", headers=AUTH, json={})

    response, body = await request_json("POST", f"{sentry.url}/__parlel/reset")
    assert response.code == 200
    _, body = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert body == {"events": [], "count": 0}
    _, projects = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH)
    assert [p["slug"] for p in projects] == ["hello-world"]


@pytest_twisted.ensureDeferred
async def test_unknown_route_and_method(sentry):
    response, body = await request_json("GET", f"{sentry.url}/no/such/thing")
    assert response.code == 404 and body == {"detail": "The requested resource does not exist"}
    response, body = await request_json("GET", f"{sentry.url}/__parlel/reset")
    assert response.code == 405 and body["detail"] == 'Method "GET" not allowed.'
    assert "POST" in response.headers.getRawHeaders("allow")[0]
    response, body = await request_json("GET", f"{sentry.url}/__parlel/events?project=abc")
    assert response.code == 400 and "detail" in body


@pytest_twisted.ensureDeferred
async def test_undecodable_url_is_a_json_400(sentry):
    for path in ("/%ff%fe", "/api/0/%c3%28/", "/api/1/%ff/envelope/"):
        response, body = await request_json("GET", f"{sentry.url}{path}")
        assert response.code == 400, path
        assert body == {"detail": "Non-UTF-8 encoding in URL."}


def _raw_exchange(port: int, data: bytes) -> bytes:
    import socket

    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest_twisted.ensureDeferred
async def test_malformed_http_is_a_json_400_and_the_daemon_carries_on(sentry):
    from twisted.internet.threads import deferToThread

    cases = [
        b"POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
        b"POST /api/1/store/ HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n{}",
        b"GET /health HTTP/1.1\r\nHost: x\r\nBroken header line\r\n\r\n",
    ]
    for raw in cases:
        answer = await deferToThread(_raw_exchange, sentry.port, raw)
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 400"), answer
        assert b"content-type: application/json" in head.lower()
        assert body == b'{"detail": "malformed HTTP request"}'
    response, body = await request_json("GET", f"{sentry.url}/health")
    assert (response.code, body) == (200, {"status": "ok"})


@pytest_twisted.ensureDeferred
async def test_transactions_lists_only_transactions(sentry):
    await request_json("POST", f"{sentry.url}/api/1/store/", json={"message": "an error, not a transaction"})
    transaction = {"type": "transaction", "transaction": "/orders", "start_timestamp": 1700000000.0,
                   "timestamp": 1700000001.0, "contexts": {"trace": {"trace_id": "a" * 32, "span_id": "b" * 16}},
                   "spans": []}
    response, _ = await request_json("POST", f"{sentry.url}/api/1/store/", json=transaction)
    assert response.code == 200
    _, body = await request_json("GET", f"{sentry.url}/__parlel/transactions")
    assert [e["transaction"] for e in body["transactions"]] == ["/orders"]
    _, body = await request_json("GET", f"{sentry.url}/__parlel/events")
    assert body["count"] == 2
