"""The ingest side over real HTTP: every route, item type, encoding, limit and auth form.

Each test talks to the real daemon on a real loopback port (``sentry`` / ``strict_sentry``
fixtures, or ``start_sentry`` for special configurations) and checks three things: the status,
the exact JSON body (Relay's text where it is known), and the state the control API shows
afterwards.  Requests the HTTP client cannot shape (chunked bodies, no ``Content-Type`` at all)
go through a raw TCP connection.
"""

from __future__ import annotations

import base64
import gzip
import json
import random
import re
import struct
import time
import uuid
import zlib
from typing import Any

import brotli
import pytest_twisted
import treq
import zstandard
from twisted.internet import reactor
from twisted.internet.defer import Deferred, gatherResults
from twisted.internet.endpoints import TCP4ClientEndpoint, connectProtocol
from twisted.internet.protocol import Protocol

from conftest import AUTH, request_json
from sentry_daemon.ingest.limits import Limits
from sentry_daemon.testing import start_sentry

EID = "9ec79c33ec9942ab8353589fcb2e04dc"
TRACE_ID = "771a43a4192642f0b136d5159a501700"
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
ISO0 = "2026-01-01T00:00:00Z"
LOG_CT = "application/vnd.sentry.items.log+json"
METRIC_CT = "application/vnd.sentry.items.trace-metric+json"
SPAN_CT = "application/vnd.sentry.items.span.v2+json"
SIZE_LIMIT_TEXT = "envelope exceeded size limits for type '{}' (https://develop.sentry.dev/sdk/envelopes/#size-limits)"
# Binary bytes with every byte value, lone CR, lone LF, CRLF and NUL in them.
BINARY = bytes(range(256)) * 4 + b"\r\n\n\r\x00end"


# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------


def js(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def envelope(headers: dict, *items: tuple[dict, bytes], lengths: bool = True, trailing: bool = True) -> bytes:
    """An envelope body: with ``length`` on every item and a trailing newline (Python SDK style) by default."""
    parts = [js(headers)]
    for item_headers, payload in items:
        if lengths:
            item_headers = {**item_headers, "length": len(payload)}
        parts += [js(item_headers), payload]
    body = b"\n".join(parts)
    return body + b"\n" if trailing else body


def event_envelope(message: str = "boom", event_id: str = EID, **headers: Any) -> bytes:
    return envelope({"event_id": event_id, **headers},
                    ({"type": "event", "content_type": "application/json"}, js({"message": message, "level": "error"})))


def content_type(response: Any) -> str | None:
    values = response.headers.getRawHeaders("content-type")
    return values[0] if values else None


def assert_error(response: Any, body: Any, status: int, detail: str | None = None,
                 causes: list[str] | None = None) -> None:
    """An error answer: the status, JSON content type, and (when given) the exact body."""
    assert response.code == status, body
    assert content_type(response) == "application/json", (response.code, body)
    assert isinstance(body, dict) and isinstance(body.get("detail"), str), body
    if detail is not None:
        expected: dict[str, Any] = {"detail": detail}
        if causes is not None:
            expected["causes"] = causes
        assert body == expected


async def post(url: str, body: bytes, headers: dict[str, str] | None = None) -> tuple[Any, Any]:
    return await request_json("POST", url, data=body, headers=headers or {})


async def get(sentry: Any, path: str) -> Any:
    response, body = await request_json("GET", f"{sentry.url}{path}")
    assert response.code == 200, (path, body)
    return body


async def items_of(sentry: Any, *types: str, project: int | None = None) -> list[dict]:
    query = "&".join([f"type={t}" for t in types] + ([f"project={project}"] if project else []))
    body = await get(sentry, f"/__parlel/items?{query}")
    assert body["count"] == len(body["items"])
    return body["items"]


async def state_counts(sentry: Any) -> tuple[int, int, int, int]:
    """(events, items, envelopes, attachments) as the control API shows them."""
    counts = []
    for name in ("events", "items", "envelopes", "attachments"):
        counts.append((await get(sentry, f"/__parlel/{name}"))["count"])
    return tuple(counts)  # type: ignore[return-value]


class _Collect(Protocol):
    def __init__(self) -> None:
        self.done: Deferred = Deferred()
        self.chunks: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self.chunks.append(data)

    def connectionLost(self, reason: Any) -> None:
        self.done.callback(b"".join(self.chunks))


def _dechunk(body: bytes) -> bytes:
    out, pos = [], 0
    while True:
        end = body.index(b"\r\n", pos)
        size = int(body[pos:end].split(b";")[0], 16)
        if size == 0:
            return b"".join(out)
        out.append(body[end + 2:end + 2 + size])
        pos = end + 2 + size + 2


async def raw_http(port: int, head: str, body: bytes = b"", chunks: list[bytes] | None = None
                   ) -> tuple[int, dict[str, str], bytes]:
    """Send one hand-made HTTP/1.1 request (``Connection: close``); return status, headers, body.

    With ``chunks`` the body goes out with ``Transfer-Encoding: chunked``, one write per chunk.
    """
    protocol = _Collect()
    await connectProtocol(TCP4ClientEndpoint(reactor, "127.0.0.1", port), protocol)
    lines = head.strip().splitlines() + ["Host: 127.0.0.1", "Connection: close"]
    if chunks is not None:
        lines.append("Transfer-Encoding: chunked")
    else:
        lines.append(f"Content-Length: {len(body)}")
    protocol.transport.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    if chunks is None:
        protocol.transport.write(body)
    else:
        for chunk in chunks:
            protocol.transport.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
        protocol.transport.write(b"0\r\n\r\n")
    raw = await protocol.done
    head_bytes, _, payload = raw.partition(b"\r\n\r\n")
    status_line, *header_lines = head_bytes.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        payload = _dechunk(payload)
    return int(status_line.split()[1]), headers, payload


def gzip_bomb(mib: int) -> bytes:
    """A valid one-member gzip stream of ``mib`` MiB of zeros (1 GiB -> about 1 MB), built streaming.

    After a full flush the deflate state is reset, so every further MiB of zeros compresses to the
    same bytes: the stream is the first block, that block repeated, the final block and a trailer
    whose CRC is computed over the zeros a MiB at a time.  Nothing of the decoded size is held.
    """
    zeros = bytes(1 << 20)
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    repeated = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    final = compressor.flush()[:-8]  # drop the trailer written for two MiB
    crc = 0
    for _ in range(mib):
        crc = zlib.crc32(zeros, crc)
    return first + repeated * (mib - 1) + final + struct.pack("<II", crc, (mib << 20) & 0xFFFFFFFF)


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


# --------------------------------------------------------------------------------------------
# /envelope/: answers, exact bytes, framing, prefixes
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_event_envelope_answers_its_id_and_is_stored(sentry):
    body = event_envelope("first", sent_at="2026-01-01T00:00:01.5Z")
    response, answer = await post(f"{sentry.url}/api/1/envelope/", body, {
        "Content-Type": "application/x-sentry-envelope",
        "X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=7, sentry_client=sentry.python/2.75.0",
        "User-Agent": "sentry.python/2.75.0",
    })
    assert response.code == 200
    assert content_type(response) == "application/json"
    assert answer == {"id": EID}
    events = (await get(sentry, "/__parlel/events"))["events"]
    assert len(events) == 1
    assert events[0]["event_id"] == EID and events[0]["project"] == 1
    assert events[0]["logentry"]["formatted"] == "first" and events[0]["level"] == "error"
    [record] = (await get(sentry, "/__parlel/envelopes"))["envelopes"]
    assert record["project"] == 1 and record["endpoint"] == "envelope"
    assert record["auth"] == "x-sentry-auth" and record["client"] == "sentry.python/2.75.0"
    assert record["content_type"] == "application/x-sentry-envelope"
    assert record["content_encoding"] is None and record["size"] == len(body)
    assert record["headers"] == {"event_id": EID, "sent_at": "2026-01-01T00:00:01.5Z"}
    assert record["items"] == [{"type": "event", "content_type": "application/json",
                                "length": len(js({"message": "first", "level": "error"}))}]
    _, issues = await request_json("GET", f"{sentry.url}/api/0/projects/parlel/hello-world/issues/", headers=AUTH)
    assert [i["title"] for i in issues] == ["first"]


@pytest_twisted.ensureDeferred
async def test_envelope_without_an_event_answers_an_empty_object(sentry):
    session = {"sid": str(uuid.uuid4()), "did": "user-1", "init": True, "started": ISO0, "timestamp": ISO0,
               "status": "ok", "errors": 0, "attrs": {"release": "app@1.0", "environment": "production"}}
    response, answer = await post(f"{sentry.url}/api/1/envelope/", envelope({}, ({"type": "session"}, js(session))))
    assert response.code == 200 and content_type(response) == "application/json"
    assert answer == {}
    [item] = await items_of(sentry, "session")
    assert item["payload"] == session and item["project"] == 1
    assert (await get(sentry, "/__parlel/events"))["count"] == 0
    # A header-only envelope (no items at all) is valid too.
    response, answer = await post(f"{sentry.url}/api/1/envelope/", b"{}")
    assert (response.code, answer) == (200, {})


@pytest_twisted.ensureDeferred
async def test_hyphenated_uppercase_event_id_is_normalized_in_the_answer_only(sentry):
    sent_id = "6E2AB12D-E2D7-42C7-9A43-5A6AFC94F8B8"
    body = envelope({"event_id": sent_id, "sdk": {"name": "sentry-cli", "version": "3.8.2"}},
                    ({"type": "event"}, js({"message": "cli event", "platform": "other"})))
    response, answer = await post(f"{sentry.url}/api/1/envelope/", body)
    assert response.code == 200
    assert answer == {"id": "6e2ab12de2d742c79a435a6afc94f8b8"}
    [record] = (await get(sentry, "/__parlel/envelopes"))["envelopes"]
    assert record["headers"] == {"event_id": sent_id, "sdk": {"name": "sentry-cli", "version": "3.8.2"}}
    raw = await (await treq.get(f"{sentry.url}/__parlel/envelopes/{record['id']}/raw")).content()
    assert raw == body
    [event] = (await get(sentry, "/__parlel/events"))["events"]
    assert event["event_id"] == "6e2ab12de2d742c79a435a6afc94f8b8"
    response, body404 = await request_json("GET", f"{sentry.url}/__parlel/envelopes/999/raw")
    assert_error(response, body404, 404)


@pytest_twisted.ensureDeferred
async def test_node_style_framing_chunked_no_content_type_key_in_query(sentry):
    """@sentry/node: no ``length`` on JSON items, no trailing newline, chunked, no Content-Type."""
    event = js({"event_id": EID, "message": "from node", "platform": "node"})
    body = (js({"event_id": EID, "sent_at": "2026-01-01T00:00:00.000Z",
                "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"}})
            + b"\n" + js({"type": "event"}) + b"\n" + event
            + b"\n" + js({"type": "attachment", "length": len(BINARY), "filename": "dump.bin"}) + b"\n" + BINARY)
    head = ("POST /api/1/envelope/?sentry_version=7&sentry_key=abc123"
            "&sentry_client=sentry.javascript.node%2F11.12.0 HTTP/1.1\n"
            "user-agent: sentry.javascript.node/11.12.0")
    status, headers, answer = await raw_http(sentry.port, head, chunks=[body[:10], body[10:100], body[100:]])
    assert status == 200
    assert headers["content-type"] == "application/json"
    assert json.loads(answer) == {"id": EID}
    [record] = (await get(sentry, "/__parlel/envelopes"))["envelopes"]
    assert record["auth"] == "query" and record["content_type"] is None
    assert record["client"] == "sentry.javascript.node/11.12.0"
    raw = await (await treq.get(f"{sentry.url}/__parlel/envelopes/{record['id']}/raw")).content()
    assert raw == body
    [attachment] = (await get(sentry, f"/__parlel/attachments?event_id={EID}"))["attachments"]
    data = await (await treq.get(f"{sentry.url}/__parlel/attachments/{attachment['id']}")).content()
    assert data == BINARY
    [event_row] = (await get(sentry, "/__parlel/events"))["events"]
    assert event_row["logentry"]["formatted"] == "from node"


