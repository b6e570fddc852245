"""Sentry envelopes, framed and validated byte for byte the way Relay does it.

Relay (getsentry/relay ``relay-server/src/envelope/mod.rs`` and ``item.rs``) reads the envelope
header and every item header with serde_json's stream deserializer straight into typed structs
(``EnvelopeHeaders``, ``ItemHeaders``).  What it rejects, and the second cause it reports
("expected value at line 1 column 7", "invalid value: integer `-1`, expected u32 at ..."), come
from serde_json and serde's derived visitors.  A client must get the same 400 from the fake, so
this module carries a small reader that follows serde_json's grammar, its error messages and its
line/column positions, plus the field types Relay declares.

Framing rules (``Envelope::parse_bytes`` / ``Item::parse``):

* The envelope header is one JSON value read from the start of the body (leading whitespace,
  newlines included, is skipped); it must be followed by ``\\n`` or EOF.
* Items follow until the buffer is exhausted.  Each item header is read the same way from the
  item's first byte; if only whitespace is left, that is ``unexpected end of file`` -- so one
  trailing newline after the last payload is fine, a blank line after it is not.
* With ``length`` the payload is exactly that many bytes and must be followed by ``\\n`` or EOF;
  without it the payload runs to the next ``\\n`` or EOF.  ``\\r`` is ordinary payload data.

Everything the endpoint answers with is an :class:`~sentry_daemon.errors.ApiError`; nothing else
escapes :func:`parse_envelope` for any input.

The byte-by-byte reader is slow, so a header line that is plain well-formed JSON with field values
the schema surely accepts is decoded with :mod:`json` instead (:func:`_fast_header`); everything
else, and every error, still comes from the reader.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import orjson

from sentry_daemon.http.errors import ApiError

__all__ = [
    "CONTAINER_CONTENT_TYPES",
    "ContainerError",
    "Envelope",
    "Item",
    "container_items",
    "normalize_event_id",
    "parse_envelope",
    "serialize_envelope",
]

INVALID_ENVELOPE = "invalid event envelope"

# EnvelopeError display strings (relay-server/src/envelope/mod.rs).
UNEXPECTED_EOF = "unexpected end of file"
MISSING_HEADER = "missing envelope header"
MISSING_NEWLINE = "missing newline after header or payload"
INVALID_HEADER = "invalid envelope header"
INVALID_ITEM_HEADER = "invalid item header"

# BadStoreRequest display strings (relay-server/src/endpoints/common.rs).
EMPTY_BODY = "empty request body"
INTERNAL_ITEMS = "envelope contains internal items"

# Item types Relay treats as Relay-internal and refuses from clients (ItemType::is_internal).
_INTERNAL_ITEM_TYPES = frozenset({"integration"})

# Item::requires_event: these need an event id, so Relay makes one up if the header has none.
_REQUIRES_EVENT = frozenset(
    {
        "event",
        "transaction",
        "security",
        "attachment",
        "form_data",
        "raw_security",
        "unreal_report",
        "user_report",
        "feedback",
        "replay_event",
        "profile",
    }
)

#: Item type -> the content type that marks its payload as an item container.
CONTAINER_CONTENT_TYPES: dict[str, str] = {
    "log": "application/vnd.sentry.items.log+json",
    "trace_metric": "application/vnd.sentry.items.trace-metric+json",
    "span": "application/vnd.sentry.items.span.v2+json",
}
_CONTAINER_CT_SET = frozenset(CONTAINER_CONTENT_TYPES.values())

_ATTACHMENT_TYPES = frozenset(
    {
        "event.attachment",
        "event.minidump",
        "event.applecrashreport",
        "event.payload",
        "playstation.prosperodump",
        "nswitch.dying_message",
        "event.breadcrumbs",
        "event.view_hierarchy",
        "unreal.context",
        "unreal.logs",
    }
)


# --------------------------------------------------------------------------------------------
# Public data model
# --------------------------------------------------------------------------------------------


@dataclass
class Item:
    """One envelope item: its header object, unknown keys included, and the exact payload bytes."""

    headers: dict[str, Any]
    payload: bytes
    # where ``payload`` starts in the body it was parsed from; not part of its value
    offset: int | None = field(default=None, compare=False, repr=False)

    @property
    def type(self) -> str:
        return self.headers["type"]

    @property
    def content_type(self) -> str | None:
        value = self.headers.get("content_type")
        return value if isinstance(value, str) else None

    @property
    def is_container(self) -> bool:
        """Relay decides "container" from the content type alone (ContentType::is_container)."""
        ct = self.content_type
        return ct is not None and ct.lower() in _CONTAINER_CT_SET

    @property
    def requires_event(self) -> bool:
        """Whether Relay assigns an event id to the envelope because of this item."""
        return self.type in _REQUIRES_EVENT


@dataclass
class Envelope:
    """A parsed envelope; ``headers`` is the header object as sent, unknown keys included."""

    headers: dict[str, Any]
    items: list[Item] = field(default_factory=list)
    # the body it is the whole of, when parsed (``parse_envelope``); not part of its value
    body: bytes | None = field(default=None, compare=False, repr=False)

    @property
    def event_id(self) -> str | None:
        return normalize_event_id(self.headers.get("event_id"))


class ContainerError(ValueError):
    """A container item (``log``, ``trace_metric``, span v2) Relay cannot expand.

    Relay does not fail the request for this: the envelope is accepted (200) and the one item is
    dropped with outcome ``invalid`` / ``invalid_json`` while it is processed
    (relay-server/src/processing/logs/process.rs ``expand_log_container``).  The message is the
    ``ContainerParseError`` text Relay logs.
    """


# --------------------------------------------------------------------------------------------
# Entry points
# --------------------------------------------------------------------------------------------


def normalize_event_id(value: object) -> str | None:
    """Event id as 32 lowercase hex, or None when Relay's ``EventId`` would not parse it.

    Relay parses with the ``uuid`` crate, which takes the simple (32 hex) and hyphenated (36)
    forms in any case, and also the braced ``{...}`` and ``urn:uuid:...`` forms.
    """
    if not isinstance(value, str):
        return None
    return _parse_uuid(value)


def parse_envelope(data: bytes) -> Envelope:
    """Parse a request body the way Relay's envelope endpoint does.

    Raises ``ApiError(400, "invalid event envelope", [cause, serde cause?])`` for malformed
    bodies, ``ApiError(400, "empty request body")`` for an empty one (Relay checks that before
    parsing) and ``ApiError(400, "envelope contains internal items")`` for Relay-internal item
    types, which Relay refuses right after parsing.
    """
    return _parse_envelope(bytes(data), fast=True)


def _parse_envelope(data: bytes, *, fast: bool) -> Envelope:
    """:func:`parse_envelope`; ``fast=False`` reads every header with the exact reader only.

    The switch exists so tests can check that the fast path never changes an answer.
    """
    if not data:
        raise ApiError(400, EMPTY_BODY)
    try:
        parsed = _read_header(data, 0, _ENVELOPE_SCHEMA, fast)
    except _JsonError as exc:
        raise _invalid(INVALID_HEADER, str(exc)) from None
    if parsed is None:
        raise _invalid(MISSING_HEADER)
    headers, offset = parsed
    _require_termination(data, offset)
    offset += 1

    items: list[Item] = []
    size = len(data)
    while offset < size:
        item, offset = _parse_item(data, offset, fast)
        items.append(item)
    if any(item.type in _INTERNAL_ITEM_TYPES for item in items):
        raise ApiError(400, INTERNAL_ITEMS)
    return Envelope(headers, items, data)


def serialize_envelope(headers: dict, items: list[tuple[dict, bytes]]) -> bytes:
    """Build an envelope body, setting ``length`` on every item (for tests and benchmarks)."""
    out = [_dump_json(headers), b"\n"]
    for item_headers, payload in items:
        payload = bytes(payload)
        out += [_dump_json({**item_headers, "length": len(payload)}), b"\n", payload, b"\n"]
    return b"".join(out)


def container_items(item: Item) -> list[dict]:
    """The entries of a ``log`` / ``trace_metric`` / span-v2 ``span`` container item.

    Mirrors Relay's ``ItemContainer::parse``: the content type must be the container type of the
    item type (compared case-insensitively), the payload must be ``{"items": [...], ...}`` with
    object entries (other top-level keys such as ``version`` are metadata and ignored), and
    ``item_count`` must be present and equal to the number of entries.  Any failure raises
    :class:`ContainerError`; the caller drops the item and still answers 200.
    """
    expected = CONTAINER_CONTENT_TYPES.get(item.type)
    if expected is None:
        raise ContainerError(f"item type {item.type} does not support item containers")
    actual = item.headers.get("content_type")
    if not isinstance(actual, str) or actual.lower() != expected:
        raise ContainerError(
            f"expected item with content type {expected} but got {_content_type_debug(actual)}"
        )
    try:
        layout = _decode_container_json(item.payload)
    except _JsonError as exc:
        raise ContainerError(f"failed to deserialize item container: {exc}") from None
    entries = _container_entries(layout)
    count = item.headers.get("item_count")
    count = count if isinstance(count, int) and not isinstance(count, bool) else None
    if count != len(entries):
        expected_len = "None" if count is None else f"Some({count})"
        raise ContainerError(
            f"container was specified with length {expected_len} but contained "
            f"{len(entries)} items"
        )
    return entries


# --------------------------------------------------------------------------------------------
# Framing
# --------------------------------------------------------------------------------------------


def _invalid(*causes: str) -> ApiError:
    return ApiError(400, INVALID_ENVELOPE, list(causes))


def _require_termination(data: bytes, offset: int) -> None:
    if offset < len(data) and data[offset] != 0x0A:
        raise _invalid(MISSING_NEWLINE)


def _parse_item(data: bytes, offset: int, fast: bool) -> tuple[Item, int]:
    try:
        parsed = _read_header(data, offset, _ITEM_SCHEMA, fast)
    except _JsonError as exc:
        raise _invalid(INVALID_ITEM_HEADER, str(exc)) from None
    if parsed is None:
        raise _invalid(UNEXPECTED_EOF)
    headers, headers_end = parsed
    _require_termination(data, headers_end)
    size = len(data)
    payload_start = min(headers_end + 1, size)
    length = headers.get("length")
    if length is not None:
        payload_end = payload_start + length
        if payload_end > size:
            raise _invalid(UNEXPECTED_EOF)
        _require_termination(data, payload_end)
    else:
        newline = data.find(b"\n", payload_start)
        payload_end = size if newline < 0 else newline
    return Item(headers, data[payload_start:payload_end], payload_start), payload_end + 1


def _dump_json(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()


# --------------------------------------------------------------------------------------------
# serde_json emulation
# --------------------------------------------------------------------------------------------

# serde_json ErrorCode display strings.
_EOF_LIST = "EOF while parsing a list"
_EOF_OBJECT = "EOF while parsing an object"
_EOF_STRING = "EOF while parsing a string"
_EOF_VALUE = "EOF while parsing a value"
_EXPECTED_COLON = "expected `:`"
_EXPECTED_LIST_COMMA_OR_END = "expected `,` or `]`"
_EXPECTED_OBJECT_COMMA_OR_END = "expected `,` or `}`"
_EXPECTED_IDENT = "expected ident"
_EXPECTED_VALUE = "expected value"
_INVALID_ESCAPE = "invalid escape"
_INVALID_NUMBER = "invalid number"
_NUMBER_OUT_OF_RANGE = "number out of range"
_INVALID_UNICODE = "invalid unicode code point"
_CONTROL_CHARACTER = "control character (\\u0000-\\u001F) found while parsing a string"
_KEY_MUST_BE_A_STRING = "key must be a string"
_LONE_LEADING_SURROGATE = "lone leading surrogate in hex escape"
_TRAILING_COMMA = "trailing comma"
_UNEXPECTED_END_OF_HEX_ESCAPE = "unexpected end of hex escape"
_RECURSION_LIMIT = "recursion limit exceeded"

_U64_MAX = (1 << 64) - 1
_WS_RUN = re.compile(rb"[ \n\t\r]*")
_STR_RUN = re.compile(rb'[^"\\\x00-\x1f]*')
_DIGIT_RUN = re.compile(rb"[0-9]*")
_HEX4 = re.compile(rb"[0-9A-Fa-f]{4}")
_SIMPLE_ESCAPES = {
    0x22: b'"',
    0x5C: b"\\",
    0x2F: b"/",
    0x62: b"\x08",
    0x66: b"\x0c",
    0x6E: b"\n",
    0x72: b"\r",
    0x74: b"\t",
}


class _JsonError(Exception):
    """A serde_json error already rendered as ``<message> at line L column C``."""


class _Unplaced(Exception):
    """A custom error from a struct visitor; serde_json places it once the object has ended."""


class _Reader:
    """Reads JSON from ``buf[start:]`` with serde_json's grammar, messages and positions.

    Positions are relative to ``start`` because Relay hands each item to serde_json as its own
    slice.  Columns count bytes, as serde_json does.
    """

    __slots__ = ("buf", "i", "base", "end", "depth")

    def __init__(self, buf: bytes, start: int = 0) -> None:
        self.buf = buf
        self.i = start
        self.base = start
        self.end = len(buf)
        self.depth = 128  # serde_json's remaining_depth

    # -- errors --------------------------------------------------------------------------

    def _error_at(self, message: str, index: int) -> _JsonError:
        index = min(index, self.end)
        newline = self.buf.rfind(b"\n", self.base, index)
        line_start = self.base if newline < 0 else newline + 1
        line = 1 + self.buf.count(b"\n", self.base, line_start)
        return _JsonError(f"{message} at line {line} column {index - line_start}")

    def error(self, message: str) -> None:
        """serde_json ``error``: positioned at the last consumed byte."""
        raise self._error_at(message, self.i)

    def peek_error(self, message: str) -> None:
        """serde_json ``peek_error``: positioned at the byte that is looked at."""
        raise self._error_at(message, self.i + 1)

    # -- lexing --------------------------------------------------------------------------

    def peek(self) -> int | None:
        return self.buf[self.i] if self.i < self.end else None

    def ws(self) -> int | None:
        self.i = _WS_RUN.match(self.buf, self.i).end()
        return self.peek()

    def ident(self, rest: bytes) -> None:
        for expected in rest:
            if self.i >= self.end:
                self.error(_EOF_VALUE)
            got = self.buf[self.i]
            self.i += 1
            if got != expected:
                self.error(_EXPECTED_IDENT)

    def colon(self) -> None:
        c = self.ws()
        if c == 0x3A:
            self.i += 1
            return
        self.peek_error(_EOF_OBJECT if c is None else _EXPECTED_COLON)

    def enter(self) -> None:
        self.depth -= 1
        if self.depth == 0:
            self.peek_error(_RECURSION_LIMIT)

    def number(self, positive: bool) -> int | float:
        """A number after its optional ``-``: int within u64/i64 as serde keeps them, else float."""
        buf = self.buf
        if self.i >= self.end:
            self.error(_EOF_VALUE)
        start = self.i
        first = buf[self.i]
        self.i += 1
        if first == 0x30:
            nxt = self.peek()
            if nxt is not None and 0x30 <= nxt <= 0x39:
                self.peek_error(_INVALID_NUMBER)
        elif 0x31 <= first <= 0x39:
            self.i = _DIGIT_RUN.match(buf, self.i).end()
        else:
            self.error(_INVALID_NUMBER)
        integer_end = self.i
        c = self.peek()
        if c == 0x2E:
            self.i += 1
            after = _DIGIT_RUN.match(buf, self.i).end()
            if after == self.i:
                self.peek_error(_INVALID_NUMBER if self.i < self.end else _EOF_VALUE)
            self.i = after
            c = self.peek()
        if c in (0x65, 0x45):
            self.i += 1
            if self.peek() in (0x2B, 0x2D):
                self.i += 1
            if self.i >= self.end:
                self.error(_EOF_VALUE)
            digit = buf[self.i]
            self.i += 1
            if not 0x30 <= digit <= 0x39:
                self.error(_INVALID_NUMBER)
            self.i = _DIGIT_RUN.match(buf, self.i).end()
        if self.i == integer_end and integer_end - start <= 20:
            significand = int(buf[start:integer_end])
            if significand <= _U64_MAX:
                if positive:
                    return significand
                if 0 < significand <= 1 << 63:
                    return -significand
                return -float(significand)
        value = float(buf[start : self.i])
        if math.isinf(value):
            self.error(_NUMBER_OUT_OF_RANGE)
        return value if positive else -value

    def string(self) -> str:
        """A string body after its opening quote, validated as UTF-8 like serde_json's parse_str."""
        buf = self.buf
        parts: list[bytes] = []
        run_start = self.i
        while True:
            self.i = _STR_RUN.match(buf, self.i).end()
            if self.i >= self.end:
                self.error(_EOF_STRING)
            c = buf[self.i]
            if c == 0x22:
                parts.append(buf[run_start : self.i])
                self.i += 1
                try:
                    return b"".join(parts).decode("utf-8")
                except UnicodeDecodeError:
                    self.error(_INVALID_UNICODE)
            if c == 0x5C:
                parts.append(buf[run_start : self.i])
                self.i += 1
                self._escape(parts)
                run_start = self.i
                continue
            self.i += 1
            self.error(_CONTROL_CHARACTER)

    def _escape(self, parts: list[bytes]) -> None:
        if self.i >= self.end:
            self.error(_EOF_STRING)
        c = self.buf[self.i]
        self.i += 1
        simple = _SIMPLE_ESCAPES.get(c)
        if simple is not None:
            parts.append(simple)
        elif c == 0x75:
            parts.append(self._unicode_escape())
        else:
            self.error(_INVALID_ESCAPE)

    def _hex4(self) -> int:
        if self.end - self.i < 4:
            self.i = self.end
            self.error(_EOF_STRING)
        digits = self.buf[self.i : self.i + 4]
        self.i += 4
        if not _HEX4.fullmatch(digits):
            self.error(_INVALID_ESCAPE)
        return int(digits, 16)

    def _expect_after_surrogate(self, byte: int) -> None:
        c = self.peek()
        if c is None:
            self.error(_EOF_STRING)
        self.i += 1
        if c != byte:
            self.error(_UNEXPECTED_END_OF_HEX_ESCAPE)

    def _unicode_escape(self) -> bytes:
        n = self._hex4()
        if 0xDC00 <= n <= 0xDFFF:
            self.error(_LONE_LEADING_SURROGATE)
        if not 0xD800 <= n <= 0xDBFF:
            return chr(n).encode()
        self._expect_after_surrogate(0x5C)
        self._expect_after_surrogate(0x75)
        low = self._hex4()
        if not 0xDC00 <= low <= 0xDFFF:
            self.error(_LONE_LEADING_SURROGATE)
        return chr(0x10000 + ((n - 0xD800) << 10) + (low - 0xDC00)).encode()

    # -- values --------------------------------------------------------------------------

    def any(self) -> Any:
        """serde_json ``deserialize_any`` into a plain value (serde Content / serde_json Value)."""
        c = self.ws()
        if c is None:
            self.peek_error(_EOF_VALUE)
        if c == 0x22:
            self.i += 1
            return self.string()
        if c == 0x7B:
            return self.map_any()
        if c == 0x5B:
            return self.seq(self.any)
        if c == 0x6E:
            self.i += 1
            self.ident(b"ull")
            return None
        if c == 0x74:
            self.i += 1
            self.ident(b"rue")
            return True
        if c == 0x66:
            self.i += 1
            self.ident(b"alse")
            return False
        if c == 0x2D:
            self.i += 1
            return self.number(False)
        if 0x30 <= c <= 0x39:
            return self.number(True)
        self.peek_error(_EXPECTED_VALUE)

    def seq(self, element: Callable[[], Any]) -> list:
        """A JSON array (the ``[`` is next) whose elements are read by ``element``."""
        self.enter()
        self.i += 1
        out = []
        first = True
        while True:
            c = self.ws()
            if c == 0x5D:
                break
            if c == 0x2C and not first:
                self.i += 1
                c = self.ws()
            elif c is None:
                self.peek_error(_EOF_LIST)
            elif not first:
                self.peek_error(_EXPECTED_LIST_COMMA_OR_END)
            else:
                first = False
            if c == 0x5D:
                self.peek_error(_TRAILING_COMMA)
            if c is None:
                self.peek_error(_EOF_VALUE)
            out.append(element())
        self.i += 1
        self.depth += 1
        return out

    def key(self, first: bool) -> str | None:
        """The next object key, or None at ``}`` (serde_json MapAccess::next_key_seed)."""
        c = self.ws()
        if c == 0x7D:
            return None
        if c == 0x2C and not first:
            self.i += 1
            c = self.ws()
        elif c is None:
            self.peek_error(_EOF_OBJECT)
        elif not first:
            self.peek_error(_EXPECTED_OBJECT_COMMA_OR_END)
        if c == 0x22:
            self.i += 1
            return self.string()
        if c == 0x7D:
            self.peek_error(_TRAILING_COMMA)
        if c is None:
            self.peek_error(_EOF_VALUE)
        self.peek_error(_KEY_MUST_BE_A_STRING)

    def map_any(self) -> dict:
        self.enter()
        self.i += 1
        out = {}
        first = True
        while (key := self.key(first)) is not None:
            first = False
            self.colon()
            out[key] = self.any()
        self.i += 1
        self.depth += 1
        return out

    def struct(self, schema: _Schema) -> dict:
        """A header object (the ``{`` is next) read like serde's derived ``visit_map``.

        Typed fields are checked as they stream past, so an early type error wins over a later
        syntax error, exactly as in Relay.  Errors that serde raises without a position
        (duplicate field, missing field, flattened fields) are placed after the closing brace
        has been consumed, which is where serde_json's ``fix_position`` puts them.
        """
        self.enter()
        self.i += 1
        pairs: list[tuple[str, Any]] = []
        seen: set[str] = set()
        try:
            first = True
            while (key := self.key(first)) is not None:
                first = False
                read = schema.fields.get(key)
                if read is None:
                    self.colon()
                    pairs.append((key, self.any()))
                    continue
                if key in seen:
                    raise _Unplaced(f"duplicate field `{key}`")
                seen.add(key)
                self.colon()
                pairs.append((key, read(self)))
            schema.finish(pairs)
        except _Unplaced as exc:
            if self.ws() == 0x7D:
                self.i += 1
            self.error(str(exc))
        self.i += 1
        self.depth += 1
        return dict(pairs)

    def invalid_type(self, expected: str) -> None:
        """serde_json ``peek_invalid_type``: consume a scalar, then report what was found."""
        c = self.peek()
        if c == 0x6E:
            self.i += 1
            self.ident(b"ull")
            found = "null"
        elif c == 0x74:
            self.i += 1
            self.ident(b"rue")
            found = "boolean `true`"
        elif c == 0x66:
            self.i += 1
            self.ident(b"alse")
            found = "boolean `false`"
        elif c == 0x2D:
            self.i += 1
            found = _unexpected(self.number(False))
        elif c is not None and 0x30 <= c <= 0x39:
            found = _unexpected(self.number(True))
        elif c == 0x22:
            self.i += 1
            found = _unexpected(self.string())
        elif c == 0x5B:
            found = "sequence"
        elif c == 0x7B:
            found = "map"
        else:
            self.peek_error(_EXPECTED_VALUE)
        self.error(f"invalid type: {found}, expected {expected}")


