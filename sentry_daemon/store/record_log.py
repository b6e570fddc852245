"""The store's one way out: every record it commits, numbered, offered to whoever listens.

The store appends each accepted record right after committing it; subscribers (waiters, the
stream and persistence's write-behind) are called with ``(seq, kind, record)`` in that order and
never from ingest or the routes. ``seq`` only grows, across resets too, so a reader can tell what
it has seen. The last ``size`` entries are kept for readers that join late; older ones are
forgotten (persistence subscribes rather than reads back; the stream resumes from them).

Kinds and their records (the record is the store's own object, not a copy):

- ``envelope`` (``EnvelopeRecord``), ``item`` (``ItemRecord``), ``attachment`` (``Attachment``)
- ``event`` (``Event``; its ``type`` says error, default, transaction or feedback)
- ``issue`` (``Issue``): opened, joined by an event, or changed through the web API
- ``span`` (the stored span dict, with its ``project`` id), ``log`` (``(project id, entry)``: one
  entry of a log item, which keeps them)
- ``check_in`` (``CheckIn``, again on each update and when the clock makes or times one out)
- ``session`` (the stored update or aggregate dict, with its ``project`` id)
- ``client_report`` (``(project id, report)``)
- ``outcome`` (``OutcomeRecord``: the tuple of the outcome's key, quantity and time)
- ``reset`` (``None``: everything before is gone) and ``organization_removed`` (the
  ``Organization`` whose data is gone: a tenant deleted or reset)
- ``evicted`` (``retention.Eviction``: one retention sweep's envelopes, items, attachments and
  events, oldest first, and why; issues keep their counts)

A subscriber that raises is logged and kept; it never fails the write that fed it.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from twisted.logger import Logger

Subscriber = Callable[[int, str, Any], None]
DEFAULT_SIZE = 4096

_log = Logger()


# One outcome counted: its key (project id, category, outcome, reason), quantity and time. A plain
# tuple: a named one costs a Python-level constructor call per outcome on the ingest path.
OutcomeRecord = tuple[tuple[int, str, str, "str | None"], int, float]


class RecordLog:
    """Sequence numbers, a bounded tail of recent entries, and the subscribers."""

    def __init__(self, size: int = DEFAULT_SIZE) -> None:
        self.seq = 0
        self.recent: deque[tuple[int, str, Any]] = deque(maxlen=size)
        self._subscribers: tuple[Subscriber, ...] = ()

    def append(self, kind: str, record: Any) -> int:
        """Number a committed record and offer it to every subscriber; its sequence number."""
        self.seq = seq = self.seq + 1
        self.recent.append((seq, kind, record))
        for subscriber in self._subscribers:
            try:
                subscriber(seq, kind, record)
            except Exception:
                _log.failure("record log subscriber {subscriber!r} failed on {kind}", subscriber=subscriber,
                             kind=kind)
        return seq

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(seq, kind, record)`` for every record from now on; returns the unsubscribe."""
        self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    def clear(self) -> None:
        """Forget the recent entries (the store was reset); numbering and subscribers stay."""
        self.recent.clear()
