"""What the control API shows of what clients sent: events, envelopes, items, attachments,
check-ins, outcomes and release health."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.monitors import check_in
from sentry_daemon.store.records import Attachment, CheckIn, EnvelopeRecord, Event, ItemRecord
from sentry_daemon.timestamps import isoformat


def captured_event(e: Event) -> dict[str, Any]:
    """An event as the control API shows it: the normalized payload plus where it went."""
    data = e.data
    return {
        **data,
        "event_id": e.event_id,
        "type": e.type,
        "project": e.project.id,
        "group_id": e.group_id,
        "envelope": e.envelope_id,  # the envelope it came in (``/__parlel/envelopes/{id}/raw``)
        "received": data.get("received", e.received),
    }


def captured_envelope(e: EnvelopeRecord) -> dict[str, Any]:
    headers, item_headers = e.header_objects()
    return {
        "id": e.id,
        "project": e.project.id,
        "endpoint": e.endpoint,
        "received": isoformat(e.received),
        "client": e.client,
        "auth": e.auth_source,
        "remote_addr": e.remote_addr,
        "content_type": e.content_type,
        "content_encoding": e.content_encoding,
        "size": len(e.raw),
        "headers": headers,
        "items": item_headers,
        "batch": e.batch,
    }


def captured_item(i: ItemRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": i.id,
        "envelope": i.envelope_id,
        "project": i.project.id,
        "type": i.type,
        "headers": i.headers,
        "payload": i.event.data if i.event is not None else i.payload,
        "size": i.size,
        "received": isoformat(i.received),
    }
    if i.error is not None:
        body["error"] = i.error
    if i.attachment_id is not None:
        body["attachment"] = i.attachment_id
    return body


def captured_attachment(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "project": a.project.id,
        "event_id": a.event_id,
        "filename": a.filename,
        "content_type": a.content_type,
        "attachment_type": a.attachment_type,
        "size": len(a.data),
        "dateCreated": isoformat(a.date_created),
    }


def captured_check_in(c: CheckIn) -> dict[str, Any]:
    """A check-in as the web API shows it, with its monitor's slug and project id."""
    return {"monitor": c.monitor.slug, "project": c.monitor.project.id, **check_in(c)}


def captured_outcome(key: tuple[int, str, str, str | None], quantity: int) -> dict[str, Any]:
    project, category, outcome, reason = key
    return {"project": project, "category": category, "outcome": outcome, "reason": reason, "quantity": quantity}


def captured_release_health(row: tuple[tuple[int, str, str], dict[str, int]]) -> dict[str, Any]:
    (project, release, environment), counts = row
    return {"project": project, "release": release, "environment": environment, **counts}
