"""What the issue and event API tests share: sending events and calling the web API."""

from __future__ import annotations

import time
import uuid
from typing import Any

from conftest import AUTH, request_json

ISSUES = "/api/0/projects/parlel/hello-world/issues/"
ORG_ISSUES = "/api/0/organizations/parlel/issues/"


def error_event(function: str = "handle", type_: str = "KeyError", value: str = "'k'", *, age: float = 0,
                **extra: Any) -> dict[str, Any]:
    """A Python error event thrown from ``app.views.<function>`` (``age`` seconds ago)."""
    event = {
        "event_id": uuid.uuid4().hex,
        "platform": "python",
        "level": "error",
        "timestamp": time.time() - age,
        "exception": {"values": [{
            "type": type_, "value": value,
            "mechanism": {"type": "generic", "handled": True},
            "stacktrace": {"frames": [
                {"module": "app.main", "function": "main", "filename": "app/main.py", "abs_path": "/srv/app/main.py",
                 "lineno": 3, "context_line": "handle()", "in_app": True},
                {"module": "app.views", "function": function, "filename": "app/views.py",
                 "abs_path": "/srv/app/views.py", "lineno": 9, "context_line": "return data[key]", "in_app": True},
            ]},
        }]},
    }
    event.update(extra)
    return event


async def send(sentry: Any, event: dict[str, Any], project: int = 1) -> str:
    response, body = await request_json("POST", f"{sentry.url}/api/{project}/store/", json=event)
    assert response.code == 200, body
    return body["id"]


async def api(sentry: Any, method: str, path: str, expect: int | None = 200, **kwargs: Any) -> Any:
    """One web-API call; asserts the status when ``expect`` is given."""
    response, body = await request_json(method, sentry.url + path, headers=AUTH, **kwargs)
    if expect is not None:
        assert response.code == expect, (method, path, response.code, body)
    return body


async def issue_of(sentry: Any, event_id: str) -> dict[str, Any]:
    found = await api(sentry, "GET", f"/api/0/organizations/parlel/eventids/{event_id}/")
    return await api(sentry, "GET", f"/api/0/organizations/parlel/issues/{found['groupId']}/")


async def titles(sentry: Any, query: str, path: str = ISSUES) -> list[str]:
    from urllib.parse import quote

    body = await api(sentry, "GET", f"{path}?query={quote(query)}")
    return sorted(i["title"] for i in body)
