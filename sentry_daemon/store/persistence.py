"""``--data-dir``: the store's state kept in an SQLite database, all there after a restart.

The store stays in memory and stays the one owner of the state; this follows it. A record-log
subscriber notes what was committed (new events, envelopes, items, attachments, spans, sessions;
changed issues; evictions; resets). Every ``INTERVAL`` seconds of real time the reactor encodes
what changed (``store.snapshot``: records mutate, so only the reactor may read them) and one
worker thread writes it in one transaction; the reactor never waits for the disk. So an event is
on disk within about a second of its ``200``; a clean stop (``stop``) writes the rest before the
service reports stopped; ``kill -9`` loses at most the last flush and, WAL and atomic
transactions, never corrupts the database.

What the record log does not carry (web-API changes to organizations, projects, tokens, releases
…; a project or issue deleted) is found without it: the non-bulk state is re-encoded whenever
anything happened (a record, a request finished) and written when its bytes changed; issue rows
whose issue is gone are deleted at the next flush; rows of a deleted project or issue are
dropped when the state is next loaded.
"""

from __future__ import annotations

import io
import os
import sqlite3
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.task import LoopingCall
from twisted.internet.threads import deferToThread, deferToThreadPool
from twisted.logger import Logger
from twisted.python.threadpool import ThreadPool

from sentry_daemon.clock import ClockError, DomainClock
from sentry_daemon.store import snapshot
from sentry_daemon.store.records import Issue

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

INTERVAL = 0.5  # seconds between flushes: with the write, an event is durable within a second
DATABASE = "sentryfake.sqlite3"
_BULK = {"envelope", "item", "attachment", "event", "span", "session"}


@dataclass
class Flush:
    """One transaction's worth: made on the reactor, written on the worker thread."""

    wipe: bool = False  # the store was reset or replaced: delete every row first
    state: bytes | None = None
    record_seq: int = 0  # the record log's number when this was collected
    clock: float | None = None  # a manual domain clock's time then
    inserts: list[tuple[int, str, str, bytes]] = field(default_factory=list)
    deletes: list[tuple[str, str]] = field(default_factory=list)
    issues: list[tuple[int, bytes]] = field(default_factory=list)
    issue_deletes: list[int] = field(default_factory=list)

    def write(self, db: sqlite3.Connection) -> None:
        with snapshot.transaction(db):
            if self.wipe:
                db.execute("DELETE FROM records")
                db.execute("DELETE FROM issues")
            snapshot._write_meta(db, self.state, self.record_seq, self.clock)
            db.executemany("INSERT OR REPLACE INTO records (seq, kind, key, body) VALUES (?, ?, ?, ?)",
                           self.inserts)
            db.executemany("DELETE FROM records WHERE kind = ? AND key = ?", self.deletes)
            db.executemany("INSERT OR REPLACE INTO issues (id, body) VALUES (?, ?)", self.issues)
            db.executemany("DELETE FROM issues WHERE id = ?", ((i,) for i in self.issue_deletes))


