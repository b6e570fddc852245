"""sentry-cli 3.8.2 with an org auth token, as CI pipelines run it: every command of CLIENTS.md §5.2.

The token is minted through the API (``sntrys_<base64 JSON>_<secret>``, its URL the daemon's own), so
the CLI takes the base URL and the organization from it. An org auth token holds ``org:ci`` only:
what Sentry lets it do (releases, commits, deploys, uploads; and whatever goes by DSN) works, and
what needs another scope (listing organizations, projects, issues or monitors) is refused with
Sentry's 403, which the CLI reports and exits 1 on — as it does against Sentry. The same commands
with a user token are exercised in ``test_real_clients.py``, ``test_api_releases.py`` and
``test_api_uploads.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest_twisted

from conftest import AUTH, request_json
from test_api_uploads import _sources, elf_fixture
from test_real_clients import _output, needs_cli, run_cli

DENIED = "You do not have permission to perform this action."


async def api(sentry: Any, method: str, path: str, expect: int = 200, **kwargs: Any) -> Any:
    response, body = await request_json(method, sentry.url + path, headers=AUTH, **kwargs)
    assert response.code == expect, (method, path, response.code, body)
    return body


@needs_cli
@pytest_twisted.ensureDeferred
async def test_every_cli_command_with_an_org_auth_token(sentry: Any, tmp_path: Path) -> None:
    minted = await api(sentry, "POST", "/api/0/organizations/parlel/org-auth-tokens/", 201, json={"name": "ci"})
    token = minted["token"]
    await api(sentry, "POST", "/api/0/organizations/parlel/repos/", 201,
              json={"provider": "integrations:github", "name": "org/repo"})

    async def cli(*args: str) -> str:
        done = await run_cli(sentry, tmp_path, *args, token=token)
        assert done.returncode == 0, (args, _output(done))
        return _output(done)

    async def refused(*args: str) -> None:
        done = await run_cli(sentry, tmp_path, *args, token=token)
        assert done.returncode == 1 and DENIED in _output(done) and "403" in _output(done), (args, _output(done))

    assert sentry.url in await cli("info")
    await refused("organizations", "list")
    await refused("projects", "list")
    await refused("issues", "list")
    await refused("issues", "resolve", "-i", "1")
    await refused("monitors", "list")

    await cli("releases", "new", "1.2.3")
    assert "1.2.3" in await cli("releases", "list")
    assert "1.2.3" in await cli("releases", "info", "1.2.3")
    await cli("releases", "finalize", "1.2.3")
    await cli("releases", "set-commits", "1.2.3", "--commit", "org/repo@abc123..def456")
    await cli("releases", "deploys", "1.2.3", "new", "-e", "production")
    await cli("deploys", "new", "-r", "1.2.3", "-e", "staging", "-n", "deploy-1", "-t", "30")
    assert "staging" in await cli("deploys", "list", "-r", "1.2.3")
    await cli("send-event", "-m", "sent in CI", "--no-environ")
    await cli("monitors", "run", "nightly", "--", "true")
    await cli("sourcemaps", "upload", "--release", "1.2.3", "--wait", str(_sources(tmp_path / "dist")))
    symbols = tmp_path / "symbols"
    symbols.mkdir()
    elf_fixture(symbols)
    await cli("debug-files", "upload", "--wait", str(symbols))

    release = await api(sentry, "GET", "/api/0/organizations/parlel/releases/1.2.3/")
    assert release["dateReleased"] is not None and release["deployCount"] == 2
    assert release["lastCommit"]["id"] == "def456"
    assert [b["associations"] for b in await api(sentry, "GET", "/api/0/projects/parlel/hello-world/files/artifact-bundles/")] \
        == [[{"release": "1.2.3", "dist": None}]]
    assert len(await api(sentry, "GET", "/api/0/projects/parlel/hello-world/files/dsyms/")) == 1
    assert [i["title"] for i in await api(sentry, "GET", "/api/0/projects/parlel/hello-world/issues/")] == ["sent in CI"]
    assert [m["slug"] for m in await api(sentry, "GET", "/api/0/organizations/parlel/monitors/")] == ["nightly"]
