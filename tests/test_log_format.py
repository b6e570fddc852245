"""``--log-format json``: every line twistd and the daemon log is one JSON object.

The observer on its own (fields, failures, values JSON cannot hold), then the real twistd with
``--log-format json``: to stdout (``--logfile=-``, as the systemd units run it) and to a file.
"""

from __future__ import annotations

import io
import json
import signal
import subprocess
import urllib.request
from pathlib import Path
from typing import Any

from twisted.internet.testing import MemoryReactorClock
from twisted.logger import Logger, LogLevel

from conftest import TWISTD, free_port, reaped, wait_until
from sentry_daemon.logs import json_line, json_observer
from sentry_daemon.tap import Options, makeService


def test_an_event_is_one_line_of_json_with_its_fields() -> None:
    out = io.StringIO()
    observer = json_observer(out)
    log = Logger(namespace="sentry_daemon.example", observer=observer)
    log.info("listening on {host}; DSN {dsn}", host=("127.0.0.1", 4773), dsn="http://parlel@127.0.0.1:4773/1",
             port=object(), raw=b"bytes")
    try:
        1 / 0
    except ZeroDivisionError:
        log.failure("answering {uri}", uri="/api/1/envelope/")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["level"] == "info" and first["namespace"] == "sentry_daemon.example"
    assert first["message"] == "listening on ('127.0.0.1', 4773); DSN http://parlel@127.0.0.1:4773/1"
    assert first["host"] == ["127.0.0.1", 4773] and first["dsn"] == "http://parlel@127.0.0.1:4773/1"
    assert first["port"].startswith("<object object") and first["raw"] == "b'bytes'"
    assert first["time"].endswith("Z") and len(first["time"]) == len("2026-12-02T02:15:30.512Z")
    assert not any(key.startswith("log_") for key in first)
    assert second["level"] == "critical" and second["uri"] == "/api/1/envelope/"
    assert "ZeroDivisionError" in second["traceback"] and second["message"] == "answering /api/1/envelope/"


def test_a_broken_event_is_still_a_line() -> None:
    line = json_line({"log_level": LogLevel.warn, "log_format": "{missing}", "log_time": 0.0,
                      "log_namespace": "x", "weird": {1: object()}})
    parsed = json.loads(line)
    assert parsed["level"] == "warn" and parsed["time"] == "1970-01-01T00:00:00.000Z"
    assert "Unable to format event" in parsed["message"]
    assert line.endswith("\n") and line.count("\n") == 1


def run_twistd(tmp_path: Path, *twistd_args: str) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen(
        [TWISTD, "--nodaemon", "--pidfile=", *twistd_args, "sentryfake", "--port", f"tcp:{port}:interface=127.0.0.1",
         "--log-format", "json", "--log-requests"],
        cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    return proc, port


def serve_one_request_and_stop(proc: subprocess.Popen, port: int) -> None:
    def healthy() -> Any:
        assert proc.poll() is None, proc.stdout.read().decode(errors="replace") if proc.stdout else ""
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1) as answer:
                return answer.status == 200
        except OSError:
            return False

    with reaped(proc):
        wait_until(healthy, timeout=30)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0


def check_json_log(text: str, port: int) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]  # each line parses alone
    assert lines, "nothing was logged"
    assert all({"time", "level", "namespace", "message"} <= set(line) for line in lines), lines
    listening = [line for line in lines if line["message"].startswith("sentryfake ")]
    assert listening and listening[0]["dsn"] == f"http://parlel@127.0.0.1:{port}/1", listening
    assert listening[0]["namespace"] == "sentry_daemon.service.SentryService"
    assert any(line["message"] == "GET /health 200" and line["code"] == 200 for line in lines), lines
    assert lines[-1]["message"] == "Server Shut Down."
    return lines


def test_twistd_writes_json_lines_to_stdout(tmp_path: Path) -> None:
    proc, port = run_twistd(tmp_path, "--logfile=-")
    serve_one_request_and_stop(proc, port)
    check_json_log(proc.stdout.read().decode(), port)


def test_twistd_writes_json_lines_to_its_logfile(tmp_path: Path) -> None:
    proc, port = run_twistd(tmp_path, "--logfile", "sentry.log")
    serve_one_request_and_stop(proc, port)
    assert proc.stdout.read() == b""
    check_json_log((tmp_path / "sentry.log").read_text(), port)


def test_text_stays_twistds_own() -> None:
    """Without ``--log-format`` the service sets no observer: twistd's text log is untouched."""
    options = Options()
    options.parseOptions([])
    assert options["log-format"] == "text"
    assert makeService(options, reactor=MemoryReactorClock()).log_observer is None
