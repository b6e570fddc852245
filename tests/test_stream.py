"""The live stream over real HTTP: ``GET /__parlel/stream`` sends every stored record as a
Server-Sent Event, in order, filtered, resumable with ``Last-Event-ID``, with heartbeats, and cuts
a reader that lags past its cap instead of buffering for it."""

from __future__ import annotations

import json
import socket
import time
import uuid
from typing import Any

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.defer import Deferred
from twisted.internet.protocol import Protocol
from twisted.internet.task import deferLater
from twisted.web.client import ResponseDone

from conftest import eventually, request_json
from issue_helpers import error_event, send
from sentry_daemon.control_stream import BACKLOG_SIZE
from sentry_daemon.testing import start_sentry

STREAM = "/__parlel/stream"
SUMMARY_KEYS = {"kind", "id", "project", "time", "title", "level", "url"}


class EventReader(Protocol):
    """Reads an SSE body as it comes: ``events`` (kind, id, data) and ``comments``, in order."""

    def __init__(self) -> None:
        self.buffer = b""
        self.events: list[tuple[str, int, dict[str, Any]]] = []
        self.comments: list[str] = []
        self.retry: str | None = None
        self.ended: Deferred = Deferred()

    def dataReceived(self, data: bytes) -> None:
        self.buffer += data
        while b"\n\n" in self.buffer:
            block, self.buffer = self.buffer.split(b"\n\n", 1)
            fields: dict[str, str] = {}
            for line in block.decode().split("\n"):
                if line.startswith(":"):
                    self.comments.append(line[1:].strip())
                    continue
                name, _, value = line.partition(": ")
                assert name not in fields, block  # one line per field: data is one line of JSON
                fields[name] = value
            if "retry" in fields:
                self.retry = fields["retry"]
            if "data" in fields:
                self.events.append((fields["event"], int(fields["id"]), json.loads(fields["data"])))

    def connectionLost(self, reason: Any) -> None:
        self.ended.callback(reason.value)

    def close(self) -> None:
        self.transport.stopProducing()

    def kinds(self) -> list[str]:
        return [kind for kind, _, _ in self.events]


async def open_stream(sentry: Any, query: str = "", headers: dict[str, str] | None = None) -> EventReader:
    """A stream read by treq (HTTP/1.1, chunked), once the daemon says it is live."""
    response = await treq.get(f"{sentry.url}{STREAM}{query}", headers=headers or {}, unbuffered=True)
    assert response.code == 200
    assert response.headers.getRawHeaders("content-type") == ["text/event-stream; charset=utf-8"]
    assert response.headers.getRawHeaders("cache-control") == ["no-cache"]
    reader = EventReader()
    response.deliverBody(reader)
    await eventually(lambda: any(c.startswith("live after id") for c in reader.comments))
    return reader


async def post_envelope(sentry: Any, *items: tuple[dict[str, Any], Any], project: int = 1,
                        event_id: str | None = None) -> None:
    lines = [json.dumps({"event_id": event_id} if event_id else {})]
    for header, payload in items:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        lines += [json.dumps({**header, "length": len(body)}), body.decode()]
    response, answer = await request_json("POST", f"{sentry.url}/api/{project}/envelope/",
                                          data=("\n".join(lines) + "\n").encode(),
                                          headers={"Content-Type": "application/x-sentry-envelope"})
    assert response.code == 200, answer


def log_container(*bodies: str, level: str = "info") -> tuple[dict[str, Any], dict[str, Any]]:
    entries = [{"timestamp": time.time(), "trace_id": uuid.uuid4().hex, "level": level, "body": body,
                "attributes": {}} for body in bodies]
    return ({"type": "log", "item_count": len(entries), "content_type": "application/vnd.sentry.items.log+json"},
            {"items": entries})


def transaction(*span_ops: str) -> dict[str, Any]:
    now = time.time()
    trace = uuid.uuid4().hex
    return {"event_id": uuid.uuid4().hex, "type": "transaction", "transaction": "/checkout",
            "start_timestamp": now - 1, "timestamp": now,
            "contexts": {"trace": {"trace_id": trace, "span_id": uuid.uuid4().hex[:16], "op": "http"}},
            "spans": [{"span_id": uuid.uuid4().hex[:16], "trace_id": trace, "op": op, "description": f"{op} work",
                       "start_timestamp": now - 0.5, "timestamp": now} for op in span_ops]}


