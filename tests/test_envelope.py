"""Envelope framing and header validation, checked against Relay's behaviour byte for byte."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_daemon.ingest.envelope import (
    _canonical_object,
    _ENVELOPE_ACCEPTS,
    _ENVELOPE_FIELDS,
    _ENVELOPE_SCHEMA,
    _ITEM_ACCEPTS,
    _ITEM_FIELDS,
    _ITEM_SCHEMA,
    _META_FIELDS,
    ContainerError,
    Envelope,
    Item,
    _accepts_sent_at,
    _chrono_error,
    _fast_header,
    _parse_envelope,
    _read_struct,
    container_items,
    normalize_event_id,
    parse_envelope,
    serialize_envelope,
)
from sentry_daemon.http.errors import ApiError

EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
DSN = "https://e12d836b15bb49d7bbf99e64295d995b:@sentry.io/42"
RELAY_HEADER = json.dumps({"event_id": EVENT_ID, "dsn": DSN}, separators=(",", ":")).encode()


def dumps(value: object) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


def rejected(body: bytes) -> ApiError:
    with pytest.raises(ApiError) as info:
        parse_envelope(body)
    return info.value


def assert_invalid(body: bytes, *causes: str) -> None:
    error = rejected(body)
    assert (error.status, error.detail, error.causes) == (400, "invalid event envelope", list(causes))


def items_of(envelope: Envelope) -> list[tuple[dict, bytes]]:
    return [(item.headers, item.payload) for item in envelope.items]


# --------------------------------------------------------------------------------------------
# Framing (the vectors of relay-server/src/envelope/mod.rs tests first)
# --------------------------------------------------------------------------------------------


def test_header_only_without_newline() -> None:
    envelope = parse_envelope(RELAY_HEADER)
    assert envelope.headers == {"event_id": EVENT_ID, "dsn": DSN}
    assert envelope.event_id == EVENT_ID
    assert envelope.items == []


def test_header_only_with_newline() -> None:
    assert parse_envelope(RELAY_HEADER + b"\n").items == []


def test_empty_header_object_and_zero_items() -> None:
    assert parse_envelope(b"{}") == Envelope({}, [])
    assert parse_envelope(b"{}\n") == Envelope({}, [])


def test_zero_length_items_with_trailing_newline() -> None:
    body = RELAY_HEADER + b'\n{"type":"attachment","length":0}\n\n{"type":"attachment","length":0}\n'
    assert [item.payload for item in parse_envelope(body).items] == [b"", b""]


def test_zero_length_items_at_eof() -> None:
    body = RELAY_HEADER + b'\n{"type":"attachment","length":0}\n\n{"type":"attachment","length":0}'
    assert [item.payload for item in parse_envelope(body).items] == [b"", b""]


def test_implicit_length_with_trailing_newline() -> None:
    body = RELAY_HEADER + b'\n{"type":"attachment"}\nhelloworld\n'
    assert items_of(parse_envelope(body)) == [({"type": "attachment"}, b"helloworld")]


def test_implicit_length_at_eof() -> None:
    body = RELAY_HEADER + b'\n{"type":"attachment"}\nhelloworld'
    assert items_of(parse_envelope(body)) == [({"type": "attachment"}, b"helloworld")]


def test_implicit_length_item_header_at_eof_has_empty_payload() -> None:
    body = RELAY_HEADER + b'\n{"type":"attachment"}'
    assert items_of(parse_envelope(body)) == [({"type": "attachment"}, b"")]


def test_multiple_items_keep_bom_and_crlf() -> None:
    body = (
        RELAY_HEADER
        + b'\n{"type":"attachment","length":10,"content_type":"text/plain","filename":"hello.txt"}\n'
        + b"\xef\xbb\xbfHello\r\n\n"
        + b'{"type":"event","length":41,"content_type":"application/json","filename":"application.log"}\n'
        + b'{"message":"hello world","level":"error"}\n'
    )
    envelope = parse_envelope(body)
    assert [item.type for item in envelope.items] == ["attachment", "event"]
    assert envelope.items[0].payload == b"\xef\xbb\xbfHello\r\n"
    assert envelope.items[0].headers["filename"] == "hello.txt"
    assert envelope.items[1].payload == b'{"message":"hello world","level":"error"}'


def test_unknown_item_type_is_kept_with_all_headers() -> None:
    body = b'{}\n{"type":"invalid_unknown","x-custom":{"a":[1,2.5,true]}}\nhelloworld\n'
    item = parse_envelope(body).items[0]
    assert item.type == "invalid_unknown"
    assert item.headers == {"type": "invalid_unknown", "x-custom": {"a": [1, 2.5, True]}}
    assert item.payload == b"helloworld"


def test_binary_payload_is_kept_exactly() -> None:
    payload = b"line1\nline2\x00\xff\xfe\xc3(\r\n\n"
    body = b'{}\n{"type":"attachment","length":%d,"filename":"data.bin"}\n' % len(payload)
    body += payload + b'\n{"type":"event"}\n{}'
    envelope = parse_envelope(body)
    assert envelope.items[0].payload == payload
    assert items_of(envelope)[1] == ({"type": "event"}, b"{}")


def test_carriage_return_belongs_to_the_implicit_payload() -> None:
    body = b'{}\r\n'
    assert_invalid(body, "missing newline after header or payload")
    envelope = parse_envelope(b'{}\n{"type":"event"}\n{"a":1}\r\n{"type":"event"}\n{}\r')
    assert [item.payload for item in envelope.items] == [b'{"a":1}\r', b"{}\r"]


def test_whitespace_before_headers_is_skipped() -> None:
    envelope = parse_envelope(b'\n \t{}\n\n\n  {"type":"event"}\n{}\n')
    assert items_of(envelope) == [({"type": "event"}, b"{}")]


def test_header_json_may_span_lines() -> None:
    envelope = parse_envelope(b'{\n"event_id":\n"%s"}\n{"type":\n"event"}\n{}' % EVENT_ID.encode())
    assert envelope.event_id == EVENT_ID
    assert items_of(envelope) == [({"type": "event"}, b"{}")]


def test_blank_line_after_last_item_is_unexpected_eof() -> None:
    assert_invalid(b'{}\n{"type":"event"}\n{}\n\n', "unexpected end of file")
    assert_invalid(b"{}\n\n", "unexpected end of file")
    assert_invalid(b"{}\n \t", "unexpected end of file")


def test_null_length_then_next_item() -> None:
    envelope = parse_envelope(b'{}\n{"type":"event","length":null}\nab\n{"type":"x"}\ncd')
    assert items_of(envelope) == [
        ({"type": "event", "length": None}, b"ab"),
        ({"type": "x"}, b"cd"),
    ]


# --------------------------------------------------------------------------------------------
# Event ids
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8",
        "6E2AB12D-E2D7-42C7-9A43-5A6AFC94F8B8",
        "6e2ab12de2d742c79a435a6afc94f8b8",
        "6E2AB12DE2D742C79A435A6AFC94F8B8",
        "{6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8}",
        "urn:uuid:6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8",
    ],
)
def test_event_id_forms_the_uuid_crate_accepts(value: str) -> None:
    assert normalize_event_id(value) == "6e2ab12de2d742c79a435a6afc94f8b8"
    envelope = parse_envelope(dumps({"event_id": value}))
    assert envelope.headers["event_id"] == value
    assert envelope.event_id == "6e2ab12de2d742c79a435a6afc94f8b8"


@pytest.mark.parametrize(
    "value",
    [
        None,
        42,
        "",
        "6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b",
        "6e2ab12de2d742c79a435a6afc94f8bz",
        "6e2ab12d_e2d7_42c7_9a43_5a6afc94f8b8",
        "6e2ab12de2d742c79a435a6afc94f8b8 ",
        "URN:UUID:6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8",
        "６e2ab12de2d742c79a435a6afc94f8b",
    ],
)
def test_event_id_rejected_forms(value: object) -> None:
    assert normalize_event_id(value) is None


def test_envelope_without_event_id() -> None:
    assert parse_envelope(b'{"event_id":null}').event_id is None
    assert parse_envelope(b"{}").event_id is None


def test_invalid_event_id_is_an_invalid_envelope_header() -> None:
    assert_invalid(
        b'{"event_id":"not-a-uuid"}\n',
        "invalid envelope header",
        'invalid value: string "not-a-uuid", expected an event identifier at line 1 column 24',
    )
    assert_invalid(
        b'{"event_id":12}',
        "invalid envelope header",
        "invalid type: integer `12`, expected an event identifier at line 1 column 14",
    )


# --------------------------------------------------------------------------------------------
# Malformed bodies: status, detail and Relay's exact causes
# --------------------------------------------------------------------------------------------


def test_empty_body() -> None:
    error = rejected(b"")
    assert (error.status, error.detail, error.causes) == (400, "empty request body", [])


@pytest.mark.parametrize("body", [b" ", b"\n", b"\r\n\t "])
def test_missing_envelope_header(body: bytes) -> None:
    assert_invalid(body, "missing envelope header")


@pytest.mark.parametrize(
    ("body", "cause"),
    [
        (b"hello", "expected value at line 1 column 1"),
        (b"{", "EOF while parsing an object at line 1 column 1"),
        (b'{"a":1', "EOF while parsing an object at line 1 column 6"),
        (b'{"a" 1}', "expected `:` at line 1 column 6"),
        (b'{"a":1 "b":2}', "expected `,` or `}` at line 1 column 8"),
        (b'{"a":1,}', "trailing comma at line 1 column 8"),
        (b"{a:1}", "key must be a string at line 1 column 2"),
        (b'{"a":[1,2,]}', "trailing comma at line 1 column 11"),
        (b'{"a":[1 2]}', "expected `,` or `]` at line 1 column 9"),
        (b'{"a":tru}', "expected ident at line 1 column 9"),
        (b'{"a":01}', "invalid number at line 1 column 7"),
        (b'{"a":1.}', "invalid number at line 1 column 8"),
        (b'{"a":-}', "invalid number at line 1 column 7"),
        (b'{"a":1e400}', "number out of range at line 1 column 10"),
        (b'{"a":NaN}', "expected value at line 1 column 6"),
        (b'{"a":"x\ny"}', "control character (\\u0000-\\u001F) found while parsing a string at line 2 column 0"),
        (b'{"a":"\\x"}', "invalid escape at line 1 column 8"),
        (b'{"a":"\\u12"}', "invalid escape at line 1 column 12"),
        (b'{"a":"\\u12', "EOF while parsing a string at line 1 column 10"),
        (b'{"a":"\\udc00"}', "lone leading surrogate in hex escape at line 1 column 12"),
        (b'{"a":"\xff"}', "invalid unicode code point at line 1 column 8"),
        (b"[]", "invalid type: sequence, expected struct EnvelopeHeaders at line 1 column 0"),
        (b"\n\n7", "invalid type: integer `7`, expected struct EnvelopeHeaders at line 3 column 1"),
        (b'"x"', 'invalid type: string "x", expected struct EnvelopeHeaders at line 1 column 3'),
        (b'{"a":' + b"[" * 127 + b"]" * 127 + b"}", "recursion limit exceeded at line 1 column 132"),
        (b'{"sent_at":"yesterday"}', "input contains invalid characters at line 1 column 22"),
        (b'{"sent_at":"2026-02-30T00:00:00Z"}', "input is out of range at line 1 column 33"),
        (b'{"sent_at":"2026-01-01T00:00:00"}', "premature end of input at line 1 column 32"),
        (b'{"sent_at":5}', "invalid type: integer `5`, expected an RFC 3339 formatted date and time string at line 1 column 12"),
        (b'{"sent_at":"2026-01-01T00:00:00Z","sent_at":null}', "duplicate field `sent_at` at line 1 column 43"),
        (b'{"retention":70000}', "invalid value: integer `70000`, expected u16 at line 1 column 18"),
        (b'{"sdk":null}', "invalid type: null, expected any valid JSON value at line 1 column 12"),
        (b'{"dsn":"not a dsn"}', "no valid url provided at line 1 column 19"),
        (b'{"dsn":5}', "invalid type: integer `5`, expected a string at line 1 column 9"),
        (b'{"version":"7"}', 'invalid type: string "7", expected u16 at line 1 column 15'),
        (b'{"required_features":"x"}', 'invalid type: string "x", expected a sequence at line 1 column 24'),
    ],
)
def test_invalid_envelope_header(body: bytes, cause: str) -> None:
    assert_invalid(body, "invalid envelope header", cause)


def test_valid_envelope_header_fields() -> None:
    header = {
        "event_id": EVENT_ID,
        "sent_at": "2026-05-01T12:00:00.123456Z",
        "dsn": DSN,
        "trace": {"trace_id": "771a43a4192642f0b136d5159a501700", "sample_rate": "1.0", "sampled": "true"},
        "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"},
        "retention": 90,
        "required_features": ["organizations:session-replay", "unknown:feature"],
        "client": None,
        "x-future": [None, {"nested": None}],
    }
    assert parse_envelope(dumps(header)).headers == header


@pytest.mark.parametrize(
    "sent_at",
    [
        "2026-05-01T12:00:00Z",
        "2026-05-01T12:00:00.123Z",
        "2026-05-01t12:00:00+02:00",
        "2026-05-01 12:00:00 UTC",
        "2026-05-01T12:00:60.5-07:30",
    ],
)
def test_sent_at_forms_chrono_accepts(sent_at: str) -> None:
    assert parse_envelope(dumps({"sent_at": sent_at})).headers["sent_at"] == sent_at


def test_header_not_followed_by_newline() -> None:
    assert_invalid(b"{}x", "missing newline after header or payload")
    assert_invalid(b'{}\n{"type":"event"} \n{}', "missing newline after header or payload")


def test_payload_not_followed_by_newline() -> None:
    assert_invalid(b'{}\n{"type":"event","length":3}\nabcd', "missing newline after header or payload")


@pytest.mark.parametrize("length", [4, 10, 4294967295])
def test_length_past_eof(length: int) -> None:
    assert_invalid(b'{}\n{"type":"event","length":%d}\nabc' % length, "unexpected end of file")


def test_length_past_eof_when_header_ends_the_body() -> None:
    assert_invalid(b'{}\n{"type":"event","length":1}', "unexpected end of file")


@pytest.mark.parametrize(
    ("item_header", "cause"),
    [
        (b'{"length":3}', "missing field `type` at line 1 column 12"),
        (b"{}", "missing field `type` at line 1 column 2"),
        (b'{"type":5}', "invalid type: integer `5`, expected an envelope item type (see sentry develop docs) at line 1 column 9"),
        (b'{"type":null}', "invalid type: null, expected an envelope item type (see sentry develop docs) at line 1 column 12"),
        (b'{"type":["event"]}', "invalid type: sequence, expected an envelope item type (see sentry develop docs) at line 1 column 8"),
        (b'{"type":"event","type":"event"}', "duplicate field `type` at line 1 column 22"),
        (b'{"type":"event","length":-1}', "invalid value: integer `-1`, expected u32 at line 1 column 27"),
        (b'{"type":"event","length":1.0}', "invalid type: floating point `1.0`, expected u32 at line 1 column 28"),
        (b'{"type":"event","length":4294967296}', "invalid value: integer `4294967296`, expected u32 at line 1 column 35"),
        (b'{"type":"event","length":"3"}', 'invalid type: string "3", expected u32 at line 1 column 28'),
        (b'{"type":"log","item_count":-2}', "invalid value: integer `-2`, expected u32 at line 1 column 29"),
        (b'{"type":"attachment","attachment_type":"event.bogus"}', 'invalid value: string "event.bogus", expected an attachment type (see sentry develop docs) at line 1 column 52'),
        (b'{"type":"attachment","filename":7}', "invalid type: integer `7`, expected a string at line 1 column 33"),
        (b'{"type":"event","sampled":null}', "invalid type: null, expected a boolean at line 1 column 30"),
        (b'{"type":"event","custom":null}', "invalid type: null, expected any valid JSON value at line 1 column 30"),
        (b'[{"type":"event"}]', "invalid type: sequence, expected struct ItemHeaders at line 1 column 0"),
        (b'{"type":"event"', "EOF while parsing an object at line 2 column 0"),
        (b"garbage", "expected value at line 1 column 1"),
    ],
)
def test_invalid_item_header(item_header: bytes, cause: str) -> None:
    assert_invalid(b'{"event_id":"%s"}\n' % EVENT_ID.encode() + item_header + b"\n", "invalid item header", cause)


def test_item_header_positions_are_relative_to_the_item() -> None:
    body = b'{}\n{"type":"event"}\n{}\n{\n"type":\n7}\n'
    assert_invalid(
        body,
        "invalid item header",
        "invalid type: integer `7`, expected an envelope item type (see sentry develop docs) at line 3 column 1",
    )


def test_type_error_wins_over_later_syntax_error() -> None:
    assert_invalid(
        b'{}\n{"length":-1, garbage',
        "invalid item header",
        "invalid value: integer `-1`, expected u32 at line 1 column 12",
    )


def test_known_attachment_types_and_unknown_headers_are_kept() -> None:
    header = {
        "type": "attachment",
        "attachment_type": "event.minidump",
        "filename": "crash.dmp",
        "content_type": "application/x-dmp",
        "span_id": None,
        "x-anything": {"k": "v"},
    }
    item = parse_envelope(b"{}\n" + dumps(header) + b"\n\x00\x01")
    assert item.items[0].headers == header
    assert item.items[0].payload == b"\x00\x01"


def test_internal_item_type_is_refused() -> None:
    error = rejected(b'{}\n{"type":"integration","content_type":"application/vnd.sentry.integration.otel.logs+json"}\n{}')
    assert (error.status, error.detail, error.causes) == (400, "envelope contains internal items", [])


def test_later_malformed_item_wins_over_internal_item() -> None:
    assert_invalid(b'{}\n{"type":"integration"}\n{}\n{"type":1}', "invalid item header",
                   "invalid type: integer `1`, expected an envelope item type (see sentry develop docs) at line 1 column 9")


def test_dsn_header_is_kept_for_auth() -> None:
    assert parse_envelope(dumps({"dsn": DSN})).headers["dsn"] == DSN
    short_key = "http://parlel@127.0.0.1:4773/1"
    assert parse_envelope(dumps({"dsn": short_key})).headers["dsn"] == short_key


@pytest.mark.parametrize(
    ("dsn", "cause"),
    [
        ("https://key@sentry.io/", "empty path"),
        ("https://key@sentry.io/abc", "empty path"),
        ("https://sentry.io/42", "username is empty"),
        ("ftp://key@sentry.io/42", "no valid scheme"),
    ],
)
def test_malformed_dsn_header(dsn: str, cause: str) -> None:
    body = dumps({"dsn": dsn})
    assert_invalid(body, "invalid envelope header", f"{cause} at line 1 column {len(body)}")


# --------------------------------------------------------------------------------------------
# What the real clients send (CLIENTS.md section 2)
# --------------------------------------------------------------------------------------------


def python_item(headers: dict, payload: bytes) -> bytes:
    """sentry-python 2.75 ``Item.serialize_into``: length on every item, newline after each."""
    return dumps({**headers, "length": len(payload)}) + b"\n" + payload + b"\n"


def test_python_sdk_event_with_attachments() -> None:
    event = dumps({"message": "hello from python sdk", "level": "warning", "event_id": EVENT_ID,
                   "timestamp": "2026-05-01T12:00:00.123456Z", "platform": "python"})
    header = {
        "event_id": EVENT_ID,
        "sent_at": "2026-05-01T12:00:00.125000Z",
        "trace": {"trace_id": "771a43a4192642f0b136d5159a501700", "environment": "acceptance",
                  "release": "myapp@1.0.0", "public_key": "abc123", "sample_rate": "1.0"},
    }
    body = (
        dumps(header) + b"\n"
        + python_item({"type": "event", "content_type": "application/json"}, event)
        + python_item({"type": "attachment", "filename": "note.txt", "content_type": "text/plain"},
                      b"hello attachment\n")
        + python_item({"type": "attachment", "filename": "data.json", "content_type": "application/json"},
                      b'{"k": [1, 2]}')
    )
    envelope = parse_envelope(body)
    assert envelope.headers == header
    assert envelope.event_id == EVENT_ID
    assert [item.type for item in envelope.items] == ["event", "attachment", "attachment"]
    assert envelope.items[0].payload == event
    assert envelope.items[1].payload == b"hello attachment\n"
    assert envelope.items[1].headers["length"] == 17
    assert envelope.items[2].headers["filename"] == "data.json"


def test_python_sdk_session_with_empty_header() -> None:
    session = dumps({"sid": "c4a6e8d0-3b0c-4d53-9d10-4e4c2b2f4a11", "init": True, "started": "2026-05-01T12:00:00Z",
                     "timestamp": "2026-05-01T12:00:01Z", "status": "exited", "errors": 1, "did": "42",
                     "attrs": {"release": "myapp@1.0.0", "environment": "acceptance"}})
    envelope = parse_envelope(b"{}\n" + python_item({"type": "session", "content_type": "application/json"}, session))
    assert envelope.headers == {}
    assert envelope.event_id is None
    assert items_of(envelope) == [({"type": "session", "content_type": "application/json", "length": len(session)}, session)]


def test_python_sdk_log_and_metric_containers() -> None:
    logs = dumps({"version": 2, "items": [
        {"timestamp": 1795384873.34, "level": "info", "body": "user 42 logged in",
         "trace_id": "771a43a4192642f0b136d5159a501700",
         "attributes": {"sentry.message.parameter.user_id": {"value": 42, "type": "integer"}}},
        {"timestamp": 1795384873.35, "level": "warn", "body": "careful", "attributes": {}},
        {"timestamp": 1795384873.36, "level": "error", "body": "boom", "attributes": {}},
    ]})
    metrics = dumps({"version": 2, "items": [
        {"timestamp": 1795384873.4, "name": "button_click", "type": "counter", "value": 1.0, "attributes": {}},
        {"timestamp": 1795384873.4, "name": "page_load", "type": "distribution", "value": 12.5, "unit": "millisecond"},
        {"timestamp": 1795384873.4, "name": "queue", "type": "gauge", "value": 3.0},
    ]})
    body = (
        dumps({"sent_at": "2026-05-01T12:00:00.125000Z"}) + b"\n"
        + python_item({"type": "log", "item_count": 3, "content_type": "application/vnd.sentry.items.log+json"}, logs)
    )
    log_item = parse_envelope(body).items[0]
    assert log_item.is_container
    assert [entry["body"] for entry in container_items(log_item)] == ["user 42 logged in", "careful", "boom"]
    body = (
        dumps({"sent_at": "2026-05-01T12:00:00.125000Z"}) + b"\n"
        + python_item({"type": "trace_metric", "item_count": 3,
                       "content_type": "application/vnd.sentry.items.trace-metric+json"}, metrics)
    )
    metric_item = parse_envelope(body).items[0]
    assert [entry["name"] for entry in container_items(metric_item)] == ["button_click", "page_load", "queue"]


def node_envelope(header: dict, *items: tuple[dict, bytes]) -> bytes:
    """@sentry/core 11 ``serializeEnvelope``: no trailing newline, length only where set."""
    out = dumps(header)
    for item_header, payload in items:
        out += b"\n" + dumps(item_header) + b"\n" + payload
    return out


def test_node_sdk_event_attachments_no_length_no_trailing_newline() -> None:
    header = {"event_id": EVENT_ID, "sent_at": "2026-05-01T12:00:00.123Z",
              "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"},
              "trace": {"environment": "acceptance", "release": "myapp@1.0.0", "public_key": "abc123",
                        "trace_id": "771a43a4192642f0b136d5159a501700", "sample_rate": "1", "sampled": "true"}}
    event = dumps({"event_id": EVENT_ID, "message": "hello from node sdk", "timestamp": 1795384998.19})
    binary = b"\x00\x01\n\xff"
    body = node_envelope(
        header,
        ({"type": "event"}, event),
        ({"type": "attachment", "length": 17, "filename": "note.txt", "content_type": "text/plain"},
         b"hello attachment\n"),
        ({"type": "attachment", "length": 4, "filename": "data.bin"}, binary),
    )
    assert not body.endswith(b"\n")
    envelope = parse_envelope(body)
    assert envelope.headers == header
    assert items_of(envelope) == [
        ({"type": "event"}, event),
        ({"type": "attachment", "length": 17, "filename": "note.txt", "content_type": "text/plain"},
         b"hello attachment\n"),
        ({"type": "attachment", "length": 4, "filename": "data.bin"}, binary),
    ]


def test_node_sdk_streamed_spans() -> None:
    spans = dumps({"version": 2, "items": [
        {"name": "SELECT 1", "span_id": "a1b2c3d4e5f60718", "trace_id": "771a43a4192642f0b136d5159a501700",
         "parent_span_id": "0123456789abcdef", "start_timestamp": 1795384998.19, "end_timestamp": 1795384998.205,
         "is_segment": False, "status": "ok",
         "attributes": {"sentry.op": {"value": "db.query", "type": "string"}}},
        {"name": "child 2", "span_id": "b1b2c3d4e5f60718", "trace_id": "771a43a4192642f0b136d5159a501700",
         "is_segment": False, "status": "ok", "attributes": {}},
        {"name": "node-acceptance-txn", "span_id": "0123456789abcdef", "trace_id": "771a43a4192642f0b136d5159a501700",
         "is_segment": True, "status": "ok", "attributes": {}},
    ]})
    body = node_envelope(
        {"sent_at": "2026-05-01T12:00:00.123Z", "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"}},
        ({"type": "span", "item_count": 3, "content_type": "application/vnd.sentry.items.span.v2+json"}, spans),
    )
    item = parse_envelope(body).items[0]
    assert [entry["is_segment"] for entry in container_items(item)] == [False, False, True]


def test_node_sdk_check_ins_and_sessions_in_one_stream() -> None:
    check_in = dumps({"check_in_id": "83a7c03ed0a04e1b97e2e3b7c1e3a6b1", "monitor_slug": "my-cron", "status": "ok",
                      "duration": 0.01, "release": "myapp@1.0.0", "environment": "acceptance"})
    body = node_envelope(
        {"sent_at": "2026-05-01T12:00:00.123Z", "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"}},
        ({"type": "check_in"}, check_in),
    )
    assert items_of(parse_envelope(body)) == [({"type": "check_in"}, check_in)]


def test_sentry_cli_hyphenated_event_id() -> None:
    event = dumps({"event_id": "6e2ab12de2d742c79a435a6afc94f8b8", "level": "warning",
                   "logentry": {"formatted": "hello"}, "tags": {"k": "v"}, "release": "1.2.3"})
    body = b'{"event_id":"6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8"}\n' + python_item({"type": "event"}, event)
    envelope = parse_envelope(body)
    assert envelope.headers["event_id"] == "6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8"
    assert envelope.event_id == "6e2ab12de2d742c79a435a6afc94f8b8"
    assert envelope.items[0].payload == event
    assert envelope.items[0].requires_event


def test_sentry_cli_check_in_with_empty_header() -> None:
    check_in = dumps({"check_in_id": "83a7c03ed0a04e1b97e2e3b7c1e3a6b1", "monitor_slug": "my-cron",
                      "status": "in_progress", "environment": "production"})
    envelope = parse_envelope(b"{}\n" + python_item({"type": "check_in"}, check_in))
    assert items_of(envelope) == [({"type": "check_in", "length": len(check_in)}, check_in)]
    assert not envelope.items[0].requires_event


# --------------------------------------------------------------------------------------------
# Containers
# --------------------------------------------------------------------------------------------

LOG_CT = "application/vnd.sentry.items.log+json"


def log_item(payload: bytes, **headers: object) -> Item:
    return Item({"type": "log", "content_type": LOG_CT, **headers}, payload)


def test_container_without_version_and_uppercase_content_type() -> None:
    item = Item({"type": "log", "content_type": LOG_CT.upper(), "item_count": 1}, b'{"items":[{"body":"x"}]}')
    assert container_items(item) == [{"body": "x"}]


def test_container_item_count_mismatch_drops_the_item() -> None:
    with pytest.raises(ContainerError, match=r"^container was specified with length Some\(3\) but contained 2 items$"):
        container_items(log_item(b'{"items":[{},{}]}', item_count=3))


def test_container_item_count_missing() -> None:
    with pytest.raises(ContainerError, match=r"^container was specified with length None but contained 1 items$"):
        container_items(log_item(b'{"version":2,"items":[{}]}'))


def test_container_wrong_content_type() -> None:
    with pytest.raises(ContainerError, match=r"^expected item with content type application/vnd\.sentry\.items\.log\+json but got Some\(Json\)$"):
        container_items(Item({"type": "log", "content_type": "application/json", "item_count": 0}, b'{"items":[]}'))
    with pytest.raises(ContainerError, match=r"but got None$"):
        container_items(Item({"type": "log", "item_count": 0}, b'{"items":[]}'))


def test_legacy_standalone_span_is_not_a_container() -> None:
    item = Item({"type": "span", "content_type": "application/json"}, b'{"span_id":"a1b2c3d4e5f60718"}')
    assert not item.is_container
    with pytest.raises(ContainerError):
        container_items(item)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b'{"items":[{}', "failed to deserialize item container: EOF while parsing a list at line 1 column 12"),
        (b'{"version":2}', "failed to deserialize item container: missing field `items`"),
        (b'{"items":{}}', "failed to deserialize item container: invalid type: map, expected a sequence"),
        (b'{"items":[1]}', "failed to deserialize item container: invalid type: integer `1`, expected struct Inner"),
        (b'{"items":[{"v":NaN}]}', "failed to deserialize item container: expected value at line 1 column 16"),
        (b"\xef\xbb\xbf{}", "failed to deserialize item container: expected value at line 1 column 1"),
    ],
)
def test_container_bad_payload(payload: bytes, message: str) -> None:
    with pytest.raises(ContainerError) as info:
        container_items(log_item(payload, item_count=1))
    assert str(info.value) == message


def test_container_trailing_data_is_ignored_like_relay() -> None:
    assert container_items(log_item(b'{"items":[{"a":1}]} trailing', item_count=1)) == [{"a": 1}]


# --------------------------------------------------------------------------------------------
# serialize_envelope
# --------------------------------------------------------------------------------------------


def test_serialize_envelope_sets_length_and_newlines() -> None:
    body = serialize_envelope({"event_id": EVENT_ID}, [({"type": "event", "length": 99}, b"{}"), ({"type": "x"}, b"a\nb")])
    assert body == (
        b'{"event_id":"%s"}\n{"type":"event","length":2}\n{}\n{"type":"x","length":3}\na\nb\n' % EVENT_ID.encode()
    )


# --------------------------------------------------------------------------------------------
# Property-based
# --------------------------------------------------------------------------------------------

FRAGMENTS = [
    b"{}", b"\n", b" ", b"\r", b"{", b"}", b"[", b"]", b",", b":", b'"type"', b'"event"', b'"length"',
    b'"attachment"', b'"item_count"', b'"event_id"', b'"sent_at"', b'"%s"' % EVENT_ID.encode(),
    b"0", b"1", b"-1", b"3", b"1.5e3", b"null", b"true", b'"\\u', b"\\", b"\xff", b"\x00", b'{"type":"event"}\n',
    b'{"type":"event","length":3}\n', b'{"type":"attachment","length":0}\n', b"abc",
]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_api_error(data: bytes) -> None:
    try:
        envelope = parse_envelope(data)
    except ApiError as error:
        assert error.status == 400
        return
    assert isinstance(envelope, Envelope)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=25).map(b"".join))
def test_envelope_shaped_noise_only_raises_api_error(data: bytes) -> None:
    try:
        envelope = parse_envelope(data)
    except ApiError as error:
        assert error.status == 400
        assert error.detail in ("invalid event envelope", "empty request body", "envelope contains internal items")
        return
    for item in envelope.items:
        assert isinstance(item.type, str)


TEXT = st.text(st.characters(codec="utf-8"), max_size=10)
NON_NULL_SCALARS = (
    st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
JSON = st.recursive(
    st.none() | NON_NULL_SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=6,
)
# Relay refuses a top-level null for unknown header keys, so generated extras are never null.
NON_NULL_JSON = NON_NULL_SCALARS | st.lists(JSON, max_size=3) | st.dictionaries(TEXT, JSON, max_size=3)
EXTRA_KEYS = TEXT.map(lambda key: "x-" + key)
ENVELOPE_HEADERS = st.builds(
    lambda extra, fixed: {**extra, **fixed},
    st.dictionaries(EXTRA_KEYS, NON_NULL_JSON, max_size=3),
    st.fixed_dictionaries(
        {},
        optional={
            "event_id": st.uuids().map(lambda u: u.hex),
            "sent_at": st.just("2026-05-01T12:00:00.123456Z"),
            "trace": JSON,
        },
    ),
)
ITEM_TYPES = st.sampled_from(["event", "attachment", "session", "log", "check_in", "client_report", "span"]) | TEXT.map(
    lambda t: "t-" + t
)
ITEM_HEADERS = st.builds(
    lambda item_type, extra, filename: {**extra, "type": item_type, **({"filename": filename} if filename else {})},
    ITEM_TYPES,
    st.dictionaries(EXTRA_KEYS, NON_NULL_JSON, max_size=3),
    st.none() | TEXT,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENVELOPE_HEADERS, st.lists(st.tuples(ITEM_HEADERS, st.binary(max_size=64)), max_size=4))
def test_serialize_parse_round_trip(headers: dict, items: list[tuple[dict, bytes]]) -> None:
    envelope = parse_envelope(serialize_envelope(headers, items))
    assert envelope.headers == headers
    assert items_of(envelope) == [({**h, "length": len(p)}, p) for h, p in items]


# --------------------------------------------------------------------------------------------
# Fast path: json.loads for well-formed header lines must never change an answer
# --------------------------------------------------------------------------------------------


def outcome(body: bytes, fast: bool) -> tuple:
    """Everything observable about a parse; repr keeps 1 / 1.0 / True and 0.0 / -0.0 apart."""
    try:
        envelope = _parse_envelope(body, fast=fast)
    except ApiError as error:
        return ("error", error.status, error.detail, error.causes, error.headers)
    return ("ok", repr(envelope))


def assert_same_as_slow_path(body: bytes) -> None:
    assert outcome(body, fast=True) == outcome(body, fast=False)


def assert_fast_agrees(line: bytes) -> None:
    """Where the fast path answers at all, it answers what the exact reader does."""
    for schema in (_ENVELOPE_SCHEMA, _ITEM_SCHEMA):
        fast = _fast_header(line, 0, schema)
        if fast is not None:
            assert repr(fast) == repr(_read_struct(line, 0, schema))


def test_fast_checks_cover_every_declared_field() -> None:
    assert _ENVELOPE_ACCEPTS.keys() == _ENVELOPE_FIELDS.keys()
    assert _ITEM_ACCEPTS.keys() == _ITEM_FIELDS.keys()


SDK_TRACE = {"trace_id": "771a43a4192642f0b136d5159a501700", "environment": "production",
             "release": "myapp@1.0.0", "public_key": "abc123", "sample_rate": "1.0", "sampled": "true"}


@pytest.mark.parametrize(
    ("schema", "header"),
    [
        (_ENVELOPE_SCHEMA, {"event_id": EVENT_ID, "sent_at": "2026-05-01T12:00:00.125000Z", "trace": SDK_TRACE}),
        (_ENVELOPE_SCHEMA, {"event_id": EVENT_ID, "sent_at": "2024-02-29T23:59:59.123Z",
                            "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"}, "trace": SDK_TRACE}),
        (_ENVELOPE_SCHEMA, {"event_id": "6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8", "dsn": DSN}),
        (_ENVELOPE_SCHEMA, {"sent_at": "2026-05-01T12:00:00+02:00", "trace": {"transaction": "caf\u00e9 \U0001f600"}}),
        (_ENVELOPE_SCHEMA, {}),
        (_ITEM_SCHEMA, {"type": "event", "content_type": "application/json", "length": 3000}),
        (_ITEM_SCHEMA, {"type": "attachment", "length": 17, "filename": "note.txt", "content_type": "text/plain",
                        "attachment_type": "event.attachment"}),
        (_ITEM_SCHEMA, {"type": "log", "item_count": 3, "content_type": "application/vnd.sentry.items.log+json",
                        "length": 4294967295}),
        (_ITEM_SCHEMA, {"type": "span", "span_id": None, "sampled": True, "x-extra": [None]}),
    ],
)
def test_fast_path_takes_what_sdks_send(schema: object, header: dict) -> None:
    for line in (json.dumps(header).encode(), dumps(header), json.dumps(header, ensure_ascii=False).encode()):
        assert _fast_header(line + b"\npayload", 0, schema) == (header, len(line))
        assert_fast_agrees(line)


@pytest.mark.parametrize(
    "line",
    [
        b' {"type":"event"}',
        b'\n{"type":"event"}',
        b'{"type":"event"} ',
        b'{"type":"event"}\r',
        b'{"type":\n"event"}',
        b'{"type":"event"}{}',
        b'{"type":"event","length":1.0}',
        b'{"type":"event","length":-0}',
        b'{"type":"event","x":-0}',
        b'{"type":"event","x":18446744073709551616}',
        b'{"type":"event","x":-9223372036854775809}',
        b'{"type":"event","x":1e400}',
        b'{"type":"event","x":NaN}',
        b'{"type":"event","x":-Infinity}',
        b'{"type":"event","x":"\\ud800"}',
        b'{"type":"event","\\udc00":1}',
        b'{"type":"event","x":"\\ud83d\\u0041"}',
        b'{"type":"event","x":"\xff"}',
        b'{"type":"event","x":"\xed\xa0\x80"}',
        b'{"type":"event","x":{"a":1,"a":2}}',
        b'{"type":"event","type":"event"}',
        b'{"type":"event","x":' + b"[" * 127 + b"]" * 127 + b"}",
        b'{"type":"event","x":null}',
        b'{"type":"event","span_id":1,"span_id":null}',
        b'{"type":"event","sampled":null}',
        b'{"sent_at":"2023-02-29T00:00:00Z"}',
        b'{"sent_at":"2026-05-01T12:00:00+24:00"}',
        b'{"required_features":[{"a":null}]}',
        b'{"required_features":null}',
        b'{"event_id":"not-a-uuid"}',
        b'{"dsn":"not a dsn"}',
    ],
)
def test_fast_path_leaves_doubtful_lines_to_the_exact_reader(line: bytes) -> None:
    schema = _ITEM_SCHEMA if b'"type"' in line else _ENVELOPE_SCHEMA
    assert _fast_header(line, 0, schema) is None
    assert_fast_agrees(line)
    assert_same_as_slow_path(line)
    assert_same_as_slow_path(b"{}\n" + line + b"\n")


def two_digits(low: int, high: int, *edges: int) -> st.SearchStrategy[str]:
    return (st.sampled_from(edges) | st.integers(low, high)).map(lambda n: f"{n:02d}")


SENT_AT = st.builds(
    lambda year, month, day, sep, hour, minute, second, fraction, offset: (
        f"{year:04d}-{month}-{day}{sep}{hour}:{minute}:{second}{fraction}{offset}"
    ),
    st.sampled_from([2024, 2023, 2000, 1900, 0]) | st.integers(0, 9999),
    two_digits(0, 13, 2, 4, 0, 12, 13),
    two_digits(0, 32, 28, 29, 30, 31, 32, 0),
    st.sampled_from("Tt x"),
    two_digits(0, 25, 23, 24),
    two_digits(0, 61, 59, 60),
    two_digits(0, 61, 59, 60, 61),
    st.sampled_from(["", ".1", ".125000", ".1234567891234", "."]),
    st.sampled_from(["Z", "z", "+00:00", "-05:30", "+23:59", "+24:00", "-00:60", "+0100", "", " UTC", "+01: 00"]),
)


@settings(max_examples=300, deadline=None)
@given(SENT_AT | TEXT)
def test_fast_sent_at_check_agrees_with_chrono(value: str) -> None:
    assert _accepts_sent_at(value) == (_chrono_error(value) is None)


def json_token(value: object) -> st.SearchStrategy[bytes]:
    return st.booleans().map(lambda ascii: json.dumps(value, ensure_ascii=ascii).encode())


EDGE_TOKENS = [
    b"0", b"-0", b"1", b"1.0", b"-1", b"1e2", b"1E2", b"-0.0", b"0.5", b"65535", b"65536", b"4294967295",
    b"4294967296", b"18446744073709551615", b"18446744073709551616", b"-9223372036854775808",
    b"-9223372036854775809", b"123456789012345678901", b"1e400", b"-1e400", b"1e-400", b"NaN", b"Infinity",
    b"-Infinity", b"01", b"1.", b".5", b"1e", b"+1", b"-", b"null", b"true", b"false", b"nul", b"True",
    b'"\\ud800"', b'"\\udc00"', b'"\\ud83d\\ude00"', b'"\\ud83dx"', b'"\\ud83d\\u0041"', b'"\\\\ud800"',
    b'"\\u00e9"', b'"\\x"', b'"a\x01"', b'"\xff"', b'"\xed\xa0\x80"', b'"caf\xc3\xa9"', b'""', b'"\\u0000"',
    b'"a\\/b"', b"[]", b"{}", b'{"a":null}', b'["a",{"b":null}]', b'{"a":1,"a":2}', b"[" * 130 + b"]" * 130,
    b"[" * 126 + b"]" * 126, b"[1,]", b'{"a":1,}', b'[{"x":null}]', b'["a","b"]', b'"x"\n', b"1 ",
]
EDGE = st.sampled_from(EDGE_TOKENS)
TRICKY_TOKENS = EDGE_TOKENS + [
    dumps(value)
    for value in [
        EVENT_ID, "6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8", "{6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8}",
        "urn:uuid:6e2ab12d-e2d7-42c7-9a43-5a6afc94f8b8", "6e2ab12d_e2d7_42c7_9a43_5a6afc94f8b8", "event.attachment",
        "event.minidump", "event.bogus", "application/json", "2026-05-01T12:00:00.125000Z", "2024-02-29T00:00:00Z",
        "2023-02-29T00:00:00Z", "2026-05-01 12:00:00 UTC", "2026-05-01T12:00:00+24:00", DSN,
        "https://key@sentry.io/abc", "127.0.0.1", "::1", "https://example.com", "not a url", ["a"], [None],
        [{"a": None}], [1], {"sec_ch_ua": 1}, {"sec_ch_ua": "x"}, 1.5, -1.5, 2**63, -(2**63),
    ]
]
ALL_HEADER_KEYS = sorted(
    {*_ENVELOPE_FIELDS, *_META_FIELDS, *_ITEM_FIELDS, "span_id", "span_ids", "SPAN_ID", "x-extra"}
)


@pytest.mark.parametrize("key", ALL_HEADER_KEYS)
def test_fast_path_on_every_field_with_tricky_values(key: str) -> None:
    for value in TRICKY_TOKENS:
        field = b'"%s":%s' % (key.encode(), value)
        for line in (b"{" + field + b"}", b'{"type":"event",' + field + b"}", b'{"type":"x",' + field + b',"a":1}'):
            assert_fast_agrees(line)
            assert_same_as_slow_path(line)
            assert_same_as_slow_path(b"{}\n" + line + b"\n")


UUID_FORMS = st.uuids().flatmap(
    lambda u: st.sampled_from(
        [u.hex, str(u), str(u).upper(), f"{{{u}}}", f"urn:uuid:{u}", u.hex[:31], str(u)[:35] + "g", f" {u.hex}"]
    )
)
DSNS = st.sampled_from([DSN, "https://key@sentry.io/abc", "https://sentry.io/42", "ftp://key@sentry.io/42", "x"])
STRING_OR_NULL = st.none() | TEXT | st.sampled_from(["application/json", "text/plain"])
U32_ISH = st.integers(0, 2**32 - 1) | st.sampled_from([0, 2**32 - 1, 2**32, -1, 2**64, -(2**63) - 1, True, 1.0])
SDK_SENT_AT = st.datetimes().map(lambda dt: dt.isoformat(timespec="microseconds") + "Z")
ENVELOPE_VALUES: dict[str, st.SearchStrategy[object]] = {
    "event_id": st.none() | st.uuids().map(lambda u: u.hex) | UUID_FORMS,
    "sent_at": st.none() | SDK_SENT_AT | SENT_AT,
    "trace": JSON | st.just(SDK_TRACE),
    "retention": st.none() | st.integers(-1, 70000),
    "downsampled_retention": st.none() | st.integers(-1, 70000),
    "required_features": st.lists(TEXT, max_size=3) | JSON,
    "dsn": st.none() | DSNS,
    "client": STRING_OR_NULL,
    "version": st.integers(-1, 70000) | JSON,
    "origin": st.none() | st.sampled_from(["https://example.com", "not a url", "http://"]),
    "remote_addr": st.none() | st.sampled_from(["127.0.0.1", "::1", "fe80::1%eth0", "x"]),
    "forwarded_for": TEXT,
    "user_agent": STRING_OR_NULL,
    "client_hints": st.fixed_dictionaries({}, optional={"sec_ch_ua": STRING_OR_NULL, "sec_ch_ua_model": JSON}),
    "no_cache": st.booleans() | JSON,
    "sdk": NON_NULL_JSON,
}
ITEM_VALUES: dict[str, st.SearchStrategy[object]] = {
    "type": ITEM_TYPES,
    "length": st.none() | U32_ISH,
    "item_count": st.none() | U32_ISH,
    "meta_length": st.none() | U32_ISH,
    "attachment_type": st.none() | st.sampled_from(["event.attachment", "event.minidump", "event.bogus"]) | TEXT,
    "content_type": STRING_OR_NULL,
    "filename": STRING_OR_NULL,
    "platform": STRING_OR_NULL,
    "routing_hint": st.none() | st.uuids().map(str) | UUID_FORMS,
    "metrics_extracted": st.booleans(),
    "spans_extracted": st.booleans(),
    "fully_normalized": st.booleans(),
    "sampled": st.booleans() | st.none(),
    "span_id": JSON,
}


@st.composite
def header_lines(
    draw: st.DrawFn, values: dict[str, st.SearchStrategy[object]], length: int | None = None
) -> bytes:
    """A header object built token by token: mostly plausible values, some edge tokens, odd keys."""
    unique = draw(st.sampled_from([True] * 9 + [False]))
    names = draw(st.lists(st.sampled_from(sorted(values)) | EXTRA_KEYS, max_size=5, unique=unique))
    if "type" in values and "type" not in names and draw(st.sampled_from([True] * 5 + [False])):
        names.insert(draw(st.integers(0, len(names))), "type")
    if length is not None and draw(st.booleans()):
        names = [name for name in names if name != "length"] + ["length"]
    parts = []
    for name in names:
        if name == "length" and length is not None and draw(st.booleans()):
            value = str(length).encode()
        elif name in values and draw(st.sampled_from([True] * 7 + [False])):
            value = draw(values[name].flatmap(json_token))
        else:
            value = draw(EDGE | NON_NULL_JSON.flatmap(json_token))
        key = draw(json_token(name) | st.just(b'"' + "".join(f"\\u{ord(c):04x}" for c in name).encode() + b'"'))
        gap = draw(st.sampled_from([b""] * 14 + [b" ", b"\n", b"\t"]))
        parts.append(key + gap + b":" + value)
    return b"{" + b",".join(parts) + b"}"


MUTATION_BYTES = [b" ", b"\n", b"\r", b"{", b"}", b",", b":", b'"', b"\\", b"\xff", b"\x00", b"-", b"0"]


@st.composite
def mutated(draw: st.DrawFn, lines: st.SearchStrategy[bytes]) -> bytes:
    """Occasionally a byte inserted, dropped or replaced, or the line cut short."""
    line = draw(lines)
    for _ in range(draw(st.sampled_from([0, 0, 0, 0, 1, 2]))):
        at = draw(st.integers(0, len(line)))
        byte = draw(st.sampled_from(MUTATION_BYTES))
        kind = draw(st.sampled_from(["insert", "drop", "replace", "cut"]))
        if kind == "insert":
            line = line[:at] + byte + line[at:]
        elif kind == "drop":
            line = line[:at] + line[at + 1 :]
        elif kind == "replace":
            line = line[:at] + byte + line[at + 1 :]
        else:
            line = line[:at]
    return line


ENVELOPE_LINES = mutated(header_lines(ENVELOPE_VALUES))
ANY_LINES = ENVELOPE_LINES | mutated(header_lines(ITEM_VALUES))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ANY_LINES, st.sampled_from([b"", b"\n", b"\nrest", b"\r\n", b" \n"]))
def test_fast_header_agrees_with_the_exact_reader(line: bytes, tail: bytes) -> None:
    assert_fast_agrees(line + tail)


@st.composite
def envelope_bodies(draw: st.DrawFn) -> bytes:
    separators = st.sampled_from([b"\n"] * 6 + [b"", b"\r\n", b"\n\n", b" \n"])
    body = draw(st.sampled_from([b""] * 6 + [b" ", b"\n", b"\r\n"])) + draw(ENVELOPE_LINES)
    for _ in range(draw(st.integers(0, 3))):
        payload = draw(st.binary(max_size=16) | st.just(b'{"k":[1,2]}'))
        body += draw(separators) + draw(mutated(header_lines(ITEM_VALUES, len(payload))))
        body += draw(separators) + payload
    return body + draw(st.sampled_from([b"", b"\n", b"\n\n", b"x"]))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(envelope_bodies())
def test_fast_path_parses_bodies_exactly_like_the_slow_path(body: bytes) -> None:
    assert_same_as_slow_path(body)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENVELOPE_HEADERS, st.lists(st.tuples(ITEM_HEADERS, st.binary(max_size=64)), max_size=4))
def test_fast_path_on_serialized_envelopes(headers: dict, items: list[tuple[dict, bytes]]) -> None:
    assert_same_as_slow_path(serialize_envelope(headers, items))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ENVELOPE_HEADERS | ITEM_HEADERS)
def test_compact_lines_read_by_orjson_agree_with_the_exact_reader(header: dict) -> None:
    """The orjson round trip (``_canonical_object``) is taken for compact lines, never changing an answer."""
    try:
        line = orjson.dumps(header)
    except TypeError:  # an integer orjson cannot write
        return
    if orjson.loads(line) == header:
        assert _canonical_object(line) == header
    assert_fast_agrees(line)
    assert_same_as_slow_path(line + b"\n")
