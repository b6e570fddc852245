"""Open Sentry items as the Sentry events they are, stored the way SDK envelopes are.

Each event becomes a one-item envelope (kept whole, with the batch id) and goes through
``process.accept_envelope``: normalized, grouped, counted and indexed like anything an SDK sends.

- ``error`` → an error event: ``exception`` with its frames in Sentry's names (``inApp`` →
  ``in_app``), oldest first as sent; ``message``, breadcrumbs, tags, user, environment, release.
- ``transaction`` → a transaction event ending at ``timestamp`` and starting ``durationMs``
  before it; its spans hang under its root span (or the ``parentSpanId`` they name) and, having
  no start of their own, start with it and last their ``durationMs`` (or to its end).
- ``ai_generation`` → a ``gen_ai.chat`` span named ``chat <model>`` with the attributes Sentry's
  AI monitoring reads (sentry-python's ``SPANDATA`` names; the costs under Relay's
  ``gen_ai.cost.*``, plus its deprecated ``gen_ai.usage.total_cost``; ``gen_ai.usage.total_tokens``
  and ``gen_ai.response.tokens_per_second`` derived as Relay derives them). It goes inside the
  batch's transaction of the same trace when there is one (under its root span), otherwise inside
  a transaction of its own, ``chat <model>``, in its trace (or a new one).

Events are ``platform: javascript`` (the Open Sentry SDK and its beacon are JavaScript); no
``sdk`` is invented for them.
"""

from __future__ import annotations

import json
import math
import secrets
import uuid
from dataclasses import dataclass, field
from typing import Any

from sentry_daemon.ingest.envelope import Envelope, Item, serialize_envelope
from sentry_daemon.ingest.open_sentry_schema import ParsedItem
from sentry_daemon.ingest.process import Context, accept_envelope
from sentry_daemon.store.records import Batch, BatchItem, Project
from sentry_daemon.store.store import Store

PLATFORM = "javascript"
ENDPOINT = "open-sentry"
STATUSES = {"ok": "ok", "error": "internal_error", "cancelled": "cancelled"}
_USER_KEYS = {"ipAddress": "ip_address"}


@dataclass
class Built:
    """One Sentry event made of a batch, and the (batch index, span id) of the items it carries."""

    event: dict[str, Any]
    items: list[tuple[int, str | None]] = field(default_factory=list)


def _span_id() -> str:
    return secrets.token_hex(8)


def _id(value: str | None) -> str | None:
    return value.lower() if value else None


def _tag_value(value: Any) -> str | None:
    """A tag as the JavaScript SDK would have stringified it."""
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _tags(tags: dict[str, Any]) -> dict[str, str]:
    return {key: text for key, value in tags.items() if (text := _tag_value(value)) is not None}


def _user(user: dict[str, Any]) -> dict[str, Any]:
    return {_USER_KEYS.get(key, key): value for key, value in user.items()}


def _common(event: dict[str, Any], fields: dict[str, Any]) -> dict[str, Any]:
    """The context an item of any kind may carry: tags, user, environment, release."""
    if "tags" in fields:
        event["tags"] = _tags(fields["tags"])
    if "user" in fields:
        event["user"] = _user(fields["user"])
    for key in ("environment", "release"):
        if key in fields:
            event[key] = fields[key]
    return event


