"""The stored form of the whole state: one SQLite file, shared by ``--data-dir``, ``--load`` and
``/__parlel/snapshot`` / ``/__parlel/restore``.

The file has three tables:

- ``meta``: the format's name and version, ``state``: one pickle of everything that is not
  bulk (organizations, teams, projects, keys, tokens, releases, monitors, outcomes, uploads,
  tenants, faults, the journal, the id counters …), rewritten whenever it changed,
  ``record_seq``: the record log's last number, and ``clock``: a manual clock's time;
- ``records``: the bulk that only grows and is evicted, one row each: events, envelopes, items,
  attachments, spans and sessions, in the order they were stored (``seq``);
- ``issues``: one row per issue (issues change, so a changed one is rewritten).

The codec is generic: records are pickled as they are, whatever fields they have. What several
rows share is written as a reference, not a copy: a project, organization, team or user (``state``
holds them), an event (an item's or an issue's), a kept envelope (an event's ``source``: envelope
rows load before event rows), the store itself (a sub-store's back reference). What the live store
shares by interning (equal tag, field, text and hash tuples; repeated strings) is interned again
on load, so a loaded store costs the memory the original did.
Callables (clocks, the store's hooks) are never written: the running store keeps its own. Loading
uses a restricted unpickler: only the store's own record classes and a few builtin containers can
be named, so a file posted to ``/__parlel/restore`` is data, never code.
"""

from __future__ import annotations

import functools
import gc
import io
import itertools
import operator
import os
import pickle
import random
import sqlite3
import sys
import types
from collections import OrderedDict, defaultdict, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, fields, is_dataclass
from typing import TYPE_CHECKING, Any

from sentry_daemon.store import records as record_types
from sentry_daemon.store.field_types import TypedFields
from sentry_daemon.store.issues import _SHARED_TEXTS
from sentry_daemon.store.records import (
    Attachment,
    EnvelopeRecord,
    Event,
    Issue,
    ItemRecord,
    Organization,
    Project,
    Team,
    User,
)
from sentry_daemon.store.store import _REPEATED_STRINGS

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

FORMAT = "sentryfake-state"
VERSION = 1
PROTOCOL = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS records (seq INTEGER PRIMARY KEY, kind TEXT NOT NULL, key TEXT NOT NULL,
                                    body BLOB NOT NULL);
CREATE INDEX IF NOT EXISTS records_by_key ON records (kind, key);
CREATE TABLE IF NOT EXISTS issues (id INTEGER PRIMARY KEY, body BLOB NOT NULL);
"""

# Store attributes rebuilt from the rows (bulk) or given by the running service (configuration).
BULK = frozenset({"_events", "_events_by_project", "events_by_id", "envelopes", "items", "_captured",
                  "attachments", "spans", "sessions"})
CONFIGURATION = frozenset({"seed", "now", "journal_size", "retention_policy", "record_log"})
# Sub-store attributes the running service decides, or rebuilt from the issue rows.
SUB_CONFIGURATION = frozenset({"policy", "size"})
ISSUE_INDEXES = frozenset({"by_id", "_by_hash", "_by_short_id", "_interned"})
RECORD_KINDS = ("event", "envelope", "item", "attachment", "span", "session")

_CALLABLES = (types.FunctionType, types.MethodType, types.BuiltinFunctionType, types.BuiltinMethodType,
              types.LambdaType)
_COUNT = type(itertools.count())


class SnapshotError(Exception):
    """The file is not a state this version can load (bad, truncated, foreign or crafted)."""


class _Stale(Exception):
    """A row names a project that is gone: it was deleted after the row was written."""


class _Keep:
    """Where a callable was: the running store keeps its own."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP = _Keep()


# --- the allowed classes --------------------------------------------------------------------

def _allowed() -> dict[tuple[str, str], type]:
    """Every class a stored state may name: the store's records and a few builtin containers."""
    from sentry_daemon.store import faults, journal, retention, tenants

    allowed: dict[tuple[str, str], type] = {}
    for module in (record_types, faults, journal, retention, tenants):
        for value in vars(module).values():
            if isinstance(value, type) and value.__module__ == module.__name__ and is_dataclass(value):
                allowed[(value.__module__, value.__qualname__)] = value
    for value in (set, frozenset, bytearray, complex, slice):
        allowed[("builtins", value.__name__)] = value
    for value in (deque, OrderedDict, defaultdict):
        allowed[("collections", value.__name__)] = value
    allowed[("random", "Random")] = random.Random
    return allowed


