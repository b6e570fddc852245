"""How stored events keep their payload: no second copy when the raw envelope is kept, packed
otherwise; both read back as the same normalized event (``store.payloads``)."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest_twisted

from conftest import request_json

AUTH = "Sentry sentry_key=parlel, sentry_version=7, sentry_client=sentry.python/2.75.0"
# What orjson refuses (an integer past 64 bits, a lone surrogate): the stdlib reads it, both times.
EVENT = ('{"event_id": "%s", "message": "x\\ud800y", "level": "warning", "timestamp": %s, '
         '"platform": "python", "extra": {"big": 1180591620717411303424, "f": 0.1}, '
         '"exception": {"values": [{"type": "KeyError", "value": "k", "stacktrace": {"frames": '
         '[{"function": "f", "module": "app", "filename": "app.py", "lineno": 3}]}}]}}')

NOW = round(time.time() - 60, 3)  # a recent timestamp: normalization keeps it as sent


def _envelope(event_id: str, **headers: Any) -> bytes:
    payload = (EVENT % (event_id, NOW)).encode()
    return b"\n".join([json.dumps({"event_id": event_id, "sent_at": "2023-11-14T22:13:20Z", **headers}).encode(),
                       json.dumps({"type": "event", "content_type": "application/json",
                                   "length": len(payload)}).encode(), payload, b""])


async def _post(url: str, body: bytes, headers: dict[str, str]) -> None:
    response, answer = await request_json("POST", url, data=body, headers=headers)
    assert response.code == 200, answer


@pytest_twisted.ensureDeferred
async def test_an_envelope_event_is_normalized_again_from_its_kept_item(sentry):
    """The event of a kept envelope has no payload of its own: it reads its item in the raw
    envelope, which also holds the headers; and it reads the same as the store endpoint's packed one
    (that endpoint stores its own serialization of the body, not found in the body here)."""
    body = _envelope("a1" * 16, trace={"trace_id": "b2" * 16, "public_key": "parlel"})
    await _post(f"{sentry.url}/api/1/envelope/", body,
                {"X-Sentry-Auth": AUTH, "Content-Type": "application/x-sentry-envelope"})
    compact = (EVENT % ("c3" * 16, NOW)).replace(", ", ",").replace(": ", ":")  # not the bytes it stores
    await _post(f"{sentry.url}/api/1/store/", compact.encode(),
                {"X-Sentry-Auth": AUTH, "Content-Type": "application/json"})

    derived, packed = sentry.store.events_by_id["a1" * 16], sentry.store.events_by_id["c3" * 16]
    record = sentry.store.envelopes[derived.envelope_id]
    assert derived.payload == b"" and derived.source is record
    assert packed.payload and packed.source is None
    assert record.packed_headers == b""
    assert record.headers == {"event_id": "a1" * 16, "sent_at": "2023-11-14T22:13:20Z",
                              "trace": {"trace_id": "b2" * 16, "public_key": "parlel"}}
    assert [h["type"] for h in record.item_headers] == ["event"]

    data = derived.data
    assert data["extra"]["big"] == 1180591620717411303424
    data["extra"]["big"] = 0  # a fresh copy each time
    assert derived.data["extra"]["big"] == 1180591620717411303424
    same = {"event_id", "received"}
    assert {k: v for k, v in derived.data.items() if k not in same} == \
        {k: v for k, v in packed.data.items() if k not in same}
    assert derived.data["received"] == derived.received

    for event_id in ("a1" * 16, "c3" * 16):
        response, found = await request_json(
            "GET", f"{sentry.url}/api/0/projects/parlel/hello-world/events/{event_id}/",
            headers={"Authorization": "Bearer sntrys_parlel"})
        assert response.code == 200, found
        assert found["message"] == "x\ud800y" and found["context"]["big"] == 1180591620717411303424
        assert found["title"] == "KeyError: k"


@pytest_twisted.ensureDeferred
async def test_an_event_whose_inputs_the_record_does_not_keep_is_packed(sentry):
    """Authenticated by the envelope's ``dsn`` alone, the SDK name normalization saw is not the
    record's client (its User-Agent): the event keeps a packed copy, and reads back all the same."""
    body = _envelope("d4" * 16, dsn="http://parlel@localhost/1")
    await _post(f"{sentry.url}/api/1/envelope/", body,
                {"User-Agent": "curl/8.0", "Content-Type": "application/x-sentry-envelope"})
    event = sentry.store.events_by_id["d4" * 16]
    assert event.source is None and event.payload
    assert sentry.store.envelopes[event.envelope_id].client == "curl/8.0"
    assert event.data["extra"]["big"] == 1180591620717411303424
