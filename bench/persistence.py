"""``--data-dir``: what persistence costs the reactor, and how long a start-up with a full store takes.

    python bench/persistence.py [--events 100000] [--rate 1000] [--flushes 20] [--json]

Builds a store of ``--events`` Python-SDK-shaped error events (each with its envelope and item,
10 events per issue) in a data directory, then, as under a load of ``--rate`` events a second,
stores one flush interval's worth of new events and times the flush's reactor part (encoding what
changed; the SQLite write runs on the worker thread and is timed apart). Baseline, measured in the
same run: the reactor time the store itself spent storing those events. Then it times a start-up:
loading the data directory into a fresh store (rows read, decoded, indexes rebuilt), against
storing the same events afresh.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import tempfile
import time
import uuid
from typing import Any

from sentry_daemon.store.persistence import INTERVAL, Persistence
from sentry_daemon.store.retention import RetentionPolicy
from sentry_daemon.store.store import Store


class _NoReactor:
    """Persistence's reactor, for the parts this bench calls by hand."""

    def seconds(self) -> float:
        return time.monotonic()


def event(n: int) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "platform": "python", "level": "error", "timestamp": time.time(),
            "release": "app@1.0", "environment": "production", "user": {"id": str(n % 500)},
            "tags": {"url": f"/orders/{n % 50}", "browser": "Firefox"},
            "exception": {"values": [{"type": "KeyError", "value": f"'key {n // 10}'", "stacktrace": {"frames": [
                {"function": f"handler_{n // 10}", "module": "app.views", "filename": "app/views.py",
                 "lineno": 10 + i, "context_line": "return data[key]", "in_app": True} for i in range(8)]}}]}}


def store_events(store: Store, start: int, count: int) -> float:
    """Store ``count`` events as ingest does (envelope, item, event; the event kept as a pointer into
    its envelope's raw bytes, the item without a parsed payload); the seconds it took."""
    project = store.projects[1]
    began = time.perf_counter()
    for n in range(start, start + count):
        data = event(n)
        raw = json.dumps(data).encode()
        envelope = store.add_envelope(project, endpoint="envelope", client="sentry.python/2.0", auth_source="header",
                                      remote_addr="127.0.0.1", content_type="application/x-sentry-envelope",
                                      content_encoding=None, headers={"event_id": data["event_id"]},
                                      item_headers=[{"type": "event"}], raw=raw)
        item = store.add_item(envelope, "event", {"type": "event"}, None, len(raw))
        item.event = store.add_event(project, data, envelope_id=envelope.id, size=len(raw), source=(envelope, 0))
    return time.perf_counter() - began


def measure(events: int, rate: int, flushes: int) -> dict[str, Any]:
    policy = RetentionPolicy(max_events=events * 4, max_bytes=1 << 40)
    with tempfile.TemporaryDirectory() as directory:
        store = Store(retention=policy)
        kept = Persistence(store, directory, _NoReactor(), activity=lambda: 0)
        kept._unsubscribe = store.record_log.subscribe(kept._observe)
        chunk = 10_000
        for start in range(0, events, chunk):  # the store, written as it grows
            store_events(store, start, min(chunk, events - start))
            kept._collect().write(kept.db)
        per_flush = max(1, int(rate * INTERVAL))
        encode, write, baseline = [], [], []
        next_n = events
        for _ in range(flushes):
            baseline.append(store_events(store, next_n, per_flush))
            next_n += per_flush
            began = time.perf_counter()
            batch = kept._collect()
            encode.append(time.perf_counter() - began)
            began = time.perf_counter()
            batch.write(kept.db)
            write.append(time.perf_counter() - began)
        total = len(store.events)
        kept.db.close()

        began = time.perf_counter()
        gc.disable()  # as the daemon loads (``SentryService._settling_load``): frozen as it is made
        fresh = Store(retention=policy)
        loader = Persistence(fresh, directory, _NoReactor())
        loader.load()
        gc.freeze()
        gc.enable()
        load_s = time.perf_counter() - began
        gc.unfreeze()
        loaded = len(fresh.events)
        loader.db.close()
        rebuild = Store(retention=policy)
        rebuild_s = store_events(rebuild, 0, total)
    flush_ms = statistics.median(encode) * 1000
    return {
        "events": total, "loaded_events": loaded, "rate": rate, "events_per_flush": per_flush,
        "flush_reactor_ms": {"median": round(flush_ms, 2), "max": round(max(encode) * 1000, 2)},
        "flush_write_ms": {"median": round(statistics.median(write) * 1000, 2), "max": round(max(write) * 1000, 2)},
        "storing_those_events_ms": round(statistics.median(baseline) * 1000, 2),
        "flush_ratio_to_storing": round(statistics.median(encode) / statistics.median(baseline), 3),
        "flush_share_of_interval": round(statistics.median(encode) / INTERVAL, 4),
        "startup_load_s": round(load_s, 2), "storing_afresh_s": round(rebuild_s, 2),
        "startup_ratio_to_storing": round(load_s / rebuild_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--rate", type=int, default=1000, help="events a second the flushes keep up with")
    parser.add_argument("--flushes", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.events, args.rate, args.flushes)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"{figures['events']} events stored, {figures['events_per_flush']} new per flush ({args.rate}/s)")
    print(f"flush, reactor part: {figures['flush_reactor_ms']['median']} ms median, "
          f"{figures['flush_reactor_ms']['max']} ms max "
          f"({figures['flush_ratio_to_storing']}x the {figures['storing_those_events_ms']} ms the store took to "
          f"store those events; {figures['flush_share_of_interval'] * 100:.2f}% of the reactor)")
    print(f"flush, SQLite write (worker thread): {figures['flush_write_ms']['median']} ms median")
    print(f"start-up: loaded {figures['loaded_events']} events in {figures['startup_load_s']} s "
          f"({figures['startup_ratio_to_storing']}x storing them afresh: {figures['storing_afresh_s']} s)")


if __name__ == "__main__":
    main()
