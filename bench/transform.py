"""Transform latency: a warm python and a warm javascript transform against a cold SDK start.

    python bench/transform.py [--samples 200] [--cold-runs 5] [--node-modules DIR] [--json]

Starts ``twistd sentryfake --transform`` on a free loopback port and times ``POST /api/transform``
end to end (HTTP included), one request at a time, for each SDK installed here: p50/p99 of the
warm transforms (the workers have imported and initialised their SDK already). In the same run it
times a cold start: one worker process started from nothing, as the daemon starts it (same
command, same limits), until it has answered its first job; that is what every transform would
cost without warm workers. Target: warm p50 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import tempfile
import time
import urllib.error
import urllib.request

from ingest import TWISTD, Server, free_port  # this directory's: the same way to run and watch a daemon
from sentry_daemon.transform.engine import MEMORY_LIMIT, NODE_CPU_BUDGET
from sentry_daemon.transform.sdks import Runtime, node_runtime, python_runtime, worker_env

TIMEOUT = 30.0
TARGET_P50_MS = 50.0
EVENT = {
    "event_id": "0" * 32,
    "level": "error",
    "message": "payment failed",
    "user": {"id": "42", "email": "jane@example.com"},
    "exception": {"values": [{"type": "ValueError", "value": "card declined",
                              "stacktrace": {"frames": [{"filename": "app.py", "function": "pay", "lineno": 7}]}}]},
}
CODE = {
    "python": ('def before_send(event, hint):\n    event.setdefault("tags", {})["team"] = "backend"\n'
               '    event["user"].pop("email", None)\n    return event\n'),
    "javascript": "(event) => { event.tags = { ...event.tags, team: 'backend' }; delete event.user.email; return event; }",
}


def post(url: str, body: bytes) -> dict:
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT + 5) as response:
            return json.load(response)
    except urllib.error.HTTPError as error:
        return json.load(error)


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, math.ceil(fraction * len(ordered)) - 1)]


def warm(url: str, sdk: str, samples: int) -> dict[str, float]:
    body = json.dumps({"sdk": sdk, "event": EVENT, "beforeSendCode": CODE[sdk]}).encode()
    deadline = time.monotonic() + 60
    while True:  # the first answers wait for the workers to be ready: not counted
        reply = post(url, body)
        if reply.get("success"):
            break
        if time.monotonic() > deadline:
            raise SystemExit(f"{sdk}: no successful transform within 60 s: {reply}")
    for _ in range(10):
        post(url, body)
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        reply = post(url, body)
        times.append((time.perf_counter() - start) * 1000)
        if reply.get("transformedEvent", {}).get("tags", {}).get("team") != "backend":
            raise SystemExit(f"{sdk}: unexpected answer {reply}")
    return {"p50_ms": round(statistics.median(times), 2), "p99_ms": round(percentile(times, 0.99), 2),
            "max_ms": round(max(times), 2)}


def cold_start(runtime: Runtime, sdk: str, cwd: str) -> float:
    """Seconds from starting one worker to its first reply, as the daemon starts it."""
    job = json.dumps({"id": 1, "event": EVENT, "code": CODE[sdk]}).encode() + b"\n"
    read_fd, write_fd = os.pipe()
    start = time.perf_counter()
    proc = subprocess.Popen(list(runtime.argv), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=worker_env(runtime.env), cwd=cwd,
                            pass_fds=(write_fd, runtime.reply_fd), preexec_fn=lambda: os.dup2(write_fd, runtime.reply_fd))
    os.close(write_fd)
    try:
        proc.stdin.write(job)
        proc.stdin.flush()
        with os.fdopen(read_fd, "rb") as replies:
            for line in replies:
                if json.loads(line).get("id") == 1:
                    return time.perf_counter() - start
        raise SystemExit(f"{sdk}: the worker exited without answering")
    finally:
        proc.kill()
        proc.wait()


def measure(samples: int, cold_runs: int, node_modules: str | None) -> dict:
    cpu = math.ceil(TIMEOUT)
    runtimes = {"python": python_runtime(cpu, MEMORY_LIMIT),
                "javascript": node_runtime(node_modules, max(NODE_CPU_BUDGET, 20 * cpu), MEMORY_LIMIT)}
    port = free_port()
    args = [TWISTD, "--nodaemon", "--pidfile=", "--logfile=/dev/null", "sentryfake", "--port", str(port),
            "--transform", "--transform-timeout", str(TIMEOUT)]
    if node_modules:
        args += ["--transform-node-modules", node_modules]
    daemon = Server("daemon", args, port)
    results: dict[str, dict] = {}
    try:
        daemon.wait_ready()
        url = f"http://127.0.0.1:{port}/api/transform"
        with tempfile.TemporaryDirectory(prefix="sentryfake-bench-") as cwd:
            for sdk, runtime in runtimes.items():
                if runtime is None:
                    results[sdk] = {"skipped": f"{sdk} SDK not installed here"}
                    continue
                figures = warm(url, sdk, samples)
                colds = [cold_start(runtime, sdk, cwd) for _ in range(cold_runs)]
                cold_ms = statistics.median(colds) * 1000
                results[sdk] = {"version": runtime.version, "samples": samples, **figures,
                                "cold_start_ms": round(cold_ms, 1), "cold_runs": cold_runs,
                                "cold_over_warm_p50": round(cold_ms / figures["p50_ms"], 1),
                                "warm_p50_under_target": figures["p50_ms"] < TARGET_P50_MS}
    finally:
        daemon.stop()
    return {"target_p50_ms": TARGET_P50_MS, "results": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200, help="warm transforms timed per SDK")
    parser.add_argument("--cold-runs", type=int, default=5, help="cold worker starts timed per SDK")
    parser.add_argument("--node-modules", default=os.environ.get("SENTRYFAKE_NODE_MODULES"),
                        help="a node_modules holding @sentry/node (default: looked for as the daemon does)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = measure(args.samples, args.cold_runs, args.node_modules)
    if args.json:
        print(json.dumps(figures))
        return
    print(f"transform latency, POST /api/transform end to end (target: warm p50 < {TARGET_P50_MS:g} ms)")
    for sdk, row in figures["results"].items():
        if "skipped" in row:
            print(f"  {sdk:<10} skipped: {row['skipped']}")
            continue
        print(f"  {sdk:<10} {row['version']:<8} warm p50 {row['p50_ms']:7.2f} ms  p99 {row['p99_ms']:7.2f} ms"
              f"  (n={row['samples']})   cold start {row['cold_start_ms']:7.1f} ms"
              f"  = {row['cold_over_warm_p50']:g}x warm p50")


if __name__ == "__main__":
    main()
