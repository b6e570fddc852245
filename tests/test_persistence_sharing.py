"""What a restored store shares: an event's ``source`` is its kept envelope (one row, one object,
not a copy in every event row), and equal tag, field, text and hash tuples are one object again
(``IssueStore._intern``), after a ``--data-dir`` restart and after ``/__parlel/restore``."""

from __future__ import annotations

import io
import json
import pickle
import sqlite3
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import pytest_twisted
from conftest import request_json
from twisted.internet import reactor
from twisted.internet.task import deferLater

from sentry_daemon.store import snapshot
from sentry_daemon.store.persistence import DATABASE
from sentry_daemon.store.records import EnvelopeRecord
from sentry_daemon.store.store import Store
from sentry_daemon.testing import start_sentry

SDK_AUTH = {"X-Sentry-Auth": "Sentry sentry_key=parlel, sentry_version=7, sentry_client=sentry.python/2.75.0",
            "Content-Type": "application/x-sentry-envelope"}
API = {"Authorization": "Bearer sntrys_parlel"}
BIG = "x" * 20_000  # an event row that held its envelope would be this large


def envelope(n: int, issue: int) -> tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    payload = json.dumps({
        "event_id": event_id, "level": "error", "platform": "python", "timestamp": time.time() - 5,
        "environment": "production", "release": "app@1.0", "user": {"id": str(n % 3)},
        "tags": {"url": f"/orders/{n % 2}"}, "extra": {"blob": BIG},
        "exception": {"values": [{"type": "KeyError", "value": f"key {issue}", "stacktrace": {"frames": [
            {"function": f"handler_{issue}", "module": "app.views", "filename": "app/views.py", "lineno": 7}]}}]},
    }).encode()
    body = b"\n".join([json.dumps({"event_id": event_id}).encode(),
                       json.dumps({"type": "event", "length": len(payload)}).encode(), payload, b""])
    return event_id, body


async def wait_until_deferred(predicate: Callable[[], bool], timeout: float = 15.0) -> None:
    """Poll ``predicate`` with a deadline, letting the reactor run (the flush is on it)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        await deferLater(reactor, 0.05, lambda: None)


def rows(data: str, kind: str) -> int:
    with sqlite3.connect(Path(data) / DATABASE) as db:
        return db.execute("SELECT count(*) FROM records WHERE kind = ?", (kind,)).fetchone()[0]


async def send(url: str, n: int, issue: int) -> str:
    event_id, body = envelope(n, issue)
    response, answer = await request_json("POST", f"{url}/api/1/envelope/", data=body, headers=SDK_AUTH)
    assert response.code == 200, answer
    return event_id


async def shown(url: str, event_ids: list[str]) -> dict[str, Any]:
    """What the API shows of the events and their issues."""
    seen: dict[str, Any] = {}
    for path in ["/api/0/projects/parlel/hello-world/issues/?query=",
                 *(f"/api/0/projects/parlel/hello-world/events/{e}/" for e in event_ids)]:
        response, body = await request_json("GET", url + path, headers=API)
        assert response.code == 200, body
        seen[path] = json.loads(json.dumps(body).replace(url, "URL"))  # the port is new after a restart
    return seen


def sharing(store: Store) -> dict[str, int]:
    """How many distinct objects the events' index tuples and pairs are (fewer: more shared)."""
    events = store.events
    return {
        "tags": len({id(e.tags) for e in events}), "fields": len({id(e.fields) for e in events}),
        "stack_fields": len({id(e.stack_fields) for e in events}), "hashes": len({id(e.hashes) for e in events}),
        "pairs": len({id(p) for e in events for p in (*e.tags, *e.fields, *e.texts)}),
        "issue_pairs": len({id(p) for i in store.issues.by_id.values() for p in (*i.values, *i.fields)}
                           - {id(p) for e in events for p in (*e.tags, *e.fields, *e.stack_fields)}),
        "strings": len({id(s) for e in events for s in (e.type, e.environment, e.source.client)}),
    }


def assert_sources_are_the_envelopes(store: Store) -> None:
    assert store.events and all(e.source is not None for e in store.events)
    for event in store.events:
        assert event.source is store.envelopes[event.envelope_id]
        assert event.received is event.source.received


