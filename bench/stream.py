"""Ingest with the live stream read: events/s with 0 and with 10 listeners on ``/__parlel/stream``.

    python bench/stream.py [--preload 10000] [--events 1200] [--rounds 5] [--listeners 10] [--json]

The servers, requests and load generator are ``bench/ingest.py``'s (imported, not copied): the
daemon (``twistd -n sentryfake``) and the bare ``twisted.web`` floor as subprocesses on loopback,
Python-SDK-shaped error envelopes (plain bodies) over ``--concurrency`` keep-alive connections.
``--preload`` events are stored first (untimed; a smaller default than ingest's 100,000 so the run
takes a couple of minutes).

Each round sends the floor one run of envelopes and the daemon two of the same shape (distinct
event ids): one with nobody listening, one with ``--listeners`` clients reading the whole stream
concurrently, from a separate process (``--listen``: one selector, every byte read as it comes).
The order alternates between rounds. Printed: events/s (median over rounds), p50/p99, server CPU
per event, and the ratios daemon/floor with 0 and with N listeners (the median of each round's
back-to-back ratio) and N/0. Every listener must receive every event sent while it listened (none
is cut for lagging) or the run reports an error. Target: the ratio with listeners holds, i.e. is
within 10 % of the ratio without (N/0 ≥ 0.9).
"""

from __future__ import annotations

import argparse
import json
import os
import selectors
import signal
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

from ingest import (JobFactory, RunResult, Server, load_arguments, preload, report, run_load, start_daemon,  # this directory's
                    start_floor, summarize)

TARGET = 0.9  # events/s with listeners over events/s without
EVENT_MARK = b"event: error\n"


# --- the listeners' process ------------------------------------------------------------------