_ALLOWED: dict[tuple[str, str], type] | None = None


def _ref(*pid: Any) -> Any:
    """What a reference is written as (``_Pickler``); loading resolves it (``_Unpickler``)."""
    raise TypeError("a reference resolves only while a state is loaded")


class _Unpickler(pickle.Unpickler):
    """Names only the allowed classes; references (``_ref``) resolve through ``_reference`` (set
    by ``_loads``; no ``__init__`` of its own: one is made per row).

    ``_reference`` must not hold the unpickler: the memo keeps what ``find_class`` returned, and a
    bound method would make every row's unpickler, its input and its memo a cycle, garbage that
    only the (paused, while loading) cyclic collector frees."""

    _reference: Callable[..., Any]

    def find_class(self, module: str, name: str) -> Any:
        global _ALLOWED
        if (module, name) == (__name__, "_ref"):
            return self._reference
        if _ALLOWED is None:
            _ALLOWED = _allowed()
        found = _ALLOWED.get((module, name))
        if found is None:
            raise SnapshotError(f"the state names {module}.{name}, which a state may not hold")
        return found


def _reference(resolve: Callable[[Any], Any], *pid: Any) -> Any:
    if not pid or not isinstance(pid[0], str):
        raise SnapshotError("a malformed reference")
    if pid[0] == "count" and len(pid) == 2 and type(pid[1]) is int:
        return itertools.count(pid[1])
    return resolve(pid)


def _loads(data: bytes, resolve: Callable[[Any], Any]) -> Any:
    try:
        unpickler = _Unpickler(io.BytesIO(data))
        unpickler._reference = functools.partial(_reference, resolve)
        return unpickler.load()
    except (SnapshotError, _Stale):
        raise
    except Exception as exc:  # noqa: BLE001 - a bad pickle raises anything: bad input, whatever it raised
        raise SnapshotError(f"a stored record does not load ({type(exc).__name__})") from None


# --- writing ----------------------------------------------------------------------------------

class _Pickler(pickle.Pickler):
    """Pickles one object at a time, writing what several rows share as references.

    ``reducer_override`` rather than ``persistent_id``: pickle asks it about records only, not
    about every dict, list, string and number inside them, which would cost a call each."""

    def __init__(self, refs: dict[type, Callable[[Any], Any]], positional: bool = False) -> None:
        """``positional``: slotted records written as their constructor's arguments (``_POSITIONAL``)."""
        self._buffer = io.BytesIO()
        super().__init__(self._buffer, PROTOCOL)
        self._refs = refs
        self._positional = _positional() if positional else {}
        self._top: Any = None

    def reducer_override(self, obj: Any) -> Any:
        kind = type(obj)
        ref = self._refs.get(kind)
        if ref is not None and obj is not self._top and obj is not _ref:
            pid = ref(obj)
            if pid is not None:
                return _ref, pid
        values = self._positional.get(kind)
        if values is not None:
            return kind, values(obj)
        return NotImplemented

    def dumps(self, obj: Any) -> bytes:
        self._top = obj
        buffer = self._buffer
        buffer.seek(0)
        buffer.truncate()
        self.clear_memo()
        self.dump(obj)
        self._top = None
        return buffer.getvalue()


def _positional() -> dict[type, Callable[[Any], tuple[Any, ...]]]:
    """The slotted records (events, envelopes, items, issues and what they hold), each with the
    getter of its fields in order: a row then holds ``Event(*values)``, not the default
    ``{field name: value}`` of every slot, half the bytes and half the time to load. Only the
    classes whose every field is an ``__init__`` argument."""
    found: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
    for value in vars(record_types).values():
        if isinstance(value, type) and value.__module__ == record_types.__name__ and is_dataclass(value) \
                and "__slots__" in vars(value) and not hasattr(value, "__post_init__"):
            names = [f.name for f in fields(value)]
            if len(names) > 1 and all(f.init for f in fields(value)):
                found[value] = operator.attrgetter(*names)
    return found


def _count(counter: Any) -> tuple[str, int]:
    """An ``itertools.count`` by its next value (read off its repr: taking it would use it up)."""
    return ("count", int(repr(counter)[6:-1]))


