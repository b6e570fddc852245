"""What the real-client tests (sentry-sdk, sentry-cli, @sentry/node) share: a clean environment
for the client subprocess, and readers of the control and web APIs."""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import Any

import treq

from conftest import AUTH, request_json

ISSUES = "/api/0/projects/parlel/hello-world/issues/"
HEX32 = re.compile(r"[0-9a-f]{32}")

# The attachments each client sends: a text file, and a binary one with every byte an envelope
# parser can trip on: newlines (the framing separator), CR, NUL, and bytes that are not UTF-8.
TEXT = "hello attachment \u00e9\nsecond line\n".encode()
BINARY = b"\n\nline two\r\n\x00\x01\x02\xff\xfe\x80\xc3( end\n\x00\xff\n"


def client_env(*drop_prefixes: str, **extra: str) -> dict[str, str]:
    """This process's environment without SENTRY_* (and ``drop_prefixes``) or proxies, plus ``extra``."""
    prefixes = ("SENTRY_", *drop_prefixes)
    env = {k: v for k, v in os.environ.items() if not k.startswith(prefixes) and k.lower() not in (
        "http_proxy", "https_proxy", "all_proxy")}
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def run_client(args: list[str], env: dict[str, str], cwd: Path | None = None,
               timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a client to completion (call it off the reactor thread: clients block while flushing)."""
    return subprocess.run(args, env=env, cwd=cwd, capture_output=True, timeout=timeout, check=False)


async def get(sentry: Any, path: str, **kwargs: Any) -> Any:
    response, body = await request_json("GET", sentry.url + path, **kwargs)
    assert response.code == 200, (path, response.code, body)
    return body


async def events(sentry: Any, query: str = "") -> dict[str, dict[str, Any]]:
    body = await get(sentry, "/__parlel/events" + query)
    assert body["count"] == len(body["events"])
    return {e["event_id"]: e for e in body["events"]}


async def items(sentry: Any, item_type: str) -> list[dict[str, Any]]:
    body = await get(sentry, f"/__parlel/items?type={item_type}")
    assert body["count"] == len(body["items"])
    assert all(i["type"] == item_type for i in body["items"])
    return body["items"]


async def issues(sentry: Any, query: str = "") -> list[dict[str, Any]]:
    return await get(sentry, ISSUES + query, headers=AUTH)


def tag_pairs(event: dict[str, Any]) -> dict[str, str]:
    tags = event.get("tags") or []
    return dict(tags.items()) if isinstance(tags, dict) else {k: v for k, v in tags}


def message_of(event: dict[str, Any]) -> str | None:
    return (event.get("logentry") or {}).get("formatted")


async def assert_attachments_stored(sentry: Any, event_id: str) -> list[dict[str, Any]]:
    """``note.txt`` (TEXT) and ``data.bin`` (BINARY) are linked to the event and served byte for
    byte; returns the two attachments as listed."""
    listed = await get(sentry, f"/__parlel/attachments?event_id={event_id}")
    assert listed["count"] == 2
    by_name = {a["filename"]: a for a in listed["attachments"]}
    assert set(by_name) == {"note.txt", "data.bin"}
    for name, expected, content_type in (("note.txt", TEXT, "text/plain"),
                                         ("data.bin", BINARY, "application/octet-stream")):
        meta = by_name[name]
        assert meta["event_id"] == event_id and meta["project"] == 1
        assert meta["content_type"] == content_type and meta["size"] == len(expected)
        assert meta["attachment_type"] == "event.attachment"
        response = await treq.get(f"{sentry.url}/__parlel/attachments/{meta['id']}")
        assert response.code == 200
        assert await response.content() == expected
        assert response.headers.getRawHeaders("content-type") == [content_type]
    return listed["attachments"]
