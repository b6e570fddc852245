"""Request body decoding: HTTP content codings and the legacy ``/store/`` payload forms.

Relay decompresses every ingest body (tower-http ``RequestDecompressionLayer``: gzip, deflate, br,
zstd) and sniffs ``/store/`` bodies for base64 and zlib (``endpoints/store.rs`` ``decode_bytes``).
A compressed body is attacker-sized only before decoding, so every decoder here streams its input
and counts its output as it goes: a bomb is rejected after at most ``limit`` plus one chunk of
output, never after materializing it.
"""

from __future__ import annotations

import base64
import binascii
import io
import zlib
from collections.abc import Callable, Iterator

import brotli
import zstandard

from sentry_daemon.http.errors import ApiError

SUPPORTED = ("gzip", "x-gzip", "deflate", "br", "zstd")

CHUNK = 64 * 1024
"""Most output any decoder step may produce before its size is checked against the limit."""

MAX_CODINGS = 5
"""Stacked codings allowed in one header; each layer costs a full pass over up to ``limit`` bytes."""

ZSTD_MAX_WINDOW = 8 * 1024 * 1024
"""RFC 9659: zstd content coding never needs a window over 8 MiB; a bigger one only costs memory."""

ACCEPT_ENCODING = "gzip, deflate, br, zstd"
_IGNORED = frozenset({"", "identity", "utf-8"})
_WHITESPACE = b" \t\r\n\f\v"


