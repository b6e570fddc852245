"""Body decoding: every content coding round trips, bad data is 400, bombs stop at the limit cheaply."""

from __future__ import annotations

import base64
import gzip
import os
import json
import struct
import tracemalloc
import zlib
from collections.abc import Callable

import brotli
import pytest
import zstandard

from sentry_daemon.ingest.encoding import decode_body, decode_store_body
from sentry_daemon.http.errors import ApiError

PAYLOAD = b"".join(
    b'{"event_id":"%032x","message":"line %d","extra":{"n":%d}}\n' % (i, i, i * i) for i in range(3000)
)
LIMIT = 10 * 1024 * 1024
MiB = 1024 * 1024
GiB = 1024 * MiB


def zstd_sized(data: bytes) -> bytes:
    return zstandard.ZstdCompressor().compress(data)


def zstd_streamed(data: bytes) -> bytes:
    compressor = zstandard.ZstdCompressor().compressobj()
    return compressor.compress(data) + compressor.flush()


def raw_deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(6, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


ENCODERS: dict[str, Callable[[bytes], bytes]] = {
    "gzip": lambda data: gzip.compress(data, 9),
    "x-gzip": gzip.compress,
    "deflate": zlib.compress,
    "deflate-raw": raw_deflate,
    "br": lambda data: brotli.compress(data, quality=4),
    "zstd": zstd_sized,
    "zstd-streamed": zstd_streamed,
}


def header_for(name: str) -> str:
    return name.split("-")[0] if name != "x-gzip" else name


def status_of(call: Callable[[], object]) -> ApiError:
    with pytest.raises(ApiError) as caught:
        call()
    return caught.value


@pytest.mark.parametrize("name", ENCODERS)
def test_every_coding_round_trips(name: str) -> None:
    assert decode_body(ENCODERS[name](PAYLOAD), header_for(name), LIMIT) == PAYLOAD


def test_zstd_frames_with_and_without_content_size() -> None:
    assert zstandard.get_frame_parameters(zstd_sized(PAYLOAD)).content_size == len(PAYLOAD)
    assert zstandard.get_frame_parameters(zstd_streamed(PAYLOAD)).content_size == zstandard.CONTENTSIZE_UNKNOWN


def test_multi_member_gzip_and_multi_frame_zstd_decode_whole() -> None:
    assert decode_body(gzip.compress(b"ab") + gzip.compress(b"cd"), "gzip", LIMIT) == b"abcd"
    skippable = struct.pack("<II", 0x184D2A50, 3) + b"xyz"
    body = zstd_sized(b"ab") + skippable + zstd_streamed(b"cd")
    assert decode_body(body, "zstd", LIMIT) == b"abcd"


def test_stacked_codings_decode_in_reverse_order() -> None:
    body = brotli.compress(gzip.compress(PAYLOAD))
    assert decode_body(body, "gzip, br", LIMIT) == PAYLOAD
    body = zstd_sized(zlib.compress(gzip.compress(PAYLOAD)))
    assert decode_body(body, "gzip,deflate ,  zstd", LIMIT) == PAYLOAD
    assert status_of(lambda: decode_body(body, "zstd, deflate, gzip", LIMIT)).status == 400


@pytest.mark.parametrize("value", ["GZIP", " gzip ", "GZip", "X-Gzip", "\tgzip,identity", "identity, gzip, UTF-8"])
def test_coding_names_ignore_case_and_whitespace(value: str) -> None:
    assert decode_body(gzip.compress(PAYLOAD), value, LIMIT) == PAYLOAD


@pytest.mark.parametrize(
    "value", [None, "", "  ", "identity", "IDENTITY", "UTF-8", "utf-8", " Utf-8 ", ",", "identity, utf-8"]
)
def test_ignored_values_leave_the_body_alone(value: str | None) -> None:
    assert decode_body(PAYLOAD, value, LIMIT) == PAYLOAD


@pytest.mark.parametrize("value", ["compress", "lz4", "gzip, snappy", "x-deflate", "gzip;q=1"])
def test_unknown_coding_is_415_with_the_accepted_list(value: str) -> None:
    error = status_of(lambda: decode_body(gzip.compress(PAYLOAD), value, LIMIT))
    assert error.status == 415
    assert error.detail.startswith("unsupported content encoding '")
    assert error.headers["Accept-Encoding"] == "gzip, deflate, br, zstd"


def test_unknown_coding_names_the_coding_as_sent() -> None:
    assert status_of(lambda: decode_body(b"x", " LZ4 ", LIMIT)).detail == "unsupported content encoding 'LZ4'"


def test_too_many_stacked_codings_is_415() -> None:
    assert status_of(lambda: decode_body(b"x", ", ".join(["gzip"] * 6), LIMIT)).status == 415


def test_empty_body_with_a_coding_is_empty() -> None:
    for name in ("gzip", "deflate", "br", "zstd"):
        assert decode_body(b"", name, LIMIT) == b""


CORRUPT = [
    ("gzip", b"\x1f\x8b\x08\x00garbage that is not deflate at all"),
    ("gzip", b"definitely not gzip"),
    ("gzip", gzip.compress(PAYLOAD) + b"trailing junk"),
    ("deflate", b"\x78\x9c" + b"\xff" * 40),
    ("deflate", zlib.compress(PAYLOAD) + b"junk"),
    ("deflate", b"\xff\xff\xff\xff"),
    ("br", b"definitely not brotli"),
    ("br", brotli.compress(PAYLOAD) + b"junk"),
    ("zstd", b"definitely not zstd"),
    ("zstd", zstd_sized(PAYLOAD) + b"junk"),
    ("zstd", zstd_sized(PAYLOAD)[:-200] + b"\x00" * 200),
]


@pytest.mark.parametrize(("coding", "body"), CORRUPT)
def test_corrupt_data_is_400(coding: str, body: bytes) -> None:
    error = status_of(lambda: decode_body(body, coding, LIMIT))
    assert error.status == 400
    assert error.detail == "invalid request body"
    assert error.causes[0].startswith(f"invalid {coding} data: ")


def test_corrupt_gzip_checksum_is_400() -> None:
    body = bytearray(gzip.compress(PAYLOAD))
    body[-5] ^= 0xFF
    assert status_of(lambda: decode_body(bytes(body), "gzip", LIMIT)).status == 400


@pytest.mark.parametrize("name", ENCODERS)
@pytest.mark.parametrize("keep", [0.5, -1])
def test_truncated_stream_is_400(name: str, keep: float) -> None:
    encoded = ENCODERS[name](PAYLOAD)
    cut = encoded[: int(len(encoded) * keep)] if keep > 0 else encoded[:-1]
    error = status_of(lambda: decode_body(cut, header_for(name), LIMIT))
    assert error.status == 400, error.detail
    assert error.detail == "invalid request body"


def test_truncation_is_named() -> None:
    for name in ("gzip", "deflate", "br", "zstd"):
        error = status_of(lambda: decode_body(ENCODERS[name](PAYLOAD)[:-3], name, LIMIT))
        assert error.causes == [f"invalid {name} data: unexpected end of file"]


def test_zstd_window_over_8_mib_is_refused() -> None:
    params = zstandard.ZstdCompressionParameters.from_level(19, window_log=24)
    compressor = zstandard.ZstdCompressor(compression_params=params).compressobj()
    body = compressor.compress(PAYLOAD) + compressor.flush()
    error = status_of(lambda: decode_body(body, "zstd", LIMIT))
    assert error.status == 400
    assert "memory" in error.causes[0]


@pytest.mark.parametrize("name", [*ENCODERS, "identity"])
def test_exactly_at_limit_passes_and_one_more_byte_is_413(name: str) -> None:
    encoded = ENCODERS[name](PAYLOAD) if name != "identity" else PAYLOAD
    coding = header_for(name)
    assert decode_body(encoded, coding, len(PAYLOAD)) == PAYLOAD
    error = status_of(lambda: decode_body(encoded, coding, len(PAYLOAD) - 1))
    assert error.status == 413
    assert error.detail == f"envelope exceeded size limits (decompressed body over {len(PAYLOAD) - 1} bytes)"


def test_each_stacked_layer_is_capped() -> None:
    noise = os.urandom(100_000)
    inner = gzip.compress(noise)
    assert len(inner) > len(noise)
    body = brotli.compress(inner)
    assert decode_body(body, "gzip, br", len(inner)) == noise
    error = status_of(lambda: decode_body(body, "gzip, br", len(noise)))
    assert error.status == 413
    assert error.detail.endswith(f"over {len(noise)} bytes)")


# --- bombs: 1 GiB of zeros, built in a streaming way, must fail at the limit in little memory ----


def gzip_bomb(size: int) -> bytes:
    """A single gzip member of ``size`` zero bytes, assembled from one repeated deflate block.

    After a full flush the deflate state is reset, so the block for every further MiB of zeros is
    byte for byte the same; only the CRC needs a pass over the (never materialized) data.
    """
    zeros = bytes(MiB)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(zeros) + compressor.flush(zlib.Z_FULL_FLUSH)
    crc = 0
    for _ in range(size // MiB):
        crc = zlib.crc32(zeros, crc)
    final = zlib.compressobj(9, zlib.DEFLATED, -15).flush()
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + block * (size // MiB) + final + struct.pack("<II", crc, size & 0xFFFFFFFF)


def streamed(compress: Callable[[bytes], bytes], flush: Callable[[], bytes], size: int) -> bytes:
    zeros = bytes(MiB)
    return b"".join(compress(zeros) for _ in range(size // MiB)) + flush()


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    brotli_compressor = brotli.Compressor(quality=1)
    zstd_compressor = zstandard.ZstdCompressor(level=1).compressobj()
    return {
        "gzip": gzip_bomb(GiB),
        "br": streamed(brotli_compressor.process, brotli_compressor.finish, GiB),
        "zstd": streamed(zstd_compressor.compress, zstd_compressor.flush, GiB),
    }


def test_the_gzip_bomb_is_a_real_gzip_stream() -> None:
    assert decode_body(gzip_bomb(4 * MiB), "gzip", 4 * MiB) == bytes(4 * MiB)
    assert gzip.decompress(gzip_bomb(2 * MiB)) == bytes(2 * MiB)


@pytest.mark.parametrize("coding", ["gzip", "br", "zstd"])
def test_bomb_fails_fast_in_little_memory(bombs: dict[str, bytes], coding: str) -> None:
    body = bombs[coding]
    assert len(body) < 2 * MiB
    limit = MiB
    tracemalloc.start()
    try:
        error = status_of(lambda: decode_body(body, coding, limit))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.status == 413
    assert peak < limit + 2 * MiB, f"{coding} bomb peaked at {peak} bytes"


def test_stacked_bomb_is_capped_at_the_inner_layer(bombs: dict[str, bytes]) -> None:
    body = zstd_sized(bombs["gzip"])
    tracemalloc.start()
    try:
        error = status_of(lambda: decode_body(body, "gzip, zstd", 2 * MiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.status == 413
    assert peak < len(bombs["gzip"]) + 2 * MiB + 2 * MiB, f"stacked bomb peaked at {peak} bytes"


# --- /store/ body sniffing -----------------------------------------------------------------------

EVENT = json.dumps({"event_id": "a" * 32, "message": "hello"}).encode()


def test_plain_json_is_returned_as_is() -> None:
    assert decode_store_body(EVENT, LIMIT) is EVENT
    assert decode_store_body(b"\n  " + EVENT, LIMIT) == b"\n  " + EVENT


def test_base64_json() -> None:
    assert decode_store_body(base64.b64encode(EVENT), LIMIT) == EVENT


def test_base64_zlib_json_as_raven_python_sent_it() -> None:
    assert decode_store_body(base64.b64encode(zlib.compress(EVENT)), LIMIT) == EVENT
    assert decode_store_body(base64.b64encode(raw_deflate(EVENT)), LIMIT) == EVENT


def test_base64_tolerates_line_wrapping_and_missing_padding() -> None:
    wrapped = base64.encodebytes(zlib.compress(EVENT * 20))
    assert b"\n" in wrapped.strip()
    assert decode_store_body(wrapped, LIMIT) == EVENT * 20
    assert decode_store_body(base64.b64encode(EVENT).rstrip(b"="), LIMIT) == EVENT


def test_empty_store_body_is_left_to_the_caller() -> None:
    assert decode_store_body(b"", LIMIT) == b""


@pytest.mark.parametrize("body", [b"not json, not base64!", "caf\u00e9".encode(), b"<xml/>"])
def test_store_garbage_is_invalid_base64(body: bytes) -> None:
    error = status_of(lambda: decode_store_body(body, LIMIT))
    assert error.status == 400
    assert error.detail == "invalid request body"
    assert error.causes[0].startswith("invalid base64 data: ")


def test_store_base64_of_garbage_is_invalid_deflate() -> None:
    error = status_of(lambda: decode_store_body(base64.b64encode(b"\x00garbage bytes"), LIMIT))
    assert error.status == 400
    assert error.causes[0].startswith("invalid deflate data: ")


def test_store_body_is_capped() -> None:
    assert decode_store_body(EVENT, len(EVENT)) == EVENT
    for body in (EVENT, base64.b64encode(EVENT), base64.b64encode(zlib.compress(EVENT))):
        assert status_of(lambda: decode_store_body(body, len(EVENT) - 1)).status == 413


def test_store_zlib_bomb_is_capped_in_little_memory() -> None:
    compressor = zlib.compressobj(9)
    body = base64.b64encode(streamed(compressor.compress, compressor.flush, 64 * MiB))
    tracemalloc.start()
    try:
        error = status_of(lambda: decode_store_body(body, MiB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert error.status == 413
    assert peak < len(body) + MiB + 2 * MiB


def test_sniffing_runs_after_content_decoding() -> None:
    body = gzip.compress(base64.b64encode(zlib.compress(EVENT)))
    assert decode_store_body(decode_body(body, "gzip", LIMIT), LIMIT) == EVENT
