"""Open Sentry ingest batches (``POST /v1/ingest``), kept by the id their answer gave.

A batch's items are stored as events through the same path SDK envelopes take; the batch only
remembers which events (and spans) it became, so the control API can find them by its id.
"""

from __future__ import annotations

import uuid

from sentry_daemon.store.records import Batch


def batch_key(batch_id: str) -> str | None:
    """A batch id as it is stored (hyphenated lowercase UUID), from any form ``uuid`` parses."""
    try:
        return str(uuid.UUID(batch_id))
    except ValueError:
        return None


class BatchStore:
    """Every accepted batch, oldest first."""

    def __init__(self) -> None:
        self._batches: dict[str, Batch] = {}

    def add(self, batch: Batch) -> Batch:
        self._batches[batch.id] = batch
        return batch

    def get(self, batch_id: str) -> Batch | None:
        key = batch_key(batch_id)
        return self._batches.get(key) if key is not None else None

    def of_project(self, project_id: int | None = None) -> list[Batch]:
        return [b for b in self._batches.values() if project_id is None or b.project.id == project_id]

    def forget(self, batch_id: str) -> None:
        """Retention evicted the batch's last envelope (``store.retention``)."""
        self._batches.pop(batch_id, None)

    def forget_projects(self, project_ids: set[int]) -> None:
        """Removed projects' batches go with them (a tenant removed, ``store.tenants``)."""
        for key in [k for k, b in self._batches.items() if b.project.id in project_ids]:
            del self._batches[key]