class _Sink:
    """Collects decoded output, failing as soon as it grows past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.size = 0
        self._buffer = io.BytesIO()

    def write(self, chunk: bytes) -> None:
        if not chunk:
            return
        self.size += len(chunk)
        if self.size > self.limit:
            raise too_large(self.limit)
        self._buffer.write(chunk)

    def value(self) -> bytes:
        # BytesIO hands over its buffer without a copy, so the result costs no second ``limit``.
        return self._buffer.getvalue()


def too_large(limit: int) -> ApiError:
    """The 413 for a body that decodes past ``limit``, shared with callers that cap bodies themselves."""
    return ApiError(413, f"envelope exceeded size limits (decompressed body over {limit} bytes)")


def _invalid(what: str, reason: str) -> ApiError:
    return ApiError(400, "invalid request body", [f"invalid {what} data: {reason}"])


def _reason(exc: Exception) -> str:
    # zlib, brotli and zstandard all prefix their messages ("Error -3 while decompressing data: ").
    return str(exc).split(": ", 1)[-1] or type(exc).__name__


def _pieces(view: memoryview) -> Iterator[memoryview]:
    for start in range(0, len(view), CHUNK):
        yield view[start:start + CHUNK]


def parse_codings(content_encoding: str | None) -> list[str]:
    """The codings of a ``Content-Encoding`` value in the order they were applied.

    Empty entries, ``identity`` and ``UTF-8`` (sent by sentry-ruby 5.x and sentry-java android
    2.0.0, ignored by Relay's ``decompression.rs``) are dropped; ``x-gzip`` is ``gzip``.
    """
    codings = []
    for raw in (content_encoding or "").split(","):
        token = raw.strip()
        coding = token.lower()
        if coding in _IGNORED:
            continue
        if coding not in SUPPORTED:
            raise ApiError(415, f"unsupported content encoding '{token}'",
                           headers={"Accept-Encoding": ACCEPT_ENCODING})
        codings.append("gzip" if coding == "x-gzip" else coding)
    if len(codings) > MAX_CODINGS:
        raise ApiError(415, f"too many content encodings ({len(codings)}, at most {MAX_CODINGS})",
                       headers={"Accept-Encoding": ACCEPT_ENCODING})
    return codings


def decode_body(body: bytes, content_encoding: str | None, limit: int) -> bytes:
    """Undo every coding of ``Content-Encoding`` (last applied first), each layer capped at ``limit``.

    An unknown coding is 415 (tower-http answers that, with ``Accept-Encoding``), corrupt or
    truncated data 400, output over ``limit`` 413. The identity body is capped as well.
    """
    codings = parse_codings(content_encoding) if content_encoding else ()
    if not body:
        return body
    for coding in reversed(codings):
        body = _DECODERS[coding](memoryview(body), limit)
    if len(body) > limit:
        raise too_large(limit)
    return body


def _inflate_stream(view: memoryview, wbits: int, what: str, sink: _Sink) -> int:
    """Inflate one zlib/gzip/raw stream from the start of ``view``; return the bytes it used."""
    inflater = zlib.decompressobj(wbits)
    used = 0
    try:
        for piece in _pieces(view):
            pending: bytes | memoryview = piece
            while pending and not inflater.eof:
                sink.write(inflater.decompress(pending, CHUNK))
                pending = inflater.unconsumed_tail
            if inflater.eof:
                return used + len(piece) - len(inflater.unused_data)
            used += len(piece)
        while not inflater.eof:
            chunk = inflater.decompress(b"", CHUNK)
            if not chunk:
                raise _invalid(what, "unexpected end of file")
            sink.write(chunk)
    except zlib.error as exc:
        raise _invalid(what, _reason(exc)) from None
    return used


def _gzip(view: memoryview, limit: int) -> bytes:
    # A gzip body may hold several members back to back (RFC 1952 2.2); anything else after a
    # member fails as a bad header of the next one.
    sink = _Sink(limit)
    offset = 0
    while offset < len(view):
        offset += _inflate_stream(view[offset:], 31, "gzip", sink)
    return sink.value()


def _has_zlib_header(view: memoryview) -> bool:
    return len(view) >= 2 and view[0] & 0x0F == 8 and view[0] >> 4 <= 7 and (view[0] << 8 | view[1]) % 31 == 0


def _deflate(view: memoryview, limit: int) -> bytes:
    """``deflate`` is zlib-wrapped (RFC 9110 8.4.1.2); some clients send the raw stream anyway."""
    sink = _Sink(limit)
    used = _inflate_stream(view, 15 if _has_zlib_header(view) else -15, "deflate", sink)
    if used != len(view):
        raise _invalid("deflate", "trailing data after the end of the stream")
    return sink.value()


def _brotli(view: memoryview, limit: int) -> bytes:
    sink = _Sink(limit)
    decoder = brotli.Decompressor()
    try:
        for piece in _pieces(view):
            sink.write(decoder.process(piece, output_buffer_limit=CHUNK))
            while not decoder.can_accept_more_data():
                sink.write(decoder.process(b"", output_buffer_limit=CHUNK))
        # Input all taken is not output all given: the decoder may still hold decoded bytes.
        while not decoder.is_finished() and (chunk := decoder.process(b"", output_buffer_limit=CHUNK)):
            sink.write(chunk)
    except brotli.error as exc:
        raise _invalid("br", _reason(exc)) from None
    if not decoder.is_finished():
        raise _invalid("br", "unexpected end of file")
    return sink.value()


def _zstd(view: memoryview, limit: int) -> bytes:
    sink = _Sink(limit)
    decoder = zstandard.ZstdDecompressor(max_window_size=ZSTD_MAX_WINDOW)
    try:
        reader = decoder.stream_reader(view, read_across_frames=True)
        while chunk := reader.read(CHUNK):
            sink.write(chunk)
    except zstandard.ZstdError as exc:
        raise _invalid("zstd", _reason(exc)) from None
    # The reader stops quietly at the end of a cut-off frame; only the framing tells.
    problem = _zstd_framing_problem(view)
    if problem:
        raise _invalid("zstd", problem)
    return sink.value()


_ZSTD_MAGIC = 0xFD2FB528
_ZSTD_SKIPPABLE_MASK = 0xFFFFFFF0
_ZSTD_SKIPPABLE = 0x184D2A50


def _zstd_framing_problem(view: memoryview) -> str | None:
    """Walk the frame and block headers (RFC 8878 3.1) to find a truncated or foreign tail."""
    pos, end = 0, len(view)
    while pos < end:
        if end - pos < 8:
            return "unexpected end of file"
        magic = int.from_bytes(view[pos:pos + 4], "little")
        if magic & _ZSTD_SKIPPABLE_MASK == _ZSTD_SKIPPABLE:
            pos += 8 + int.from_bytes(view[pos + 4:pos + 8], "little")
            continue
        if magic != _ZSTD_MAGIC:
            return "unknown frame descriptor"
        descriptor = view[pos + 4]
        single_segment = descriptor >> 5 & 1
        pos += (5 + (not single_segment) + (0, 1, 2, 4)[descriptor & 3]
                + (single_segment, 2, 4, 8)[descriptor >> 6])
        while True:
            if end - pos < 3:
                return "unexpected end of file"
            header = int.from_bytes(view[pos:pos + 3], "little")
            block_type, size = header >> 1 & 3, header >> 3
            if block_type == 3:
                return "reserved block type"
            pos += 3 + (1 if block_type == 1 else size)
            if header & 1:
                break
        pos += 4 * (descriptor >> 2 & 1)
    return "unexpected end of file" if pos > end else None


_DECODERS: dict[str, Callable[[memoryview, int], bytes]] = {
    "gzip": _gzip,
    "deflate": _deflate,
    "br": _brotli,
    "zstd": _zstd,
}


def decode_store_body(body: bytes, limit: int) -> bytes:
    """The JSON of a legacy ``/store/`` body: plain JSON, base64 JSON or base64 zlib JSON.

    Same sniffing as Relay's ``decode_bytes``: a body starting with ``{`` is JSON, otherwise it is
    base64, whose payload is JSON when it starts with ``{`` and zlib-deflated JSON otherwise.
    Leading whitespace and line-wrapped or unpadded base64 are tolerated (Relay is stricter).
    """
    if not body:
        return body
    if body.lstrip(_WHITESPACE)[:1] == b"{":
        result = body
    else:
        compact = body.translate(None, _WHITESPACE)
        try:
            binary = base64.b64decode(compact + b"=" * (-len(compact) % 4), validate=True)
        except binascii.Error as exc:
            raise _invalid("base64", str(exc)) from None
        result = binary if binary[:1] == b"{" else _deflate(memoryview(binary), limit)
    if len(result) > limit:
        raise too_large(limit)
    return result
