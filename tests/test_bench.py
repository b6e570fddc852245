"""The benchmarks keep running: each one, tiny, end to end (figures are not asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_bench(*args: str) -> dict:
    result = subprocess.run([sys.executable, *args, "--json"], capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_startup_bench_measures_health():
    figures = run_bench(str(BENCH / "startup.py"), "--runs", "1")
    assert 0 < figures["median_s"] < 30
    assert figures["ratio_to_baseline"] > 0


def test_ingest_bench_checks_read_your_write():
    figures = run_bench(str(BENCH / "ingest.py"), "--events", "60", "--rounds", "1", "--warmup", "10",
                        "--check-every", "10", "--preload", "200")
    assert figures["preloaded_events"] == 200
    assert figures["errors"] == 0
    assert figures["read_your_write"]["checks"] > 0 and figures["read_your_write"]["failures"] == 0
    for encoding in ("plain", "gzip", "br"):
        assert figures["results"][encoding]["ratio"] > 0


def test_query_bench_times_every_case():
    figures = run_bench(str(BENCH / "query.py"), "--events", "600", "--issues", "120", "--projects", "3",
                        "--samples", "5")
    assert figures["events"] == 600 and figures["issues"] == 120
    assert set(figures["results"]) >= {"issues, selective query", "issues, sort=freq", "issue detail", "event detail"}
    assert all(r["p50_ms"] > 0 for r in figures["results"].values())
    # 120 issues, of which 10 resolved and 10 ignored in each of the 3 projects: 60 unresolved
    assert figures["results"]["issues, sort=freq"]["results"] == 60


def test_transform_bench_times_warm_and_cold():
    figures = run_bench(str(BENCH / "transform.py"), "--samples", "5", "--cold-runs", "1")
    python = figures["results"]["python"]
    assert 0 < python["p50_ms"] <= python["p99_ms"] and python["cold_start_ms"] > 0
    assert set(figures["results"]) == {"python", "javascript"}


def test_tenant_bench_pairs_creates_with_deletes():
    figures = run_bench(str(BENCH / "tenants.py"), "--pairs", "20", "--live", "3", "--preload", "30")
    assert figures["pairs"] == 20 and figures["tenants_left"] == 3
    assert figures["daemon_cpu_us_per_pair"] >= 0 and figures["create"]["p50_ms"] > 0


def test_memory_bench_measures_per_event():
    figures = run_bench(str(BENCH / "memory.py"), "--events", "300")
    assert figures["events"] == 300 and figures["rss_after_mib"] > 0
    assert 2000 < figures["received_per_event"] < 5000  # the ~3 KB SDK error envelopes it promises
