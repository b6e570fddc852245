"""The web page (``/ui/``) over a large store: how long each view takes to show, in a real browser.

    python bench/ui.py [--events 10000] [--issues 1000] [--rounds 3] [--json]

Two daemons run as subprocesses (``bench/query.py --serve``, which loads its events through the
store before it listens): one with ``--events`` Python error events in ``--issues`` issues, and,
as the baseline measured in the same run, one with ten. Headless Chromium (Debian's ``chromium``
and ``chromedriver``, through Selenium) opens each view on each daemon ``--rounds`` times, fresh
page each time, and the time from navigation until the view's content is on the page is taken:

- ``feed``: the page loaded and the stream's backlog (up to 4,096 records) replayed into the feed
  (the page says "live" when the stream's ``: live after`` comment follows the replay);
- ``issues``: the issue list's first page (25 issues, through the daemon's search);
- ``issue``: one issue with its events, tags and the grouping of its latest event;
- ``event``: one event with its frames, grouping and raw payload.

Printed: the median milliseconds per view on each daemon, their ratio, and the elements on the
page with the large store (the feed and lists show one page: they never render everything).
Target: every view under 1 s with 10,000 events, and at most 2,000 elements on the page.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

QUERY = str(Path(__file__).resolve().parent / "query.py")
TARGET_MS = 1000.0
TARGET_ELEMENTS = 2000
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-dev-shm-usage", "--window-size=1400,1000")


def start_daemon(events: int, issues: int) -> tuple[subprocess.Popen, dict[str, Any]]:
    proc = subprocess.Popen([sys.executable, QUERY, "--serve", "--events", str(events), "--issues", str(issues),
                             "--projects", "1"], stdout=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line:
        raise SystemExit("the daemon did not start")
    return proc, json.loads(line)


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for flag in (*FLAGS, f"--user-data-dir={tempfile.mkdtemp(prefix='sentryfake-bench-')}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)


def views(driver: Any, url: str) -> dict[str, tuple[str, str]]:
    """view -> (the page's address, the script that says the view is complete)."""
    issues = json.loads(driver.execute_script(
        "return fetch('/api/0/organizations/parlel/issues/?limit=1&sort=freq', "
        "{headers: {Authorization: 'Bearer sntrys_parlel'}}).then(r => r.text());"))
    issue = issues[0]["id"]
    events = json.loads(driver.execute_script("return fetch('/__parlel/events?limit=1').then(r => r.text());"))
    event = events["events"][0]["event_id"]
    return {
        "feed": (f"{url}/ui/#/feed", "return document.querySelectorAll('#feed .feed-row').length > 0 "
                                     "&& !!document.querySelector(\".connection[data-state='live']\")"),
        "issues": (f"{url}/ui/#/issues", "return document.querySelectorAll('table.list tbody tr').length > 0"),
        "issue": (f"{url}/ui/#/issue/{issue}", "return !!document.querySelector('#grouping') "
                                               "&& document.querySelectorAll('table.list tbody tr').length > 1"),
        "event": (f"{url}/ui/#/event/1/{event}", "return !!document.querySelector('#grouping') "
                                                 "&& !!document.querySelector('.frame') && !!document.querySelector('pre.json')"),
    }


def time_view(driver: Any, address: str, done: str) -> float:
    driver.get("about:blank")
    started = time.perf_counter()
    driver.get(address)
    deadline = started + 30
    while not driver.execute_script(done):
        if time.perf_counter() > deadline:
            raise SystemExit(f"{address} did not finish")
        time.sleep(0.01)
    return (time.perf_counter() - started) * 1000


def measure(args: argparse.Namespace) -> dict[str, Any]:
    small_proc, small = start_daemon(10, 10)
    large_proc, large = start_daemon(args.events, args.issues)
    driver = browser()
    try:
        figures: dict[str, Any] = {"events": large["events"], "issues": large["issues"], "views": {}}
        plans = {}
        for name, info in (("baseline", small), ("large", large)):
            driver.get(info["url"] + "/ui/")
            plans[name] = views(driver, info["url"])
        for view in plans["large"]:
            cell: dict[str, Any] = {}
            for name in ("baseline", "large"):
                address, done = plans[name][view]
                cell[f"{name}_ms"] = round(statistics.median(time_view(driver, address, done)
                                                             for _ in range(args.rounds)), 1)
                if name == "large":
                    cell["elements"] = driver.execute_script("return document.getElementsByTagName('*').length")
            cell["ratio"] = round(cell["large_ms"] / cell["baseline_ms"], 2)
            figures["views"][view] = cell
        figures["ok"] = all(c["large_ms"] < TARGET_MS and c["elements"] <= TARGET_ELEMENTS
                            for c in figures["views"].values())
        return figures
    finally:
        driver.quit()
        for proc in (small_proc, large_proc):
            proc.terminate()
            proc.wait(timeout=30)


def print_table(result: dict[str, Any]) -> None:
    print(f"{result['events']} events in {result['issues']} issues; baseline: a daemon with 10 events")
    print(f"{'view':<8} {'baseline ms':>12} {'large ms':>10} {'ratio':>7} {'elements':>9}")
    for view, cell in result["views"].items():
        print(f"{view:<8} {cell['baseline_ms']:>12} {cell['large_ms']:>10} {cell['ratio']:>7} {cell['elements']:>9}")
    print(f"target: every view < {TARGET_MS:.0f} ms, <= {TARGET_ELEMENTS} elements: {'met' if result['ok'] else 'MISSED'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--issues", type=int, default=1_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        print(json.dumps(result))
    else:
        print_table(result)


if __name__ == "__main__":
    main()
