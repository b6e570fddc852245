"""Which issue an event belongs to, and how that issue is titled.

For now one issue per distinct (fingerprint | exception type + value | message); Sentry's real
stacktrace grouping replaces ``group_hash`` later, and nothing else needs to change.
Titles, culprits and metadata follow Sentry's ``eventtypes`` rules (SENTRY-PROTOCOL §6.2).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from sentry_daemon.timestamps import parse_timestamp

TITLE_LIMIT = 100
CULPRIT_LIMIT = 200

_FIND: Any = object()
"""Default of the ``exc`` parameters: look the main exception up (callers that have it pass it)."""


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def exceptions(data: dict[str, Any]) -> list[dict[str, Any]]:
    values = (data.get("exception") or {}).get("values") or []
    return [v for v in values if isinstance(v, dict)]


def main_exception(data: dict[str, Any]) -> dict[str, Any] | None:
    values = exceptions(data)
    main_id = data.get("main_exception_id")
    if main_id is not None:
        for value in values:
            if (value.get("mechanism") or {}).get("exception_id") == main_id:
                return value
    return values[-1] if values else None


def message_text(data: dict[str, Any]) -> str:
    logentry = data.get("logentry") or {}
    return str(logentry.get("formatted") or logentry.get("message") or "")


def group_hash(data: dict[str, Any], exc: dict[str, Any] | None = _FIND) -> str:
    """md5 of what identifies the event's issue (the event's own fingerprint wins)."""
    fingerprint = data.get("fingerprint")
    if isinstance(fingerprint, list) and fingerprint and fingerprint != ["{{ default }}"]:
        parts = ["fingerprint", *map(str, fingerprint)]
    else:
        if exc is _FIND:
            exc = main_exception(data)
        if exc is not None:
            parts = ["exception", str(exc.get("type") or ""), str(exc.get("value") or "")]
        else:
            parts = ["message", message_text(data)]
    return hashlib.md5("\x00".join(parts).encode("utf-8", "replace")).hexdigest()


@dataclass(frozen=True, slots=True)
class Description:
    title: str
    culprit: str
    metadata: dict[str, Any]
    type: str


def _frames(exc: dict[str, Any] | None, data: dict[str, Any]) -> list[dict[str, Any]]:
    stack = (exc or {}).get("stacktrace") or data.get("stacktrace") or {}
    return [f for f in (stack.get("frames") or []) if isinstance(f, dict)]


def _crash_frame(frames: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The last in-app frame with a usable function, else the last usable one."""
    last_usable = None
    for frame in reversed(frames):
        if frame.get("function") not in ("<redacted>", "<unknown>"):
            if frame.get("in_app"):
                return frame
            if last_usable is None:
                last_usable = frame
    return last_usable


def culprit(data: dict[str, Any], exc: dict[str, Any] | None = _FIND,
            frames: list[dict[str, Any]] | None = None) -> str:
    """Where the event happened; ``exc`` and ``frames`` (``_frames(exc, data)``) spare :func:`describe` a second scan."""
    if data.get("transaction"):
        return truncate(str(data["transaction"]), CULPRIT_LIMIT)
    if exc is _FIND:
        exc = main_exception(data)
    if exc and (exc.get("mechanism") or {}).get("synthetic"):
        return ""
    if frames is None:
        frames = _frames(exc, data)
    frame = next((f for f in reversed(frames) if f.get("in_app")), frames[-1] if frames else None)
    if frame is None:
        return truncate(str((data.get("request") or {}).get("url") or ""), CULPRIT_LIMIT)
    platform = frame.get("platform") or data.get("platform")
    function = frame.get("function")
    where = frame.get("module") or frame.get("filename")
    if platform in ("native", "cocoa", "objc"):
        text = function or "?"
    elif platform in ("javascript", "node"):
        text = f"{function or '?'}({where})" if where else (function or "?")
    else:
        text = f"{where or '?'} in {function or '?'}"
    return truncate(text, CULPRIT_LIMIT)


def describe(data: dict[str, Any], exc: dict[str, Any] | None = _FIND) -> Description:
    """Title, culprit, metadata and issue type as Sentry derives them from an event."""
    if exc is _FIND:
        exc = main_exception(data)
    if exc is not None:
        synthetic = bool((exc.get("mechanism") or {}).get("synthetic"))
        exc_type = str(exc.get("type") or "Error")
        value = str(exc.get("value") or "")
        metadata: dict[str, Any] = {"value": truncate(value, 1024), "display_title_with_tree_label": False}
        if not synthetic:
            metadata["type"] = truncate(exc_type, 128)
        frames = _frames(exc, data)
        frame = _crash_frame(frames)
        if frame is not None:
            if frame.get("filename") or frame.get("abs_path"):
                metadata["filename"] = frame.get("filename") or frame.get("abs_path")
            if frame.get("function"):
                metadata["function"] = frame["function"]
        first_line = value.strip().splitlines()[0] if value.strip() else ""
        if synthetic:
            # Sentry's ErrorEvent title: no type (a synthetic one is not real) means the function.
            title = metadata.get("function") or "<unknown>"
        else:
            title = f"{exc_type}: {truncate(first_line, TITLE_LIMIT)}" if first_line else exc_type
        title = data.get("title") or title
        return Description(title, culprit(data, exc, frames), metadata, "error")
    text = message_text(data).strip()
    first = text.splitlines()[0].strip() if text else ""
    metadata = {"title": truncate(first, TITLE_LIMIT)} if first else {"title": "<unlabeled event>"}
    if data.get("title"):
        metadata["title"] = data["title"]
    return Description(metadata["title"] or "<untitled>", culprit(data, None), metadata, "default")


def event_time(data: dict[str, Any], fallback: float) -> float:
    """The event's time; normalized events hold a float, which needs no parsing."""
    value = data.get("timestamp")
    if type(value) is float:
        return value
    parsed = parse_timestamp(value)
    return fallback if parsed is None else parsed


def user_identity(data: dict[str, Any]) -> str | None:
    """The tag Sentry counts users by: id, then username, email, ip."""
    user = data.get("user")
    if not isinstance(user, dict):
        return None
    for key in ("id", "username", "email", "ip_address"):
        if user.get(key):
            return f"{key}:{user[key]}"
    return None
