"""Stored event payloads: never a second copy when the raw item is kept, else compact JSON bytes.

An event that came as an item of a kept envelope is normalized again from that item when read
(``derive``): normalization is a pure function of the item's JSON and what ``Event`` and its
envelope record keep (when it arrived, its id, the client's address and SDK, the item type), so
the event costs no bytes beyond the envelope. Ingest decides (``ingest.process``) and packs the
rest (``pack``): events made from another body (the store endpoint's JSON, security reports,
minidumps, Open Sentry batches, the transform API), or whose inputs the record does not keep.

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
from typing import TYPE_CHECKING, Any

import orjson

from sentry_daemon.ingest.envelope import parse_envelope
from sentry_daemon.ingest.normalize import normalize_event

if TYPE_CHECKING:
    from sentry_daemon.store.records import EnvelopeRecord, Event

# The envelope item type an event's type implies (an ``event`` item may hold any other type).
ITEM_TYPES = {"transaction": "transaction", "feedback": "feedback"}


def pack(data: Any) -> bytes:
    """The payload's JSON, in a buffer of exactly its size (orjson's own is over-allocated)."""
    try:
        return bytes(memoryview(orjson.dumps(data)))
    except TypeError:  # orjson.JSONEncodeError: a too-large integer or a lone surrogate
        return b" " + json.dumps(data, separators=(",", ":"), default=str).encode("ascii")


def unpack(payload: bytes) -> Any:
    """A fresh copy of the stored payload: changing it changes nothing stored."""
    if payload[:1] == b" ":
        return json.loads(payload)
    return orjson.loads(payload)


def envelope_headers(raw: bytes) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The headers and item headers of a kept envelope, parsed again from its raw bytes."""
    envelope = parse_envelope(raw)
    return envelope.headers, [item.headers for item in envelope.items]


def parse_item(payload: bytes) -> Any:
    """An item's JSON as ingest reads it (``ingest.process``): orjson, the stdlib for what it refuses."""
    try:
        return orjson.loads(payload)
    except orjson.JSONDecodeError:
        return json.loads(payload)


def derivable(source: EnvelopeRecord, event_type: str, item_type: str, client_ip: str | None,
              sdk_client: str | None) -> bool:
    """Whether ``derive`` gives back what ingest normalized from an item of ``source`` with these
    inputs: the record keeps every one of them (the item's bytes are checked by the caller)."""
    return (ITEM_TYPES.get(event_type, "event") == item_type and source.remote_addr == client_ip
            and source.client == sdk_client)


def derive(event: Event) -> dict[str, Any]:
    """The event's normalized payload, normalized again from its item in ``event.source``."""
    source = event.source
    assert source is not None
    item = parse_item(source.raw[event.offset:event.offset + event.size])
    return normalize_event(item, received=event.received, event_id=event.event_id,
                           client_ip=source.remote_addr, sdk_client=source.client,
                           item_type=ITEM_TYPES.get(event.type, "event"), in_place=True)
