"""Soak: ten minutes at half the measured ingest capacity, with the web API read in parallel.

    python bench/soak.py [--duration 600] [--interval 30] [--max-events 100000] [--json]

Starts the daemon (``twistd -n sentryfake --max-events N``) and fills it to its retention cap through
the ingest endpoint at full speed (``bench/ingest.py``'s load generator and event shapes, 3 KB
Python-SDK error envelopes in 10,000 issues), so every event of the soak evicts one. It then
measures the ingest capacity at the cap (a burst of ``--capacity-events`` at 8 connections) and,
for ``--duration`` seconds, sends error envelopes at ``--fraction`` (0.5) of it, paced (open loop:
each envelope is due at its own time, sent on the first idle one of 8 keep-alive connections),
while one more connection reads the web API, ``--api-rate`` (20) requests a second: the issue list (unresolved, and
``sort=freq``), an issue's detail and latest event, an event's detail, and ``/__parlel/retention``.

Every ``--interval`` seconds it prints the daemon's resident memory (``VmRSS``), what is stored and
evicted, and the answer-time percentiles of that window for ingest and for the API. The verdict:
RSS flat (every sample within 10 % of the first, from the cap on), no errors, p99 steady (no
window's ingest p99 above twice the median of the windows' p99; this threshold is ours). Answer
times are from the moment a request is written to its last byte read; ``late`` counts envelopes
sent more than 100 ms after they were due (all connections busy), which means the rate was more
than the daemon could take. A ``404`` for an event the reader picked from an earlier answer and
retention evicted since (Sentry's answer too) is counted as ``api_gone``, not as an error.
"""

from __future__ import annotations

import argparse
import json
import selectors
import statistics
import sys
import time
import urllib.request
import uuid
from collections import deque
from typing import Any

import ingest  # this directory's: servers, the load generator and event shapes

TOKEN = "sntrys_parlel"
TEMPLATES = 2_000
CONNECTIONS = 8
RSS_FLAT = 0.10
P99_STEADY = 2.0
# reads of what the reader picked from an earlier answer: retention may have evicted it since
GONE_CASES = {"latest event", "event detail"}


def start_daemon(max_events: int, log_path: str | None) -> ingest.Server:
    port = ingest.free_port()
    argv = [ingest.TWISTD, "--nodaemon", "--pidfile=", f"--logfile={log_path or '/dev/null'}", "sentryfake",
            "--port", f"tcp:{port}:interface=127.0.0.1", "--max-events", str(max_events)]
    return ingest.Server("daemon", argv, port)


def get_json(port: int, path: str) -> Any:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class Templates:
    """Distinct envelopes made once; each send swaps in a fresh event id (same length, so the
    request's ``Content-Length`` stays true)."""

    def __init__(self) -> None:
        factory = ingest.JobFactory(check_every=0, seed=7)
        self.jobs = factory.jobs("soak", TEMPLATES, "plain", issues=ingest.PRELOAD_ISSUES)
        self.n = 0

    def next(self) -> bytes:
        job = self.jobs[self.n % len(self.jobs)]
        self.n += 1
        return job.raw.replace(job.event_id.encode(), uuid.uuid4().hex.encode())