def _read_struct(buf: bytes, start: int, schema: _Schema) -> tuple[dict, int] | None:
    """One header from ``buf[start:]`` as serde_json's StreamDeserializer reads it.

    None when only whitespace is left (``next()`` returning nothing).
    """
    reader = _Reader(buf, start)
    c = reader.ws()
    if c is None:
        return None
    if c != 0x7B:
        reader.invalid_type(schema.expecting)
    return reader.struct(schema), reader.i


def _decode_container_json(payload: bytes) -> Any:
    """Decode a container payload; fast with :mod:`json`, exact with the serde reader if needed.

    :mod:`json` accepts a few things serde_json refuses (NaN, overflowing floats, lone
    surrogate escapes, nesting deeper than 127); those fall through to the exact reader.
    """
    try:
        value = json.loads(
            payload.decode("utf-8"), parse_constant=_reject_constant, parse_float=_finite_float
        )
        if _serde_would_accept(value):
            return value
    except (ValueError, RecursionError):
        pass
    return _Reader(payload).any()


def _reject_constant(name: str) -> None:
    raise ValueError(name)


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError(text)
    return value


def _valid_str(value: str) -> bool:
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _serde_would_accept(value: Any) -> bool:
    """No container nested deeper than serde_json's limit and no lone surrogates."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            if not _valid_str(node):
                return False
            continue
        if isinstance(node, dict):
            if not all(_valid_str(key) for key in node):
                return False
            children = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        if depth >= 128:
            return False
        stack.extend((child, depth + 1) for child in children)
    return True


def _container_entries(layout: Any) -> list[dict]:
    prefix = "failed to deserialize item container: "
    if not isinstance(layout, dict):
        raise ContainerError(f"{prefix}invalid type: {_unexpected(layout)}, expected struct Layout")
    if "items" not in layout:
        raise ContainerError(f"{prefix}missing field `items`")
    entries = layout["items"]
    if not isinstance(entries, list):
        raise ContainerError(f"{prefix}invalid type: {_unexpected(entries)}, expected a sequence")
    for entry in entries:
        if not isinstance(entry, dict):
            raise ContainerError(
                f"{prefix}invalid type: {_unexpected(entry)}, expected struct Inner"
            )
    return entries


# --------------------------------------------------------------------------------------------
# Fast path: header lines the stdlib decoder reads exactly as the emulation would
# --------------------------------------------------------------------------------------------


class _NotSure(ValueError):
    """Raised in the :mod:`json` hooks to hand a header line to the exact reader."""


def _unique_object(pairs: list[tuple[str, Any]]) -> dict:
    """Objects as serde keeps them, except that a duplicate key anywhere needs the exact reader."""
    obj = dict(pairs)
    if len(obj) != len(pairs):
        raise _NotSure("duplicate key")
    return obj


def _serde_int(text: str) -> int:
    """Integers serde_json keeps as integers; ``-0`` and anything beyond u64/i64 are its floats."""
    value = int(text)
    if not -(1 << 63) <= value <= _U64_MAX or (value == 0 and text.startswith("-")):
        raise _NotSure(text)
    return value


_HEADER_DECODER = json.JSONDecoder(
    object_pairs_hook=_unique_object,
    parse_int=_serde_int,
    parse_float=_finite_float,
    parse_constant=_reject_constant,
)
# A line with fewer openers than this cannot reach serde_json's recursion limit.
_MAX_FAST_CONTAINERS = 128
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


def _read_header(
    data: bytes, offset: int, schema: _Schema, fast: bool
) -> tuple[dict, int] | None:
    """:func:`_read_struct`, short-cut through :func:`_fast_header` when that one is sure."""
    if fast and (parsed := _fast_header(data, offset, schema)) is not None:
        return parsed
    return _read_struct(data, offset, schema)


def _canonical_object(line: bytes) -> dict | None:
    """The object on ``line`` when orjson reads it and writes it back byte for byte (None: not sure).

    Compact JSON as the SDKs write their headers comes back unchanged; whatever :mod:`json` and
    serde_json might read differently does not: a duplicate key (the copy is shorter), ``-0``,
    exponents, escapes (``\\u…``, ``\\/``), whitespace, numbers orjson refuses or rounds.
    """
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    if type(value) is not dict or orjson.dumps(value) != line:
        return None
    return value


def _fast_header(data: bytes, offset: int, schema: _Schema) -> tuple[dict, int] | None:
    """What :func:`_read_struct` returns for a well-formed header, or None to let it decide.

    The reader is exact but slow.  A line that starts with ``{`` at ``offset`` and is one
    complete JSON object up to the next ``\\n`` (or EOF) is read by serde_json token for token
    as :mod:`json` reads it, and ends at the same byte.  What :mod:`json` accepts but serde_json
    refuses or keeps in another type (NaN, overflowing floats, ``-0``, huge integers, lone
    surrogate escapes), duplicate keys and any field value ``schema.accepts`` is unsure of go to
    the exact reader, which then produces the error or the value.
    """
    if not data.startswith(b"{", offset):
        return None
    end = data.find(b"\n", offset)
    if end < 0:
        end = len(data)
    line = data[offset:end]
    if line.count(b"{") + line.count(b"[") >= _MAX_FAST_CONTAINERS:
        return None
    canonical = _canonical_object(line)
    if canonical is not None:
        return (canonical, end) if schema.accepts(canonical) else None
    try:
        text = line.decode("utf-8")
        headers, consumed = _HEADER_DECODER.raw_decode(text)
    except ValueError:
        return None
    if consumed != len(text):
        return None
    if _SURROGATE_ESCAPE.search(line) is not None and not _serde_would_accept(headers):
        return None
    return (headers, end) if schema.accepts(headers) else None


# --------------------------------------------------------------------------------------------
# Rendering values the way serde / Rust print them in error messages
# --------------------------------------------------------------------------------------------


def _unexpected(value: Any) -> str:
    """serde ``Unexpected`` as printed by serde_json (``null`` for unit, ryu for floats)."""
    if value is None:
        return "null"
    if value is True:
        return "boolean `true`"
    if value is False:
        return "boolean `false`"
    if isinstance(value, int):
        return f"integer `{value}`"
    if isinstance(value, float):
        return f"floating point `{_ryu(value)}`"
    if isinstance(value, str):
        return f"string {_rust_debug_str(value)}"
    if isinstance(value, list):
        return "sequence"
    return "map"


def _ryu(value: float) -> str:
    """Format a finite float like the ``ryu`` crate (shortest digits, ``1e16``, ``0.001``)."""
    sign = "-" if math.copysign(1.0, value) < 0 else ""
    value = abs(value)
    if value == 0:
        return f"{sign}0.0"
    mantissa, _, exp_text = repr(value).partition("e")
    whole, _, fraction = mantissa.partition(".")
    digits = (whole + fraction).lstrip("0")
    exponent = (int(exp_text) if exp_text else 0) - len(fraction)
    stripped = digits.rstrip("0")
    exponent += len(digits) - len(stripped)
    digits = stripped
    length = len(digits)
    kk = length + exponent
    if 0 <= exponent and kk <= 16:
        text = digits + "0" * exponent + ".0"
    elif 0 < kk <= 16:
        text = f"{digits[:kk]}.{digits[kk:]}"
    elif -5 < kk <= 0:
        text = "0." + "0" * -kk + digits
    elif length == 1:
        text = f"{digits}e{kk - 1}"
    else:
        text = f"{digits[0]}.{digits[1:]}e{kk - 1}"
    return sign + text


_DEBUG_ESCAPES = {"\0": "\\0", "\t": "\\t", "\r": "\\r", "\n": "\\n", "\\": "\\\\", '"': '\\"'}


def _rust_debug_str(value: str) -> str:
    """Rust's ``{:?}`` for a str (close approximation of its printable table)."""
    out = ['"']
    for ch in value:
        escaped = _DEBUG_ESCAPES.get(ch)
        if escaped is not None:
            out.append(escaped)
        elif (ch != " " and not ch.isprintable()) or unicodedata.category(ch) in ("Mn", "Me"):
            out.append(f"\\u{{{ord(ch):x}}}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_CONTENT_TYPE_VARIANTS = {
    "text/plain": "Text",
    "application/json": "Json",
    "application/x-ndjson": "NdJson",
    "application/x-msgpack": "MsgPack",
    "application/octet-stream": "OctetStream",
    "application/x-dmp": "Minidump",
    "text/xml": "Xml",
    "application/xml": "Xml",
    "application/x-sentry-envelope": "Envelope",
    "application/x-protobuf": "Protobuf",
    "application/vnd.sentry.items.log+json": "LogContainer",
    "application/vnd.sentry.items.span.v2+json": "SpanV2Container",
    "application/vnd.sentry.items.trace-metric+json": "TraceMetricContainer",
    "application/vnd.sentry.trace-attachment": "TraceAttachment",
    "application/vnd.sentry.attachment.v2": "TraceAttachment",
}


def _content_type_debug(value: object) -> str:
    """``{:?}`` of Relay's ``Option<ContentType>`` for ContainerParseError messages."""
    if not isinstance(value, str):
        return "None"
    lowered = value.lower()
    variant = _CONTENT_TYPE_VARIANTS.get(lowered)
    if variant is None:
        variant = f"Other({_rust_debug_str(lowered)})"
    return f"Some({variant})"


# --------------------------------------------------------------------------------------------
# uuid, chrono, url, DSN and IP parsing as the Rust crates Relay uses do it
# --------------------------------------------------------------------------------------------

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


def _parse_uuid(text: str) -> str | None:
    """``uuid::Uuid::parse_str`` -> 32 lowercase hex, or None."""
    if not text.isascii():
        return None
    if len(text) == 38 and text[0] == "{" and text[-1] == "}":
        text = text[1:-1]
    elif len(text) == 45 and text.startswith("urn:uuid:"):
        text = text[9:]
    if len(text) == 36:
        if text[8] != "-" or text[13] != "-" or text[18] != "-" or text[23] != "-":
            return None
        text = text[:8] + text[9:13] + text[14:18] + text[19:23] + text[24:]
    elif len(text) != 32:
        return None
    if not _HEX_DIGITS.issuperset(text):
        return None
    return text.lower()


def _uuid_error(text: str) -> str | None:
    """The ``uuid`` crate's error text for an unparsable string (InvalidUuid::into_err)."""
    if _parse_uuid(text) is not None:
        return None
    raw = text
    if len(text.encode()) >= 2 and text[0] == "{" and text[-1] == "}":
        text, offset, simple = text[1:-1], 1, False
    elif text.startswith("urn:uuid:"):
        text, offset, simple = text[9:], 9, False
    else:
        offset, simple = 0, True
    hyphens = 0
    bounds = [0, 0, 0, 0]
    index = 0
    for ch in text:
        if ord(ch) > 0x7F or (ch != "-" and ch not in _HEX_DIGITS):
            return (
                "invalid character: expected an optional prefix of `urn:uuid:` followed by "
                f"[0-9a-fA-F-], found `{ch}` at {index + offset + 1}"
            )
        if ch == "-":
            if hyphens < 4:
                bounds[hyphens] = index
            hyphens += 1
        index += len(ch.encode())
    if hyphens == 0 and simple:
        return f"invalid length: expected length 32 for simple format, found {len(raw.encode())}"
    if hyphens != 4:
        return f"invalid group count: expected 5, found {hyphens + 1}"
    starts = (0, 9, 14, 19, 24)
    expected = (8, 4, 4, 4, 12)
    for group in range(4):
        if bounds[group] != starts[group + 1] - 1:
            return (
                f"invalid group length in group {group}: expected {expected[group]}, "
                f"found {bounds[group] - starts[group]}"
            )
    return f"invalid group length in group 4: expected 12, found {len(raw.encode()) - starts[4]}"


class _ChronoError(Exception):
    pass


_TOO_SHORT = "premature end of input"
_INVALID = "input contains invalid characters"
_OUT_OF_RANGE = "input is out of range"
_TOO_LONG = "trailing input"
_DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _chrono_error(text: str) -> str | None:
    """Why ``chrono`` would refuse ``text`` as ``DateTime<FixedOffset>`` (its relaxed RFC 3339)."""
    try:
        _chrono_parse(text)
    except _ChronoError as exc:
        return str(exc)
    return None


def _chrono_parse(s: str) -> None:
    pos = 0

    def skip_ws(i: int) -> int:
        while i < len(s) and s[i].isspace():
            i += 1
        return i

    def number(i: int, low: int, high: int) -> tuple[int, int]:
        if len(s) - i < low:
            raise _ChronoError(_TOO_SHORT)
        value = 0
        j = i
        while j < len(s) and j - i < high:
            if not "0" <= s[j] <= "9":
                if j - i < low:
                    raise _ChronoError(_INVALID)
                return value, j
            value = value * 10 + ord(s[j]) - 0x30
            if value > 0x7FFF_FFFF_FFFF_FFFF:
                raise _ChronoError(_OUT_OF_RANGE)
            j += 1
        return value, j

    def field(i: int, width: int, low: int, high: int) -> tuple[int, int]:
        value, i = number(skip_ws(i), 1, width)
        if not low <= value <= high:
            raise _ChronoError(_OUT_OF_RANGE)
        return value, i

    def literal(i: int, lit: str) -> int:
        i = skip_ws(i)
        if i >= len(s):
            raise _ChronoError(_TOO_SHORT)
        if s[i] != lit:
            raise _ChronoError(_INVALID)
        return i + 1

    pos = skip_ws(pos)
    if pos < len(s) and s[pos] in "+-":
        negative = s[pos] == "-"
        year, pos = number(pos + 1, 1, len(s))
        year = -year if negative else year
    else:
        year, pos = number(pos, 1, 4)
    if not -(1 << 31) <= year < 1 << 31:
        raise _ChronoError(_OUT_OF_RANGE)
    pos = literal(pos, "-")
    month, pos = field(pos, 2, 1, 12)
    pos = literal(pos, "-")
    day, pos = field(pos, 2, 1, 31)
    if pos >= len(s):
        raise _ChronoError(_TOO_SHORT)
    if s[pos] not in "tT ":
        raise _ChronoError(_INVALID)
    pos += 1
    _, pos = field(pos, 2, 0, 23)
    pos = literal(pos, ":")
    _, pos = field(pos, 2, 0, 59)
    pos = literal(pos, ":")
    _, pos = field(pos, 2, 0, 60)
    if s.startswith(".", pos):
        _, pos = number(pos + 1, 1, 9)
        while pos < len(s) and "0" <= s[pos] <= "9":
            pos += 1
    pos = skip_ws(pos)
    if s[pos : pos + 3].upper() == "UTC" and s[pos : pos + 3].isascii():
        pos += 3
        offset = 0
    else:
        offset, pos = _chrono_offset(s, pos)
    if s[pos:].strip():
        raise _ChronoError(_TOO_LONG)
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = 29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]
    if day > days or not -262_143 <= year <= 262_142 or abs(offset) >= 86_400:
        raise _ChronoError(_OUT_OF_RANGE)


