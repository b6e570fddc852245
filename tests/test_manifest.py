"""manifest.json describes the service the code really starts."""

from __future__ import annotations

import json
from pathlib import Path

from sentry_daemon.service import DEFAULT_PORT, DEFAULT_TOKEN, Config
from sentry_daemon.tap import Options

MANIFEST = json.loads((Path(__file__).resolve().parent.parent / "manifest.json").read_text())


def test_manifest_matches_defaults(monkeypatch):
    monkeypatch.delenv("SENTRY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("SENTRY_ORG", raising=False)
    options = Options()
    options.parseOptions([])
    config = Config()
    assert MANIFEST["name"] == "sentry"
    assert MANIFEST["protocol"] == "http"
    assert MANIFEST["port"] == DEFAULT_PORT == int(options["port"].split(":")[1])
    assert MANIFEST["healthcheck"] == "/health"
    env = MANIFEST["env"]
    assert env["SENTRY_AUTH_TOKEN"] == DEFAULT_TOKEN == options["tokens"][0] == config.tokens[0]
    assert env["SENTRY_API_URL"] == f"http://127.0.0.1:{DEFAULT_PORT}"
    assert env["SENTRY_ORG"] == options["org"] == config.org
    assert env["SENTRY_PROJECT"] == options["project"] == config.project
    assert env["SENTRY_DSN"] == (
        f"http://{options['dsn-key']}@127.0.0.1:{DEFAULT_PORT}/{options['project-id']}"
    )


def test_manifest_records_a_measured_startup_time():
    assert isinstance(MANIFEST["startup_time_ms"], int)
    assert 0 < MANIFEST["startup_time_ms"] < 10_000


def test_every_subpackage_is_installed():
    """``pyproject.toml`` lists the packages by name: a new folder missing there would not install."""
    import tomllib

    root = Path(__file__).resolve().parent.parent
    listed = set(tomllib.loads((root / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {
        ".".join(init.parent.relative_to(root).parts)
        for init in (root / "sentry_daemon").rglob("__init__.py")
    }
    assert found <= listed, sorted(found - listed)
