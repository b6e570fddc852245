"""Reading a normalized event: its exceptions, main exception, message and time.

Shared by grouping, the store and the serializers, which all read the same few fields.
"""

from __future__ import annotations

from typing import Any

from sentry_daemon.timestamps import parse_timestamp

# The types of security-report events, and those of every event that Sentry files as an error issue.
SECURITY_EVENT_TYPES = ("csp", "hpkp", "expectct", "expectstaple", "nel")
ERROR_EVENT_TYPES = ("error", "default", *SECURITY_EVENT_TYPES)


def interface_values(holder: Any) -> list[dict[str, Any]]:
    """The objects of a ``{"values": [...]}`` interface (exception, threads, breadcrumbs)."""
    values = holder.get("values") if isinstance(holder, dict) else None
    return [v for v in values if isinstance(v, dict)] if isinstance(values, list) else []


def exceptions(data: dict[str, Any]) -> list[dict[str, Any]]:
    return interface_values(data.get("exception"))


def main_exception(data: dict[str, Any], main_id: Any = None) -> dict[str, Any] | None:
    """The exception with ``main_id`` (the one an exception group's grouping settled on), else the last."""
    values = exceptions(data)
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
