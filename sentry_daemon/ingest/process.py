"""From a parsed envelope to stored state: every item typed, normalized and kept.

Relay accepts an envelope as a whole and drops bad items later; so do we: an item whose payload is
not valid JSON is kept (with its ``error``) and counted as an ``invalid`` outcome, and the request is
still answered 200. Nothing a client sent is thrown away: the raw envelope is always stored.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any


from sentry_daemon.ingest.envelope import (
    ContainerError,
    Envelope,
    Item,
    container_items,
)
from sentry_daemon.ingest.normalize import normalize_event
from sentry_daemon.store import payloads
from sentry_daemon.store.records import EnvelopeRecord, Project
from sentry_daemon.store.store import Store
from sentry_daemon.timestamps import parse_timestamp

EVENT_ITEMS = {"event", "transaction", "feedback"}
JSON_ITEMS = EVENT_ITEMS | {
    "session", "sessions", "check_in", "client_report", "user_report", "log", "trace_metric",
    "span", "otel_log", "otel_span", "profile", "profile_chunk", "replay_event", "security", "nel",
}
# Always containers (so a wrong content type is a kept, invalid item); ``span`` is one only when its
# content type says so (``Item.is_container``), else a legacy standalone span.
CONTAINER_ONLY_ITEMS = {"log", "trace_metric"}

# Data category of each item type (SENTRY-PROTOCOL §4), for outcome counting.
CATEGORIES = {
    "event": "error", "transaction": "transaction", "feedback": "feedback", "attachment": "attachment",
    "session": "session", "sessions": "session", "check_in": "monitor", "profile": "profile",
    "profile_chunk": "profile_chunk", "span": "span", "log": "log_item", "otel_log": "log_item",
    "trace_metric": "trace_metric", "replay_event": "replay", "replay_recording": "replay",
    "replay_video": "replay", "client_report": "internal", "user_report": "user_report_v2",
}


@dataclass(frozen=True, slots=True)
class Context:
    """What the request knew that the envelope does not: when, from where, which client."""

    received: float
    client_ip: str | None
    sdk_client: str | None


def _json_payload(item: Item) -> tuple[Any, str | None]:
    """The item's JSON, as the stdlib reads it: orjson (3x faster) first, stdlib for what it refuses.

    orjson accepts a subset of what ``json.loads`` does (no NaN, no ints past 64 bits, no lone
    surrogates, UTF-8 only) and reads that subset to equal values, so the answer is the stdlib's.
    """
    if not item.payload.strip():
        return None, "empty payload"
    try:
        return payloads.parse_item(item.payload), None
    except RecursionError:
        return None, "invalid JSON: recursion limit exceeded"
    except (UnicodeDecodeError, ValueError) as exc:
        return None, f"invalid JSON: {exc}"


def accept_envelope(store: Store, project: Project, envelope: Envelope, raw: bytes, context: Context,
                    **request: Any) -> tuple[EnvelopeRecord, str | None]:
    """Keep an accepted envelope whole (``request``: the ``EnvelopeRecord`` fields that describe the
    request) and store its items; the record, and the event id they were filed under.

    Relay gives an envelope that carries an event but no ``event_id`` a fresh one; the envelope's
    own headers are stored exactly as sent.
    """
    record = store.add_envelope(project, headers=envelope.headers,
                                item_headers=[item.headers for item in envelope.items], raw=raw,
                                headers_in_raw=envelope.body is raw, received=context.received, **request)
    event_id = envelope.event_id
    if event_id is None and any(item.requires_event for item in envelope.items):
        event_id = uuid.uuid4().hex
    process_envelope(store, project, envelope, record, context, event_id)
    store.retention.enforce()  # the oldest make room; never this envelope (``store.retention``)
    return record, event_id


def process_envelope(store: Store, project: Project, envelope: Envelope, record: EnvelopeRecord,
                     context: Context, event_id: str | None) -> None:
    """Store every item of an accepted envelope, filed under ``event_id``."""
    for item in envelope.items:
        _process_item(store, project, envelope, item, record, context, event_id)


# items Relay counts no outcome for when it rejects an envelope
_UNCOUNTED_ITEMS = {"client_report", "session", "sessions"}


def reject_envelope(store: Store, project: Project, envelope: Envelope, reason: str) -> None:
    """An envelope Relay refuses whole (over a size limit): all of it ``invalid`` with ``reason``."""
    count_lost(store, project, envelope.items, "invalid", reason)


def item_quantity(item: Item) -> int:
    """How much of its data category an item is, as Relay's ``EnvelopeSummary`` counts it:
    attachments in bytes, containers by their ``item_count``, anything else one."""
    if item.type == "attachment":
        return len(item.payload)
    count = item.headers.get("item_count")
    return count if isinstance(count, int) and not isinstance(count, bool) and count > 0 else 1


def count_lost(store: Store, project: Project, items: list[Item], outcome: str,
               reason: str | None) -> dict[str, int]:
    """Items Relay drops are counted as its ``EnvelopeSummary`` counts them, every quantity an
    ``outcome`` with ``reason``: the event once, the rest by ``item_quantity`` (sessions and client
    reports not at all). Returns the quantities counted, by category."""
    quantities: dict[str, int] = {}
    event_category = None
    for item in items:
        category = CATEGORIES.get(item.type)
        if category is None or item.type in _UNCOUNTED_ITEMS:
            continue
        if item.type in EVENT_ITEMS:
            event_category = category
            continue
        quantities[category] = quantities.get(category, 0) + item_quantity(item)
    if event_category is not None:
        quantities = {event_category: 1, **quantities}
    for category, quantity in quantities.items():
        store.add_outcome(project, category, outcome, quantity, reason)
    return quantities


def _process_item(store: Store, project: Project, envelope: Envelope, item: Item,
                  record: EnvelopeRecord, context: Context, event_id: str | None) -> None:
    item_type = item.type
    category = CATEGORIES.get(item_type, "default")
    if item_type == "attachment" or item_type not in JSON_ITEMS:
        row = store.add_item(record, item_type, item.headers, None, len(item.payload))
        if item_type == "attachment":
            attachment = store.add_attachment(
                project,
                event_id,
                str(item.headers.get("filename") or "attachment"),
                str(item.headers.get("content_type") or "application/octet-stream"),
                str(item.headers.get("attachment_type") or "event.attachment"),
                item.payload,
            )
            row.attachment_id = attachment.id
            store.add_outcome(project, "attachment", "accepted", len(item.payload))
        else:
            store.add_outcome(project, category, "accepted", 1)
        return

    payload, error = _json_payload(item)
    if error is None and not isinstance(payload, dict):
        payload, error = None, "payload is not a JSON object"
    if error is None and (item.is_container or item_type in CONTAINER_ONLY_ITEMS):
        try:
            entries = container_items(item)
        except ContainerError as exc:
            error = str(exc)
        else:
            if item_type == "span":
                store.add_spans(project, entries)
            elif item_type == "log":
                store.add_logs(project, entries)
            store.add_item(record, item_type, item.headers, payload, len(item.payload))
            store.add_outcome(project, category, "accepted", len(entries))
            return
    size = len(item.payload)
    row = store.add_item(record, item_type, item.headers, payload, size, error)
    if error is not None:
        store.add_outcome(project, category, "invalid", 1, "invalid_json")
        store.journal.item_kept_with_error(record, item_type, error)
        return
    assert isinstance(payload, dict)
    if item_type in EVENT_ITEMS:
        data = normalize_event(
            payload,
            received=context.received,
            event_id=event_id,
            client_ip=context.client_ip,
            sdk_client=context.sdk_client,
            item_type=item_type,
            in_place=True,
        )
        row.payload = None
        row.event = store.add_event(project, data, envelope_id=record.id, size=size,
                                    source=_kept_item(record, item, data, context))
        if item_type == "transaction":
            store.add_spans(project, [s for s in data.get("spans") or [] if isinstance(s, dict)])
    elif item_type == "span":
        store.add_spans(project, [payload])
    elif item_type == "check_in":
        store.check_in(project, payload)
    elif item_type == "session":
        store.record_session(project, payload)
    elif item_type == "sessions":
        store.record_session_aggregates(project, payload)
    elif item_type == "client_report":
        store.add_client_report(project, payload)
        _record_client_report(store, project, payload, context.received)
        return
    store.add_outcome(project, category, "accepted", 1)


def _kept_item(record: EnvelopeRecord, item: Item, data: dict[str, Any],
               context: Context) -> tuple[EnvelopeRecord, int] | None:
    """``(record, offset)`` when the event item's bytes sit in the kept raw envelope at ``offset``
    and the record keeps every other input of its normalization, so the event needs no copy of
    its payload (``store.payloads``); None otherwise."""
    payload, raw = item.payload, record.raw
    offset = item.offset
    if offset is None or raw[offset:offset + len(payload)] != payload:
        offset = raw.find(payload) if payload else -1
        if offset < 0:
            return None
    if not payloads.derivable(record, str(data.get("type") or "default"), item.type, context.client_ip,
                              context.sdk_client):
        return None
    return record, offset


# How far a client report's own ``timestamp`` may be from its arrival to be when its outcomes
# happened (Relay's event retention and ``max_secs_in_future``).
REPORT_MAX_AGE = 90 * 86400
REPORT_MAX_FUTURE = 60


def _report_time(report: dict[str, Any], received: float) -> float:
    """When a client report's losses happened: its ``timestamp``, as Relay dates them. Relay drops a
    report dated outside its window; here its outcomes still count (the control API lists what SDKs
    said), dated when it arrived."""
    stamp = parse_timestamp(report.get("timestamp"))
    if stamp is None or not received - REPORT_MAX_AGE <= stamp <= received + REPORT_MAX_FUTURE:
        return received
    return stamp


def _record_client_report(store: Store, project: Project, report: dict[str, Any], received: float) -> None:
    """SDK-side losses become ``client_discard`` outcomes, as Relay turns them into outcomes."""
    when = _report_time(report, received)
    for kind, outcome in (("discarded_events", "client_discard"), ("rate_limited_events", "rate_limited"),
                          ("filtered_events", "filtered"), ("filtered_sampling_events", "filtered")):
        entries = report.get(kind)
        for entry in entries if isinstance(entries, list) else []:
            if not isinstance(entry, dict):
                continue
            quantity = entry.get("quantity")
            if isinstance(quantity, int) and quantity > 0:
                store.add_outcome(project, str(entry.get("category") or "default"), outcome, quantity,
                                  str(entry.get("reason") or "") or None, when)
