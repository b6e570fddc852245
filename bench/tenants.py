"""What a tenant costs: 1,000 create/delete pairs over HTTP, against a trivial control request.

    python bench/tenants.py [--pairs 1000] [--live 100] [--preload 5000] [--json]

Starts the daemon (``twistd -n sentryfake``) as a subprocess on loopback. Before anything is timed,
``--live`` tenants are made and kept for the whole run, and ``--preload`` error events are sent
through the store endpoint spread over them and the seeded project, so the pairs run against a
daemon that already holds other tenants and their data (a create or delete that scanned every
event would show here). The client is this process: one keep-alive ``http.client`` connection,
each request sent when the previous answer is complete.

Timed, in the same run and on the same connection: ``--pairs`` times ``POST /__parlel/tenants``
then ``DELETE /__parlel/tenants/{id}``, and, as the baseline, twice as many ``GET /health`` (the
cost of any request to the daemon). Printed: wall-clock p50/p99 per request, the daemon's own CPU
per pair and per health request (Linux ``/proc``), and their ratio. Target: a create/delete pair
costs the daemon well under a millisecond of CPU.
"""

from __future__ import annotations

import argparse
import http.client
import json
import statistics
import time
import uuid
from typing import Any

from ingest import TWISTD, Server, free_port  # this directory's: the same way to run and watch a daemon

TARGET_PAIR_CPU_US = 1000.0


def start_daemon() -> Server:
    port = free_port()
    daemon = Server("daemon", [TWISTD, "--nodaemon", "--pidfile=", "--logfile=/dev/null", "sentryfake",
                               "--port", f"tcp:{port}:interface=127.0.0.1"], port)
    daemon.wait_ready()
    return daemon


class Client:
    def __init__(self, port: int) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

    def call(self, method: str, path: str, body: Any = None, expect: int = 200) -> Any:
        payload = json.dumps(body).encode() if body is not None else None
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        self.conn.request(method, path, body=payload, headers=headers)
        response = self.conn.getresponse()
        data = response.read()
        if response.status != expect:
            raise SystemExit(f"{method} {path}: {response.status} {data[:200]!r} (expected {expect})")
        return json.loads(data) if data else None


def error_event(n: int) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "platform": "python", "level": "error", "timestamp": time.time(),
            "exception": {"values": [{"type": "KeyError", "value": f"key {n}", "stacktrace": {"frames": [
                {"module": "app.views", "function": f"handler_{n % 50}", "filename": "app/views.py",
                 "lineno": 9, "in_app": True}]}}]}}


def timed(daemon: Server, run: Any) -> tuple[float, list[float]]:
    """(daemon CPU seconds, wall seconds of each request) of ``run(samples)``."""
    samples: list[float] = []
    before = daemon.cpu_seconds() or 0.0
    run(samples)
    return (daemon.cpu_seconds() or 0.0) - before, samples


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def measure(args: argparse.Namespace) -> dict[str, Any]:
    daemon = start_daemon()
    try:
        client = Client(daemon.port)
        live = [client.call("POST", "/__parlel/tenants", {"name": f"live {n}"}, 201) for n in range(args.live)]
        projects = [1] + [t["project_id"] for t in live]
        for n in range(args.preload):
            client.call("POST", f"/api/{projects[n % len(projects)]}/store/", error_event(n))
        for _ in range(50):  # warm up both paths
            client.call("GET", "/health")
            made = client.call("POST", "/__parlel/tenants", None, 201)
            client.call("DELETE", f"/__parlel/tenants/{made['id']}", None, 204)

        def health(samples: list[float]) -> None:
            for _ in range(2 * args.pairs):
                start = time.perf_counter()
                client.call("GET", "/health")
                samples.append(time.perf_counter() - start)

        def pairs(samples: list[float]) -> None:
            for n in range(args.pairs):
                start = time.perf_counter()
                made = client.call("POST", "/__parlel/tenants", {"name": f"bench {n}"}, 201)
                middle = time.perf_counter()
                client.call("DELETE", f"/__parlel/tenants/{made['id']}", None, 204)
                samples += [middle - start, time.perf_counter() - middle]

        health_cpu, health_wall = timed(daemon, health)
        pair_cpu, pair_wall = timed(daemon, pairs)
        left = client.call("GET", "/__parlel/tenants")["count"]
        creates, deletes = pair_wall[0::2], pair_wall[1::2]
        per_pair_us = pair_cpu / args.pairs * 1e6
        per_health_us = health_cpu / (2 * args.pairs) * 1e6
        return {
            "pairs": args.pairs, "live_tenants": args.live, "preloaded_events": args.preload,
            "tenants_left": left,
            "create": {"p50_ms": statistics.median(creates) * 1e3, "p99_ms": percentile(creates, 0.99) * 1e3},
            "delete": {"p50_ms": statistics.median(deletes) * 1e3, "p99_ms": percentile(deletes, 0.99) * 1e3},
            "health": {"p50_ms": statistics.median(health_wall) * 1e3, "p99_ms": percentile(health_wall, 0.99) * 1e3},
            "daemon_cpu_us_per_pair": per_pair_us,
            "daemon_cpu_us_per_health": per_health_us,
            "ratio_pair_to_health": per_pair_us / per_health_us if per_health_us else None,
            "ratio_request_to_health": per_pair_us / 2 / per_health_us if per_health_us else None,
            "target_met": per_pair_us < TARGET_PAIR_CPU_US and left == args.live,
        }
    finally:
        daemon.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=1000)
    parser.add_argument("--live", type=int, default=100, help="tenants kept for the whole run")
    parser.add_argument("--preload", type=int, default=5000, help="events stored before timing")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
        return
    print(f"tenants: {result['pairs']:,} create/delete pairs over HTTP, one keep-alive connection, with "
          f"{result['live_tenants']} other tenants and {result['preloaded_events']:,} events already stored")
    print(f"{'request':<28}{'p50 ms':>9}{'p99 ms':>9}")
    for name, label in (("create", "POST /__parlel/tenants"), ("delete", "DELETE /__parlel/tenants/{id}"),
                        ("health", "GET /health (baseline)")):
        print(f"{label:<28}{result[name]['p50_ms']:>9.3f}{result[name]['p99_ms']:>9.3f}")
    print(f"daemon CPU: {result['daemon_cpu_us_per_pair']:.0f} us per create+delete pair, "
          f"{result['daemon_cpu_us_per_health']:.0f} us per GET /health; a pair costs "
          f"{result['ratio_pair_to_health']:.2f} health requests ({result['ratio_request_to_health']:.2f} per request)")
    print(f"target: under {TARGET_PAIR_CPU_US:.0f} us of daemon CPU per pair, no tenant left behind: "
          f"{'met' if result['target_met'] else 'NOT met'}")


if __name__ == "__main__":
    main()