class Persistence:
    """The data directory of one store: loads it at start, follows the store, flushes, stops."""

    log = Logger()

    def __init__(self, store: Store, directory: str, reactor: Any,
                 activity: Callable[[], int] = lambda: 0, clock: DomainClock | None = None) -> None:
        """``activity``: a number that changes whenever something outside the record log may have
        changed the state (the service's count of finished requests); ``clock``: the domain clock,
        whose time is kept too when it is manual (a restarted test run goes on at the same time)."""
        self.store = store
        self.clock = clock
        self.reactor = reactor
        self.path = os.path.join(directory, DATABASE)
        self._activity = activity
        os.makedirs(directory, exist_ok=True)
        self.db = snapshot.connect(self.path)
        self.encoder = snapshot.Encoder(store)
        self.pool = ThreadPool(1, 1, name="sentryfake-persistence")
        self._loop = LoopingCall(self.flush)
        self._loop.clock = reactor
        self._writing: Deferred | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._pending: list[tuple[str, Any]] = []
        self._deletes: list[tuple[str, str]] = []
        self._dirty_issues: dict[int, Issue] = {}
        self._wipe = False
        self._seen: tuple[int, int] | None = None  # (record seq, activity) at the last flush
        self._state: bytes | None = None  # the state blob last written
        self._issue_ids: set[int] = set()  # the issue rows on disk
        self._next_row = 1
        self.last_flush_seconds = 0.0  # reactor time the last flush took (bench/persistence.py)

    # --- start and stop ----------------------------------------------------------------------

    def load(self) -> bool:
        """Read the state the directory holds into the store (at start, before serving); whether
        there was one. Blocking, once: nothing is served yet."""
        rows = snapshot.read(self.db, lazily=True)  # one row at a time: not the whole file in memory
        if rows is None:
            return False
        if rows.clock is not None and self.clock is not None and self.clock.manual:
            try:
                self.clock.set(rows.clock)
            except ClockError:  # out of the clock's range: it starts at now, as without a data dir
                self.log.warning("the stored clock time {when} is out of range", when=rows.clock)
        decoded = snapshot.load(self.store, rows, own=True)
        self._state = rows.state
        self._issue_ids = {issue_id for issue_id, _ in rows.issues}
        self._next_row = (self.db.execute("SELECT max(seq) FROM records").fetchone()[0] or 0) + 1
        if decoded.stale:  # rows of what was deleted after they were written
            Flush(deletes=decoded.stale, record_seq=self.store.record_log.seq).write(self.db)
        return True

    def start(self) -> None:
        """Follow the store from now on and flush every ``INTERVAL`` seconds."""
        self._unsubscribe = self.store.record_log.subscribe(self._observe)
        self._seen = (self.store.record_log.seq, self._activity())
        self.pool.start()
        self._loop.start(INTERVAL, now=False)

    def stop(self) -> Deferred:
        """Write what is left, then close the database: fires once everything is on disk."""
        if self._loop.running:
            self._loop.stop()
        d = self._idle()
        d.addCallback(lambda _: self.flush())
        d.addCallback(lambda _: self._idle())
        d.addCallback(lambda _: deferToThreadPool(self.reactor, self.pool, self.db.close))
        d.addBoth(self._stopped)
        return d

    def _stopped(self, result: object) -> object:
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self.pool.started:
            self.pool.stop()
        return result

    def _idle(self) -> Deferred:
        """Fires when no write is under way."""
        if self._writing is None:
            return succeed(None)
        d: Deferred = Deferred()
        self._writing.addBoth(lambda result: (d.callback(None), result)[1])
        return d

    # --- following the store -----------------------------------------------------------------

    def _observe(self, seq: int, kind: str, record: Any) -> None:
        if kind in _BULK:
            self._pending.append((kind, record))
        elif kind == "issue":
            self._dirty_issues[record.id] = record
        elif kind == "evicted":
            deletes = self._deletes
            deletes.extend(("envelope", str(r.id)) for r in record.envelopes)
            deletes.extend(("item", str(r.id)) for r in record.items)
            deletes.extend(("attachment", r.id) for r in record.attachments)
            deletes.extend(("event", str(e.seq)) for e in record.events)
        elif kind == "reset":
            self.rewrite()

    def rewrite(self) -> None:
        """The store was reset or replaced: the next flush writes it afresh."""
        self._wipe = True
        self._pending.clear()
        self._deletes.clear()
        self._dirty_issues.clear()

    # --- flushing ----------------------------------------------------------------------------

    def _manual_time(self) -> float | None:
        clock = self.clock
        return clock.seconds() if clock is not None and clock.manual else None

    def flush(self) -> Deferred:
        """Encode what changed (reactor) and write it (worker); skipped while a write is under way."""
        if self._writing is not None:
            return succeed(None)
        started = self.reactor.seconds()
        try:
            batch = self._collect()
        except Exception:  # noqa: BLE001 - a record that does not encode: say so, write all afresh next time
            self.log.failure("encoding the state for {path} failed", path=self.path)
            self.rewrite()
            return succeed(None)
        self.last_flush_seconds = self.reactor.seconds() - started
        if batch is None:
            return succeed(None)
        self._writing = d = deferToThreadPool(self.reactor, self.pool, batch.write, self.db)

        def written(result: object) -> None:
            self._writing = None

        def failed(failure: Any) -> None:
            self._writing = None
            self.log.failure("writing the state to {path} failed", failure, path=self.path)
            self._state = None  # write the whole state again next time
            self.rewrite()

        d.addCallbacks(written, failed)
        return d

    def _collect(self) -> Flush | None:
        store = self.store
        seen = (store.record_log.seq, self._activity())
        if seen == self._seen and not self._wipe:
            return None
        self._seen = seen
        encoder = self.encoder
        batch = Flush(wipe=self._wipe, record_seq=store.record_log.seq, clock=self._manual_time())
        if self._wipe:
            rows = snapshot.whole_state(store, encoder)
            start = self._next_row
            batch.inserts = [(start + n, kind, key, body) for n, (kind, key, body) in enumerate(rows.records)]
            self._next_row = start + len(rows.records)
            batch.issues = rows.issues
            batch.state = self._state = rows.state
            self._issue_ids = {issue_id for issue_id, _ in rows.issues}
            self._wipe = False
            self._pending.clear()
            self._deletes.clear()
            self._dirty_issues.clear()
            return batch
        state = encoder.state_blob()
        if state != self._state:
            batch.state = self._state = state
        row = self._next_row
        inserts = batch.inserts
        for kind, record in self._pending:
            if not _still_stored(store, kind, record):
                continue
            kind, key, body = encoder.record(kind, record)
            inserts.append((row, kind, key, body))
            row += 1
        self._next_row = row
        self._pending.clear()
        batch.deletes, self._deletes = self._deletes, []
        by_id = store.issues.by_id
        for issue_id, issue in self._dirty_issues.items():
            if by_id.get(issue_id) is issue:
                batch.issues.append((issue_id, encoder.issue(issue)))
                self._issue_ids.add(issue_id)
        self._dirty_issues.clear()
        gone = self._issue_ids - by_id.keys()
        if gone:
            batch.issue_deletes = sorted(gone)
            self._issue_ids -= gone
        return batch

    # --- snapshots ---------------------------------------------------------------------------

    def backup(self, path: str) -> Deferred:
        """Everything on disk now (after a flush) copied to ``path`` with SQLite's backup API."""
        d = self._idle()
        d.addCallback(lambda _: self.flush())
        d.addCallback(lambda _: self._idle())
        d.addCallback(lambda _: deferToThreadPool(self.reactor, self.pool, self._backup, path))
        return d

    def _backup(self, path: str) -> None:
        target = sqlite3.connect(path)
        try:
            self.db.backup(target)
            target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
        finally:
            target.close()