@pytest_twisted.ensureDeferred
async def test_a_restart_and_a_restore_share_what_the_store_shared(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = await start_sentry(data_dir=data, max_events=12)
    try:
        doomed = await send(first.url, 0, 99)  # its issue deleted, then its envelope evicted
        issue = first.store.events_by_id[doomed].group_id
        response, _ = await request_json("DELETE", f"{first.url}/api/0/organizations/parlel/issues/?id={issue}",
                                         headers=API)
        assert response.code == 204
        await wait_until_deferred(lambda: rows(data, "event") == 1)  # its row names its envelope
        event_ids = [await send(first.url, n, n % 4) for n in range(14)]  # 2 more than kept: evictions
        kept = [e for e in event_ids if e in first.store.events_by_id]
        assert len(kept) == 12 and doomed not in first.store.events_by_id
        assert_sources_are_the_envelopes(first.store)
        before, shared_before = await shown(first.url, kept), sharing(first.store)
    finally:
        await first.stop()
    last_seq = first.store.record_log.seq
    with sqlite3.connect(Path(data) / DATABASE) as db:
        sizes = [len(body) for (body,) in db.execute("SELECT body FROM records WHERE kind = 'event'")]
    assert sizes and max(sizes) < len(BIG) // 2, sizes  # an event row names its envelope, no copy

    second = await start_sentry(data_dir=data, max_events=12)
    try:
        store = second.store
        assert store.record_log.seq >= last_seq  # numbered on: a stream reader's Last-Event-ID holds
        assert_sources_are_the_envelopes(store)
        assert sharing(store) == shared_before
        assert await shown(second.url, kept) == before
        assert sorted(store.events_by_id) == sorted(kept)
        assert rows(data, "event") == 12  # the doomed event's row went at the load

        response, snapshot = await request_json("GET", f"{second.url}/__parlel/snapshot")
        assert response.code == 200
        response, _ = await request_json("POST", f"{second.url}/__parlel/reset")
        response, answer = await request_json("POST", f"{second.url}/__parlel/restore", data=snapshot,
                                              headers={"Content-Type": "application/vnd.sqlite3"})
        assert response.code == 200, answer
        assert store.record_log.seq > last_seq
        assert_sources_are_the_envelopes(store)
        assert sharing(store) == shared_before
        assert await shown(second.url, kept) == before
        # events stored after the restore share with the restored ones
        after = await send(second.url, 0, 0)
        event = store.events_by_id[after]
        twin = next(e for e in store.events if e is not event and e.tags == event.tags
                    and e.group_id == event.group_id)
        assert event.tags is twin.tags
        assert event.hashes is twin.hashes
    finally:
        await second.stop()


@pytest_twisted.ensureDeferred
async def test_a_manual_clock_goes_on_from_where_it_was(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = await start_sentry(data_dir=data, clock="manual")
    try:
        response, _ = await request_json("POST", f"{first.url}/__parlel/clock",
                                         json={"set": "2031-05-06T07:08:09Z"})
        assert response.code == 200
        await send(first.url, 0, 0)
    finally:
        await first.stop()
    second = await start_sentry(data_dir=data, clock="manual")
    try:
        _, state = await request_json("GET", f"{second.url}/__parlel/clock")
        assert state["now"].startswith("2031-05-06T07:08:09"), state
    finally:
        await second.stop()
    third = await start_sentry(data_dir=data)  # a real clock is the real time, whatever was kept
    try:
        _, state = await request_json("GET", f"{third.url}/__parlel/clock")
        assert not state["now"].startswith("2031"), state
    finally:
        await third.stop()


def test_a_record_row_of_the_wrong_arguments_is_refused() -> None:
    """Rows hold a slotted record as ``Record(*fields)``: a crafted row calling it with other
    arguments is not a snapshot (400 at the route), never a traceback."""
    store = Store()
    good = snapshot.Encoder(store)

    class Marker:
        pass

    class Crafted(pickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            return (EnvelopeRecord, ("not", "enough")) if isinstance(obj, Marker) else NotImplemented

    buffer = io.BytesIO()
    Crafted(buffer, 5).dump(Marker())
    rows = snapshot.Rows(good.state_blob(), records=[("envelope", "1", buffer.getvalue())])
    with pytest.raises(snapshot.SnapshotError, match="does not load"):
        snapshot.decode(store, rows)
