"""Sentry's two timestamp forms: RFC 3339 strings and Unix seconds; out, ISO-8601 with ``Z``."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any

# The dates a datetime can hold (years 1 to 9999): outside them nothing can be written back.
MIN_STAMP = -62135596800.0
MAX_STAMP = 253402300799.0


def parse_timestamp(value: Any) -> float | None:
    """Unix seconds from a float/int or an RFC 3339 string; None when it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str) and value:
        if ":" not in value:
            try:
                return float(value)
            except ValueError:
                pass
        return _parse_date(value)
    return None


def _parse_date(text: str) -> float | None:
    """RFC 3339 / ISO 8601; what SDKs send (``…T18:41:13.123456Z``) is read without copying."""
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        text = text.strip()
        if text.endswith(("Z", "z")):
            text = text[:-1] + "+00:00"
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def usable_timestamp(value: Any) -> float | None:
    """``parse_timestamp``, but None for what no date can be (NaN, infinities, past year 9999)."""
    try:
        stamp = parse_timestamp(value)
    except (OverflowError, ValueError):
        return None
    if stamp is None or not math.isfinite(stamp) or not MIN_STAMP <= stamp <= MAX_STAMP:
        return None
    return stamp


def isoformat(stamp: float | None) -> str | None:
    """``2023-06-21T19:50:26.036254Z`` as the Sentry API writes dates."""
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
