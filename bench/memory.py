"""Resident memory per stored event: what a daemon holding 100,000 SDK error events costs.

    python bench/memory.py [--events 100000] [--json]

Starts the daemon (``twistd -n sentryfake``, with ``--max-events`` above ``--events`` so nothing is
evicted) and sends it ``--events`` Python-SDK-shaped error envelopes of about 3 KB (the ones
``bench/ingest.py`` sends, 10 events per issue) over keep-alive loopback connections. It reads the
daemon's resident memory (``VmRSS``) after a warm-up of 1,000 events and after the rest, and prints
the memory added per stored event, and that figure less the bytes received per event (the raw
envelope is kept whole, so those bytes are the floor). Issue 10's target: at most 3 KB per event
beyond the payload (sentry-testkit, a peer, holds about 23 KB per event).
"""

from __future__ import annotations

import argparse
import json

import ingest  # this directory's: the load generator and event shapes of the ingest benchmark

TARGET_BEYOND_PAYLOAD = 3 * 1024
WARMUP = 1_000


def measure(events: int) -> dict[str, float]:
    port = ingest.free_port()
    argv = [ingest.TWISTD, "--nodaemon", "--pidfile=", "--logfile=/dev/null", "sentryfake",
            "--port", f"tcp:{port}:interface=127.0.0.1", "--max-events", str(events * 2),
            "--max-bytes", str(64 * 1024 ** 3)]
    daemon = ingest.Server("daemon", argv, port)
    try:
        daemon.wait_ready()
        factory = ingest.JobFactory(check_every=0, seed=3)
        warm = factory.jobs("warm", WARMUP, "plain", issues=ingest.PRELOAD_ISSUES)
        ingest.run_load(daemon, warm, "plain", 8, verify=False)
        before_rss = daemon.rss_mib() or 0.0
        before_bytes = factory.plain_bytes
        sent = 0
        while sent < events:
            count = min(ingest.PRELOAD_CHUNK, events - sent)
            jobs = factory.jobs("memory", count, "plain", issues=ingest.PRELOAD_ISSUES, start=sent)
            result = ingest.run_load(daemon, jobs, "plain", 8, verify=False)
            if result.errors:
                raise SystemExit(f"memory: {result.errors[0]}")
            sent += count
        after_rss = daemon.rss_mib() or 0.0
        received = (factory.plain_bytes - before_bytes) / events
    finally:
        daemon.stop()
    per_event = (after_rss - before_rss) * 1024 * 1024 / events
    return {"events": events, "rss_before_mib": before_rss, "rss_after_mib": after_rss,
            "bytes_per_event": per_event, "received_per_event": received,
            "beyond_payload_per_event": per_event - received}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    figures = measure(args.events)
    if args.json:
        print(json.dumps(figures))
        return
    met = figures["beyond_payload_per_event"] <= TARGET_BEYOND_PAYLOAD
    print(f"memory: {figures['events']:,} stored error events of {figures['received_per_event']:,.0f} B each; "
          f"RSS {figures['rss_before_mib']:,.0f} -> {figures['rss_after_mib']:,.0f} MiB")
    print(f"per stored event: {figures['bytes_per_event']:,.0f} B resident, "
          f"{figures['beyond_payload_per_event']:,.0f} B beyond the bytes received")
    print(f"target: at most {TARGET_BEYOND_PAYLOAD:,} B beyond the payload: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
