"""Stored event payloads as compact JSON bytes, parsed when read.

A normalized event kept as Python objects costs about four times its JSON in memory, and every
new page of it is a page fault; as bytes it is one object the collector never scans. Searching
and listing read the event's index (tags, fields, texts, hashes) and never the payload.

The round trip is exact: orjson writes what it can (everything the JSON grammar has, floats in
their shortest form) and the stdlib takes what orjson refuses (integers past 64 bits, lone
surrogates, escaped as ``\\udxxx``), marked by a leading space (orjson never writes one) so that
the stdlib reads it back too (orjson would read a huge integer as a float). NaN and infinities,
which only the stdlib parser lets into an event, have no JSON form and are stored as ``null``.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def pack(data: dict[str, Any]) -> bytes:
    """The payload's JSON, in a buffer of exactly its size (orjson's own is over-allocated)."""
    try:
        return bytes(memoryview(orjson.dumps(data)))
    except TypeError:  # orjson.JSONEncodeError: a too-large integer or a lone surrogate
        return b" " + json.dumps(data, separators=(",", ":"), default=str).encode("ascii")


def unpack(payload: bytes) -> dict[str, Any]:
    """A fresh copy of the stored payload: changing it changes nothing stored."""
    if payload[:1] == b" ":
        return json.loads(payload)
    return orjson.loads(payload)