def _chrono_offset(s: str, pos: int) -> tuple[int, int]:
    """chrono ``timezone_offset`` with zulu allowed, minutes required, colon or space between."""
    if pos < len(s) and s[pos] in "Zz":
        return 0, pos + 1
    if pos >= len(s):
        raise _ChronoError(_TOO_SHORT)
    sign = s[pos]
    if sign not in "+-\u2212":
        raise _ChronoError(_INVALID)
    pos += 1
    hours = _chrono_two_digits(s, pos)
    pos += 2
    while pos < len(s) and (s[pos] == ":" or s[pos].isspace()):
        pos += 1
    minutes = _chrono_two_digits(s, pos)
    if minutes >= 60:
        raise _ChronoError(_OUT_OF_RANGE)
    seconds = hours * 3600 + minutes * 60
    return (-seconds if sign != "+" else seconds), pos + 2


def _chrono_two_digits(s: str, pos: int) -> int:
    if len(s[pos : pos + 2].encode()) < 2:
        raise _ChronoError(_TOO_SHORT)
    pair = s[pos : pos + 2]
    if len(pair) < 2 or not ("0" <= pair[0] <= "9" and "0" <= pair[1] <= "9"):
        raise _ChronoError(_INVALID)
    return int(pair)


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*:")
_C0_AND_SPACE = "".join(map(chr, range(0x21)))
_SPECIAL_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp", "file"})


