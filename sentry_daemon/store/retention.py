"""Retention: the store stays within ``--max-events`` and ``--max-bytes``, and ``--retention-days``.

Sentry keeps events for its retention period and lets the oldest go; a fake that runs for weeks
on a shared host has to stay within its memory as well. So the oldest go first here too, whole:
the oldest envelope (every event, item and attachment comes in one) with its items, its
attachments, the event it carried and, once its last envelope goes, its Open Sentry batch, until

- the store holds at most ``max_events`` events (errors, transactions and feedback alike),
- the stored payload is at most ``max_bytes``: the raw envelopes as received (decompressed), the
  packed event payloads (only events with no raw item to read again, ``store.payloads``) and the
  attachments' bytes; an attachment is kept twice (in its envelope and on its own) and counts twice,
- and, with ``retention_days``, nothing was received longer ago than that (Sentry ages events by
  when they were stored; so do we).

Nothing an issue counts lives in its events: ``count``, ``userCount``, the stats, the tag-value
statistics, first and last seen stay as they were, and an issue whose events are all gone is
still listed. Its ``events/latest/`` (and ``oldest``) is then Sentry's 404 for no matching event,
and an evicted event's id Sentry's 404 for an event past retention. Releases, outcomes (the
stats endpoints), monitors and sessions stay.

When: after each envelope is stored (never taking that envelope: an event is readable
the moment its answer is sent, so one envelope larger than ``max_bytes`` stays until the next
arrives) and, for age, on the store's minute tick (``Store.tick``). Age is read off the store's
clock; a clock moved backwards stops the sweep at the first envelope still young enough, so an
older-dated one behind it waits for its turn.

By count, a sweep that has to evict goes a thousandth of the cap below it (``EVICTION_BATCH``;
below a cap of 1,000 that is nothing, so exactly to the cap): at the default 100,000 the store
holds between 99,900 and 100,000 events, and a store at its cap pays for a sweep once per 100
envelopes instead of once per envelope (its setup cost about 3 % of an SDK event's ingest). Each
envelope still goes whole and oldest first, and the store never holds more than the cap.

Cost: evicting costs what it evicts, never what is stored. Envelope ids are handed out in order,
so a cursor walks ``Store.envelopes`` from the oldest; a project's envelopes, items and
attachments, and its events, are deques whose heads are its oldest; an issue drops its oldest
event at once when its list is short, and in one slice when ``Issue.events`` is next read or
once enough of a long list is gone (``Issue.drop_oldest``).

Each sweep that evicts appends one ``evicted`` record (an :class:`Eviction`) to the record log,
so observers (waiters, persistence, metrics) can follow. A reset forgets the figures with the
rest of the state.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from sentry_daemon.store.records import Attachment, EnvelopeRecord, Event, ItemRecord

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

DEFAULT_MAX_EVENTS = 100_000
DEFAULT_MAX_BYTES = 1 << 30  # 1 GiB
DAY = 86400.0
# Over ``max_events``, a sweep evicts down to 1/EVICTION_BATCH of the cap below it (to the cap
# itself when that rounds to nothing): one sweep per that many envelopes (module docstring).
EVICTION_BATCH = 1000


@dataclass(frozen=True)
class RetentionPolicy:
    """What the store may keep (``--max-events``, ``--max-bytes``, ``--retention-days``)."""

    max_events: int = DEFAULT_MAX_EVENTS
    max_bytes: int = DEFAULT_MAX_BYTES
    retention_days: float | None = None  # None: no limit by age


@dataclass(slots=True)
class Eviction:
    """One sweep, as the record log carries it (kind ``evicted``): why, and what went."""

    reason: str  # "retention_days", "max_events" or "max_bytes"
    envelopes: list[EnvelopeRecord] = field(default_factory=list)
    items: list[ItemRecord] = field(default_factory=list)
    attachments: list[Attachment] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    bytes: int = 0


class Retention:
    """The store's retention (owned by ``Store``, made anew on reset): the stored payload's size,
    what was evicted, and the sweeps."""

    def __init__(self, store: Store, policy: RetentionPolicy) -> None:
        self._store = store
        self.policy = policy
        self.stored_bytes = 0  # the store adds what it keeps and takes off what it deletes
        self.evicted_events = 0
        self.evicted_bytes = 0
        self._cursor = 1  # no envelope older than this id is stored

    def figures(self) -> dict[str, Any]:
        """``GET /__parlel/retention``: the limits, what is stored, and what was evicted."""
        policy = self.policy
        return {"max_events": policy.max_events, "max_bytes": policy.max_bytes,
                "retention_days": policy.retention_days, "stored_events": len(self._store._events),
                "stored_bytes": self.stored_bytes, "evicted_events": self.evicted_events,
                "evicted_bytes": self.evicted_bytes}

    # --- when ----------------------------------------------------------------------------------

    def enforce(self) -> None:
        """After an envelope is stored: by age, then by count, then by size; never the newest envelope."""
        policy, store = self.policy, self._store
        if policy.retention_days is not None:
            self._sweep("retention_days", self._expired(), keep_newest=True)
        events, max_events = store._events, policy.max_events
        if len(events) > max_events:
            low = max_events - max_events // EVICTION_BATCH
            self._sweep("max_events", lambda _: len(events) > low, keep_newest=True)
        if self.stored_bytes > policy.max_bytes:
            self._sweep("max_bytes", lambda _: self.stored_bytes > policy.max_bytes, keep_newest=True)

    def tick(self) -> None:
        """The store's minute tick: what has aged past ``retention_days`` goes, the newest too."""
        if self.policy.retention_days is not None:
            self._sweep("retention_days", self._expired(), keep_newest=False)

    def _expired(self) -> Callable[[EnvelopeRecord], bool]:
        cutoff = self._store.now() - self.policy.retention_days * DAY  # type: ignore[operator]
        return lambda oldest: oldest.received < cutoff

    # --- what --------------------------------------------------------------------------------

    def _oldest(self) -> EnvelopeRecord | None:
        """The oldest stored envelope; the cursor steps over ids deleted with their project."""
        envelopes, cursor = self._store.envelopes, self._cursor
        if not envelopes:
            return None
        while cursor not in envelopes:  # ends: every stored id is at least the cursor
            cursor += 1
        self._cursor = cursor
        return envelopes[cursor]

    def _sweep(self, reason: str, over: Callable[[EnvelopeRecord], bool], keep_newest: bool) -> None:
        """Evict the oldest envelope while ``over(oldest)`` says the store is over its limit."""
        store = self._store
        eviction = None
        newest = next(reversed(store.envelopes), None) if keep_newest else None
        while (oldest := self._oldest()) is not None and oldest.id != newest and over(oldest):
            if eviction is None:
                eviction = Eviction(reason)
            self._evict(oldest, eviction)
        if eviction is not None:
            self.evicted_events += len(eviction.events)
            self.evicted_bytes += eviction.bytes
            store.record_log.append("evicted", eviction)

    def _evict(self, envelope: EnvelopeRecord, eviction: Eviction) -> None:
        """One envelope and what it brought, out of every index that holds them."""
        store = self._store
        del store.envelopes[envelope.id]
        eviction.envelopes.append(envelope)
        size = len(envelope.raw)
        for part in self._captured_with(envelope):
            if isinstance(part, ItemRecord):
                store.items.pop(part.id, None)
                eviction.items.append(part)
                event = part.event
                if event is not None and store.has_event(event):
                    self._evict_event(event)
                    eviction.events.append(event)
                    size += len(event.payload)
            else:
                store.attachments.pop(part.id, None)
                eviction.attachments.append(part)
                size += len(part.data)
        eviction.bytes += size
        self.stored_bytes -= size
        if envelope.batch is not None:  # a batch's envelopes are made one after another
            following = store.envelopes.get(envelope.id + 1)
            if following is None or following.batch != envelope.batch:
                store.batches.forget(envelope.batch)

    def _captured_with(self, envelope: EnvelopeRecord) -> list[ItemRecord | Attachment]:
        """Take the envelope, its items and their attachments off its project's captured records.

        They are its head: a project's records are kept in the order they were stored, an
        envelope's items and attachments straight after it, and every older envelope is gone."""
        by_project = self._store._captured
        captured = by_project.get(envelope.project.id)
        if not captured:
            return []
        parts: list[ItemRecord | Attachment] = []
        if captured[0] is envelope:
            captured.popleft()
            while captured and not isinstance(captured[0], EnvelopeRecord):
                parts.append(captured.popleft())
        else:  # not where it should be: the slow way, still correct
            items = [r for r in captured if isinstance(r, ItemRecord) and r.envelope_id == envelope.id]
            attachment_ids = {i.attachment_id for i in items if i.attachment_id is not None}
            parts = [*items, *(r for r in captured if isinstance(r, Attachment) and r.id in attachment_ids)]
            gone = {id(r) for r in parts} | {id(envelope)}
            kept = [r for r in captured if id(r) not in gone]
            captured.clear()
            captured.extend(kept)
        if not captured:
            del by_project[envelope.project.id]
        return parts

    def _evict_event(self, event: Event) -> None:
        """The event out of the store's indexes: by sequence, by id, its project's, its issue's."""
        store = self._store
        del store._events[event.seq]
        if store.events_by_id.get(event.event_id) is event:
            del store.events_by_id[event.event_id]
        by_project, pid = store._events_by_project, event.project.id
        project_events = by_project.get(pid)
        if project_events:
            if project_events[0] is event:
                project_events.popleft()
            else:  # not its project's oldest: the slow way, still correct
                project_events = by_project[pid] = deque(e for e in project_events if e is not event)
            if not project_events:
                del by_project[pid]
        if event.group_id is not None:
            issue = store.issues.by_id.get(event.group_id)
            if issue is not None:
                issue.drop_oldest(event)
