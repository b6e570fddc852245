"""How the control API shows a near miss (``store.journal``): the body's first bytes as text, with
what is not UTF-8, and control characters other than newlines and tabs, escaped (``\\x8b``)."""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.journal import JournalEntry
from sentry_daemon.timestamps import isoformat

_CONTROLS = {c: f"\\x{c:02x}" for c in (*range(0x20), 0x7F) if chr(c) not in "\n\r\t"}


def body_text(head: bytes) -> str:
    return head.decode("utf-8", "backslashreplace").translate(_CONTROLS)


def near_miss(e: JournalEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "received": isoformat(e.received),
        "endpoint": e.endpoint,
        "method": e.method,
        "path": e.path,
        "project": e.project,
        "org": e.organization,
        "remote_addr": e.remote_addr,
        "client": e.client,
        "user_agent": e.user_agent,
        "auth": e.auth,
        "content_type": e.content_type,
        "content_encoding": e.content_encoding,
        "status": e.status,
        "cause": e.cause,
        "detail": e.detail,
        "fault": e.fault,
        "dropped": e.dropped,
        "item": e.item,
        "envelope": e.envelope,
        "body": body_text(e.body),
        "body_size": e.body_size,
    }