def _url_error(text: str) -> str | None:
    """The ``url`` crate's ParseError text for ``Url::parse`` (main cases only)."""
    text = text.strip(_C0_AND_SPACE)
    match = _SCHEME.match(text)
    if match is None:
        return "relative URL without a base"
    scheme = match.group()[:-1].lower()
    if scheme not in _SPECIAL_SCHEMES or scheme == "file":
        return None
    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - urllib validates the port lazily, on access
    except ValueError as exc:
        return "invalid port number" if "port" in str(exc).lower() else "invalid IPv6 address"
    return None if parts.hostname else "empty host"


def _dsn_error(text: str) -> str | None:
    """sentry-types ``Dsn::from_str`` plus the project-id check of Relay's ``PartialDsn``.

    Relay would also refuse a public key that is not 32 characters ("username is empty").  That
    rule is left to the auth layer, which knows whether the fake runs lenient (any key) or strict.
    """
    if _url_error(text) is not None:
        return "no valid url provided"
    try:
        parts = urlsplit(text.strip())
    except ValueError:
        return "no valid url provided"
    scheme = parts.scheme.lower()
    path = parts.path or ("/" if scheme in _SPECIAL_SCHEMES else "")
    if path == "/":
        return "empty path"
    project_id = path.strip("/").rsplit("/", 1)[-1]
    if not project_id:
        return "invalid project id"
    if not parts.username:
        return "username is empty"
    if scheme not in ("http", "https"):
        return "no valid scheme"
    if not parts.hostname:
        return "no valid url provided"
    if re.fullmatch(r"\+?[0-9]+", project_id) is None or int(project_id) > _U64_MAX:
        return "empty path"
    return None