@pytest_twisted.ensureDeferred
async def test_dsn_path_prefix_and_unknown_project_is_created(sentry):
    response, answer = await post(f"{sentry.url}/some/prefix/api/42/envelope/", event_envelope("prefixed"))
    assert (response.code, answer) == (200, {"id": EID})
    response, answer = await post(f"{sentry.url}/some/prefix/api/42/envelope", event_envelope("no slash", "b" * 32))
    assert (response.code, answer) == (200, {"id": "b" * 32})
    events = (await get(sentry, "/__parlel/events?project=42"))["events"]
    assert [e["logentry"]["formatted"] for e in events] == ["prefixed", "no slash"]
    assert (await get(sentry, "/__parlel/events?project=1"))["count"] == 0
    response, projects = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH)
    assert response.code == 200
    assert {p["id"]: p["slug"] for p in projects} == {"1": "hello-world", "42": "project-42"}


# --------------------------------------------------------------------------------------------
# Every item type
# --------------------------------------------------------------------------------------------


def _log_container(count: int, item_count: int) -> tuple[dict, bytes]:
    entries = [{"timestamp": T0 + n, "trace_id": TRACE_ID, "level": "info", "body": f"log {n}",
                "attributes": {"n": {"value": n, "type": "integer"}}} for n in range(count)]
    return ({"type": "log", "content_type": LOG_CT, "item_count": item_count}, js({"version": 2, "items": entries}))


def _metric_container(count: int, item_count: int) -> tuple[dict, bytes]:
    entries = [{"timestamp": T0, "trace_id": TRACE_ID, "name": f"m{n}", "type": "counter", "value": 1.0}
               for n in range(count)]
    return ({"type": "trace_metric", "content_type": METRIC_CT, "item_count": item_count}, js({"items": entries}))