def listen(port: int, count: int) -> None:
    """Open ``count`` streams, say ``ready`` once each is live, read until SIGTERM, then print how
    many error events each received and whether any was cut."""
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    sel = selectors.DefaultSelector()
    state: dict[socket.socket, dict[str, Any]] = {}
    for _ in range(count):
        sock = socket.create_connection(("127.0.0.1", port))
        sock.sendall(b"GET /__parlel/stream?type=error HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        sock.setblocking(False)
        sel.register(sock, selectors.EVENT_READ)
        state[sock] = {"tail": b"", "events": 0, "live": False, "closed": False, "bytes": 0}
    announced = False
    while not stopping:
        for key, _ in sel.select(timeout=0.1):
            sock = key.fileobj
            s = state[sock]
            try:
                data = sock.recv(1 << 18)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                s["closed"] = True
                sel.unregister(sock)
                continue
            s["bytes"] += len(data)
            text = s["tail"] + data
            s["events"] += text.count(EVENT_MARK)
            if not s["live"] and b": live after id" in text:
                s["live"] = True
            s["tail"] = text[-(len(EVENT_MARK) - 1):]
        if not announced and all(s["live"] for s in state.values()):
            announced = True
            print("ready", flush=True)
    print(json.dumps({"events": [s["events"] for s in state.values()],
                      "cut": sum(s["closed"] for s in state.values()),
                      "bytes": sum(s["bytes"] for s in state.values())}), flush=True)


class Listeners:
    """``count`` stream readers in a child process (``--listen``), so reading costs this one nothing."""

    def __init__(self, port: int, count: int) -> None:
        self.proc = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--listen", str(port), str(count)],
                                     stdout=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline() if self.proc.stdout else ""
        if line.strip() != "ready":
            raise SystemExit(f"listeners did not come up: {line!r}")

    def stop(self) -> dict[str, Any]:
        self.proc.send_signal(signal.SIGTERM)
        out, _ = self.proc.communicate(timeout=30)
        return json.loads(out.strip().splitlines()[-1])


# --- the measurement -------------------------------------------------------------------------


def settle_listeners(daemon: Server, listeners: Listeners, expected: int, timeout: float = 30.0) -> dict[str, Any]:
    """Let the listeners read what the daemon still writes after the last answer, then stop them."""
    deadline = time.monotonic() + timeout
    cpu = daemon.cpu_seconds()
    while time.monotonic() < deadline:  # the daemon goes idle once every frame is written
        time.sleep(0.2)
        now = daemon.cpu_seconds()
        if now is None or cpu is None or now - cpu < 0.01:
            break
        cpu = now
    got = listeners.stop()
    got["expected"] = expected
    return got


def measure(args: argparse.Namespace) -> dict[str, Any]:
    factory = JobFactory(check_every=0)
    started = time.perf_counter()
    floor = start_floor()
    daemon = start_daemon(args.daemon_log, args.profile)
    runs: dict[str, list[RunResult]] = {"floor": [], "daemon, 0 listeners": [], f"daemon, {args.listeners} listeners": []}
    quiet, busy = list(runs)[1:]
    errors: list[str] = []
    try:
        floor.wait_ready()
        daemon.wait_ready()
        preload(daemon, argparse.Namespace(preload=args.preload, concurrency=args.concurrency))
        warm = factory.jobs("warm", args.warmup, "plain")
        for server in (floor, daemon):
            run_load(server, warm, "plain", args.concurrency, verify=False)
        for rnd in range(args.rounds):
            floor_jobs = factory.jobs(f"r{rnd}-floor", args.events, "plain")
            cells = [("floor", floor, floor_jobs),
                     (quiet, daemon, factory.jobs(f"r{rnd}-quiet", args.events, "plain")),
                     (busy, daemon, factory.jobs(f"r{rnd}-busy", args.events, "plain"))]
            if rnd % 2:
                cells.reverse()
            for name, server, jobs in cells:
                listeners = Listeners(daemon.port, args.listeners) if name == busy else None
                result = run_load(server, jobs, "plain", args.concurrency, verify=server is daemon)
                errors += [f"{name}: {e}" for e in result.errors]
                if listeners is not None:
                    got = settle_listeners(daemon, listeners, len(jobs))
                    short = [n for n in got["events"] if n != len(jobs)]
                    if got["cut"] or short:
                        errors.append(f"round {rnd + 1}: listeners received {got['events']} of {len(jobs)} events, "
                                      f"{got['cut']} cut")
                runs[name].append(result)
                if args.verbose:
                    print(f"  round {rnd + 1} {name:22} {result.rate:8.1f} ev/s", file=sys.stderr)
                if daemon.proc.poll() is not None:
                    raise SystemExit(f"the daemon exited with {daemon.proc.returncode} during the run")
        rss = daemon.rss_mib()
    finally:
        floor.stop()
        daemon_exit = daemon.stop()

    def paired(a: str, b: str) -> float | None:
        pairs = [x.rate / y.rate for x, y in zip(runs[a], runs[b]) if y.rate]
        return round(statistics.median(pairs), 3) if pairs else None

    ratios = {"0 listeners / floor": paired(quiet, "floor"),
              f"{args.listeners} listeners / floor": paired(busy, "floor"),
              f"{args.listeners} listeners / 0 listeners": paired(busy, quiet)}
    held = ratios[f"{args.listeners} listeners / 0 listeners"]
    return {
        "preloaded_events": args.preload, "events_per_run": args.events, "rounds": args.rounds,
        "concurrency": args.concurrency, "listeners": args.listeners,
        "results": {name: summarize(rs) for name, rs in runs.items()},
        "ratios": ratios, "errors": len(errors), "error_samples": errors[:10],
        "daemon_rss_mib": round(rss, 1) if rss else None, "daemon_exit_status": daemon_exit,
        "target": TARGET, "target_met": bool(held is not None and held >= TARGET and not errors),
        "wall_s": round(time.perf_counter() - started, 1),
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"stream: {result['preloaded_events']:,} events already stored; {result['rounds']} rounds x "
          f"{result['events_per_run']} error envelopes per cell, {result['concurrency']} keep-alive connections; "
          f"the listeners read /__parlel/stream?type=error from another process")
    print(f"{'server':24} {'events/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'cpu us/ev':>9}   per round events/s")
    for name, s in result["results"].items():
        per_event = f"{s['server_cpu_us_per_event']:.0f}" if s["server_cpu_us_per_event"] else "?"
        rounds = " ".join(f"{x:.0f}" for x in s["events_per_s_rounds"])
        print(f"{name:24} {s['events_per_s']:9.1f} {s['p50_ms']:8.2f} {s['p99_ms']:8.2f} {per_event:>9}   {rounds}")
    for name, ratio in result["ratios"].items():
        print(f"ratio {name}: {ratio:.2f}" if ratio is not None else f"ratio {name}: ?")
    print(f"errors: {result['errors']}; daemon RSS {result['daemon_rss_mib']} MiB, exit status "
          f"{result['daemon_exit_status']}; wall {result['wall_s']} s")
    for line in result["error_samples"]:
        print(f"  ! {line}")
    print(f"target: with {result['listeners']} listeners >= {TARGET} of the events/s without, every event "
          f"delivered: {'met' if result['target_met'] else 'NOT met'}")


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--listen":
        listen(int(sys.argv[2]), int(sys.argv[3]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    load_arguments(parser, preload=10_000)
    parser.add_argument("--listeners", type=int, default=10, help="stream readers in the listening cell")
    args = parser.parse_args()
    report(args, measure(args), print_table)


if __name__ == "__main__":
    main()
