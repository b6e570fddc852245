"""Waiting without sleeps: ``GET /__parlel/wait?for=<list>&count=N&timeout=S&<the list's filters>``.

A waiter holds no thread and no poll: it is a Deferred and the rows that match so far. While any
waiter waits, the waiters subscribe to the store's record log (and not otherwise: ingest pays
nothing for them); a record of a kind a waiting list cares about is checked against those waiters
only (one predicate each), so a thousand idle waiters cost nothing and a record costs one check
per waiter of its kind. When a waiter has ``count`` matching rows it is
answered on the next reactor turn, after the write that fed it has finished (an envelope's event,
items and outcomes are all stored by then), with what is still there, in the list's shape. At
``timeout`` (real time, the reactor's ``callLater``: never the store's domain clock, which a test
may hold still) it is answered ``408`` with what matched. A client that goes away cancels its
waiter; a stopping service answers every waiter ``503``.
"""

from __future__ import annotations

from typing import Any, Hashable

from twisted.internet.defer import Deferred

from sentry_daemon.control_lists import WAITABLE, Listing, Selection
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int
from sentry_daemon.store.store import Store

DEFAULT_TIMEOUT = 5.0
MAX_TIMEOUT = 60.0
# (status, body): what a waiter's Deferred fires with
Answer = tuple[int, dict[str, Any]]


def read_wait(args: dict[str, list[str]]) -> tuple[Listing, int, float, dict[str, list[str]]]:
    """``for``, ``count`` and ``timeout`` checked (400 for bad ones), and the filters left over."""
    filters = dict(args)
    what = (filters.pop("for", None) or [None])[0]
    if what is None:
        raise ApiError(400, f"for is required: one of {', '.join(WAITABLE)}")
    listing = WAITABLE.get(what)
    if listing is None:
        raise ApiError(400, f"invalid for: {what!r}; choose one of {', '.join(WAITABLE)}")
    count_text = (filters.pop("count", None) or ["1"])[0]
    count = parse_int(count_text)
    if count is None or count < 1:
        raise ApiError(400, f"invalid count: {count_text!r} is not a whole number of at least 1")
    timeout_text = (filters.pop("timeout", None) or [str(DEFAULT_TIMEOUT)])[0]
    try:
        timeout = float(timeout_text)
    except ValueError:
        timeout = float("nan")
    if not 0 <= timeout <= MAX_TIMEOUT:
        raise ApiError(400, f"invalid timeout: {timeout_text!r}; seconds from 0 to {MAX_TIMEOUT:g}")
    return listing, count, timeout, filters


class Waiter:
    """One pending wait: what it waits for, what matched so far, and its answer."""

    __slots__ = ("listing", "selection", "count", "timeout", "matches", "matched", "deferred", "timer")

    def __init__(self, listing: Listing, selection: Selection, count: int, timeout: float, matches: Any,
                 matched: dict[Hashable, Any]) -> None:
        self.listing = listing
        self.selection = selection
        self.count = count
        self.timeout = timeout
        self.matches = matches
        self.matched = matched
        self.deferred: Deferred = Deferred()
        self.timer: Any = None


class Waiters:
    """Every pending waiter of a service, fed by the store's record log."""

    def __init__(self, store: Store, reactor: Any) -> None:
        self._store = store
        self._reactor = reactor
        self._by_kind: dict[str, set[Waiter]] = {}
        self._due: set[Waiter] = set()
        self._flush: Any = None
        self._unsubscribe: Any = None  # subscribed only while someone waits: ingest pays nothing else

    @property
    def pending(self) -> int:
        """How many waiters are waiting."""
        return len(self._waiting())

    def _waiting(self) -> set[Waiter]:
        return {w for group in self._by_kind.values() for w in group}

    def wait(self, listing: Listing, selection: Selection, count: int, timeout: float) -> Deferred:
        """A Deferred firing with ``(200, list body)`` once ``count`` rows match, or ``(408, …)``."""
        store = self._store
        matches = listing.matcher(store, selection)
        key = listing.key
        matched = {key(row): row for row in listing.matching(store, selection)}
        waiter = Waiter(listing, selection, count, timeout, matches, matched)
        if len(matched) >= count:
            waiter.deferred.callback(self._answer(waiter, 200))
            return waiter.deferred
        waiter.deferred = Deferred(lambda _: self._drop(waiter))
        if self._unsubscribe is None:
            self._unsubscribe = store.record_log.subscribe(self._record)
        for kind in listing.kinds:
            self._by_kind.setdefault(kind, set()).add(waiter)
        waiter.timer = self._reactor.callLater(timeout, self._expire, waiter)
        return waiter.deferred

    # --- fed by the record log -------------------------------------------------------------

    def _record(self, seq: int, kind: str, record: Any) -> None:
        waiters = self._by_kind.get(kind)
        if waiters:
            for waiter in waiters:
                self._offer(waiter, record)
        elif kind in ("reset", "organization_removed") and self._by_kind:
            for waiter in self._waiting():
                self._prune(waiter)

    def _prune(self, waiter: Waiter) -> None:
        """Forget the matched rows the store no longer holds."""
        alive, store = waiter.listing.alive, self._store
        waiter.matched = {k: row for k, row in waiter.matched.items() if alive(store, row)}

    def _offer(self, waiter: Waiter, record: Any) -> None:
        listing = waiter.listing
        row = listing.from_record(record)
        if row is None:
            return
        if waiter.matches(row):
            waiter.matched[listing.key(row)] = row
            if len(waiter.matched) >= waiter.count:
                self._due.add(waiter)
                if self._flush is None:
                    self._flush = self._reactor.callLater(0, self._answer_due)
        elif listing.changing:
            waiter.matched.pop(listing.key(row), None)

    def _answer_due(self) -> None:
        self._flush = None
        due, self._due = self._due, set()
        for waiter in due:
            if waiter.deferred.called:
                continue
            self._prune(waiter)
            if len(waiter.matched) >= waiter.count:
                self._finish(waiter, 200)

    def _expire(self, waiter: Waiter) -> None:
        waiter.timer = None
        self._finish(waiter, 408)

    def _finish(self, waiter: Waiter, status: int) -> None:
        self._drop(waiter)
        waiter.deferred.callback(self._answer(waiter, status))

    def _drop(self, waiter: Waiter) -> None:
        for kind in waiter.listing.kinds:
            group = self._by_kind.get(kind)
            if group is not None:
                group.discard(waiter)
                if not group:
                    del self._by_kind[kind]
        self._due.discard(waiter)
        if waiter.timer is not None and waiter.timer.active():
            waiter.timer.cancel()
        waiter.timer = None
        if not self._by_kind and self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def close(self) -> None:
        """The service is stopping: every waiter is answered ``503`` with what it matched."""
        for waiter in self._waiting():
            self._finish(waiter, 503)

    # --- answers ---------------------------------------------------------------------------

    def _answer(self, waiter: Waiter, status: int) -> Answer:
        listing, store = waiter.listing, self._store
        alive = listing.alive
        rows = [row for row in waiter.matched.values() if alive(store, row)]
        shown = listing.show(store, waiter.selection, rows)
        body: dict[str, Any] = {listing.plural: shown, "count": len(shown)}
        if status == 408:
            body = {"detail": f"timed out after {waiter.timeout:g} s waiting for {waiter.count} "
                              f"{listing.plural}; {len(shown)} matched", **body}
        elif status == 503:
            body = {"detail": "the service is stopping", **body}
        return status, body
