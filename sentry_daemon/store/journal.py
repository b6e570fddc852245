"""The journal of near misses: every ingest request that stored nothing or lost some of what it
carried, and why (what a developer wants when "Sentry never got my event").

Entries are kept newest last, at most ``size`` of them (``--journal-size``); the oldest go first.
Each keeps the first ``BODY_HEAD`` bytes of the body it is about, so a client's mistake can be read
off the entry itself.
"""

from __future__ import annotations

import itertools
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

from sentry_daemon.store.records import EnvelopeRecord, Organization

DEFAULT_SIZE = 1000
BODY_HEAD = 256


@dataclass(slots=True)
class JournalEntry:
    """One near miss: the request (as far as it was understood), the answer, and the cause."""

    id: int
    received: float
    endpoint: str
    cause: str
    status: int | None  # None: no answer was given (the connection was dropped or went away)
    method: str | None = None
    path: str | None = None
    project: int | None = None
    organization: str | None = None  # slug of the project's organization, when it exists
    remote_addr: str | None = None
    client: str | None = None
    user_agent: str | None = None
    auth: str | None = None
    content_type: str | None = None
    content_encoding: str | None = None
    detail: str | None = None  # the ``detail`` the client was answered
    fault: int | None = None
    dropped: list[dict[str, Any]] = field(default_factory=list)  # [{"category", "quantity"}]
    item: dict[str, Any] | None = None  # the item kept with an error: {"type", "error"}
    envelope: int | None = None  # the stored envelope, when part of the request was kept
    body: bytes = b""
    body_size: int | None = None


class Journal:
    """The bounded journal of a running sentryfake."""

    def __init__(self, size: int = DEFAULT_SIZE, now: Callable[[], float] | None = None) -> None:
        self.size = size
        self._now = now
        self._ids = itertools.count(1)
        self.entries: deque[JournalEntry] = deque(maxlen=size)

    def add(self, endpoint: str, cause: str, status: int | None, **fields: Any) -> JournalEntry:
        body = fields.pop("body", b"")
        when = fields.pop("received", None)
        if when is None:
            when = self._now() if self._now is not None else 0.0
        entry = JournalEntry(next(self._ids), when, endpoint, cause, status, body=body[:BODY_HEAD],
                             **fields)
        if self.size:
            self.entries.append(entry)
        return entry

    def item_kept_with_error(self, record: EnvelopeRecord, item_type: str, error: str) -> JournalEntry:
        """An item Relay keeps but will drop: the envelope was answered 200 and stored whole."""
        return self.add(
            record.endpoint, f"invalid item kept with its error: {item_type}: {error}", 200,
            received=record.received, method="POST", project=record.project.id,
            organization=record.project.organization.slug, remote_addr=record.remote_addr,
            client=record.client, auth=record.auth_source, content_type=record.content_type,
            content_encoding=record.content_encoding, item={"type": item_type, "error": error},
            envelope=record.id, body=record.raw, body_size=len(record.raw),
        )

    def of(self, org: Organization | None = None, project: int | None = None) -> list[JournalEntry]:
        """Newest last; those of one organization and/or project."""
        return [e for e in self.entries
                if (org is None or e.organization == org.slug) and (project is None or e.project == project)]

    def clear(self, org: Organization | None = None) -> None:
        if org is None:
            self.entries.clear()
            return
        kept = [e for e in self.entries if e.organization != org.slug]
        self.entries.clear()
        self.entries.extend(kept)
