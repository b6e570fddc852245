"""Start-up time: process start to the first ``/health`` answer, median of several runs.

    python bench/startup.py [--runs 7] [--record]

Prints the median and spread, and, as the baseline measured in the same run, the time a bare
``python -c "import twisted.web.server"`` takes (the floor any Twisted daemon pays), with the ratio.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

TWISTD = str(Path(sys.executable).parent / "twistd")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def time_to_health() -> float:
    port = free_port()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [TWISTD, "--nodaemon", "--pidfile=", "--logfile=/dev/null", "sentryfake", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = start + 30
        while time.perf_counter() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as response:
                    if json.load(response) == {"status": "ok"}:
                        return time.perf_counter() - start
            except OSError:
                if proc.poll() is not None:
                    raise SystemExit(f"twistd exited with {proc.returncode}")
                time.sleep(0.005)
        raise SystemExit("no /health answer within 30 s")
    finally:
        proc.terminate()
        proc.wait()


def time_baseline() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import twisted.web.server"], check=True)
    return time.perf_counter() - start


def measure(runs: int) -> dict[str, float]:
    time_to_health()  # warm the plugin cache and the OS page cache
    samples = [time_to_health() for _ in range(runs)]
    baseline = statistics.median(time_baseline() for _ in range(runs))
    median = statistics.median(samples)
    return {
        "runs": runs,
        "median_s": round(median, 3),
        "min_s": round(min(samples), 3),
        "max_s": round(max(samples), 3),
        "baseline_import_s": round(baseline, 3),
        "ratio_to_baseline": round(median / baseline, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--record", action="store_true", help="write the median into manifest.json")
    args = parser.parse_args()
    result = measure(args.runs)
    if args.record:
        path = Path(__file__).resolve().parent.parent / "manifest.json"
        manifest = json.loads(path.read_text())
        manifest["startup_time_ms"] = round(result["median_s"] * 1000)
        path.write_text(json.dumps(manifest, indent=2) + "\n")
    if args.json:
        print(json.dumps(result))
        return
    print(f"start-up to /health: median {result['median_s']:.3f} s "
          f"(min {result['min_s']:.3f}, max {result['max_s']:.3f}, {args.runs} runs)")
    print(f"baseline (python -c 'import twisted.web.server'): {result['baseline_import_s']:.3f} s; "
          f"ratio {result['ratio_to_baseline']:.2f}x; target < 1 s: "
          f"{'met' if result['median_s'] < 1 else 'NOT met'}")


if __name__ == "__main__":
    main()
