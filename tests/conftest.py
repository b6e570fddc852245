"""Shared fixtures: the real daemon on a real loopback port, and the same app in memory."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest_twisted
import treq
from twisted.internet import reactor
from twisted.internet.task import deferLater

from sentry_daemon.testing import RunningSentry, start_sentry

TOKEN = "sntrys_parlel"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
TWISTD = str(Path(sys.executable).parent / "twistd")


@pytest_twisted.async_yield_fixture()
async def sentry() -> Any:
    """A daemon on 127.0.0.1:<free port>, stopped gracefully after the test."""
    running: RunningSentry = await start_sentry()
    yield running
    await running.stop()


@pytest_twisted.async_yield_fixture()
async def strict_sentry() -> Any:
    running: RunningSentry = await start_sentry(ingest_auth="strict")
    yield running
    await running.stop()


async def request_json(method: str, url: str, **kwargs: Any) -> tuple[Any, Any]:
    """(response, parsed JSON body) of one real HTTP request."""
    response = await treq.request(method, url, **kwargs)
    body = await response.content()
    try:
        parsed = json.loads(body) if body else None
    except ValueError:
        parsed = body
    return response, parsed


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def eventually(predicate: Callable[[], Any], timeout: float = 10.0) -> Any:
    """Poll ``predicate`` on the reactor (never blocking it) until it holds, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        assert time.monotonic() < deadline, "condition not met in time"
        await deferLater(reactor, 0.01, lambda: None)


def wait_until(predicate: Callable[[], Any], timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Poll ``predicate`` until it returns something truthy, or fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)


def start_twistd(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [TWISTD, "--nodaemon", "--pidfile=", "--logfile=-", "sentryfake", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
    )


@contextmanager
def reaped(proc: subprocess.Popen) -> Iterator[subprocess.Popen]:
    """Kill a daemon the test left running (it failed before stopping it): none outlives its test."""
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
