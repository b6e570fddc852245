"""Embedding the daemon in a Twisted test harness: trial TestCase and pytest-twisted fixture."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest_twisted
import treq

from sentry_daemon.testing import start_sentry


def test_trial_recipe_runs_under_trial():
    """``tests/trial/embedded_trial.py`` is the README's trial recipe; trial runs it in its own process."""
    here = Path(__file__).resolve().parent
    result = subprocess.run(
        [sys.executable, "-m", "twisted.trial", str(here / "trial" / "embedded_trial.py")],
        capture_output=True, text=True, timeout=120, cwd=here.parent,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(here.parent), os.environ.get("PYTHONPATH")]))},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "PASSED (successes=1)" in result.stdout, result.stdout


@pytest_twisted.ensureDeferred
async def test_pytest_twisted_fixture(sentry):
    """The ``sentry`` fixture in tests/conftest.py is the README's pytest-twisted recipe."""
    response = await treq.get(f"{sentry.url}/health")
    assert response.code == 200
    assert json.loads(await response.content()) == {"status": "ok"}
    assert sentry.dsn_for(42) == sentry.url.replace("http://", "http://parlel@") + "/42"


@pytest_twisted.ensureDeferred
async def test_two_daemons_side_by_side():
    first, second = await start_sentry(), await start_sentry(org="acme")
    try:
        assert first.port != second.port
        assert second.store.organization("acme") is not None
        assert first.store.organization("acme") is None
    finally:
        await first.stop()
        await second.stop()
