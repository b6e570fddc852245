"""Every web-API route × every kind of caller: no token, an unknown token, another organization's
token, a token missing the scope the method needs, and a token holding just one scope it accepts.

The routes come from the app itself (every rule Klein knows), so a route added without a
permission, or with one that does not hold, fails here. Sentry checks scopes before it looks
anything up (``ScopedPermission.has_permission`` in ``Endpoint.initial``), so the refusals do not
depend on the path naming things that exist; the allowed caller only has to get past the guard.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest_twisted

from conftest import request_json
from issue_helpers import error_event, send
from sentry_daemon.api.permissions import AUTHENTICATED, DENIED
from sentry_daemon.api.routes import app
from sentry_daemon.store.tokens import SCOPES

# routes that take any caller (Sentry's index answers without credentials)
OPEN = {"/api/0/"}
# routes that name no organization: another organization's token is not "foreign" there
UNSCOPED_BY_ORG = re.compile(r"^/api/0/(api-tokens/|projects/$|organizations/$|$)")
_tokens = itertools.count(1)


def guarded_routes() -> list[tuple[str, str, Any]]:
    """(rule, method, permission) for every method of every route."""
    found = []
    for rule in app.url_map.iter_rules():
        handler = app.endpoints[rule.endpoint]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            found.append((rule.rule, method, getattr(handler, "permission", None)))
    return found


def fill(rule: str, values: dict[str, str]) -> str:
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", lambda m: values.get(m.group(1), "nosuch1"), rule)


async def route_values(sentry: Any) -> dict[str, str]:
    """What fills a route's path parameters: the seeded org, project and team, and one issue."""
    event_id = await send(sentry, error_event())
    return {"org": "parlel", "project": "hello-world", "team": "parlel", "key_id": "parlel", "key": "level",
            "issue_id": str(sentry.store.event(event_id).group_id), "event_id": event_id,
            "short_id": "HELLO-WORLD-1"}


def token(sentry: Any, scopes: Any, org: Any = None) -> dict[str, str]:
    value = f"sntrys_scopetest{next(_tokens)}"
    sentry.store.add_token(value, scopes, kind="org" if org else "user", organization=org)
    return {"Authorization": f"Bearer {value}"}


def test_every_route_declares_a_permission() -> None:
    unguarded = [(rule, method) for rule, method, permission in guarded_routes()
                 if permission is None and rule not in OPEN]
    assert unguarded == []


@pytest_twisted.ensureDeferred
async def test_every_route_refuses_whom_sentry_refuses(sentry: Any) -> None:
    values = await route_values(sentry)
    other = sentry.store.create_organization("someone-else")
    foreign = token(sentry, SCOPES, org=other)
    routes = [(rule, method, permission) for rule, method, permission in guarded_routes() if rule not in OPEN]
    assert len(routes) > 40
    failures = []

    async def expect(method: str, path: str, headers: dict[str, str], statuses: set[int], who: str) -> None:
        response, body = await request_json(method, sentry.url + path, headers=headers)
        if response.code not in statuses:
            failures.append(f"{method} {path} {who}: {response.code} {body!r:.120}")

    writes_last = sorted(routes, key=lambda r: r[1] == "DELETE")
    for rule, method, permission in writes_last:
        path = fill(rule, values)
        await expect(method, path, {}, {401}, "no token")
        await expect(method, path, {"Authorization": "Bearer sntrys_nobody"}, {401}, "unknown token")
        if permission is AUTHENTICATED:
            continue
        allowed = permission.get(method, ())
        lacking = token(sentry, [s for s in SCOPES if s not in allowed])
        await expect(method, path, lacking, {403}, f"without any of {allowed}")
        if not UNSCOPED_BY_ORG.match(rule):
            await expect(method, path, foreign, {403}, "another organization's token")
    for rule, method, permission in writes_last:
        if permission is AUTHENTICATED:
            continue
        allowed = permission.get(method, ())
        assert allowed, (rule, method, "no scope allows this method")
        for scope in allowed:
            response, body = await request_json(method, sentry.url + fill(rule, values), headers=token(sentry, [scope]))
            if response.code in (401, 403) and body == {"detail": DENIED}:
                failures.append(f"{method} {rule} with {scope}: {response.code}")
    assert failures == []
