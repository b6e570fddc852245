"""What the control API shows of an Open Sentry batch: who sent it and what each item became."""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.records import Batch
from sentry_daemon.timestamps import isoformat


def captured_batch(batch: Batch) -> dict[str, Any]:
    return {
        "id": batch.id,
        "project": batch.project.id,
        "received": isoformat(batch.received),
        "key": batch.public_key,
        "auth": batch.auth_source,
        "client": batch.client,
        "remote_addr": batch.remote_addr,
        "size": batch.size,
        "count": len(batch.items),
        "items": [
            {"index": item.index, "type": item.type, "event_id": item.event_id, "envelope": item.envelope_id,
             "span_id": item.span_id, "item": item.sent}
            for item in batch.items
        ],
    }
