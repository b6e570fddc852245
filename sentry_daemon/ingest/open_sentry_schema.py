"""What ``POST /v1/ingest`` accepts: one item or a batch of 1–20, each declared once below.

Items are camelCase as the Open Sentry SDK sends them; undeclared keys are ignored (``validate``
keeps only declared fields). Types are JSON's, checked strictly as a JSON-schema validator would
(a number is not a string, ``true`` is not an integer): the API answers every failure with one
body, ``400 {"error": "Invalid payload"}``, so there is no message to soften. Where the contract
names a field without saying it is required, it is optional; ``exception`` needs its ``type`` and
``value`` (the value may be empty), and a ``stacktrace`` its ``frames``. Numbers are non-negative
and at most ``Number.MAX_SAFE_INTEGER``; ids are Sentry's (a trace id any UUID form, a span id 16
hex); a body nesting deeper than ``MAX_DEPTH`` is refused too.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import Any, Callable

from sentry_daemon.http.validation import Field, ValidationError, validate
from sentry_daemon.ingest.envelope import normalize_event_id

MAX_ITEMS = 20
MAX_SAFE_INTEGER = 2**53 - 1
# Deeper bodies are refused: what is kept is serialized again (events, the control API) a few
# levels deeper than it arrived, and the stdlib's JSON stops near a thousand.
MAX_DEPTH = 64
_SPAN_ID = re.compile(r"[0-9a-fA-F]{16}")

# the data category each kind is counted under (its Sentry event's)
CATEGORIES = {"error": "error", "transaction": "transaction", "ai_generation": "transaction"}


class InvalidBatch(Exception):
    """The body is refused whole; ``categories`` are what its outcomes are counted as (``invalid``)."""

    def __init__(self, message: str, reason: str, categories: list[str]) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason
        self.categories = categories


def _check(test: Callable[[Any], bool], message: str) -> Callable[[Any], str | None]:
    return lambda value: None if test(value) else message


def _is_text(value: Any) -> bool:
    return isinstance(value, str)


def _is_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value.strip())


def _is_amount(value: Any) -> bool:
    """A non-negative number a JavaScript client can send (up to ``Number.MAX_SAFE_INTEGER``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    return 0 <= value <= MAX_SAFE_INTEGER and (isinstance(value, int) or math.isfinite(value))


def _is_count(value: Any) -> bool:
    """A non-negative whole number (``12.0`` is one, as in JSON)."""
    return _is_amount(value) and (isinstance(value, int) or value.is_integer())


def _is_primitive(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _is_tags(value: Any) -> bool:
    return isinstance(value, dict) and all(_is_primitive(v) for v in value.values())


def _clean_trace_id(value: Any) -> str | None:
    """A trace id as Sentry keeps it (32 lowercase hex); any UUID form is read, as Relay reads one."""
    return normalize_event_id(value)


def _is_trace_id(value: Any) -> bool:
    return _clean_trace_id(value) is not None


def _is_span_id(value: Any) -> bool:
    return isinstance(value, str) and _SPAN_ID.fullmatch(value) is not None


def _value(test: Callable[[Any], bool], required: bool = False, choices: tuple[str, ...] | None = None) -> Field:
    """A field checked by ``test`` alone (Field's own kinds coerce, which this API does not)."""
    return Field(kind="any", required=required, choices=choices, check=_check(test, "invalid"))


TEXT = _value(_is_text)
NAME = _value(_is_name, required=True)
COUNT = _value(_is_count)
AMOUNT = _value(_is_amount)
TIMESTAMP = Field(kind="datetime")
TAGS = _value(_is_tags)
OBJECT = Field(kind="dict")
TRACE_ID = _value(_is_trace_id)
SPAN_ID = _value(_is_span_id)
BOOLEAN = _value(lambda value: isinstance(value, bool))

FRAME = {"filename": TEXT, "function": TEXT, "lineno": COUNT, "colno": COUNT, "inApp": BOOLEAN}
EXCEPTION = {
    "type": NAME,
    "value": _value(_is_text, required=True),
    "stacktrace": Field(kind="dict", fields={
        "frames": Field(kind="list", required=True, item=Field(kind="dict", fields=FRAME)),
    }),
}
BREADCRUMB = {"category": TEXT, "message": TEXT, "level": TEXT, "timestamp": TIMESTAMP}
SPAN = {"spanId": SPAN_ID, "op": TEXT, "description": TEXT, "durationMs": AMOUNT, "parentSpanId": SPAN_ID}

ITEMS: dict[str, dict[str, Field]] = {
    "error": {
        "exception": Field(kind="dict", required=True, fields=EXCEPTION),
        "message": TEXT,
        "breadcrumbs": Field(kind="list", item=Field(kind="dict", fields=BREADCRUMB)),
        "tags": TAGS,
        "user": OBJECT,
        "environment": TEXT,
        "release": TEXT,
        "timestamp": TIMESTAMP,
    },
    "transaction": {
        "name": NAME,
        "traceId": _value(_is_trace_id, required=True),
        "durationMs": _value(_is_count, required=True),
        "status": _value(_is_text, choices=("ok", "error", "cancelled")),
        "environment": TEXT,
        "spans": Field(kind="list", item=Field(kind="dict", fields=SPAN)),
        "timestamp": TIMESTAMP,
    },
    "ai_generation": {
        "provider": NAME,
        "model": NAME,
        "inputTokens": _value(_is_count, required=True),
        "outputTokens": COUNT,
        "totalCostUsd": AMOUNT,
        "inputCostUsd": AMOUNT,
        "outputCostUsd": AMOUNT,
        "latencyMs": AMOUNT,
        "timeToFirstTokenMs": AMOUNT,
        "status": _value(_is_text, choices=("ok", "error")),
        "traceId": TRACE_ID,
        "spanId": SPAN_ID,
        "tags": TAGS,
        "user": OBJECT,
        "metadata": OBJECT,
        "environment": TEXT,
        "timestamp": TIMESTAMP,
    },
}


@dataclass(frozen=True)
class ParsedItem:
    """One valid item: its kind, its declared fields cleaned (timestamps as Unix seconds, ids as
    Sentry keeps them), and the object exactly as sent."""

    type: str
    fields: dict[str, Any]
    sent: dict[str, Any]


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """The body as JSON, or ``InvalidBatch``: UTF-8 strictly (the stdlib would let lone surrogates
    through), and no ``NaN`` or ``Infinity`` (not JSON)."""
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_refuse_constant)
    except (RecursionError, UnicodeDecodeError, ValueError):
        raise InvalidBatch("Invalid JSON", "invalid_json", ["default"]) from None


def _depth(value: Any) -> int:
    """How deep arrays and objects nest in ``value``, counted without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node if isinstance(node, list) else None
        if children is None:
            continue
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children)
    return deepest


def _category(item: Any) -> str:
    kind = item.get("type") if isinstance(item, dict) else None
    return CATEGORIES.get(kind, "default") if isinstance(kind, str) else "default"


def parse_batch(body: Any) -> list[ParsedItem]:
    """Every item of a parsed body, validated; one bad item refuses the whole batch."""
    items = body if isinstance(body, list) else [body]
    if not items or len(items) > MAX_ITEMS or _depth(body) > MAX_DEPTH:
        raise InvalidBatch("Invalid payload", "payload", [_category(item) for item in items])
    parsed = []
    for item in items:
        kind = item.get("type") if isinstance(item, dict) else None
        fields = ITEMS.get(kind) if isinstance(kind, str) else None
        if fields is None:
            raise InvalidBatch("Invalid payload", "payload", [_category(item) for item in items])
        try:
            cleaned = validate(item, fields)
        except ValidationError:
            raise InvalidBatch("Invalid payload", "payload", [_category(item) for item in items]) from None
        if "traceId" in cleaned:
            cleaned["traceId"] = _clean_trace_id(cleaned["traceId"])
        parsed.append(ParsedItem(kind, cleaned, item))
    return parsed