def _frame(frame: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key in (("filename", "filename"), ("function", "function"), ("inApp", "in_app")):
        if name in frame:
            out[key] = frame[name]
    for key in ("lineno", "colno"):
        if key in frame:
            out[key] = int(frame[key])
    return out


def error_event(fields: dict[str, Any], received: float) -> dict[str, Any]:
    timestamp = fields.get("timestamp", received)
    exception = fields["exception"]
    value: dict[str, Any] = {"type": exception["type"], "value": exception["value"]}
    if "stacktrace" in exception:
        value["stacktrace"] = {"frames": [_frame(f) for f in exception["stacktrace"]["frames"]]}
    event: dict[str, Any] = {
        "event_id": uuid.uuid4().hex,
        "level": "error",
        "platform": PLATFORM,
        "timestamp": timestamp,
        "exception": {"values": [value]},
    }
    if "message" in fields:
        event["message"] = fields["message"]
    if "breadcrumbs" in fields:
        event["breadcrumbs"] = {"values": [
            {**crumb, "timestamp": crumb.get("timestamp", timestamp)} for crumb in fields["breadcrumbs"]
        ]}
    return _common(event, fields)


def _transaction(name: str, trace_id: str, root: str, start: float, end: float, status: str,
                 spans: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "event_id": uuid.uuid4().hex,
        "type": "transaction",
        "platform": PLATFORM,
        "transaction": name,
        "transaction_info": {"source": "custom"},
        "start_timestamp": start,
        "timestamp": end,
        "contexts": {"trace": {"trace_id": trace_id, "span_id": root, "op": "default", "status": status}},
        "spans": spans,
    }


def transaction_event(fields: dict[str, Any], received: float) -> dict[str, Any]:
    end = fields.get("timestamp", received)
    start = end - fields["durationMs"] / 1000
    trace_id, root = fields["traceId"], _span_id()
    spans = []
    for span in fields.get("spans", ()):
        out = {
            "span_id": _id(span.get("spanId")) or _span_id(),
            "parent_span_id": _id(span.get("parentSpanId")) or root,
            "trace_id": trace_id,
            "op": span.get("op") or "default",
            "start_timestamp": start,
            "timestamp": start + span["durationMs"] / 1000 if "durationMs" in span else end,
        }
        if "description" in span:
            out["description"] = span["description"]
        spans.append(out)
    event = _transaction(fields["name"], trace_id, root, start, end, STATUSES[fields.get("status", "ok")], spans)
    if "environment" in fields:
        event["environment"] = fields["environment"]
    return event


def ai_span(fields: dict[str, Any], received: float, trace_id: str, parent: str) -> dict[str, Any]:
    """The ``gen_ai.chat`` span of one generation, ending at its ``timestamp``."""
    end = fields.get("timestamp", received)
    latency = fields.get("latencyMs", 0)
    model, provider = fields["model"], fields["provider"]
    input_tokens, output_tokens = int(fields["inputTokens"]), fields.get("outputTokens")
    data: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.system": provider,
        "gen_ai.request.model": model,
        "gen_ai.usage.input_tokens": input_tokens,
    }
    if output_tokens is not None:
        output_tokens = int(output_tokens)
        data["gen_ai.usage.output_tokens"] = output_tokens
        rate = output_tokens * 1000 / latency if latency > 0 else math.inf
        if math.isfinite(rate):  # Relay derives it when the span has a duration
            data["gen_ai.response.tokens_per_second"] = rate
    data["gen_ai.usage.total_tokens"] = input_tokens + (output_tokens or 0)
    total = fields.get("totalCostUsd")
    if total is None and "inputCostUsd" in fields and "outputCostUsd" in fields:
        total = fields["inputCostUsd"] + fields["outputCostUsd"]
    if total is not None:
        data["gen_ai.cost.total_tokens"] = total
        data["gen_ai.usage.total_cost"] = total
    for name, key in (("inputCostUsd", "gen_ai.cost.input_tokens"), ("outputCostUsd", "gen_ai.cost.output_tokens")):
        if name in fields:
            data[key] = fields[name]
    if "timeToFirstTokenMs" in fields:
        data["gen_ai.response.time_to_first_token"] = fields["timeToFirstTokenMs"] / 1000
    for key, value in _user(fields.get("user", {})).items():
        data[f"user.{key}"] = value
    if "metadata" in fields:
        data["metadata"] = fields["metadata"]
    span: dict[str, Any] = {
        "span_id": _id(fields.get("spanId")) or _span_id(),
        "parent_span_id": parent,
        "trace_id": trace_id,
        "op": "gen_ai.chat",
        "description": f"chat {model}",
        "start_timestamp": end - latency / 1000,
        "timestamp": end,
        "status": STATUSES[fields.get("status", "ok")],
        "data": data,
    }
    if "tags" in fields:
        span["tags"] = _tags(fields["tags"])
    return span


def build_events(items: list[ParsedItem], received: float) -> list[Built]:
    """The Sentry events of a batch, in its order; a generation joins the batch's transaction of
    its trace, wherever in the batch that transaction is."""
    transactions = {n: Built(transaction_event(item.fields, received), [(n, None)])
                    for n, item in enumerate(items) if item.type == "transaction"}
    by_trace: dict[str, Built] = {}
    for built in transactions.values():
        by_trace.setdefault(built.event["contexts"]["trace"]["trace_id"], built)
    events: list[Built] = []
    for n, item in enumerate(items):
        if item.type == "error":
            events.append(Built(error_event(item.fields, received), [(n, None)]))
        elif item.type == "transaction":
            events.append(transactions[n])
        else:
            host = by_trace.get(item.fields.get("traceId") or "")
            if host is not None:
                trace = host.event["contexts"]["trace"]
                span = ai_span(item.fields, received, trace["trace_id"], trace["span_id"])
                host.event["spans"].append(span)
                host.items.append((n, span["span_id"]))
                continue
            span = ai_span(item.fields, received, item.fields.get("traceId") or uuid.uuid4().hex, _span_id())
            event = _transaction(span["description"], span["trace_id"], span["parent_span_id"],
                                 span["start_timestamp"], span["timestamp"], span["status"], [span])
            events.append(Built(_common(event, item.fields), [(n, span["span_id"])]))
    return events


@dataclass(frozen=True)
class Sender:
    """Who sent a batch, as its envelopes and the batch record describe it."""

    public_key: str
    auth_source: str
    client: str | None
    remote_addr: str | None
    content_type: str | None


def keep_batch(store: Store, project: Project, items: list[ParsedItem], raw_size: int, sender: Sender) -> Batch:
    """Store every event of a valid batch through the SDK path, then the batch that names them."""
    received = store.now()
    batch_id = str(uuid.uuid4())
    context = Context(received, sender.remote_addr, None)
    kept: dict[int, BatchItem] = {}
    for built in build_events(items, received):
        event = built.event
        item_headers = {"type": "transaction" if event.get("type") == "transaction" else "event"}
        headers = {"event_id": event["event_id"]}
        payload = json.dumps(event, separators=(",", ":")).encode()
        envelope = Envelope(headers, [Item(item_headers, payload)])
        record, event_id = accept_envelope(
            store, project, envelope, serialize_envelope(headers, [(item_headers, payload)]), context,
            endpoint=ENDPOINT, client=sender.client, auth_source=sender.auth_source,
            remote_addr=sender.remote_addr, content_type=sender.content_type, content_encoding=None,
            batch=batch_id,
        )
        for n, span_id in built.items:
            kept[n] = BatchItem(n, items[n].type, items[n].sent, event_id or event["event_id"], record.id, span_id)
    return store.batches.add(Batch(batch_id, project, received, sender.public_key, sender.auth_source,
                                   sender.client, sender.remote_addr, raw_size, [kept[n] for n in sorted(kept)]))
