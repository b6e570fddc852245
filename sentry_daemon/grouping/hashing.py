"""Which issue an event belongs to: its grouping hash.

For now one issue per distinct (fingerprint | exception type + value | message); Sentry's real
stacktrace grouping replaces ``group_hash`` later, and nothing else needs to change.
"""

from __future__ import annotations

import hashlib
from typing import Any

from sentry_daemon.event_data import FIND_MAIN_EXCEPTION, main_exception, message_text


def group_hash(data: dict[str, Any], exc: dict[str, Any] | None = FIND_MAIN_EXCEPTION) -> str:
    """md5 of what identifies the event's issue (the event's own fingerprint wins)."""
    fingerprint = data.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint and fingerprint != ["{{ default }}"]:
        parts = ["fingerprint", *map(str, fingerprint)]
    else:
        if exc is FIND_MAIN_EXCEPTION:
            exc = main_exception(data)
        if exc is not None:
            parts = ["exception", str(exc.get("type") or ""), str(exc.get("value") or "")]
        else:
            parts = ["message", message_text(data)]
    return hashlib.md5("\x00".join(parts).encode("utf-8", "replace")).hexdigest()
