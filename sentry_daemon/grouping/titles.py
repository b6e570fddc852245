"""How an issue is titled: title, culprit and metadata, by Sentry's ``eventtypes`` rules
(SENTRY-PROTOCOL §6.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentry_daemon.event_data import FIND_MAIN_EXCEPTION, main_exception, message_text

TITLE_LIMIT = 100
CULPRIT_LIMIT = 200


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


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


def culprit(data: dict[str, Any], exc: dict[str, Any] | None = FIND_MAIN_EXCEPTION,
            frames: list[dict[str, Any]] | None = None) -> str:
    """Where the event happened; ``exc`` and ``frames`` (``_frames(exc, data)``) spare :func:`describe` a second scan."""
    if data.get("transaction"):
        return truncate(str(data["transaction"]), CULPRIT_LIMIT)
    if exc is FIND_MAIN_EXCEPTION:
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


def describe(data: dict[str, Any], exc: dict[str, Any] | None = FIND_MAIN_EXCEPTION) -> Description:
    """Title, culprit, metadata and issue type as Sentry derives them from an event."""
    if exc is FIND_MAIN_EXCEPTION:
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