def _still_stored(store: Store, kind: str, record: Any) -> bool:
    """Whether a record noted since the last flush is still in the store (not evicted or deleted
    with its project): what is gone is not written."""
    if kind == "event":  # written even when forgotten while its envelope's item may still show it
        return store.has_event(record) or record.envelope_id in store.envelopes
    if kind == "envelope":
        return store.envelopes.get(record.id) is record
    if kind == "item":
        return store.items.get(record.id) is record
    if kind == "attachment":
        return store.attachments.get(record.id) is record
    return True


class Snapshots:
    """``GET /__parlel/snapshot`` and ``POST /__parlel/restore``: the whole state as one file (the
    data directory's schema, ``store.snapshot``), and a file made the state, all or nothing."""

    def __init__(self, store: Store, reactor: Any, persistence: Persistence | None = None) -> None:
        self.store = store
        self.reactor = reactor
        self.persistence = persistence

    def take(self) -> Deferred:
        """Fires with the bytes of a snapshot file of the state now."""
        path = _temporary_path()
        if self.persistence is not None:
            d = self.persistence.backup(path)
        else:
            rows = snapshot.whole_state(self.store)  # on the reactor: the records mutate
            d = deferToThread(snapshot.write_file, path, rows)
        d.addCallback(lambda _: deferToThread(_read_and_remove, path))
        d.addErrback(lambda failure: (_remove(path), failure)[1])
        return d

    def restore(self, data: bytes | IO[bytes]) -> Deferred:
        """Fires once ``data`` (a snapshot file: its bytes, or a request body as Twisted keeps it)
        is the state; fails with ``SnapshotError``, the state untouched, when it is not one.

        A large body is a temporary file already: it is copied for SQLite on the worker thread
        through a descriptor of its own (Twisted closes the body's if the client goes), never read
        whole on the reactor."""
        d = deferToThread(_read_upload, _upload_source(data))
        d.addCallback(self._replace)
        return d

    def _replace(self, rows: snapshot.Rows) -> None:
        decoded = snapshot.decode(self.store, rows)  # everything checked before anything changes
        snapshot.apply(self.store, decoded)
        if self.persistence is not None:
            self.persistence.rewrite()


def load_file(store: Store, path: str) -> None:
    """``--load FILE``: start from a snapshot file (blocking: nothing is served yet)."""
    snapshot.load(store, snapshot.read_file(path))


def _temporary_path() -> str:
    handle, path = tempfile.mkstemp(prefix="sentryfake-snapshot-", suffix=".sqlite3")
    os.close(handle)
    return path


def _remove(path: str) -> None:
    """A temporary database, with the WAL and shared-memory files SQLite may have made beside it."""
    for name in (path, path + "-wal", path + "-shm"):
        try:
            os.remove(name)
        except OSError:
            pass


def _read_and_remove(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    finally:
        _remove(path)


def _upload_source(data: bytes | IO[bytes]) -> bytes | int:
    """What the worker thread reads a snapshot from: bytes (a body Twisted keeps in memory is
    small), or a duplicate of the body file's descriptor. Out of descriptors, the file is read here."""
    if isinstance(data, bytes):
        return data
    if isinstance(data, io.BytesIO):
        return data.getvalue()
    try:
        return os.dup(data.fileno())
    except OSError:  # EMFILE: the daemon keeps serving (``http.site.ConnectionTracker``)
        data.seek(0)
        return data.read()


UPLOAD_CHUNK = 1 << 20


def _read_upload(source: bytes | int) -> snapshot.Rows:
    """The rows of a snapshot file given as bytes or a descriptor (worker thread: SQLite reads
    files); the descriptor is read by position (the request's own shares its offset) and closed."""
    path = _temporary_path()
    try:
        with open(path, "wb") as f:
            if isinstance(source, bytes):
                f.write(source)
            else:
                offset = 0
                while chunk := os.pread(source, UPLOAD_CHUNK, offset):
                    f.write(chunk)
                    offset += len(chunk)
        return snapshot.read_file(path)
    finally:
        if isinstance(source, int):
            os.close(source)
        _remove(path)