def _is_ip_address(text: str) -> bool:
    if "%" in text:
        return False
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# Field types of EnvelopeHeaders / ItemHeaders
# --------------------------------------------------------------------------------------------

_Read = Callable[[_Reader], Any]


@dataclass(frozen=True)
class _Schema:
    expecting: str
    fields: dict[str, _Read]
    finish: Callable[[list[tuple[str, Any]]], None]
    #: Whether a duplicate-free header object decoded by :mod:`json` passes ``fields`` and
    #: ``finish`` unchanged; False whenever unsure (see :func:`_fast_header`).
    accepts: Callable[[dict], bool]


def _optional(inner: _Read) -> _Read:
    def read(r: _Reader) -> Any:
        if r.ws() == 0x6E:
            r.i += 1
            r.ident(b"ull")
            return None
        return inner(r)

    return read


def _unsigned(bits: int) -> _Read:
    name = f"u{bits}"
    top = (1 << bits) - 1

    def read(r: _Reader) -> int:
        c = r.ws()
        if c is None:
            r.peek_error(_EOF_VALUE)
        if c == 0x2D:
            r.i += 1
            value = r.number(False)
        elif 0x30 <= c <= 0x39:
            value = r.number(True)
        else:
            r.invalid_type(name)
        if isinstance(value, float):
            r.error(f"invalid type: floating point `{_ryu(value)}`, expected {name}")
        if not 0 <= value <= top:
            r.error(f"invalid value: integer `{value}`, expected {name}")
        return value

    return read