@pytest_twisted.ensureDeferred
async def test_every_kind_in_order_with_a_url_that_returns_the_record(sentry: Any) -> None:
    reader = await open_stream(sentry)
    assert reader.retry == "1000"
    error_id = await send(sentry, error_event(type_="ValueError", value="boom"))
    message_id = await send(sentry, {"event_id": uuid.uuid4().hex, "message": "hello there", "level": "warning"})
    tx = transaction("db", "cache")
    await post_envelope(sentry, ({"type": "transaction"}, tx), event_id=tx["event_id"])
    await post_envelope(sentry, log_container("cache miss", "cache hit", level="warn"))
    await post_envelope(sentry, ({"type": "check_in"}, {"check_in_id": uuid.uuid4().hex, "monitor_slug": "nightly",
                                                          "status": "ok"}))
    sid = uuid.uuid4().hex
    await post_envelope(sentry, ({"type": "session"}, {"sid": sid, "init": True, "status": "exited",
                                                       "attrs": {"release": "shop@1"}}))
    owner = uuid.uuid4().hex
    await post_envelope(sentry, ({"type": "attachment", "filename": "log.txt", "content_type": "text/plain"},
                                 b"attached bytes"), event_id=owner)
    await post_envelope(sentry, ({"type": "client_report"}, {
        "timestamp": time.time(), "discarded_events": [{"reason": "queue_overflow", "category": "error", "quantity": 3}]}))
    feedback_id = uuid.uuid4().hex
    await post_envelope(sentry, ({"type": "feedback"}, {
        "event_id": feedback_id, "contexts": {"feedback": {"message": "the button is broken"}}}), event_id=feedback_id)

    expected = ["error", "default", "transaction", "span", "span", "log", "log", "check_in", "session",
                "attachment", "client_report", "feedback"]
    await eventually(lambda: len(reader.events) >= len(expected))
    assert reader.kinds() == expected
    ids = [seq for _, seq, _ in reader.events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    for kind, _, data in reader.events:
        assert set(data) == SUMMARY_KEYS and data["kind"] == kind and data["project"] == 1
        assert data["time"].endswith("Z")
    by_kind = {kind: data for kind, _, data in reversed(reader.events)}
    assert by_kind["error"]["id"] == error_id and by_kind["error"]["title"] == "ValueError: boom"
    assert by_kind["error"]["level"] == "error"
    assert by_kind["default"]["id"] == message_id and by_kind["default"]["title"] == "hello there"
    assert by_kind["default"]["level"] == "warning"
    assert by_kind["transaction"]["title"] == "/checkout"
    assert [d["title"] for k, _, d in reader.events if k == "span"] == ["db work", "cache work"]
    assert [(d["title"], d["level"]) for k, _, d in reader.events if k == "log"] == [("cache miss", "warn"),
                                                                                       ("cache hit", "warn")]
    assert by_kind["check_in"]["title"] == "nightly ok"
    assert by_kind["session"]["id"] == sid and by_kind["session"]["title"] == "session exited"
    assert by_kind["attachment"]["title"] == "log.txt"
    assert by_kind["client_report"]["title"] == "client report: 3 discarded"
    assert by_kind["feedback"]["id"] == feedback_id and by_kind["feedback"]["title"] == "the button is broken"

    # each url returns the record: events by their id (a transaction's spans by the transaction's)
    for kind, event_id in (("error", error_id), ("default", message_id), ("transaction", tx["event_id"]),
                           ("span", tx["event_id"]), ("feedback", feedback_id)):
        _, listed = await request_json("GET", sentry.url + by_kind[kind]["url"])
        assert [e["event_id"] for e in listed["events"]] == [event_id], kind
    response = await treq.get(sentry.url + by_kind["attachment"]["url"])
    assert await response.content() == b"attached bytes"
    _, listed = await request_json("GET", sentry.url + by_kind["check_in"]["url"])
    assert [c["id"] for c in listed["check_ins"]] == [by_kind["check_in"]["id"]]
    _, listed = await request_json("GET", sentry.url + by_kind["log"]["url"])
    assert [e["body"] for e in listed["items"][0]["payload"]["items"]] == ["cache miss", "cache hit"]
    _, listed = await request_json("GET", sentry.url + by_kind["session"]["url"])
    assert [i["payload"]["sid"] for i in listed["items"]] == [sid]
    _, listed = await request_json("GET", sentry.url + by_kind["client_report"]["url"])
    assert listed["count"] == 1
    reader.close()
    await reader.ended
    await eventually(lambda: sentry.service.control.streams.open == 0)


@pytest_twisted.ensureDeferred
async def test_filters_by_project_tenant_and_type(sentry: Any) -> None:
    tenant = await sentry.create_tenant("shop")
    mine = await open_stream(sentry, f"?tenant={tenant.id}")
    errors_of_1 = await open_stream(sentry, "?project=1&type=error&type=log")
    everything = await open_stream(sentry)
    assert sentry.service.control.streams.open == 3

    await send(sentry, error_event(value="seeded"))
    await send(sentry, {"event_id": uuid.uuid4().hex, "message": "a message"})
    await post_envelope(sentry, log_container("seeded log"))
    response, _ = await request_json("POST", f"{tenant.url}/api/{tenant.project_id}/store/",
                                     json=error_event(value="tenant's"),
                                     headers={"X-Sentry-Auth": f"Sentry sentry_key={tenant.dsn.split('//')[1].split('@')[0]}"})
    assert response.code == 200
    await eventually(lambda: len(everything.events) == 4)
    await eventually(lambda: len(errors_of_1.events) == 2 and len(mine.events) == 1)
    assert [(k, d["project"]) for k, _, d in mine.events] == [("error", tenant.project_id)]
    assert errors_of_1.kinds() == ["error", "log"]
    assert {d["project"] for _, _, d in errors_of_1.events} == {1}

    for query, status in (("?type=nonsense", 400), ("?project=one", 400), ("?colour=red", 400),
                          ("?tenant=nope", 404), ("?last_event_id=-1", 400)):
        response, body = await request_json("GET", f"{sentry.url}{STREAM}{query}")
        assert response.code == status and "detail" in body, (query, body)
    for reader in (mine, errors_of_1, everything):
        reader.close()
    await eventually(lambda: sentry.service.control.streams.open == 0)


@pytest_twisted.ensureDeferred
async def test_a_tenant_token_streams_only_its_organization() -> None:
    sentry = await start_sentry(control_auth="token", admin_tokens=("admin-secret",))
    try:
        tenant = await sentry.create_tenant()
        other = await sentry.create_tenant()
        response, _ = await request_json("GET", f"{sentry.url}{STREAM}")
        assert response.code == 401
        bearer = {"Authorization": f"Bearer {tenant.token}"}
        response, _ = await request_json("GET", f"{sentry.url}{STREAM}?tenant={other.id}", headers=bearer)
        assert response.code == 403
        reader = await open_stream(sentry, headers=bearer)
        for who in (other, tenant):
            response, _ = await request_json("POST", f"{sentry.url}/api/{who.project_id}/store/",
                                             json=error_event(value=who.id))
            assert response.code == 200
        # frames come in the order records were stored, and the other tenant's came first: had it
        # been streamed to this reader, it would be there before this tenant's
        await eventually(lambda: any(d["project"] == tenant.project_id for _, _, d in reader.events))
        assert [d["project"] for _, _, d in reader.events] == [tenant.project_id]
        reader.close()
    finally:
        await sentry.stop()


@pytest_twisted.ensureDeferred
async def test_resume_with_last_event_id_replays_what_came_after(sentry: Any) -> None:
    first = await open_stream(sentry)
    for n in range(3):
        await send(sentry, error_event(value=f"before {n}"))
    await eventually(lambda: len(first.events) == 3)
    first.close()
    seen = first.events[0][1]
    await send(sentry, error_event(value="while away"))

    resumed = await open_stream(sentry, headers={"Last-Event-ID": str(seen)})
    assert [d["title"] for _, _, d in resumed.events] == ["KeyError: before 1", "KeyError: before 2",
                                                           "KeyError: while away"]
    assert [seq for _, seq, _ in resumed.events] == [seq for _, seq, _ in first.events[1:]] + [resumed.events[-1][1]]
    await send(sentry, error_event(value="live again"))
    await eventually(lambda: len(resumed.events) == 4)
    assert resumed.events[-1][2]["title"] == "KeyError: live again"

    by_query = await open_stream(sentry, f"?last_event_id={seen}&type=error")
    assert len(by_query.events) == 4  # the query's value, filtered as the live records are
    by_query.close()
    resumed.close()

    # past the backlog: what is gone is said, what is kept is replayed
    await post_envelope(sentry, log_container(*(f"line {n}" for n in range(BACKLOG_SIZE))))
    late = await open_stream(sentry, f"?last_event_id={seen}&type=log")
    gone = [c for c in late.comments if c.startswith("records ")]
    assert len(gone) == 1 and "are gone" in gone[0]
    kept = [seq for seq, kind, _ in sentry.store.record_log.recent if kind == "log"]
    assert len(kept) > BACKLOG_SIZE - 5  # the envelope's item and outcome came after its entries
    assert [seq for _, seq, _ in late.events] == kept
    assert late.events[-1][2]["title"] == f"line {BACKLOG_SIZE - 1}"
    late.close()


@pytest_twisted.ensureDeferred
async def test_heartbeats_keep_a_quiet_stream_open_past_the_idle_timeout() -> None:
    sentry = await start_sentry(stream_heartbeat=0.1, idle_timeout=0.3)
    try:
        reader = await open_stream(sentry)
        started = time.monotonic()
        await eventually(lambda: reader.comments.count("heartbeat") >= 8)
        assert time.monotonic() - started > 0.6  # well past the idle timeout, still open
        assert not reader.ended.called
        await send(sentry, error_event())
        await eventually(lambda: reader.kinds() == ["error"])
        reader.close()
    finally:
        await sentry.stop()


@pytest_twisted.ensureDeferred
async def test_a_stopping_daemon_ends_its_streams() -> None:
    sentry = await start_sentry()
    reader = await open_stream(sentry)
    await sentry.stop()
    reason = await reader.ended
    assert isinstance(reason, ResponseDone)  # a clean end of the response, not a cut


def _rss() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


@pytest_twisted.ensureDeferred
async def test_a_slow_reader_is_cut_at_the_cap_and_memory_stays_flat() -> None:
    cap = 64 * 1024
    # retention keeps the stored payloads small, so what grows would be the stream's buffering
    sentry = await start_sentry(stream_max_buffer=cap, max_bytes=2 * 1024 * 1024)
    slow = socket.socket()
    try:
        fast = await open_stream(sentry, "?type=error")  # a reader that keeps up is not cut
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        slow.connect(("127.0.0.1", sentry.port))
        slow.sendall(f"GET {STREAM}?type=log HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
        streams = sentry.service.control.streams
        await eventually(lambda: streams.open == 2)
        stream = next(s for s in streams.clients if s.kinds == {"log"})
        body = "x" * 1000
        before = None
        for round_ in range(40):  # 40 x 500 entries of 1 KB: 20 MB of frames
            await post_envelope(sentry, log_container(*(f"{round_} {n} {body}" for n in range(500))))
            await send(sentry, error_event(value=str(round_)))
            if round_ == 12:  # the record log's backlog (4096 records) and retention are full by now
                before = _rss()
        await eventually(lambda: streams.dropped == 1 and streams.open == 1)
        assert cap < stream.most_held <= cap + 64 * 1024  # cut at the cap: one write past it at most
        assert before is not None and _rss() - before < 6 * 1024 * 1024  # vs 14 MB more had it buffered
        await eventually(lambda: len(fast.events) == 40)
        # the slow client was cut, not answered: what it reads ends without the stream's end
        slow.setblocking(False)
        received = b""
        deadline = time.monotonic() + 10
        while True:
            try:
                chunk = slow.recv(65536)
            except BlockingIOError:
                assert time.monotonic() < deadline, "the slow client's connection was never cut"
                await deferLater(reactor, 0.01, lambda: None)
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        assert received.startswith(b"HTTP/1.1 200 OK") and not received.endswith(b"0\r\n\r\n")
        fast.close()
        await eventually(lambda: streams.open == 0)
        assert not streams.listening  # nobody listens: ingest pays nothing for the stream
    finally:
        slow.close()
        await sentry.stop()


@pytest_twisted.ensureDeferred
async def test_a_record_whose_time_is_no_date_streams_with_its_arrival(sentry: Any) -> None:
    """A log entry's ``timestamp`` may be anything the SDK wrote; one that is no date (NaN, past
    year 9999) streams with the time it was stored, live and replayed alike."""
    live = await open_stream(sentry, "?type=log")
    header, container = log_container("no date", "far future")
    container["items"][0]["timestamp"] = "nan"
    container["items"][1]["timestamp"] = 1e300
    await post_envelope(sentry, (header, container))
    await eventually(lambda: len(live.events) == 2)
    replayed = await open_stream(sentry, "?type=log&last_event_id=0")
    await eventually(lambda: len(replayed.events) == 2)
    for reader in (live, replayed):
        assert [d["title"] for _, _, d in reader.events] == ["no date", "far future"]
        assert all(d["time"].startswith("20") and d["time"].endswith("Z") for _, _, d in reader.events)
        reader.close()
