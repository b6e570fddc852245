"""What the persistence and snapshot tests share: a real ``twistd sentryfake`` child, every kind of
state put in through HTTP, and all of it read back through the web and control APIs."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from typing import Any

from conftest import TOKEN, free_port, start_twistd, wait_until
from test_api_releases import multipart

AUTH = {"Authorization": f"Bearer {TOKEN}"}


class Daemon:
    """One ``twistd sentryfake`` child on a free port."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen = start_twistd("--port", f"tcp:{self.port}:interface=127.0.0.1", *args)
        wait_until(self._healthy, timeout=30)

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            output = self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""
            raise AssertionError(f"twistd exited early ({self.proc.returncode}):\n{output}")
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def output(self) -> str:
        return self.proc.stdout.read().decode(errors="replace") if self.proc.stdout else ""


def call(base: str, method: str, path: str, body: Any = None, data: bytes | None = None,
         headers: dict[str, str] | None = None, expect: int | None = 200) -> tuple[int, Any]:
    """(status, parsed JSON or bytes) of one request; asserts the status when ``expect`` is given."""
    headers = {**AUTH, **(headers or {})}
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            status, raw, kind = r.status, r.read(), r.headers.get("Content-Type", "")
    except urllib.error.HTTPError as exc:
        status, raw, kind = exc.code, exc.read(), exc.headers.get("Content-Type", "")
    parsed = json.loads(raw) if raw and kind.startswith("application/json") else raw
    if expect is not None:
        assert status == expect, (method, path, status, parsed)
    return status, parsed


def error_event(message: str, **extra: Any) -> dict[str, Any]:
    return {"event_id": uuid.uuid4().hex, "platform": "python", "level": "error", "timestamp": time.time(),
            "release": "1.0", "message": message, "user": {"id": message}, **extra}


def envelope(*items: tuple[dict[str, Any], bytes], event_id: str | None = None) -> bytes:
    parts = [json.dumps({"event_id": event_id or uuid.uuid4().hex}).encode()]
    for headers, payload in items:
        parts += [json.dumps({**headers, "length": len(payload)}).encode(), payload]
    return b"\n".join(parts) + b"\n"


def populate(base: str) -> None:
    """Every kind of state, through the APIs a client and a user would use."""
    call(base, "POST", "/api/0/organizations/parlel/teams/", {"slug": "backend"}, expect=201)
    call(base, "POST", "/api/0/teams/parlel/backend/projects/", {"name": "Second App"}, expect=201)
    call(base, "POST", "/api/0/projects/parlel/hello-world/keys/", {"name": "extra"}, expect=201)
    call(base, "POST", "/api/0/api-tokens/", {"scopes": ["org:read"], "name": "mine"}, expect=201)
    call(base, "POST", "/api/0/organizations/parlel/releases/", {"version": "1.0", "projects": ["hello-world"]},
         expect=201)
    form, headers = multipart(("file", b"//# sourceMappingURL=app.js.map\n", "app.js", "application/javascript"),
                              ("name", "~/app.js", None, None))
    call(base, "POST", "/api/0/organizations/parlel/releases/1.0/files/", data=form, headers=headers, expect=201)
    for n in range(3):
        call(base, "POST", "/api/1/store/", error_event(f"first problem {n}", exception={"values": [
            {"type": "KeyError", "value": "k", "stacktrace": {"frames": [{"function": "one", "filename": "a.py"}]}}]}))
    call(base, "POST", "/api/1/store/", error_event("second problem", exception={"values": [
        {"type": "ValueError", "value": "v", "stacktrace": {"frames": [{"function": "two", "filename": "b.py"}]}}]}))
    event = error_event("with attachment")
    call(base, "POST", "/api/1/envelope/", data=envelope(
        ({"type": "event"}, json.dumps(event).encode()),
        ({"type": "attachment", "filename": "log.txt"}, b"attached bytes"), event_id=event["event_id"]))
    call(base, "POST", "/api/1/envelope/", data=envelope(({"type": "transaction"}, json.dumps({
        "event_id": uuid.uuid4().hex, "type": "transaction", "transaction": "/home", "start_timestamp": time.time() - 1,
        "timestamp": time.time(), "contexts": {"trace": {"trace_id": uuid.uuid4().hex, "span_id": "a" * 16}},
        "spans": [{"span_id": "b" * 16, "trace_id": "c" * 32, "op": "db", "start_timestamp": time.time() - 1,
                   "timestamp": time.time()}]}).encode())))
    call(base, "POST", "/api/1/envelope/", data=envelope(({"type": "session"}, json.dumps({
        "sid": uuid.uuid4().hex, "init": True, "status": "exited", "attrs": {"release": "1.0"}}).encode())))
    call(base, "POST", "/api/1/envelope/", data=envelope(({"type": "client_report"}, json.dumps({
        "timestamp": time.time(), "discarded_events": [{"reason": "ratelimit_backoff", "category": "error",
                                                        "quantity": 3}]}).encode())))
    check_in = json.dumps({"check_in_id": uuid.uuid4().hex, "monitor_slug": "nightly", "status": "ok",
                           "monitor_config": {"schedule": {"type": "crontab", "value": "0 3 * * *"}}}).encode()
    call(base, "POST", "/api/1/envelope/", data=b"{}\n" + json.dumps({"type": "check_in", "length": len(check_in)})
         .encode() + b"\n" + check_in)
    _, issues = call(base, "GET", "/api/0/projects/parlel/hello-world/issues/?query=")
    first = next(i for i in issues if "KeyError" in i["title"])
    second = next(i for i in issues if "ValueError" in i["title"])
    call(base, "PUT", f"/api/0/organizations/parlel/issues/?id={first['id']}",
         {"isBookmarked": True, "assignedTo": "user:1"})
    call(base, "PUT", f"/api/0/organizations/parlel/issues/?id={second['id']}", {"status": "resolved"})