def _shared_refs(store: Store) -> dict[type, Callable[[Any], Any]]:
    """How a row refers to what other rows (or the state blob) hold; None: written whole."""

    def envelope(record: EnvelopeRecord) -> tuple[str, int] | None:
        # an event's source; one the store no longer keeps (no row of its own) is written whole
        return ("envelope", record.id) if store.envelopes.get(record.id) is record else None

    return {Project: lambda p: ("project", p.id), Organization: lambda o: ("organization", o.id),
            Team: lambda t: ("team", t.id), User: lambda u: ("user", u.id),
            Event: lambda e: ("event", e.seq), EnvelopeRecord: envelope, _COUNT: _count}


class Encoder:
    """Turns the live store into rows; made once per store (its picklers are reused)."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self.rows = _Pickler(_shared_refs(store), positional=True)
        state_refs: dict[type, Callable[[Any], Any]] = {
            type(store): lambda s: ("store",), _COUNT: _count,
            Event: lambda e: ("event", e.seq), Issue: lambda i: ("issue", i.id),
            EnvelopeRecord: lambda r: ("envelope", r.id), ItemRecord: lambda r: ("item", r.id),
            Attachment: lambda a: ("attachment", a.id),
        }
        for kind in _CALLABLES:
            state_refs[kind] = lambda f: ("callable",)
        self.state = _Pickler(state_refs)

    def record(self, kind: str, record: Any) -> tuple[str, str, bytes]:
        """One bulk record as ``(kind, key, body)``."""
        return kind, record_key(kind, record), self.rows.dumps(record)

    def issue(self, issue: Issue) -> bytes:
        """An issue with its events as their sequence numbers (the events are rows of their own)."""
        events = issue.events
        issue.stored_events = [e.seq for e in events]  # type: ignore[misc]
        try:
            return self.rows.dumps(issue)
        finally:
            issue.stored_events = events

    def state_blob(self) -> bytes:
        """Everything that is not bulk, in one pickle (shared objects stay shared inside it)."""
        store = self.store
        top: dict[str, Any] = {}
        subs: dict[str, dict[str, Any]] = {}
        for name, value in vars(store).items():
            if name in BULK or name in CONFIGURATION:
                continue
            if _is_sub_store(value):
                subs[name] = {k: v for k, v in vars(value).items() if k not in SUB_CONFIGURATION
                              and not (name == "issues" and k in ISSUE_INDEXES)}
            else:
                top[name] = value
        issues = store.issues
        redirects = issues._redirects
        short_ids = [(key, issue.id) for key, issue in issues._by_short_id.items()
                     if key != (issue.project.id, issue.short_id)] if redirects else []
        return self.state.dumps({"store": top, "subs": subs, "short_id_redirects": short_ids})


def _is_sub_store(value: Any) -> bool:
    """A part of the store (``IssueStore``, ``Retention`` …): its attributes are state, its
    callables and back references the running store's."""
    kind = type(value)
    return kind.__module__.startswith("sentry_daemon.store.") and not is_dataclass(kind) \
        and hasattr(value, "__dict__")


def record_key(kind: str, record: Any) -> str:
    """What names a bulk record among its kind (eviction deletes it by that)."""
    if kind == "event":
        return str(record.seq)
    if kind in ("envelope", "item", "attachment"):
        return str(record.id)
    return ""  # spans and sessions are never deleted one by one


@dataclass
class Rows:
    """A whole state as rows: what a file holds."""

    state: bytes
    records: list[tuple[str, str, bytes]] = field(default_factory=list)  # (kind, key, body), in order
    issues: list[tuple[int, bytes]] = field(default_factory=list)
    record_seq: int = 0  # the record log's last number: a reader's Last-Event-ID stays meaningful
    clock: float | None = None  # a manual domain clock's time (``--data-dir`` only), else None
    db: sqlite3.Connection | None = None  # set: ``records`` are read from it as they are decoded

    def envelope_rows(self) -> Iterator[tuple[int, str, bytes]]:
        """``(position, key, body)`` of the envelope rows, in no particular order."""
        return self._of_kind("envelope")

    def event_rows(self) -> Iterator[tuple[int, str, bytes]]:
        return self._of_kind("event")

    def other_rows(self) -> Iterator[tuple[int, str, str, bytes]]:
        """``(position, kind, key, body)`` of the rest (items, attachments, spans, sessions), in order."""
        if self.db is None:
            return ((n, kind, key, body) for n, (kind, key, body) in enumerate(self.records)
                    if kind != "envelope" and kind != "event")
        return _checked(self.db, "SELECT seq, kind, key, body FROM records WHERE kind NOT IN ('envelope', 'event') "
                                 "ORDER BY seq")

    def _of_kind(self, kind: str) -> Iterator[tuple[int, str, bytes]]:
        if self.db is None:
            return ((n, key, body) for n, (k, key, body) in enumerate(self.records) if k == kind)
        return ((n, key, body) for n, _, key, body in
                _checked(self.db, "SELECT seq, kind, key, body FROM records WHERE kind = ?", (kind,)))


