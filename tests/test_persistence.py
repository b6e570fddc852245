"""``--data-dir``: a restarted ``twistd sentryfake`` has every kind of state it had; ``kill -9``
under load corrupts nothing and loses at most the last second; SIGTERM loses nothing."""

from __future__ import annotations

import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from conftest import reaped, wait_until
from state_helpers import Daemon, call, error_event, everything, populate
from twisted.python import usage

from sentry_daemon.store.persistence import DATABASE
from sentry_daemon.tap import Options


def stop(daemon: Daemon) -> str:
    daemon.proc.send_signal(signal.SIGTERM)
    assert daemon.proc.wait(timeout=30) == 0
    output = daemon.output()
    assert "Traceback" not in output, output
    return output


def stored_ids(url: str) -> set[str]:
    return {e["event_id"] for e in call(url, "GET", "/__parlel/events")[1]["events"]}


def test_a_restart_keeps_every_kind_of_state(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = Daemon("--data-dir", data)
    with reaped(first.proc):
        populate(first.url)
        # a deleted project's and a deleted issue's rows must not come back
        call(first.url, "DELETE", "/api/0/projects/parlel/second-app/", expect=204)
        call(first.url, "POST", "/api/1/store/", error_event("doomed"))
        doomed = next(i for i in call(first.url, "GET", "/api/0/projects/parlel/hello-world/issues/?query=")[1]
                      if i["title"] == "doomed")
        call(first.url, "DELETE", f"/api/0/organizations/parlel/issues/?id={doomed['id']}", expect=204)
        before = everything(first.url)
        stop(first)
    second = Daemon("--data-dir", data)
    with reaped(second.proc):
        after = everything(second.url)
        for path, seen in before.items():
            assert after[path] == seen, path
        # the counters carried on: what comes next does not reuse an id
        call(second.url, "POST", "/api/1/store/", error_event("after the restart"))
        issues = call(second.url, "GET", "/api/0/projects/parlel/hello-world/issues/?query=")[1]
        assert len({i["id"] for i in issues}) == len(issues) == len(before[
            "/api/0/projects/parlel/hello-world/issues/?query="]) + 1
        stop(second)


def test_sigterm_right_after_the_last_answer_loses_nothing(tmp_path: Path) -> None:
    data = str(tmp_path / "data")
    first = Daemon("--data-dir", data)
    with reaped(first.proc):
        sent = set()
        for n in range(150):
            event = error_event(f"burst {n % 7}")
            call(first.url, "POST", "/api/1/store/", event)
            sent.add(event["event_id"])
        stop(first)  # at once: the last events were answered microseconds ago
    second = Daemon("--data-dir", data)
    with reaped(second.proc):
        assert stored_ids(second.url) == sent
        stop(second)


def test_kill_9_under_load_loses_at_most_the_last_second(tmp_path: Path) -> None:
    data = tmp_path / "data"
    first = Daemon("--data-dir", str(data))
    acked: list[tuple[float, str]] = []
    done = threading.Event()

    def load() -> None:
        while not done.is_set():
            event = error_event(f"load {len(acked) % 11}")
            try:
                call(first.url, "POST", "/api/1/store/", event)
            except (OSError, AssertionError):
                return  # killed mid-request
            acked.append((time.monotonic(), event["event_id"]))

    senders = [threading.Thread(target=load, daemon=True) for _ in range(3)]
    with reaped(first.proc):
        for sender in senders:
            sender.start()
        wait_until(lambda: len(acked) >= 600 and acked[-1][0] - acked[0][0] > 2.0, timeout=60)
        first.proc.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        first.proc.wait(timeout=10)
        done.set()
        for sender in senders:
            sender.join(timeout=30)
    with sqlite3.connect(data / DATABASE) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    second = Daemon("--data-dir", str(data))
    with reaped(second.proc):
        kept = stored_ids(second.url)
        durable = {event_id for when, event_id in acked if when < killed_at - 1.5}
        assert durable and durable <= kept, f"{len(durable - kept)} of {len(durable)} durable events lost"
        # what it kept is whole: every kept event's issue is there and counts it
        issues = call(second.url, "GET", "/api/0/projects/parlel/hello-world/issues/?query=")[1]
        assert sum(int(i["count"]) for i in issues) >= len(kept)
        stop(second)


def test_a_data_dir_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(usage.UsageError, match="not a directory"):
        Options().parseOptions(["--data-dir", str(path)])