def _string(expecting: str, check: Callable[[str], str | None] | None = None) -> _Read:
    def read(r: _Reader) -> str:
        c = r.ws()
        if c is None:
            r.peek_error(_EOF_VALUE)
        if c != 0x22:
            r.invalid_type(expecting)
        r.i += 1
        value = r.string()
        if check is not None and (problem := check(value)) is not None:
            r.error(problem)
        return value

    return read


def _boolean(r: _Reader) -> bool:
    c = r.ws()
    if c is None:
        r.peek_error(_EOF_VALUE)
    if c == 0x74:
        r.i += 1
        r.ident(b"rue")
        return True
    if c == 0x66:
        r.i += 1
        r.ident(b"alse")
        return False
    r.invalid_type("a boolean")


def _any(r: _Reader) -> Any:
    return r.any()


def _feature(r: _Reader) -> str:
    """One ``Feature`` (a unit enum with ``#[serde(other)]``) via serde_json's deserialize_enum."""
    c = r.ws()
    if c == 0x22:
        r.i += 1
        return r.string()
    if c == 0x7B:
        r.enter()
        r.i += 1
        name = _string("variant identifier")(r)
        r.colon()
        c = r.ws()
        if c is None:
            r.peek_error(_EOF_VALUE)
        if c != 0x6E:
            r.invalid_type("unit")
        r.i += 1
        r.ident(b"ull")
        r.depth += 1
        c = r.ws()
        if c == 0x7D:
            r.i += 1
            return name
        r.error(_EOF_OBJECT if c is None else _EXPECTED_VALUE)
    r.peek_error(_EOF_VALUE if c is None else _EXPECTED_VALUE)