def _checked(db: sqlite3.Connection, query: str, args: tuple[Any, ...] = ()) -> Iterator[tuple[int, str, str, bytes]]:
    """Rows of the records table one at a time (a start-up holds one body at a time, not the file)."""
    try:
        for seq, kind, key, body in db.execute(query, args):
            if type(body) is not bytes or kind not in RECORD_KINDS or type(key) is not str or type(seq) is not int:
                raise SnapshotError("a malformed record row")
            yield seq, kind, key, body
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a readable state database ({exc})") from None


def whole_state(store: Store, encoder: Encoder | None = None) -> Rows:
    """Every row of the store's state now (a snapshot, or a data directory written afresh)."""
    encoder = encoder or Encoder(store)
    rows = Rows(encoder.state_blob(), record_seq=store.record_log.seq)
    records = rows.records
    for event in store._events.values():
        records.append(encoder.record("event", event))
    captured: list[tuple[tuple[int, int], str, Any]] = []
    for deque_ in store._captured.values():
        envelope_id = 0
        for position, record in enumerate(deque_):
            if isinstance(record, EnvelopeRecord):
                envelope_id, kind = record.id, "envelope"
            else:
                kind = "item" if isinstance(record, ItemRecord) else "attachment"
            captured.append(((envelope_id, position), kind, record))
    captured.sort(key=lambda c: c[0])  # the order they were stored in, across projects
    records.extend(encoder.record(kind, record) for _, kind, record in captured)
    records.extend(encoder.record("span", span) for span in store.spans)
    records.extend(encoder.record("session", session) for session in store.sessions)
    rows.issues = [(issue.id, encoder.issue(issue)) for issue in store.issues.by_id.values()]
    return rows


# --- the file ---------------------------------------------------------------------------------

def connect(path: str) -> sqlite3.Connection:
    """The state database at ``path`` (made if missing): WAL, and synced at checkpoints only, so
    a crash loses at most the last transactions and never corrupts it."""
    db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.executescript(SCHEMA)
    return db


