"""How an issue is titled: title, culprit, location and metadata, by Sentry's ``eventtypes`` rules
(SENTRY-PROTOCOL §6.2).

Frames count as in-app as the stack rules decide (``enhancements``), as they do for grouping: the
crash frame is the last in-app frame with a function, else the last frame with one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sentry_daemon.event_data import SECURITY_EVENT_TYPES, exceptions, main_exception, message_text
from sentry_daemon.grouping.stacks import Stack, stack_of

TITLE_LIMIT = 100
CULPRIT_LIMIT = 200


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclass(frozen=True, slots=True)
class Description:
    title: str
    culprit: str
    location: str | None
    metadata: dict[str, Any]
    type: str


def _stack(exc: dict[str, Any] | None, data: dict[str, Any]) -> Stack | None:
    """The stack of the main exception, else the event's stacktrace."""
    for holder in (exc, data):
        trace = stack_of(holder.get("stacktrace"), data.get("platform")) if holder else None
        if trace is not None and trace.frames:
            return trace
    return None


def culprit(data: dict[str, Any], exc: dict[str, Any] | None, trace: Stack | None) -> str:
    """Where the event happened: the SDK's culprit, the transaction, else the last in-app frame."""
    given = data.get("culprit") or data.get("transaction")
    if given:
        return truncate(str(given), CULPRIT_LIMIT)
    if exc and (exc.get("mechanism") or {}).get("synthetic"):
        return ""
    found = trace.culprit if trace is not None else ""
    if not found and isinstance(data.get("request"), dict):
        found = data["request"].get("url") or ""
    return truncate(str(found), CULPRIT_LIMIT)


def _frame_mix(data: dict[str, Any]) -> str | None:
    flags: list[bool] = []
    for exception in exceptions(data):
        trace = stack_of(exception.get("stacktrace"), data.get("platform"))
        if trace is not None:
            flags += trace.rules.in_app
    if not flags:
        return None
    if all(flags):
        return "in-app-only"
    return "system-only" if not any(flags) else "mixed"


def describe(data: dict[str, Any], main_exception_id: Any = None) -> Description:
    """Title, culprit, location, metadata and issue type as Sentry derives them from an event.

    ``main_exception_id`` is the exception an exception group's grouping settled on, if any.
    """
    exc = main_exception(data, main_exception_id)
    trace = _stack(exc, data)
    where = culprit(data, exc, trace)
    if exc is not None:
        synthetic = bool((exc.get("mechanism") or {}).get("synthetic"))
        exc_type = str(exc.get("type") or "Error")
        value = str(exc.get("value") or "")
        metadata: dict[str, Any] = {"value": truncate(value, 1024)}
        if not synthetic:
            metadata["type"] = truncate(exc_type, 128)
        frame = trace.crash_frame if trace is not None else None
        if frame is not None:
            if frame.get("filename") or frame.get("abs_path"):
                metadata["filename"] = frame.get("filename") or frame.get("abs_path")
            if frame.get("function"):
                metadata["function"] = frame["function"]
        mix = _frame_mix(data)
        if mix is not None:
            metadata["in_app_frame_mix"] = mix
        if synthetic:
            # No type (a synthetic one is not real) means the crash function.
            title = metadata.get("function") or "<unknown>"
        elif value:
            title = f"{metadata['type']}: {truncate(value.splitlines()[0] if value.splitlines() else '', TITLE_LIMIT)}"
        else:
            title = metadata["type"]
        title = data.get("title") or title
        return Description(title, where, metadata.get("filename"), metadata, "error")
    text = message_text(data).strip()
    first = text.splitlines()[0].strip() if text else ""
    metadata = {"title": truncate(first, TITLE_LIMIT)} if first else {"title": "<unlabeled event>"}
    if data.get("title"):
        metadata["title"] = data["title"]
    event_type = data.get("type") if data.get("type") in SECURITY_EVENT_TYPES else "default"
    return Description(metadata["title"] or "<untitled>", where, None, metadata, event_type)