def _features(r: _Reader) -> list:
    c = r.ws()
    if c is None:
        r.peek_error(_EOF_VALUE)
    if c != 0x5B:
        r.invalid_type("a sequence")
    return r.seq(lambda: _feature(r))


def _check_event_id(value: str) -> str | None:
    if _parse_uuid(value) is None:
        return f"invalid value: {_unexpected(value)}, expected an event identifier"
    return None


def _check_attachment_type(value: str) -> str | None:
    if value not in _ATTACHMENT_TYPES:
        expecting = "an attachment type (see sentry develop docs)"
        return f"invalid value: {_unexpected(value)}, expected {expecting}"
    return None


def _check_routing_hint(value: str) -> str | None:
    problem = _uuid_error(value)
    return None if problem is None else f"UUID parsing failed: {problem}"


# Post-loop checks: serde resolves flattened fields after the whole object has been read.

_NOT_NULL = "invalid type: null, expected any valid JSON value"


def _type_error(value: Any, expecting: str) -> str:
    return f"invalid type: {_unexpected(value)}, expected {expecting}"


def _meta_optional_string(value: Any) -> str | None:
    return None if value is None or isinstance(value, str) else _type_error(value, "a string")


def _meta_string(value: Any) -> str | None:
    return None if isinstance(value, str) else _type_error(value, "a string")