@contextmanager
def transaction(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction, taken at once (``IMMEDIATE``), committed or else rolled back."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


def write(db: sqlite3.Connection, rows: Rows) -> None:
    """Replace everything ``db`` holds with ``rows``, in one transaction (worker thread)."""
    with transaction(db):
        db.execute("DELETE FROM records")
        db.execute("DELETE FROM issues")
        db.execute("DELETE FROM meta")
        _write_meta(db, rows.state, rows.record_seq)
        db.executemany("INSERT INTO records (seq, kind, key, body) VALUES (?, ?, ?, ?)",
                       ((n, kind, key, body) for n, (kind, key, body) in enumerate(rows.records, 1)))
        db.executemany("INSERT INTO issues (id, body) VALUES (?, ?)", rows.issues)


def _write_meta(db: sqlite3.Connection, state: bytes | None, record_seq: int, clock: float | None = None) -> None:
    """The meta rows; ``state`` None: it is unchanged (only the record log's number moved)."""
    rows: list[tuple[str, Any]] = [("format", FORMAT), ("version", VERSION), ("record_seq", record_seq)]
    if state is not None:
        rows.append(("state", state))
    if clock is not None:
        rows.append(("clock", clock))
    db.executemany("INSERT OR REPLACE INTO meta (name, value) VALUES (?, ?)", rows)


def write_file(path: str, rows: Rows) -> None:
    """A snapshot file at ``path`` (worker thread): the same schema as a data directory's."""
    if os.path.exists(path):
        os.remove(path)
    db = sqlite3.connect(path, isolation_level=None)
    try:
        db.executescript(SCHEMA)
        write(db, rows)
    finally:
        db.close()


def read(db: sqlite3.Connection, lazily: bool = False) -> Rows | None:
    """The rows ``db`` holds; None when it holds no state yet (an empty data directory).
    ``lazily``: the records are read while they are decoded (``db`` must stay open until then)."""
    try:
        rows = _read_meta(db)
        if rows is None:
            return None
        if lazily:
            rows.db = db
        else:
            rows.records = [(kind, key, body) for _, kind, key, body in
                            _checked(db, "SELECT seq, kind, key, body FROM records ORDER BY seq")]
        for issue_id, body in db.execute("SELECT id, body FROM issues ORDER BY id"):
            if not isinstance(body, bytes):
                raise SnapshotError("a malformed issue row")
            rows.issues.append((issue_id, body))
        return rows
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a readable state database ({exc})") from None


def _read_meta(db: sqlite3.Connection) -> Rows | None:
    """The rows' meta (state, record log number, clock), format and version checked, no records
    nor issues read yet; None when ``db`` holds no state."""
    meta = dict(db.execute("SELECT name, value FROM meta"))
    if not meta:
        return None
    if meta.get("format") != FORMAT:
        raise SnapshotError("not a sentryfake state")
    if meta.get("version") != VERSION:
        raise SnapshotError(f"a state of version {meta.get('version')!r}; this sentryfake reads {VERSION}")
    state = meta.get("state")
    if not isinstance(state, bytes):
        raise SnapshotError("the state is missing")
    record_seq = meta.get("record_seq", 0)
    rows = Rows(state, record_seq=record_seq if type(record_seq) is int and record_seq >= 0 else 0)
    clock = meta.get("clock")
    rows.clock = float(clock) if type(clock) in (int, float) else None
    return rows


def _open_file(path: str) -> sqlite3.Connection:
    """A snapshot file opened read-only, its pages checked; ``SnapshotError`` for anything else."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise SnapshotError(f"cannot open the state ({exc})") from None
    try:
        check = db.execute("PRAGMA quick_check").fetchone()
    except sqlite3.DatabaseError as exc:
        db.close()
        raise SnapshotError(f"not a state database ({exc})") from None
    if check != ("ok",):
        db.close()
        raise SnapshotError("the state database is damaged")
    return db


def read_file(path: str) -> Rows:
    """The rows of a snapshot file (worker thread); ``SnapshotError`` for anything else."""
    db = _open_file(path)
    try:
        rows = read(db)
        if rows is None:
            raise SnapshotError("the file holds no state")
        return rows
    finally:
        db.close()


def check_file(path: str) -> None:
    """``SnapshotError`` unless ``path`` is a readable snapshot of this format and version, found
    from its meta alone (``--load``'s option check: the start reads the records and issues once)."""
    db = _open_file(path)
    try:
        if _read_meta(db) is None:
            raise SnapshotError("the file holds no state")
    except sqlite3.DatabaseError as exc:
        raise SnapshotError(f"not a readable state database ({exc})") from None
    finally:
        db.close()


# --- loading ------------------------------------------------------------------------------------

@dataclass
class Decoded:
    """A state decoded and checked, not yet in the store: applying it cannot fail."""

    top: dict[str, Any]
    subs: dict[str, dict[str, Any]]
    short_id_redirects: list[tuple[tuple[int, int], int]]
    events: list[Event]
    issues: list[Issue]
    captured: list[tuple[str, Any]]  # envelopes, items, attachments in the order they were stored
    spans: list[dict[str, Any]]
    sessions: list[dict[str, Any]]
    stale: list[tuple[str, str]]  # rows of deleted projects, issues: (kind, key) to forget
    record_seq: int = 0
    interned: dict[Any, Any] = field(default_factory=dict)  # the issue store's ``_interned`` (``_Sharing``)


@contextmanager
def no_collection() -> Iterator[None]:
    """The cyclic collector paused: loading makes millions of objects and no garbage, and each
    collection it would trigger walks everything loaded so far (a third of a load's time). A
    caller that owns the process may pause it around this, freeze what was loaded and resume
    (``SentryService``): this then leaves it paused."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def decode(store: Store, rows: Rows) -> Decoded:
    """Unpickle and check a state for ``store``, touching nothing of it; ``SnapshotError`` if bad."""
    with no_collection():
        return _checked_decode(store, rows)


def _checked_decode(store: Store, rows: Rows, own: bool = False) -> Decoded:
    """``_decode``, and what ``_apply`` reads of it checked: a crafted file that decodes to values
    of the wrong types is refused here, before the store is reset, never half applied. ``own``:
    rows the daemon wrote itself (its data directory), whose record fields are not checked against
    their annotations (``field_types``: a third of the decoding time)."""
    try:
        decoded = _decode(store, rows)
        _check_applicable(decoded, check_fields=not own)
    except (TypeError, AttributeError, KeyError, ValueError, IndexError) as exc:
        raise SnapshotError(f"the state is malformed ({type(exc).__name__})") from None
    return decoded


_TYPED = TypedFields()  # each record class's checks, compiled once


def _check_applicable(decoded: Decoded, check_fields: bool = True) -> None:
    def check(ok: bool, what: str) -> None:
        if not ok:
            raise SnapshotError(f"the state holds a malformed {what}")

    for issue in decoded.issues:
        check(type(issue.id) is int and type(issue.short_id) is int and isinstance(issue.project, Project)
              and isinstance(issue.hashes, list) and all(type(h) is str for h in issue.hashes), "issue")
    check(isinstance(decoded.short_id_redirects, list), "short id redirect")
    for redirect in decoded.short_id_redirects:
        check(isinstance(redirect, tuple) and len(redirect) == 2 and type(redirect[1]) is int
              and isinstance(redirect[0], tuple) and all(type(n) is int for n in redirect[0]), "short id redirect")
    for kind, record in decoded.captured:
        check(type(record.id) in (int, str) and isinstance(record.project, Project), kind)
        check(kind != "envelope" or type(record.raw) is bytes, kind)
        check(kind != "attachment" or type(record.data) is bytes, kind)
    for event in decoded.events:
        check(type(event.seq) is int and type(event.event_id) is str and isinstance(event.project, Project)
              and type(event.payload) is bytes, "event")
    if not check_fields:
        return
    wrong = _TYPED.first_wrong(itertools.chain(
        decoded.issues, decoded.events, (record for _, record in decoded.captured),
        *(part.values() for part in decoded.top.values() if isinstance(part, dict)),
        (value for value in decoded.top.values() if is_dataclass(value))))
    if wrong:
        raise SnapshotError(f"the state holds a malformed record ({wrong:.120})")


def _decode(store: Store, rows: Rows) -> Decoded:
    state = _loads(rows.state, lambda pid: _state_reference(store, pid))
    if not (isinstance(state, dict) and isinstance(state.get("store"), dict) and isinstance(state.get("subs"), dict)):
        raise SnapshotError("the state is malformed")
    top, subs = state["store"], state["subs"]
    _check_shape(store, top, subs)
    shared: dict[tuple[str, int], Any] = {}
    for org in top["organizations"].values():
        shared[("organization", org.id)] = org
    for team in top["teams"].values():
        shared[("team", team.id)] = team
    for project in top["projects"].values():
        shared[("project", project.id)] = project
    if isinstance(top.get("user"), User):
        shared[("user", top["user"].id)] = top["user"]
    events_by_seq: dict[int, Event] = {}
    envelopes: dict[int, EnvelopeRecord] = {}

    def reference(pid: Any) -> Any:
        kind = pid[0]
        if kind == "event":
            return events_by_seq.get(pid[1])
        if kind == "envelope":  # an event's source; gone: the event left the store, then its envelope
            found = envelopes.get(pid[1]) if len(pid) == 2 else None
            if found is None:
                raise _Stale()
            return found
        found = shared.get(pid[:2]) if len(pid) == 2 else None
        if found is None:
            if kind == "project":
                raise _Stale()
            raise SnapshotError(f"a reference to a missing {kind}")
        return found

    decoded = Decoded(top, subs, state.get("short_id_redirects") or [], [], [], [], [], [], [], rows.record_seq)
    stale = decoded.stale
    # what the live store shares is made one object again as each row loads: the copies it
    # replaces are freed at once and their memory reused by the next row, not left as holes
    sharing = _Sharing(decoded.interned)
    # envelopes first (events refer to them), then events (items and issues refer to them), then
    # issues, then the rest; ``captured`` is put back in the rows' order
    captured: list[tuple[int, str, Any]] = []

    def loaded(found: Any, kind: str, record_type: type) -> Any:
        """Each row's record (a stale one noted and skipped), checked to be of ``record_type``."""
        for n, key, body in found:
            try:
                record = _loads(body, reference)
            except _Stale:
                stale.append((kind, key))
                continue
            if type(record) is not record_type:
                raise SnapshotError(f"an {kind} row holds something else")
            yield n, record

    for n, envelope in loaded(rows.envelope_rows(), "envelope", EnvelopeRecord):
        sharing.envelope(envelope)
        envelopes[envelope.id] = envelope
        captured.append((n, "envelope", envelope))
    for _, event in loaded(rows.event_rows(), "event", Event):
        sharing.event(event)
        events_by_seq[event.seq] = event
    listed: set[int] = set()
    for _, body in rows.issues:
        try:
            issue = _loads(body, reference)
        except _Stale:
            continue
        if not isinstance(issue, Issue) or not isinstance(issue.stored_events, list):
            raise SnapshotError("an issue row holds something else")
        events = [events_by_seq[s] for s in issue.stored_events if type(s) is int and s in events_by_seq]
        for event in events:
            event.group_id = issue.id
            listed.add(event.seq)
        issue.stored_events, issue.evicted_head = events, 0
        sharing.issue(issue)
        decoded.issues.append(issue)
    for seq in sorted(events_by_seq):
        event = events_by_seq[seq]
        if event.group_id is not None and seq not in listed:
            continue  # its issue was deleted; its item (until evicted) still shows it, so the row stays
        decoded.events.append(event)
    types_of = {"item": ItemRecord, "attachment": Attachment, "span": dict, "session": dict}
    projects = top["projects"]
    for n, kind, key, body in rows.other_rows():
        try:
            record = _loads(body, reference)
        except _Stale:
            stale.append((kind, key))
            continue
        if not isinstance(record, types_of[kind]):
            raise SnapshotError(f"a {kind} row holds something else")
        if kind in ("span", "session"):
            if record.get("project") not in projects:
                continue
            (decoded.spans if kind == "span" else decoded.sessions).append(record)
        else:
            if kind == "item":
                sharing.item(record, envelopes.get(record.envelope_id))
            captured.append((n, kind, record))
    captured.sort(key=lambda c: c[0])
    decoded.captured = [(kind, record) for _, kind, record in captured]
    return decoded


def _state_reference(store: Store, pid: Any) -> Any:
    if pid == ("store",):
        return store
    if pid == ("callable",):
        return KEEP
    raise SnapshotError(f"the state refers to a {pid[0]!s:.40}, which it may not")


def _check_shape(store: Store, top: dict[str, Any], subs: dict[str, dict[str, Any]]) -> None:
    """Each part is of the kind the running store holds there (a crafted state is refused whole)."""
    for name, value in top.items():
        live = getattr(store, name, None)
        if live is None or name in BULK or name in CONFIGURATION or _is_sub_store(live):
            raise SnapshotError(f"the state holds an unknown part {name!r:.60}")
        if type(value) is not type(live):
            raise SnapshotError(f"the state's {name} is not a {type(live).__name__}")
    for name, values in subs.items():
        live = getattr(store, name, None)
        if not _is_sub_store(live) or not isinstance(values, dict):
            raise SnapshotError(f"the state holds an unknown part {name!r:.60}")
        for key, value in values.items():
            if not isinstance(key, str) or not hasattr(live, key):
                raise SnapshotError(f"the state holds an unknown part {name}.{key!s:.60}")
            here = getattr(live, key)
            if value is not KEEP and here is not None and value is not None and type(value) is not type(here) \
                    and not (isinstance(here, (int, float)) and isinstance(value, (int, float))):
                raise SnapshotError(f"the state's {name}.{key} is not a {type(here).__name__}")
    for name in ("organizations", "teams", "projects"):
        if not isinstance(top.get(name), dict):
            raise SnapshotError(f"the state has no {name}")
    if not all(isinstance(p, Project) for p in top["projects"].values()) or \
            not all(isinstance(o, Organization) for o in top["organizations"].values()) or \
            not all(isinstance(t, Team) for t in top["teams"].values()):
        raise SnapshotError("the state's organizations, teams or projects are malformed")


def apply(store: Store, decoded: Decoded) -> None:
    """Make ``decoded`` the store's state: the store is reset, then given every part and its
    indexes rebuilt (the same ones ``add_event``, ``_capture`` and the issue store keep)."""
    with no_collection():
        _apply(store, decoded)


def _apply(store: Store, decoded: Decoded) -> None:
    store.reset()
    log = store.record_log  # numbered on from where the state's was, never back (a reader's cursor)
    log.seq = max(log.seq, decoded.record_seq)
    for name, value in decoded.top.items():
        setattr(store, name, value)
    for name, values in decoded.subs.items():
        part = getattr(store, name)
        for key, value in values.items():
            if value is KEEP:
                continue
            here = getattr(part, key)
            if isinstance(here, deque) and isinstance(value, deque) and here.maxlen != value.maxlen:
                value = deque(value, maxlen=here.maxlen)  # the running service's size wins
            setattr(part, key, value)
    issues = store.issues
    issues.by_id, issues._by_hash, issues._by_short_id, issues._interned = {}, {}, {}, {}
    issues._interned = decoded.interned
    for issue in sorted(decoded.issues, key=lambda i: i.id):
        issues.by_id[issue.id] = issue
        pid = issue.project.id
        for hash_ in issue.hashes:
            issues._by_hash[(pid, hash_)] = issue
        issues._by_short_id[(pid, issue.short_id)] = issue
    for key, issue_id in decoded.short_id_redirects:
        target = issues.by_id.get(issue_id)
        if target is not None and isinstance(key, tuple):
            issues._by_short_id[key] = target
    stored_bytes = 0
    for kind, record in decoded.captured:
        if kind == "envelope":
            store.envelopes[record.id] = record
            stored_bytes += len(record.raw)
        elif kind == "item":
            store.items[record.id] = record
        else:
            store.attachments[record.id] = record
            stored_bytes += len(record.data)
        store._capture(record.project, record)
    events, by_project, by_id = store._events, store._events_by_project, store.events_by_id
    for event in decoded.events:
        events[event.seq] = event
        project_events = by_project.get(event.project.id)
        if project_events is None:
            project_events = by_project[event.project.id] = deque()
        project_events.append(event)
        by_id[event.event_id] = event
        stored_bytes += len(event.payload)
    store.envelopes = dict(sorted(store.envelopes.items()))
    store.items = dict(sorted(store.items.items()))
    store.spans = decoded.spans
    store.sessions = decoded.sessions
    store.retention.stored_bytes = stored_bytes


class _Sharing:
    """What the live store makes one object of (``IssueStore._intern``, ``sys.intern``, an event's
    ``received`` its envelope's), made one again after rows were unpickled one by one."""

    def __init__(self, cache: dict[Any, Any]) -> None:
        self.cache = cache  # the issue store's own: events stored after the load share with these

    def pairs(self, pairs: Any) -> Any:
        """A tuple of pairs: the one already seen (its pairs are shared), else it with its pairs."""
        cache = self.cache
        if type(pairs) is not tuple:
            return pairs
        found = cache.get(pairs)
        if found is not None:
            return found
        interned = tuple([cache.setdefault(pair, pair) if type(pair) is tuple else pair for pair in pairs])
        return cache.setdefault(interned, interned)

    def event(self, event: Event) -> None:
        cache, pairs, intern = self.cache, self.pairs, sys.intern
        if type(event.type) is str:
            event.type = intern(event.type)
        if type(event.environment) is str:
            event.environment = intern(event.environment)
        if event.tags:
            event.tags = pairs(event.tags)
        if event.fields:
            event.fields = pairs(event.fields)
        if event.stack_fields:
            event.stack_fields = pairs(event.stack_fields)
        if event.hashes and type(event.hashes) is tuple:
            event.hashes = cache.setdefault(event.hashes, event.hashes)
        texts = event.texts
        if texts and type(texts) is tuple:
            event.texts = tuple([cache.setdefault(pair, pair) if type(pair) is tuple and pair[0] in _SHARED_TEXTS
                                 else pair for pair in texts])
        source = event.source
        if source is not None and source.received == event.received:
            event.received = source.received

    def issue(self, issue: Issue) -> None:
        """Its tag and field pairs are the events' (``IssueStore.save`` keys them by the event's)."""
        cache = self.cache
        if type(issue.values) is dict:
            issue.values = {cache.setdefault(pair, pair): stats for pair, stats in issue.values.items()}
        if type(issue.fields) is set:
            issue.fields = {cache.setdefault(pair, pair) for pair in issue.fields}

    def item(self, record: ItemRecord, envelope: EnvelopeRecord | None) -> None:
        if type(record.type) is str:
            record.type = sys.intern(record.type)
        if envelope is not None and record.received == envelope.received:
            record.received = envelope.received

    def envelope(self, record: EnvelopeRecord) -> None:
        intern = sys.intern
        for name in _REPEATED_STRINGS:
            if type(value := getattr(record, name)) is str:
                setattr(record, name, intern(value))


def load(store: Store, rows: Rows, own: bool = False) -> Decoded:
    """Decode then apply, at start-up; nothing of the store changes when the rows are bad
    (``own``: the daemon's data directory, see ``_checked_decode``)."""
    with no_collection():
        decoded = _checked_decode(store, rows, own)
        _apply(store, decoded)
    return decoded

