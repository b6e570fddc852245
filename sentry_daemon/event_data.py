"""Reading a normalized event: its exceptions, main exception, message and time.

Shared by grouping, the store and the serializers, which all read the same few fields.
"""

from __future__ import annotations

from typing import Any

from sentry_daemon.timestamps import parse_timestamp


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


def event_time(data: dict[str, Any], fallback: float) -> float:
    """The event's time; normalized events hold a float, which needs no parsing."""
    value = data.get("timestamp")
    if type(value) is float:
        return value
    parsed = parse_timestamp(value)
    return fallback if parsed is None else parsed
