"""The benchmarks keep running: each one, tiny, end to end (figures are not asserted here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

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


def test_soak_bench_reports_every_interval():
    figures = run_bench(str(BENCH / "soak.py"), "--duration", "4", "--interval", "1", "--max-events", "300",
                        "--capacity-events", "100")
    assert figures["capacity_events_per_s"] > 0 and len(figures["rows"]) >= 3
    assert figures["verdict"]["errors"] == 0, figures["error_samples"]
    assert all(row["rss_mib"] > 0 for row in figures["rows"])
    assert any(row["api_requests"] for row in figures["rows"])
    assert figures["rows"][-1]["stored_events"] == 300  # at the cap: each soak event evicted one


def test_stream_bench_delivers_every_event_to_every_listener():
    figures = run_bench(str(BENCH / "stream.py"), "--events", "60", "--rounds", "1", "--warmup", "10",
                        "--preload", "100", "--listeners", "3")
    assert figures["listeners"] == 3 and figures["errors"] == 0  # each listener got all 60 events
    assert all(ratio > 0 for ratio in figures["ratios"].values())


def test_persistence_bench_times_flushes_and_start_up():
    figures = run_bench(str(BENCH / "persistence.py"), "--events", "300", "--rate", "100", "--flushes", "2")
    assert figures["loaded_events"] == figures["events"] == 400
    assert figures["flush_reactor_ms"]["median"] > 0 and figures["startup_ratio_to_storing"] > 0


def test_ui_bench_times_every_view():
    if not (os.access("/usr/bin/chromium", os.X_OK) and os.access("/usr/bin/chromedriver", os.X_OK)):
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    pytest.importorskip("selenium", reason="selenium is not installed (pip install '.[test]')")
    figures = run_bench(str(BENCH / "ui.py"), "--events", "40", "--issues", "20", "--rounds", "1")
    assert set(figures["views"]) == {"feed", "issues", "issue", "event"}
    assert all(cell["large_ms"] > 0 and cell["elements"] > 0 for cell in figures["views"].values())