STATS = "/api/0/organizations/parlel/stats_v2/?field=sum(quantity)&groupBy=outcome&groupBy=category&statsPeriod=1h"
READS = [
    "/api/0/organizations/",
    "/api/0/organizations/parlel/teams/",
    "/api/0/organizations/parlel/projects/",
    "/api/0/projects/parlel/hello-world/keys/",
    "/api/0/api-tokens/",
    "/api/0/organizations/parlel/releases/",
    "/api/0/organizations/parlel/releases/1.0/files/",
    "/api/0/projects/parlel/hello-world/issues/?query=",
    "/api/0/organizations/parlel/issues/?query=is:resolved",
    "/api/0/organizations/parlel/issues/?query=bookmarks:me",
    "/api/0/projects/parlel/hello-world/events/",
    "/api/0/organizations/parlel/monitors/",
    STATS,
    "/__parlel/events",
    "/__parlel/transactions",
    "/__parlel/envelopes",
    "/__parlel/items",
    "/__parlel/attachments",
    "/__parlel/check_ins",
    "/__parlel/outcomes",
    "/__parlel/release-health",
    "/__parlel/retention",
]


def everything(base: str) -> dict[str, Any]:
    """Every read of ``READS``, and each issue's detail and events and each attachment's bytes,
    with the daemon's own address taken out (a restarted one listens on another port)."""
    seen: dict[str, Any] = {path: call(base, "GET", path, expect=None) for path in READS}
    seen = {path: body if status == 200 else (status, body) for path, (status, body) in seen.items()}
    stats = seen[STATS]
    if isinstance(stats, dict):  # its buckets move with the clock between two reads; its totals do not
        seen[STATS] = sorted(([sorted(g["by"].items()), g["totals"]] for g in stats["groups"]), key=repr)
    for issue in seen["/api/0/projects/parlel/hello-world/issues/?query="]:
        for path in (f"/api/0/organizations/parlel/issues/{issue['id']}/",
                     f"/api/0/organizations/parlel/issues/{issue['id']}/events/"):
            seen[path] = call(base, "GET", path)[1]
    for attachment in seen["/__parlel/attachments"]["attachments"]:
        path = f"/__parlel/attachments/{attachment['id']}"
        seen[path] = call(base, "GET", path)[1]
    text = json.dumps(seen, default=repr).replace(base, "http://sentryfake")
    return json.loads(text.replace(base.removeprefix("http://"), "sentryfake"))
