"""Tokens configured at start (``--tokens FILE``) carry their scopes and their organization."""

from __future__ import annotations

import pytest_twisted

from conftest import request_json
from sentry_daemon.testing import start_sentry


@pytest_twisted.ensureDeferred
async def test_configured_tokens_are_scoped_and_bound():
    sentry = await start_sentry(token_specs=(("sntrys_ro", ("org:read", "event:read"), None),
                                             ("sntrys_ci", None, "acme")))
    try:
        async def status(method: str, path: str, token: str, **kwargs: object) -> int:
            response, _ = await request_json(method, sentry.url + path,
                                             headers={"Authorization": f"Bearer {token}"}, **kwargs)
            return response.code

        assert await status("GET", "/api/0/organizations/parlel/issues/", "sntrys_ro") == 200
        assert await status("PUT", "/api/0/organizations/parlel/issues/?id=1", "sntrys_ro", json={"status": "resolved"}) == 403
        assert await status("GET", "/api/0/projects/parlel/hello-world/", "sntrys_ro") == 403
        # an org token: its organization was created for it, and only it is visible
        assert await status("GET", "/api/0/organizations/acme/releases/", "sntrys_ci") == 200
        assert await status("GET", "/api/0/organizations/parlel/releases/", "sntrys_ci") == 403
        assert await status("GET", "/api/0/organizations/acme/issues/", "sntrys_ci") == 403
        response, body = await request_json("GET", sentry.url + "/api/0/", headers={"Authorization": "Bearer sntrys_ci"})
        assert body["auth"]["scopes"] == ["org:ci"] and body["user"] is None
        # a reset keeps them
        sentry.service.reset()
        assert await status("GET", "/api/0/organizations/acme/releases/", "sntrys_ci") == 200
    finally:
        await sentry.stop()