@pytest_twisted.ensureDeferred
async def test_every_item_type_is_accepted_and_kept(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    ids = [uuid.uuid4().hex for _ in range(8)]
    transaction = {"type": "transaction", "transaction": "/checkout", "start_timestamp": T0, "timestamp": T0 + 1.5,
                   "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "a" * 16, "op": "http.server"}},
                   "spans": [{"trace_id": TRACE_ID, "span_id": "b" * 16, "parent_span_id": "a" * 16, "op": "db",
                              "description": "SELECT 1", "start_timestamp": T0, "timestamp": T0 + 0.5}]}
    spans = {"version": 2, "items": [
        {"trace_id": TRACE_ID, "span_id": f"{n:016x}", "name": f"span {n}", "status": "ok", "is_segment": n == 0,
         "start_timestamp": T0, "end_timestamp": T0 + 1, "attributes": {}} for n in range(2)]}
    session = {"sid": str(uuid.uuid4()), "init": True, "started": ISO0, "timestamp": ISO0, "status": "exited",
               "attrs": {"release": "app@1.0"}}
    sessions = {"aggregates": [{"started": ISO0, "exited": 3, "errored": 1}], "attrs": {"release": "app@1.0"}}
    check_in = {"check_in_id": uuid.uuid4().hex, "monitor_slug": "nightly", "status": "ok", "duration": 1.5}
    feedback = {"contexts": {"feedback": {"message": "Great app", "contact_email": "ann@example.com", "name": "Ann"}}}
    user_report = {"event_id": EID, "email": "ann@example.com", "name": "Ann", "comments": "it broke"}
    client_report = {"timestamp": T0, "discarded_events": [{"reason": "queue_overflow", "category": "error",
                                                            "quantity": 2}]}
    profile = {"version": "1", "platform": "python", "event_id": ids[3], "timestamp": ISO0,
               "profile": {"samples": [], "stacks": [], "frames": []}}
    chunk = {"version": "2", "chunk_id": uuid.uuid4().hex, "profiler_id": uuid.uuid4().hex, "platform": "python",
             "profile": {"samples": [], "stacks": [], "frames": []}}
    replay_event = {"type": "replay_event", "replay_id": ids[4], "segment_id": 0, "timestamp": T0,
                    "replay_type": "session", "urls": ["https://example.com/"]}
    recording = b'{"segment_id":0}\n' + gzip.compress(js([{"type": 4, "timestamp": 1, "data": {}}]))
    statsd = b"app.requests:1|c|#route:home\napp.latency:12.5|d"
    otel_log = {"severity_text": "INFO", "body": {"stringValue": "hi"}, "time_unix_nano": "1767225600000000000"}
    unknown = b"opaque\x00bytes\xff"

    cases: list[tuple[bytes, dict]] = [
        (envelope({"event_id": ids[0]}, ({"type": "event"}, js({"message": "with attachment"})),
                  ({"type": "attachment", "filename": "blob.bin", "content_type": "application/x-blob",
                    "attachment_type": "event.attachment"}, BINARY)), {"id": ids[0]}),
        (envelope({"event_id": ids[1]}, ({"type": "transaction"}, js(transaction))), {"id": ids[1]}),
        (envelope({}, ({"type": "span", "content_type": SPAN_CT, "item_count": 2}, js(spans))), {}),
        (envelope({}, ({"type": "session"}, js(session))), {}),
        (envelope({}, ({"type": "sessions"}, js(sessions))), {}),
        (envelope({}, ({"type": "check_in"}, js(check_in))), {}),
        (envelope({}, _log_container(2, 2)), {}),
        (envelope({}, _log_container(2, 3)), {}),
        (envelope({}, _metric_container(3, 3)), {}),
        (envelope({}, _metric_container(1, 5)), {}),
        (envelope({"event_id": ids[2]}, ({"type": "feedback"}, js(feedback))), {"id": ids[2]}),
        (envelope({"event_id": EID}, ({"type": "user_report"}, js(user_report))), {"id": EID}),
        (envelope({}, ({"type": "client_report"}, js(client_report))), {}),
        (envelope({"event_id": ids[3]}, ({"type": "profile"}, js(profile))), {"id": ids[3]}),
        (envelope({}, ({"type": "profile_chunk", "platform": "python"}, js(chunk))), {}),
        (envelope({"event_id": ids[4]}, ({"type": "replay_event"}, js(replay_event)),
                  ({"type": "replay_recording"}, recording)), {"id": ids[4]}),
        (envelope({}, ({"type": "statsd"}, statsd)), {}),
        (envelope({}, ({"type": "otel_log"}, js(otel_log))), {}),
        (envelope({}, ({"type": "future_thing", "custom": "x"}, unknown)), {}),
    ]
    for body, expected in cases:
        response, answer = await post(url, body)
        assert (response.code, answer) == (200, expected), body[:200]

    # Event-like items became events, filterable by type and project.
    events = (await get(sentry, "/__parlel/events"))["events"]
    assert {e["event_id"]: e["type"] for e in events} == {ids[0]: "default", ids[1]: "transaction", ids[2]: "feedback"}
    assert [e["event_id"] for e in (await get(sentry, "/__parlel/events?type=transaction&project=1"))["events"]] \
        == [ids[1]]
    assert (await get(sentry, "/__parlel/events?type=transaction&project=2"))["count"] == 0
    assert [e["event_id"] for e in (await get(sentry, "/__parlel/events?type=feedback"))["events"]] == [ids[2]]

    # The attachment: exact bytes, bound to its event.
    [att] = (await get(sentry, f"/__parlel/attachments?event_id={ids[0]}"))["attachments"]
    assert att["filename"] == "blob.bin" and att["attachment_type"] == "event.attachment"
    assert att["content_type"] == "application/x-blob" and att["size"] == len(BINARY)
    response = await treq.get(f"{sentry.url}/__parlel/attachments/{att['id']}")
    assert response.code == 200 and content_type(response) == "application/x-blob"
    assert await response.content() == BINARY
    [att_item] = await items_of(sentry, "attachment")
    assert att_item["attachment"] == att["id"] and att_item["size"] == len(BINARY)

    # Every item is listed under its type, payload parsed when it is JSON.
    [span_item] = await items_of(sentry, "span")
    assert span_item["payload"] == spans and "error" not in span_item
    assert [i["payload"] for i in await items_of(sentry, "session")] == [session]
    assert [i["payload"] for i in await items_of(sentry, "sessions")] == [sessions]
    assert [i["payload"] for i in await items_of(sentry, "check_in")] == [check_in]
    good_log, bad_log = await items_of(sentry, "log")
    assert "error" not in good_log and good_log["headers"]["item_count"] == 2
    assert bad_log["error"] == "container was specified with length Some(3) but contained 2 items"
    good_metric, bad_metric = await items_of(sentry, "trace_metric")
    assert "error" not in good_metric
    assert bad_metric["error"] == "container was specified with length Some(5) but contained 1 items"
    assert [i["type"] for i in await items_of(sentry, "log", "trace_metric")] == \
        ["log", "log", "trace_metric", "trace_metric"]
    assert [i["payload"] for i in await items_of(sentry, "user_report")] == [user_report]
    assert [i["payload"] for i in await items_of(sentry, "client_report")] == [client_report]
    assert [i["payload"] for i in await items_of(sentry, "profile")] == [profile]
    assert [i["payload"] for i in await items_of(sentry, "profile_chunk")] == [chunk]
    assert [i["payload"] for i in await items_of(sentry, "replay_event")] == [replay_event]
    [rec] = await items_of(sentry, "replay_recording")
    assert rec["size"] == len(recording) and rec["payload"] is None
    [statsd_item] = await items_of(sentry, "statsd")
    assert statsd_item["size"] == len(statsd)
    assert [i["payload"] for i in await items_of(sentry, "otel_log")] == [otel_log]
    [future] = await items_of(sentry, "future_thing")
    assert future["headers"] == {"type": "future_thing", "custom": "x", "length": len(unknown)}
    assert future["size"] == len(unknown)
    [feedback_item] = await items_of(sentry, "feedback")
    assert feedback_item["payload"]["contexts"]["feedback"]["message"] == "Great app"
    assert (await get(sentry, "/__parlel/items?project=1"))["count"] == (await get(sentry, "/__parlel/items"))["count"]
    assert (await get(sentry, "/__parlel/items?project=7"))["count"] == 0
    assert (await get(sentry, "/__parlel/envelopes"))["count"] == len(cases)


@pytest_twisted.ensureDeferred
async def test_malformed_envelopes_are_400_with_relays_causes(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    await post(url, event_envelope("kept"))
    before = await state_counts(sentry)
    cases = [
        (b'{"event_id":"%s"}\n{"type":"event","length":100}\n{}\n' % EID.encode(),
         ["unexpected end of file"]),
        (b"hello", ["invalid envelope header", "expected value at line 1 column 1"]),
        (b'{"event_id":"not-a-uuid"}\n', ["invalid envelope header",
                                          'invalid value: string "not-a-uuid", expected an event identifier '
                                          "at line 1 column 24"]),
        (b'{}\n{"type":"event","length":-1}\n{}', ["invalid item header",
                                                   "invalid value: integer `-1`, expected u32 at line 1 column 27"]),
        (b'{}\n{"type":"event","length":3}\nabcd', ["missing newline after header or payload"]),
        (b"{}\n\n", ["unexpected end of file"]),
        (b"\n\n", ["missing envelope header"]),
    ]
    for body, causes in cases:
        response, answer = await post(url, body)
        assert_error(response, answer, 400, "invalid event envelope", causes)
    response, answer = await post(url, b'{}\n{"type":"integration"}\n{}\n')
    assert_error(response, answer, 400, "envelope contains internal items")
    response, answer = await post(url, b"")
    assert_error(response, answer, 400, "empty request body")
    assert await state_counts(sentry) == before


# --------------------------------------------------------------------------------------------
# Content encodings
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_every_content_encoding_is_decoded(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    codings = [
        ("gzip", gzip.compress),
        ("x-gzip", gzip.compress),
        ("deflate", zlib.compress),
        ("deflate", raw_deflate),
        ("br", brotli.compress),
        ("zstd", zstandard.ZstdCompressor().compress),
        ("gzip, br", lambda data: brotli.compress(gzip.compress(data))),
        ("UTF-8", lambda data: data),
        ("", lambda data: data),
        ("identity", lambda data: data),
    ]
    for n, (coding, encode) in enumerate(codings):
        event_id = f"{n:032x}"
        body = event_envelope(f"coded {coding or 'empty'} {n}", event_id)
        response, answer = await post(url, encode(body), {"Content-Encoding": coding})
        assert (response.code, answer) == (200, {"id": event_id}), coding
        record = (await get(sentry, "/__parlel/envelopes"))["envelopes"][-1]
        assert record["content_encoding"] == coding
        raw = await (await treq.get(f"{sentry.url}/__parlel/envelopes/{record['id']}/raw")).content()
        assert raw == body, coding
    events = (await get(sentry, "/__parlel/events"))["events"]
    assert len(events) == len(codings)
    # Node gzips large envelopes and streams them chunked.
    big = event_envelope(random.Random(7).randbytes(20_000).hex(), "c" * 32)
    packed = gzip.compress(big)
    assert len(packed) > 10_000
    head = "POST /api/1/envelope/?sentry_key=k HTTP/1.1\ncontent-encoding: gzip"
    status, _, answer = await raw_http(sentry.port, head,
                                       chunks=[packed[i:i + 1000] for i in range(0, len(packed), 1000)])
    assert (status, json.loads(answer)) == (200, {"id": "c" * 32})
    assert (await get(sentry, "/__parlel/envelopes"))["envelopes"][-1]["content_encoding"] == "gzip"


@pytest_twisted.ensureDeferred
async def test_unknown_and_corrupt_encodings(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    await post(url, event_envelope("kept"))
    before = await state_counts(sentry)
    body = event_envelope("never")
    response, answer = await post(url, body, {"Content-Encoding": "compress"})
    assert_error(response, answer, 415)
    assert "compress" in answer["detail"]
    assert response.headers.getRawHeaders("accept-encoding") == ["gzip, deflate, br, zstd"]
    response, answer = await post(url, gzip.compress(body), {"Content-Encoding": "gzip, snappy"})
    assert_error(response, answer, 415)
    for coding, data in [
        ("gzip", b"definitely not gzip"),
        ("gzip", gzip.compress(body)[:-12]),
        ("deflate", b"\x78\x9c garbage"),
        ("br", b"\xff\xff\xff\xff not brotli"),
        ("zstd", b"not zstd at all"),
        ("zstd", zstandard.ZstdCompressor().compress(body)[:-5]),
    ]:
        response, answer = await post(url, data, {"Content-Encoding": coding})
        assert_error(response, answer, 400)
        assert answer["detail"] == "invalid request body", answer
        assert answer["causes"][0].startswith(f"invalid {coding} data: "), answer
    assert await state_counts(sentry) == before


@pytest_twisted.ensureDeferred
async def test_gzip_bomb_is_413_quickly_and_the_daemon_stays_healthy(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    response, _ = await post(url, event_envelope("before the bomb"))
    assert response.code == 200
    assert gzip.decompress(gzip_bomb(3)) == bytes(3 << 20)  # the construction is sound
    bomb = gzip_bomb(1024)  # 1 GiB
    assert len(bomb) < 2 * 1024 * 1024
    started = time.monotonic()
    response, answer = await post(url, bomb, {"Content-Encoding": "gzip"})
    elapsed = time.monotonic() - started
    assert_error(response, answer, 413)
    assert elapsed < 10, elapsed
    # Stacked, the bomb is still caught (gzip inside br).
    response, answer = await post(url, brotli.compress(bomb, quality=1), {"Content-Encoding": "gzip, br"})
    assert_error(response, answer, 413)
    response, health = await request_json("GET", f"{sentry.url}/health")
    assert (response.code, health) == (200, {"status": "ok"})
    events = (await get(sentry, "/__parlel/events"))["events"]
    assert [e["logentry"]["formatted"] for e in events] == ["before the bomb"]
    assert (await get(sentry, "/__parlel/envelopes"))["count"] == 1


# --------------------------------------------------------------------------------------------
# Size limits
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_oversize_event_item_is_relays_413(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    await post(url, event_envelope("kept"))
    before = await state_counts(sentry)
    big = envelope({"event_id": "d" * 32}, ({"type": "event"}, js({"message": "x" * (1024 * 1024)})))
    response, answer = await post(url, big)
    assert_error(response, answer, 413, SIZE_LIMIT_TEXT.format("event"))
    # Exactly at the limit is fine; one byte over is not.
    payload = js({"message": ""})
    at_limit = js({"message": "y" * (1024 * 1024 - len(payload))})
    assert len(at_limit) == 1024 * 1024
    response, answer = await post(url, envelope({"event_id": "e" * 32}, ({"type": "event"}, at_limit)))
    assert (response.code, answer) == (200, {"id": "e" * 32})
    over = js({"message": "y" * (1024 * 1024 - len(payload) + 1)})
    response, answer = await post(url, envelope({}, ({"type": "feedback"}, over)))
    assert_error(response, answer, 413, SIZE_LIMIT_TEXT.format("user_report_v2"))
    # Two events in one envelope break the count of the event bucket.
    two = envelope({}, ({"type": "event"}, b"{}"), ({"type": "transaction"}, b"{}"))
    response, answer = await post(url, two)
    assert_error(response, answer, 413, SIZE_LIMIT_TEXT.format("transaction"))
    # Via /store/ the 1 MiB event limit holds as well.
    response, answer = await post(f"{sentry.url}/api/1/store/", js({"message": "z" * (1024 * 1024)}),
                                  {"Content-Type": "application/json"})
    assert_error(response, answer, 413)
    events, items, envelopes, attachments = await state_counts(sentry)
    assert (events, items, envelopes, attachments) == (before[0] + 1, before[1] + 1, before[2] + 1, before[3])


@pytest_twisted.ensureDeferred
async def test_whole_body_cap():
    sentry = await start_sentry(max_body=4096)
    try:
        url = f"{sentry.url}/api/1/envelope/"
        response, answer = await post(url, event_envelope("small"))
        assert (response.code, answer) == (200, {"id": EID})
        big = event_envelope("x" * 8000, "f" * 32)
        response, answer = await post(url, big)
        assert_error(response, answer, 413, "request body exceeds the size limit of 4096 bytes")
        # Without a Content-Length (chunked) the cap holds as the body streams in.
        status, headers, answer = await raw_http(sentry.port, "POST /api/1/envelope/ HTTP/1.1",
                                                 chunks=[big[i:i + 1000] for i in range(0, len(big), 1000)])
        assert status == 413 and headers["content-type"] == "application/json"
        assert json.loads(answer) == {"detail": "request body exceeds the size limit of 4096 bytes"}
        # The cap is on the body as sent: a small gzip of a big envelope passes the cap.
        packed = gzip.compress(event_envelope("y" * 8000, "a" * 32))
        assert len(packed) < 4096
        response, answer = await post(url, packed, {"Content-Encoding": "gzip"})
        assert (response.code, answer) == (200, {"id": "a" * 32})
        events = (await get(sentry, "/__parlel/events"))["events"]
        assert [e["event_id"] for e in events] == [EID, "a" * 32]
        response, health = await request_json("GET", f"{sentry.url}/health")
        assert (response.code, health) == (200, {"status": "ok"})
    finally:
        await sentry.stop()


@pytest_twisted.ensureDeferred
async def test_decompressed_size_cap_follows_the_envelope_limit():
    sentry = await start_sentry(limits=Limits(max_envelope_size=10_000))
    try:
        url = f"{sentry.url}/api/1/envelope/"
        response, answer = await post(url, gzip.compress(event_envelope("x" * 20_000)), {"Content-Encoding": "gzip"})
        assert_error(response, answer, 413)
        response, answer = await post(url, gzip.compress(event_envelope("small")), {"Content-Encoding": "gzip"})
        assert (response.code, answer) == (200, {"id": EID})
        assert (await get(sentry, "/__parlel/envelopes"))["count"] == 1
    finally:
        await sentry.stop()


# --------------------------------------------------------------------------------------------
# Auth, lenient mode
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_every_auth_form_is_accepted_and_recorded(sentry):
    base = f"{sentry.url}/api/1/envelope/"
    basic = base64.b64encode(b"parlel:").decode()
    cases = [
        (base, {"X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=7, sentry_client=x/1"}, {}, "x-sentry-auth"),
        (base, {"X-Sentry-Auth": "sentry sentry_key=parlel,sentry_version=7.1"}, {}, "x-sentry-auth"),
        (base, {"Authorization": "Sentry sentry_key=parlel, sentry_version=7"}, {}, "authorization"),
        (base, {"Authorization": f"Basic {basic}"}, {}, "basic"),
        (base + "?sentry_key=parlel&sentry_version=7", {}, {}, "query"),
        (base, {}, {"dsn": f"{sentry.dsn}"}, "envelope"),
        (base, {}, {}, None),
        # An X-Sentry-Auth that is not "Sentry ..." is ignored, as by Relay.
        (base, {"X-Sentry-Auth": "Bearer whatever"}, {}, None),
    ]
    for n, (url, headers, env_headers, source) in enumerate(cases):
        event_id = f"{n + 1:032x}"
        response, answer = await post(url, event_envelope(f"auth {n}", event_id, **env_headers), headers)
        assert (response.code, answer) == (200, {"id": event_id}), (headers, answer)
        record = (await get(sentry, "/__parlel/envelopes"))["envelopes"][-1]
        assert record["auth"] == source, headers
    assert (await get(sentry, "/__parlel/events"))["count"] == len(cases)


@pytest_twisted.ensureDeferred
async def test_bad_auth_answers(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    await post(url, event_envelope("kept"))
    before = await state_counts(sentry)
    auth = {"X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=7"}
    body = event_envelope("never", "1" * 32)
    for target, headers in [
        (url + "?sentry_key=parlel", auth),
        (url, {**auth, "Authorization": "Sentry sentry_key=parlel"}),
        (url, {**auth, "Authorization": "Basic " + base64.b64encode(b"parlel:").decode()}),
    ]:
        response, answer = await post(target, body, headers)
        assert_error(response, answer, 401, "multiple authorization payloads detected")
    response, answer = await post(url, body, {"X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=8"})
    assert_error(response, answer, 400, "unsupported protocol version (8)")
    response, answer = await post(url + "?sentry_key=parlel&sentry_version=8", body)
    assert_error(response, answer, 400, "unsupported protocol version (8)")
    response, answer = await post(url, body, {"X-Sentry-Auth": "Sentry sentry_version=7, sentry_client=x/1"})
    assert_error(response, answer, 401, "bad x-sentry-auth header", ["missing public key in auth header"])
    response, answer = await post(url, body, {"Authorization": "Basic !!!notbase64"})
    assert_error(response, answer, 401)
    # The envelope's dsn header must agree with the request.
    other_project = event_envelope("never", "2" * 32, dsn=sentry.dsn_for(2))
    response, answer = await post(url, other_project, auth)
    assert_error(response, answer, 400, "invalid event envelope",
                 ["project id header mismatch between envelope and request"])
    response, answer = await post(url, other_project)
    assert_error(response, answer, 400, "invalid event envelope",
                 ["project id header mismatch between envelope and request"])
    other_key = event_envelope("never", "3" * 32, dsn=sentry.dsn_for(1, key="otherkey"))
    response, answer = await post(url, other_key, auth)
    assert_error(response, answer, 400, "invalid event envelope",
                 ["public key header mismatch between envelope and request"])
    response, answer = await post(url, event_envelope("never", "4" * 32, dsn="http://127.0.0.1/1"))
    assert_error(response, answer, 401, "bad envelope authentication header")
    assert await state_counts(sentry) == before


# --------------------------------------------------------------------------------------------
# Auth, strict mode
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_strict_auth(strict_sentry):
    sentry = strict_sentry
    url = f"{sentry.url}/api/1/envelope/"
    key = {"X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=7"}
    response, answer = await post(url, event_envelope("no auth"))
    assert_error(response, answer, 401, "missing authorization information")
    response, answer = await post(url, event_envelope("unknown key"),
                                  {"X-Sentry-Auth": "Sentry sentry_key=" + "0" * 32 + ", sentry_version=7"})
    assert_error(response, answer, 403, "event submission rejected with_reason: ProjectId")
    response, answer = await post(f"{sentry.url}/api/2/envelope/", event_envelope("other project"), key)
    assert_error(response, answer, 403, "event submission rejected with_reason: ProjectId")
    response, answer = await post(f"{sentry.url}/api/abc/envelope/", event_envelope("bad path"), key)
    assert_error(response, answer, 400, "bad project path parameter")
    # Every other ingest route checks the key too.
    response, answer = await post(f"{sentry.url}/api/1/store/", js({"message": "no auth"}))
    assert_error(response, answer, 401, "missing authorization information")
    response, answer = await request_json("GET", f"{sentry.url}/api/1/cron/job/{'0' * 32}/?status=ok")
    assert_error(response, answer, 403, "event submission rejected with_reason: ProjectId")
    assert (await get(sentry, "/__parlel/envelopes"))["count"] == 0
    _, projects = await request_json("GET", f"{sentry.url}/api/0/organizations/parlel/projects/", headers=AUTH)
    assert [p["id"] for p in projects] == ["1"]

    response, answer = await post(url, event_envelope("ok"), key)
    assert (response.code, answer) == (200, {"id": EID})
    response, answer = await post(url + "?sentry_key=parlel", event_envelope("query", "a" * 32))
    assert (response.code, answer) == (200, {"id": "a" * 32})
    response, answer = await post(url, event_envelope("dsn", "b" * 32, dsn=sentry.dsn))
    assert (response.code, answer) == (200, {"id": "b" * 32})
    response, answer = await request_json("GET", f"{sentry.url}/api/1/cron/job/parlel/?status=ok")
    assert response.code == 202
    events = (await get(sentry, "/__parlel/events"))["events"]
    assert [e["event_id"] for e in events] == [EID, "a" * 32, "b" * 32]
    assert [e["auth"] for e in (await get(sentry, "/__parlel/envelopes"))["envelopes"]] == \
        ["x-sentry-auth", "query", "envelope", "path"]


# --------------------------------------------------------------------------------------------
# /store/
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_store_body_forms(sentry):
    url = f"{sentry.url}/api/1/store/"
    event = {"event_id": "1" * 32, "message": "plain", "level": "warning"}
    response, answer = await post(url, js(event), {"Content-Type": "application/json"})
    assert (response.code, answer) == (200, {"id": "1" * 32})
    b64 = base64.b64encode(js({**event, "event_id": "2" * 32, "message": "base64"}))
    response, answer = await post(url, b64)
    assert (response.code, answer) == (200, {"id": "2" * 32})
    b64z = base64.b64encode(zlib.compress(js({**event, "event_id": "3" * 32, "message": "base64 zlib"})))
    response, answer = await post(url, b64z, {"Content-Type": "application/octet-stream"})
    assert (response.code, answer) == (200, {"id": "3" * 32})
    env = event_envelope("store envelope", "4" * 32)
    response, answer = await post(url, env, {"Content-Type": "application/x-sentry-envelope"})
    assert (response.code, answer) == (200, {"id": "4" * 32})
    gz = gzip.compress(js({**event, "event_id": "5" * 32, "message": "gzipped store"}))
    response, answer = await post(url, gz, {"Content-Encoding": "gzip", "Content-Type": "application/json"})
    assert (response.code, answer) == (200, {"id": "5" * 32})
    transaction = {"type": "transaction", "event_id": "6" * 32, "transaction": "/t", "start_timestamp": T0,
                   "timestamp": T0 + 1, "contexts": {"trace": {"trace_id": TRACE_ID, "span_id": "a" * 16}}}
    response, answer = await post(url, js(transaction), {"Content-Type": "application/json"})
    assert (response.code, answer) == (200, {"id": "6" * 32})
    events = (await get(sentry, "/__parlel/events"))["events"]
    assert [e["event_id"] for e in events] == [f"{n}" * 32 for n in range(1, 7)]
    assert [e["logentry"]["formatted"] for e in events[:5]] == \
        ["plain", "base64", "base64 zlib", "store envelope", "gzipped store"]
    assert events[5]["type"] == "transaction"
    assert {e["endpoint"] for e in (await get(sentry, "/__parlel/envelopes"))["envelopes"]} == {"store"}
    response, answer = await post(url, b"!!not base64!!")
    assert_error(response, answer, 400)
    response, answer = await post(url, base64.b64encode(b"\x78\x9cnot zlib"))
    assert_error(response, answer, 400)
    assert (await get(sentry, "/__parlel/events"))["count"] == 6


# --------------------------------------------------------------------------------------------
# Security reports
# --------------------------------------------------------------------------------------------


CSP_REPORT = {"csp-report": {
    "document-uri": "https://example.com/checkout",
    "referrer": "",
    "violated-directive": "script-src-elem",
    "effective-directive": "script-src-elem",
    "original-policy": "default-src 'self'; report-uri /api/1/security/?sentry_key=parlel",
    "disposition": "enforce",
    "blocked-uri": "https://evil.example.net/x.js",
    "status-code": 200,
    "script-sample": "",
}}


@pytest_twisted.ensureDeferred
async def test_security_reports(sentry):
    for n, route in enumerate(("security", "csp-report")):
        report = json.loads(json.dumps(CSP_REPORT))
        report["csp-report"]["blocked-uri"] = f"https://evil{n}.example.net/x.js"
        response, answer = await post(f"{sentry.url}/api/1/{route}/?sentry_key=parlel", js(report),
                                      {"Content-Type": "application/csp-report"})
        assert response.code == 200 and answer is None, answer
        assert response.headers.getRawHeaders("access-control-allow-origin") == ["*"]
    events = (await get(sentry, "/__parlel/events?project=1"))["events"]
    assert len(events) == 2
    assert [e["csp"]["blocked-uri"] for e in events] == [f"https://evil{n}.example.net/x.js" for n in range(2)]
    assert {e["type"] for e in events} == {"csp"}
    assert [e["endpoint"] for e in (await get(sentry, "/__parlel/envelopes"))["envelopes"]] == ["security"] * 2
    _, issues = await request_json("GET", f"{sentry.url}/api/0/projects/parlel/hello-world/issues/", headers=AUTH)
    assert issues and {i["project"]["id"] for i in issues} == {"1"}
    assert {str(e["group_id"]) for e in events} <= {i["id"] for i in issues}
    # Relay's other security types are accepted too; anything else is 415.
    response, answer = await post(f"{sentry.url}/api/1/security/", js(CSP_REPORT), {"Content-Type": "application/json"})
    assert response.code == 200, answer
    for ctype in ("text/plain", "application/x-www-form-urlencoded", None):
        response, answer = await post(f"{sentry.url}/api/1/security/", js(CSP_REPORT),
                                      {"Content-Type": ctype} if ctype else {})
        assert_error(response, answer, 415)
    response, answer = await post(f"{sentry.url}/api/1/csp-report/", b"", {"Content-Type": "application/csp-report"})
    assert_error(response, answer, 400, "empty request body")
    assert (await get(sentry, "/__parlel/events"))["count"] == 3


@pytest_twisted.ensureDeferred
async def test_security_report_release_and_environment_from_the_query(sentry):
    response, _ = await post(f"{sentry.url}/api/1/security/?sentry_key=parlel&sentry_release=web%401.2.3"
                             "&sentry_environment=staging", js(CSP_REPORT), {"Content-Type": "application/csp-report"})
    assert response.code == 200
    [event] = (await get(sentry, "/__parlel/events"))["events"]
    assert (event.get("release"), event.get("environment")) == ("web@1.2.3", "staging")


@pytest_twisted.ensureDeferred
async def test_reporting_api_csp_violation_array(sentry):
    reports = [{"type": "csp-violation", "age": 10, "url": "https://example.com/", "user_agent": "Mozilla/5.0",
                "body": {"documentURL": "https://example.com/", "blockedURL": "https://evil.example.net/x.js",
                         "effectiveDirective": "script-src-elem", "originalPolicy": "script-src 'self'",
                         "disposition": "enforce", "statusCode": 200}}]
    response, answer = await post(f"{sentry.url}/api/1/security/?sentry_key=parlel", js(reports),
                                  {"Content-Type": "application/reports+json"})
    assert response.code == 200, answer
    assert (await get(sentry, "/__parlel/events"))["count"] == 1


# --------------------------------------------------------------------------------------------
# Minidumps
# --------------------------------------------------------------------------------------------


def multipart(boundary: str, *parts: tuple[str, str | None, str | None, bytes]) -> bytes:
    """A form body: (field name, filename, content type, data) per part."""
    out = []
    for name, filename, ctype, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if ctype:
            head += f"Content-Type: {ctype}\r\n"
        out.append(head.encode() + b"\r\n" + data + b"\r\n")
    return b"".join(out) + f"--{boundary}--\r\n".encode()


DUMP = b"MDMP\x93\xa7\x00\x00" + BINARY + b"\r\n--not-the-boundary\r\n" + bytes(range(255, -1, -1))


@pytest_twisted.ensureDeferred
async def test_minidump_upload(sentry):
    boundary = "------------------------a1b2c3d4e5f6"
    body = multipart(boundary,
                     ("sentry", None, None, js({"release": "app@1.0", "tags": {"os": "linux"}})),
                     ("upload_file_minidump", "crash.dmp", "application/octet-stream", DUMP),
                     ("log.txt", "log.txt", "text/plain", b"line 1\nline 2\n"))
    response = await treq.post(f"{sentry.url}/api/1/minidump/?sentry_key=parlel", data=body,
                               headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    text = (await response.content()).decode()
    assert response.code == 200, text
    assert content_type(response).startswith("text/plain")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", text)
    event_id = text.replace("-", "")
    [event] = (await get(sentry, "/__parlel/events"))["events"]
    assert event["event_id"] == event_id and event["release"] == "app@1.0"
    attachments = (await get(sentry, f"/__parlel/attachments?event_id={event_id}"))["attachments"]
    by_type = {a["attachment_type"]: a for a in attachments}
    dump = by_type["event.minidump"]
    assert dump["filename"] == "crash.dmp" and dump["size"] == len(DUMP)
    assert await (await treq.get(f"{sentry.url}/__parlel/attachments/{dump['id']}")).content() == DUMP
    [log] = [a for a in attachments if a["filename"] == "log.txt"]
    assert await (await treq.get(f"{sentry.url}/__parlel/attachments/{log['id']}")).content() == b"line 1\nline 2\n"
    # Without a trailing slash, and with a given event id in sentry[...] fields.
    body = multipart(boundary, ("sentry[event_id]", None, None, b"11112222-3333-4444-5555-666677778888"),
                     ("sentry[tags][k]", None, None, b"v"),
                     ("upload_file_minidump", "other.dmp", None, DUMP))
    response = await treq.post(f"{sentry.url}/api/1/minidump?sentry_key=parlel", data=body,
                               headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert (response.code, (await response.content()).decode()) == (200, "11112222-3333-4444-5555-666677778888")
    [dump2] = (await get(sentry, "/__parlel/attachments?event_id=11112222333344445555666677778888"))["attachments"]
    assert await (await treq.get(f"{sentry.url}/__parlel/attachments/{dump2['id']}")).content() == DUMP
    assert [e["endpoint"] for e in (await get(sentry, "/__parlel/envelopes"))["envelopes"]] == ["minidump"] * 2


@pytest_twisted.ensureDeferred
async def test_malformed_minidump_uploads_are_json_400(sentry):
    url = f"{sentry.url}/api/1/minidump/"
    boundary = "xyzBOUNDARYxyz"
    cases = [
        ({"Content-Type": "multipart/form-data"}, multipart(boundary, ("upload_file_minidump", "a.dmp", None, DUMP))),
        ({"Content-Type": f"multipart/form-data; boundary={boundary}"}, b"this is not multipart at all"),
        ({"Content-Type": f"multipart/form-data; boundary={boundary}"},
         multipart(boundary, ("other", "a.dmp", "application/octet-stream", DUMP))),
        ({"Content-Type": f"multipart/form-data; boundary={boundary}"},
         multipart(boundary, ("sentry", None, None, b"{not json"), ("upload_file_minidump", "a.dmp", None, DUMP))),
        ({"Content-Type": "application/octet-stream"}, DUMP),
    ]
    expected = [
        ("invalid multipart data", ["expected multipart/form-data with a boundary"]),
        ("invalid multipart data", ["no parts found"]),
        ("missing minidump", None),
        ("invalid JSON data", ["the sentry field is not JSON"]),
        ("invalid multipart data", ["expected multipart/form-data with a boundary"]),
    ]
    for (headers, body), (detail, causes) in zip(cases, expected, strict=True):
        response, answer = await post(url, body, headers)
        assert_error(response, answer, 400, detail, causes)
    response, answer = await post(url, b"", {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_error(response, answer, 400, "empty request body")
    assert (await get(sentry, "/__parlel/events"))["count"] == 0
    response, health = await request_json("GET", f"{sentry.url}/health")
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_truncated_minidump_upload_is_400(sentry):
    boundary = "xyzBOUNDARYxyz"
    body = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"upload_file_minidump\"; "
            f"filename=\"a.dmp\"\r\n\r\n").encode() + DUMP[:100]
    response, answer = await post(f"{sentry.url}/api/1/minidump/", body,
                                  {"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert_error(response, answer, 400)
    assert (await get(sentry, "/__parlel/attachments"))["count"] == 0


# --------------------------------------------------------------------------------------------
# Cron check-ins
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_cron_check_ins(sentry):
    response, answer = await request_json("GET", f"{sentry.url}/api/1/cron/nightly-job/parlel/?status=ok")
    assert response.code == 202 and content_type(response) == "application/json"
    assert re.fullmatch(r"[0-9a-f]{32}", answer["id"])
    check_in_id = uuid.uuid4().hex
    response, answer = await request_json("POST", f"{sentry.url}/api/1/cron/nightly-job/parlel/",
                                          json={"status": "in_progress", "check_in_id": check_in_id,
                                                "environment": "prod"})
    assert (response.code, answer) == (202, {"id": check_in_id})
    response, answer = await request_json("POST", f"{sentry.url}/api/1/cron/other-job?sentry_key=parlel&status=error")
    assert response.code == 202
    items = await items_of(sentry, "check_in")
    assert [(i["payload"]["monitor_slug"], i["payload"]["status"]) for i in items] == \
        [("nightly-job", "ok"), ("nightly-job", "in_progress"), ("other-job", "error")]
    assert items[1]["payload"]["check_in_id"] == check_in_id and items[1]["payload"]["environment"] == "prod"
    assert [e["auth"] for e in (await get(sentry, "/__parlel/envelopes"))["envelopes"]] == ["path", "path", "query"]
    for url in (f"{sentry.url}/api/1/cron/nightly-job/parlel/?status=bogus",
                f"{sentry.url}/api/1/cron/nightly-job/parlel/"):
        response, answer = await request_json("GET", url)
        assert_error(response, answer, 400)
    response, answer = await request_json("POST", f"{sentry.url}/api/1/cron/nightly-job/parlel/", data=b"{nope",
                                          headers={"Content-Type": "application/json"})
    assert_error(response, answer, 400)
    assert len(await items_of(sentry, "check_in")) == 3


# --------------------------------------------------------------------------------------------
# CORS
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_cors_preflight_and_headers(sentry):
    preflight = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "content-type, x-sentry-auth, content-encoding"}
    for route in ("envelope/", "store/", "security/", "csp-report/", "minidump/", "cron/job/parlel/"):
        for prefix in ("", "/some/prefix"):
            response, _ = await request_json("OPTIONS", f"{sentry.url}{prefix}/api/1/{route}", headers=preflight)
            assert response.code == 200, route
            headers = response.headers
            assert headers.getRawHeaders("access-control-allow-origin") == ["*"]
            methods = {m.strip().upper() for m in headers.getRawHeaders("access-control-allow-methods")[0].split(",")}
            assert "POST" in methods
            allowed = {h.strip().lower() for h in headers.getRawHeaders("access-control-allow-headers")[0].split(",")}
            assert {"x-sentry-auth", "content-type", "content-encoding", "authorization"} <= allowed
            # An empty answer has no content type (Twisted's default would be text/html).
            assert headers.getRawHeaders("content-type") is None, route
            assert response.length == 0
    response, _ = await post(f"{sentry.url}/api/1/envelope/", event_envelope("cors"),
                             {"Origin": "https://app.example.com"})
    assert response.code == 200
    assert response.headers.getRawHeaders("access-control-allow-origin") == ["*"]
    exposed = response.headers.getRawHeaders("access-control-expose-headers")[0].lower()
    assert "x-sentry-rate-limits" in exposed and "retry-after" in exposed
    # Error answers carry them too, or a browser could not read them.
    response, answer = await post(f"{sentry.url}/api/1/envelope/", b"garbage")
    assert_error(response, answer, 400)
    assert response.headers.getRawHeaders("access-control-allow-origin") == ["*"]
    response, _ = await post(f"{sentry.url}/api/1/store/", js({"message": "cors"}),
                             {"Content-Type": "application/json"})
    assert response.headers.getRawHeaders("access-control-allow-origin") == ["*"]
    assert response.headers.getRawHeaders("access-control-expose-headers")


# --------------------------------------------------------------------------------------------
# Payloads that once crashed the daemon (500)
# --------------------------------------------------------------------------------------------

DEEP = b'{"a":' + b"[" * 1100 + b"]" * 1100 + b"}"  # 2.2 KB; serde_json stops at depth 128


async def assert_item_kept_with_error(sentry: Any, item_type: str, payload: bytes) -> None:
    """Relay answers 200 for an envelope whose item it cannot use, and drops only that item."""
    response, answer = await post(f"{sentry.url}/api/1/envelope/", envelope({}, ({"type": item_type}, payload)))
    assert response.code == 200, answer
    [item] = await items_of(sentry, item_type)
    assert item["size"] == len(payload)
    response, health = await request_json("GET", f"{sentry.url}/health")
    assert response.code == 200


@pytest_twisted.ensureDeferred
async def test_deeply_nested_item_payload_is_kept_with_an_error(sentry):
    await assert_item_kept_with_error(sentry, "event", DEEP)
    [item] = await items_of(sentry, "event")
    assert item["error"]


@pytest_twisted.ensureDeferred
async def test_deeply_nested_json_bodies_are_400(sentry):
    boundary = "bnd"
    cases = [
        ("/api/1/store/", DEEP, {"Content-Type": "application/json"}),
        ("/api/1/store/", base64.b64encode(DEEP), {}),
        ("/api/1/security/", DEEP, {"Content-Type": "application/csp-report"}),
        ("/api/1/cron/job/parlel/", b'{"status":"ok","a":' + DEEP + b"}", {"Content-Type": "application/json"}),
        ("/api/1/minidump/", multipart(boundary, ("sentry", None, None, DEEP),
                                       ("upload_file_minidump", "a.dmp", None, DUMP)),
         {"Content-Type": f"multipart/form-data; boundary={boundary}"}),
    ]
    codes = []
    for path, body, headers in cases:
        response, answer = await post(f"{sentry.url}{path}", body, headers)
        codes.append((path, response.code, content_type(response)))
    assert codes == [(path, 400, "application/json") for path, _, _ in cases]


@pytest_twisted.ensureDeferred
async def test_session_with_a_non_string_status_does_not_500(sentry):
    await assert_item_kept_with_error(sentry, "session", js({"status": [1], "attrs": {"release": "a@1"}}))


@pytest_twisted.ensureDeferred
async def test_sessions_with_non_list_aggregates_does_not_500(sentry):
    await assert_item_kept_with_error(sentry, "sessions", js({"aggregates": 5, "attrs": {"release": "a@1"}}))


@pytest_twisted.ensureDeferred
async def test_client_report_with_non_list_discarded_events_does_not_500(sentry):
    await assert_item_kept_with_error(sentry, "client_report", js({"timestamp": T0, "discarded_events": 5}))


# --------------------------------------------------------------------------------------------
# Robustness: a burst of everything bad, then health and state
# --------------------------------------------------------------------------------------------


@pytest_twisted.ensureDeferred
async def test_burst_of_bad_input_never_500s_and_loses_nothing(sentry):
    for n in range(3):
        response, _ = await post(f"{sentry.url}/api/1/envelope/", event_envelope(f"good {n}", f"{n + 1:032x}"))
        assert response.code == 200
    before = await state_counts(sentry)
    u = sentry.url
    boundary = "bnd"
    bad: list[tuple[str, str, bytes, dict[str, str]]] = [
        ("POST", f"{u}/api/1/envelope/", b"", {}),
        ("POST", f"{u}/api/1/envelope/", b"\x00\xff\xfe garbage", {}),
        ("POST", f"{u}/api/1/envelope/", b'{"a":' + b"[" * 200 + b"]" * 200 + b"}\n", {}),
        ("POST", f"{u}/api/1/envelope/", b'{}\n{"type":"integration"}\n{}', {}),
        ("POST", f"{u}/api/1/envelope/", b'{}\n{"type":"event","length":99999}\n{}', {}),
        ("POST", f"{u}/api/1/envelope/", b'{"event_id":12}\n', {}),
        ("POST", f"{u}/api/1/envelope/", b'{"dsn":5}\n', {}),
        ("POST", f"{u}/api/1/envelope/", b'{"dsn":"nonsense"}\n', {}),
        ("POST", f"{u}/api/1/envelope/", b'{"sent_at":"2026-01-01T00:00:00Z","sent_at":null}', {}),
        ("POST", f"{u}/api/1/envelope/", event_envelope(), {"Content-Encoding": "lzma"}),
        ("POST", f"{u}/api/1/envelope/", b"\x1f\x8b\x08\x00garbage", {"Content-Encoding": "gzip"}),
        ("POST", f"{u}/api/1/envelope/", event_envelope(), {"Content-Encoding": "gzip, gzip, gzip, gzip, gzip, gzip"}),
        ("POST", f"{u}/api/1/envelope/", event_envelope(), {"X-Sentry-Auth": "Sentry sentry_version=7"}),
        ("POST", f"{u}/api/1/envelope/?sentry_key=a", event_envelope(), {"X-Sentry-Auth": "Sentry sentry_key=b"}),
        ("POST", f"{u}/api/1/envelope/", event_envelope(), {"X-Sentry-Auth": "Sentry sentry_key=a,sentry_version=99"}),
        ("POST", f"{u}/api/1/envelope/", event_envelope(), {"Authorization": "Basic %%%"}),
        ("POST", f"{u}/api/1/envelope/", event_envelope(dsn="http://k@h/2"), {}),
        ("POST", f"{u}/api/abc/envelope/", event_envelope(), {}),
        ("POST", f"{u}/api/-1/envelope/", event_envelope(), {}),
        ("POST", f"{u}/api/{'9' * 30}/envelope/", event_envelope(), {}),
        ("GET", f"{u}/api/1/envelope/", b"", {}),
        ("PUT", f"{u}/api/1/store/", b"{}", {}),
        ("POST", f"{u}/api/1/envelope/", envelope({}, ({"type": "event"}, b"x" * (1024 * 1024 + 1))), {}),
        ("POST", f"{u}/api/1/store/", b"[1,2]", {"Content-Type": "application/json"}),
        ("POST", f"{u}/api/1/store/", b"\xff\xfe", {"Content-Type": "application/json"}),
        ("POST", f"{u}/api/1/store/", b"", {}),
        ("POST", f"{u}/api/1/store/", b"{nope}", {"Content-Type": "application/x-sentry-envelope"}),
        ("POST", f"{u}/api/1/store/", base64.b64encode(b"\x78\x9c\x00\x00"), {}),
        ("POST", f"{u}/api/1/%ff/envelope/", b"{}", {}),
        ("POST", f"{u}/api/%ff/store/", b"{}", {}),
        ("POST", f"{u}/%ff/api/1/envelope/", b"{}", {}),
        ("POST", f"{u}/api/1/security/", b"", {"Content-Type": "application/csp-report"}),
        ("POST", f"{u}/api/1/csp-report/", js(CSP_REPORT), {"Content-Type": "image/png"}),
        ("POST", f"{u}/api/1/minidump/", b"--bnd\r\n", {"Content-Type": f"multipart/form-data; boundary={boundary}"}),
        ("POST", f"{u}/api/1/minidump/", DUMP, {"Content-Type": "multipart/form-data; boundary="}),
        ("POST", f"{u}/api/1/minidump/", DUMP, {"Content-Type": "multipart/mixed; boundary=bnd"}),
        ("GET", f"{u}/api/1/cron/job/key/?status=done", b"", {}),
        ("GET", f"{u}/api/1/cron/job/key/?status=ok&duration=abc", b"", {}),
        ("POST", f"{u}/api/1/cron/job/key/", b"[]", {"Content-Type": "application/json"}),
        ("POST", f"{u}/api/1/cron/job/key/", b"\x1f\x8b bad", {"Content-Encoding": "gzip"}),
        ("POST", f"{u}/api/1/nel/", b"[]", {"Content-Type": "application/reports+json"}),
        ("POST", f"{u}/api/1/unknown-route/", b"{}", {}),
    ]

    async def one(method: str, url: str, data: bytes, headers: dict[str, str]) -> tuple[str, int, str | None, Any]:
        response = await treq.request(method, url, data=data or None, headers=headers)
        raw = await response.content()
        try:
            parsed = json.loads(raw)
        except ValueError:
            parsed = raw
        return url, response.code, content_type(response), parsed

    results = await gatherResults([Deferred.fromCoroutine(one(*case)) for case in bad])
    wrong = [
        (method, url, data[:60], headers, code, ctype, parsed)
        for (method, url, data, headers), (_, code, ctype, parsed) in zip(bad, results)
        if not (400 <= code < 500 and ctype == "application/json" and isinstance(parsed, dict)
                and isinstance(parsed.get("detail"), str))
    ]
    assert wrong == []
    response, health = await request_json("GET", f"{sentry.url}/health")
    assert (response.code, health) == (200, {"status": "ok"})
    assert await state_counts(sentry) == before
    events = (await get(sentry, "/__parlel/events"))["events"]
    assert [e["logentry"]["formatted"] for e in events] == ["good 0", "good 1", "good 2"]


@pytest_twisted.ensureDeferred
async def test_event_json_outside_orjson_is_read_as_the_stdlib_reads_it(sentry):
    """NaN, huge ints and lone surrogates are valid to Python's json; the fast reader refuses them."""
    payload = b'{"message":"odd \\ud800 values","extra":{"big":123456789012345678901234567890,"nan":NaN}}'
    response, answer = await post(f"{sentry.url}/api/1/envelope/", envelope({}, ({"type": "event"}, payload)))
    assert response.code == 200, answer
    [item] = await items_of(sentry, "event")
    assert "error" not in item
    _, events = await request_json("GET", f"{sentry.url}/__parlel/events")
    [event] = events["events"]
    assert event["extra"]["big"] == 123456789012345678901234567890


@pytest_twisted.ensureDeferred
async def test_sessions_become_release_health_counts(sentry):
    url = f"{sentry.url}/api/1/envelope/"
    attrs = {"release": "app@1.0", "environment": "prod"}
    updates = [
        {"sid": "a" * 32, "init": True, "status": "ok", "attrs": attrs},
        {"sid": "a" * 32, "init": False, "status": "exited", "attrs": attrs},       # healthy
        {"sid": "b" * 32, "init": True, "status": "exited", "errors": 2, "attrs": attrs},  # errored
        {"sid": "c" * 32, "init": True, "status": "crashed", "errors": 1, "attrs": attrs},  # crashed
        {"sid": "d" * 32, "init": False, "status": "exited", "attrs": attrs},       # never started
    ]
    for update in updates:
        response, _ = await post(url, envelope({}, ({"type": "session"}, js(update))))
        assert response.code == 200
    aggregates = {"aggregates": [{"started": "2026-01-01T00:00:00Z", "exited": 3, "abnormal": 1}],
                  "attrs": {"release": "app@2.0", "environment": "prod"}}
    response, _ = await post(url, envelope({}, ({"type": "sessions"}, js(aggregates))))
    assert response.code == 200
    response, body = await request_json("GET", f"{sentry.url}/__parlel/release-health?project=1")
    assert response.code == 200
    rows = {row["release"]: row for row in body["releases"]}
    assert body["count"] == 2
    assert rows["app@1.0"] == {"project": 1, "release": "app@1.0", "environment": "prod", "sessions": 3,
                               "healthy": 1, "errored": 1, "abnormal": 0, "crashed": 1}
    assert rows["app@2.0"]["sessions"] == 4 and rows["app@2.0"]["healthy"] == 3 and rows["app@2.0"]["abnormal"] == 1


@pytest_twisted.ensureDeferred
async def test_client_reports_and_items_become_outcomes(sentry):
    report = {"timestamp": T0, "discarded_events": [
        {"reason": "ratelimit_backoff", "category": "error", "quantity": 3},
        {"reason": "send_error", "category": "transaction", "quantity": 1}]}
    body = envelope({}, ({"type": "client_report"}, js(report)), ({"type": "event"}, js({"message": "m"})),
                    ({"type": "event"}, b"{not json"))
    response, answer = await post(f"{sentry.url}/api/1/envelope/", body)
    assert response.code == 413, answer  # two events: Relay's limit is one, and nothing of it is kept
    body = envelope({}, ({"type": "client_report"}, js(report)), ({"type": "event"}, js({"message": "m"})))
    response, answer = await post(f"{sentry.url}/api/1/envelope/", body)
    assert response.code == 200, answer
    response, answer = await post(f"{sentry.url}/api/1/envelope/", envelope({}, ({"type": "event"}, b"{not json")))
    assert response.code == 200, answer
    response, outcomes = await request_json("GET", f"{sentry.url}/__parlel/outcomes?project=1")
    assert response.code == 200
    rows = {(o["category"], o["outcome"], o["reason"]): o["quantity"] for o in outcomes["outcomes"]}
    assert rows[("error", "client_discard", "ratelimit_backoff")] == 3
    assert rows[("transaction", "client_discard", "send_error")] == 1
    assert rows[("error", "accepted", None)] == 1
    assert rows[("error", "invalid", "invalid_json")] == 1


@pytest_twisted.ensureDeferred
async def test_strict_mode_refuses_missing_auth_before_reading_the_body(strict_sentry):
    for path, body in (("/api/1/envelope/", b"not an envelope"), ("/api/1/store/", b"{broken"),
                       ("/api/1/envelope/", b"")):
        response, answer = await post(f"{strict_sentry.url}{path}", body)
        assert (response.code, answer) == (401, {"detail": "missing authorization information"}), path
    response, answer = await post(f"{strict_sentry.url}/api/1/envelope/",
                                  b'{"dsn":"not a dsn"}\n{"type":"event"}\n{}')
    assert (response.code, answer) == (401, {"detail": "bad envelope authentication header"})