class ApiReader:
    """The paths the reader cycles through; ids are picked from what the list answered last."""

    def __init__(self, port: int, org: str, project: str) -> None:
        self.port, self.org, self.project = port, org, project
        self.issue_id: str | None = None
        self.event_id: str | None = None
        self.n = 0
        self.retention: dict[str, Any] = {}

    def next_path(self) -> tuple[str, str]:
        base = f"/api/0/organizations/{self.org}/issues/"
        cases = [("issues", f"{base}?query=is:unresolved&limit=25"),
                 ("issues sort=freq", f"{base}?query=is:unresolved&sort=freq&limit=25"),
                 ("retention", "/__parlel/retention")]
        if self.issue_id:
            cases.append(("issue detail", f"{base}{self.issue_id}/"))
            cases.append(("latest event", f"{base}{self.issue_id}/events/latest/"))
        if self.event_id:
            cases.append(("event detail", f"/api/0/projects/{self.org}/{self.project}/events/{self.event_id}/"))
        case = cases[self.n % len(cases)]
        self.n += 1
        return case

    def request(self, path: str) -> bytes:
        return (f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: application/json\r\n"
                f"Authorization: Bearer {TOKEN}\r\n\r\n").encode()

    def answered(self, case: str, body: bytes) -> None:
        if case == "retention":
            self.retention = json.loads(body)
        elif case == "issues":
            issues = json.loads(body)
            if issues:
                self.issue_id = issues[len(issues) // 2]["id"]
        elif case == "latest event":
            self.event_id = json.loads(body)["eventID"]

    def forget(self, case: str) -> None:
        """What ``case`` named is gone (evicted): pick again from the next answers."""
        if case == "latest event":
            self.issue_id = None
        self.event_id = None


class Window:
    def __init__(self) -> None:
        self.ingest: list[float] = []
        self.api: list[float] = []
        self.errors = 0
        self.late = 0
        self.sent = 0
        self.gone = 0


def pct(values: list[float], q: float) -> float | None:
    ordered = sorted(values)
    return round(ingest.percentile(ordered, q) * 1000, 2) if ordered else None


def soak(daemon: ingest.Server, rate: float, args: argparse.Namespace, org: str, project: str,
         report: Any) -> tuple[list[dict[str, Any]], list[str]]:
    """Send at ``rate`` for ``args.duration`` seconds while reading the API; one row per interval."""
    templates = Templates()
    sel = selectors.DefaultSelector()
    senders = [ingest.Conn(daemon.port, sel) for _ in range(CONNECTIONS)]
    reader_conn = ingest.Conn(daemon.port, sel, is_check=True)
    reader = ApiReader(daemon.port, org, project)
    idle = deque(senders)  # first in, first out: no connection sits idle long enough to be timed out
    rows: list[dict[str, Any]] = []
    error_samples: list[str] = []
    window = Window()
    start = time.perf_counter()
    next_report = start + args.interval
    end = start + args.duration
    due = 0  # envelopes due so far
    api_due = start  # when the reader's next request is due; None while one is out
    api_interval = 1.0 / args.api_rate

    def send_api() -> None:
        nonlocal api_due
        case, path = reader.next_path()
        reader_conn.send(reader.request(path), case)
        api_due = None

    def fail(message: str) -> None:
        window.errors += 1
        if len(error_samples) < 10:
            error_samples.append(message)

    try:
        while True:
            now = time.perf_counter()
            if now >= end:
                break
            if api_due is not None and now >= api_due:
                send_api()
            target = int((now - start) * rate)
            while due < target and idle:
                if (now - start) - due / rate > 0.1:
                    window.late += 1
                conn = idle.popleft()
                try:
                    conn.send(templates.next(), "ingest")
                    window.sent += 1
                except OSError as exc:
                    fail(f"send: {exc!r}")
                    conn.connect()
                    idle.append(conn)
                due += 1
            if now >= next_report:
                rows.append(_row(now - start, daemon, reader, window))
                report(rows[-1])
                window = Window()
                next_report += args.interval
            wake = min(next_report, start + (due + 1) / rate, api_due if api_due is not None else end)
            timeout = max(0.0, wake - time.perf_counter())
            for key, _ in sel.select(timeout=timeout):
                conn: ingest.Conn = key.data
                try:
                    data = conn.sock.recv(262144)
                except OSError:
                    data = b""
                if not data:
                    if conn.job is not None:
                        fail(f"connection closed by the server during a {conn.job} request")
                        conn.job = None
                    conn.connect()
                    if conn.is_check:
                        api_due = time.perf_counter()
                    elif conn not in idle:
                        idle.append(conn)
                    continue
                conn.buf += data
                parsed = ingest.parse_response(conn.buf)
                if parsed is None:
                    continue
                status, body, consumed, close = parsed
                del conn.buf[:consumed]
                elapsed = time.perf_counter() - conn.t0
                case, conn.job = conn.job, None
                if status == 404 and case in GONE_CASES:
                    window.gone += 1  # retention evicted what the reader picked a moment ago: Sentry's 404
                    reader.forget(case)
                elif status != 200:
                    fail(f"{case}: HTTP {status}: {body[:200]!r}")
                if conn.is_check:
                    window.api.append(elapsed)
                    if status == 200:
                        reader.answered(case, body)
                else:
                    window.ingest.append(elapsed)
                if close:
                    conn.connect()
                if conn.is_check:
                    api_due = max(time.perf_counter(), conn.t0 + api_interval)
                else:
                    idle.append(conn)
    finally:
        for conn in senders + [reader_conn]:
            conn.close()
        sel.close()
    if window.sent or window.ingest:
        rows.append(_row(time.perf_counter() - start, daemon, reader, window))
        report(rows[-1])
    return rows, error_samples


def _row(t: float, daemon: ingest.Server, reader: ApiReader, window: Window) -> dict[str, Any]:
    retention = reader.retention
    return {
        "t_s": round(t, 1), "rss_mib": round(daemon.rss_mib() or 0.0, 1), "sent": window.sent,
        "late": window.late, "errors": window.errors, "api_gone": window.gone,
        "stored_events": retention.get("stored_events"), "evicted_events": retention.get("evicted_events"),
        "ingest_p50_ms": pct(window.ingest, 0.5), "ingest_p99_ms": pct(window.ingest, 0.99),
        "api_requests": len(window.api), "api_p50_ms": pct(window.api, 0.5), "api_p99_ms": pct(window.api, 0.99),
    }


def verdict(rows: list[dict[str, Any]], errors: int) -> dict[str, Any]:
    rss = [r["rss_mib"] for r in rows]
    p99s = [r["ingest_p99_ms"] for r in rows if r["ingest_p99_ms"] is not None]
    rss_spread = (max(rss) - rss[0]) / rss[0] if rss and rss[0] else None
    p99_median = statistics.median(p99s) if p99s else None
    p99_worst = max(p99s) / p99_median if p99s and p99_median else None
    return {
        "rss_growth": round(rss_spread, 3) if rss_spread is not None else None,
        "rss_flat": rss_spread is not None and abs(rss_spread) <= RSS_FLAT,
        "p99_worst_over_median": round(p99_worst, 2) if p99_worst is not None else None,
        "p99_steady": p99_worst is not None and p99_worst <= P99_STEADY,
        "errors": errors,
        "late": sum(r["late"] for r in rows),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=600.0)
    parser.add_argument("--interval", type=float, default=30.0)
    parser.add_argument("--max-events", type=int, default=100_000)
    parser.add_argument("--capacity-events", type=int, default=3_000)
    parser.add_argument("--fraction", type=float, default=0.5)
    parser.add_argument("--api-rate", type=float, default=20.0)
    parser.add_argument("--daemon-log")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    def say(text: str) -> None:
        if not args.json:
            print(text, flush=True)

    daemon = start_daemon(args.max_events, args.daemon_log)
    try:
        daemon.wait_ready()
        org = get_json(daemon.port, "/api/0/organizations/")[0]["slug"]
        project = get_json(daemon.port, f"/api/0/organizations/{org}/projects/")[0]["slug"]
        started = time.perf_counter()
        fill = ingest.JobFactory(check_every=0, seed=5)
        filled = 0
        while filled < args.max_events:
            count = min(ingest.PRELOAD_CHUNK, args.max_events - filled)
            jobs = fill.jobs("fill", count, "plain", issues=ingest.PRELOAD_ISSUES, start=filled)
            result = ingest.run_load(daemon, jobs, "plain", CONNECTIONS, verify=False)
            if result.errors:
                raise SystemExit(f"fill: {result.errors[0]}")
            filled += count
        say(f"soak: filled to the cap of {args.max_events:,} events in {time.perf_counter() - started:.0f} s "
            f"(RSS {daemon.rss_mib():,.0f} MiB)")
        burst = ingest.JobFactory(check_every=0, seed=6).jobs("capacity", args.capacity_events, "plain",
                                                              issues=ingest.PRELOAD_ISSUES)
        capacity = ingest.run_load(daemon, burst, "plain", CONNECTIONS, verify=False).rate
        rate = capacity * args.fraction
        say(f"capacity at the cap: {capacity:,.0f} events/s; soaking at {rate:,.0f} events/s "
            f"for {args.duration:.0f} s with the API read in parallel ({args.api_rate:g} requests/s)")
        say(f"{'t s':>6} {'RSS MiB':>8} {'sent':>7} {'late':>5} {'errors':>6} {'stored':>8} {'evicted':>9} "
            f"{'ingest p50':>10} {'p99 ms':>7} {'api n':>6} {'api p50':>8} {'p99 ms':>7}")

        def report(row: dict[str, Any]) -> None:
            fmt = lambda v: "-" if v is None else f"{v:,}"  # noqa: E731
            say(f"{row['t_s']:6.0f} {row['rss_mib']:8,.0f} {row['sent']:7,} {row['late']:5} {row['errors']:6} "
                f"{fmt(row['stored_events']):>8} {fmt(row['evicted_events']):>9} {fmt(row['ingest_p50_ms']):>10} "
                f"{fmt(row['ingest_p99_ms']):>7} {row['api_requests']:6} {fmt(row['api_p50_ms']):>8} "
                f"{fmt(row['api_p99_ms']):>7}")

        rows, error_samples = soak(daemon, rate, args, org, project, report)
        if daemon.proc.poll() is not None:
            raise SystemExit(f"the daemon exited with {daemon.proc.returncode} during the soak")
    finally:
        exit_status = daemon.stop()
    errors = sum(r["errors"] for r in rows)
    result = {"max_events": args.max_events, "capacity_events_per_s": round(capacity, 1),
              "rate_events_per_s": round(rate, 1), "duration_s": args.duration, "rows": rows,
              "verdict": verdict(rows, errors), "error_samples": error_samples, "daemon_exit_status": exit_status}
    v = result["verdict"]
    result["target_met"] = v["rss_flat"] and v["p99_steady"] and errors == 0
    if args.json:
        print(json.dumps(result))
        return
    for line in error_samples:
        print(f"  ! {line}")
    print(f"verdict: RSS {v['rss_growth']:+.1%} from the first sample (flat within {RSS_FLAT:.0%}: "
          f"{'yes' if v['rss_flat'] else 'NO'}); worst window ingest p99 {v['p99_worst_over_median']}x the median "
          f"(steady within {P99_STEADY}x: {'yes' if v['p99_steady'] else 'NO'}); errors {errors}; late {v['late']}; "
          f"target {'met' if result['target_met'] else 'NOT met'}")
    sys.exit(0)


if __name__ == "__main__":
    main()