def _meta_version(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return _type_error(value, "u16")
    if not 0 <= value <= 0xFFFF:
        return f"invalid value: integer `{value}`, expected u16"
    return None


def _meta_dsn(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return _type_error(value, "a string")
    return _dsn_error(value)


def _meta_origin(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return _type_error(value, "a string representing an URL")
    problem = _url_error(value)
    return None if problem is None else f"invalid value: {_unexpected(value)}, expected {problem}"


def _meta_remote_addr(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        return _type_error(value, "IP address")
    return None if _is_ip_address(value) else "invalid IP address syntax"


def _meta_client_hints(value: Any) -> str | None:
    if not isinstance(value, dict):
        return _type_error(value, "struct ClientHints")
    hints = ("sec_ch_ua_platform", "sec_ch_ua_platform_version", "sec_ch_ua", "sec_ch_ua_model")
    problems = (_meta_optional_string(value.get(name)) for name in hints)
    return next((problem for problem in problems if problem is not None), None)


def _meta_bool(value: Any) -> str | None:
    return None if isinstance(value, bool) else _type_error(value, "a boolean")


# RequestMeta<Option<PartialDsn>>, flattened into EnvelopeHeaders
# (relay-server/src/extractors/request_meta.rs).
_META_FIELDS: dict[str, Callable[[Any], str | None]] = {
    "dsn": _meta_dsn,
    "client": _meta_optional_string,
    "version": _meta_version,
    "origin": _meta_origin,
    "remote_addr": _meta_remote_addr,
    "forwarded_for": _meta_string,
    "user_agent": _meta_optional_string,
    "client_hints": _meta_client_hints,
    "no_cache": _meta_bool,
}

_ENVELOPE_FIELDS: dict[str, _Read] = {
    "event_id": _optional(_string("an event identifier", _check_event_id)),
    "retention": _optional(_unsigned(16)),
    "downsampled_retention": _optional(_unsigned(16)),
    "sent_at": _optional(_string("an RFC 3339 formatted date and time string", _chrono_error)),
    "trace": _any,
    "required_features": _features,
}


def _finish_envelope(pairs: list[tuple[str, Any]]) -> None:
    seen: set[str] = set()
    rest = []
    for key, value in pairs:
        if key in _ENVELOPE_FIELDS:
            continue
        check = _META_FIELDS.get(key)
        if check is None:
            rest.append(value)
            continue
        if key in seen:
            raise _Unplaced(f"duplicate field `{key}`")
        seen.add(key)
        if (problem := check(value)) is not None:
            raise _Unplaced(problem)
    if any(value is None for value in rest):
        raise _Unplaced(_NOT_NULL)


_ITEM_FIELDS: dict[str, _Read] = {
    "type": _string("an envelope item type (see sentry develop docs)"),
    "length": _optional(_unsigned(32)),
    "item_count": _optional(_unsigned(32)),
    "attachment_type": _optional(
        _string("an attachment type (see sentry develop docs)", _check_attachment_type)
    ),
    "content_type": _optional(_string("a content type string")),
    "filename": _optional(_string("a string")),
    "platform": _optional(_string("a string")),
    "routing_hint": _optional(_string("a UUID string", _check_routing_hint)),
    "metrics_extracted": _boolean,
    "spans_extracted": _boolean,
    "fully_normalized": _boolean,
    "sampled": _boolean,
    "meta_length": _optional(_unsigned(32)),
}


def _finish_item(pairs: list[tuple[str, Any]]) -> None:
    if not any(key == "type" for key, _ in pairs):
        raise _Unplaced("missing field `type`")
    parent_taken = False
    for key, value in pairs:
        if key in _ITEM_FIELDS:
            continue
        if key == "span_id" and not parent_taken:
            parent_taken = True  # the flattened Option<ParentId> takes it and never fails
            continue
        if value is None:
            raise _Unplaced(_NOT_NULL)


# Fast-path mirrors of the field readers above, on values already decoded by json.

_RFC3339 = re.compile(
    r"([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])[Tt ]([01][0-9]|2[0-3]):[0-5][0-9]:"
    r"(?:[0-5][0-9]|60)(?:\.[0-9]+)?(?:[Zz]|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])"
)


def _accepts_sent_at(value: Any) -> bool:
    """``_chrono_error(value) is None`` without its cost for the plain RFC 3339 that SDKs send."""
    if value is None:
        return True
    if type(value) is not str:
        return False
    match = _RFC3339.fullmatch(value)
    if match is not None:
        year, month, day = match.group(1, 2, 3)
        if day <= "28":
            return True
        year, month = int(year), int(month)
        leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
        if int(day) <= (29 if month == 2 and leap else _DAYS_IN_MONTH[month - 1]):
            return True
    return _chrono_error(value) is None


def _accepts_uuid(value: Any) -> bool:
    return value is None or (type(value) is str and _parse_uuid(value) is not None)


def _accepts_u16(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value <= 0xFFFF)


def _accepts_u32(value: Any) -> bool:
    return value is None or (type(value) is int and 0 <= value <= 0xFFFF_FFFF)


def _accepts_optional_str(value: Any) -> bool:
    return value is None or type(value) is str


def _accepts_features(value: Any) -> bool:
    """Only plain string features; ``{"name": null}`` variants are left to the exact reader."""
    return type(value) is list and all(type(feature) is str for feature in value)


_ENVELOPE_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "event_id": _accepts_uuid,
    "retention": _accepts_u16,
    "downsampled_retention": _accepts_u16,
    "sent_at": _accepts_sent_at,
    "trace": lambda value: True,
    "required_features": _accepts_features,
}


def _accepts_envelope(headers: dict) -> bool:
    for key, value in headers.items():
        accepts = _ENVELOPE_ACCEPTS.get(key)
        if accepts is not None:
            if not accepts(value):
                return False
        elif (check := _META_FIELDS.get(key)) is not None:
            if check(value) is not None:
                return False
        elif value is None:
            return False
    return True


_ITEM_ACCEPTS: dict[str, Callable[[Any], bool]] = {
    "type": lambda value: type(value) is str,
    "length": _accepts_u32,
    "item_count": _accepts_u32,
    "attachment_type": lambda value: (
        value is None or (type(value) is str and value in _ATTACHMENT_TYPES)
    ),
    "content_type": _accepts_optional_str,
    "filename": _accepts_optional_str,
    "platform": _accepts_optional_str,
    "routing_hint": _accepts_uuid,
    "metrics_extracted": lambda value: type(value) is bool,
    "spans_extracted": lambda value: type(value) is bool,
    "fully_normalized": lambda value: type(value) is bool,
    "sampled": lambda value: type(value) is bool,
    "meta_length": _accepts_u32,
}


def _accepts_item(headers: dict) -> bool:
    """Keys are unique here, so a ``span_id`` is always the one the flattened ParentId takes."""
    if "type" not in headers:
        return False
    for key, value in headers.items():
        accepts = _ITEM_ACCEPTS.get(key)
        if accepts is not None:
            if not accepts(value):
                return False
        elif value is None and key != "span_id":
            return False
    return True


_ENVELOPE_SCHEMA = _Schema(
    "struct EnvelopeHeaders", _ENVELOPE_FIELDS, _finish_envelope, _accepts_envelope
)
_ITEM_SCHEMA = _Schema("struct ItemHeaders", _ITEM_FIELDS, _finish_item, _accepts_item)
