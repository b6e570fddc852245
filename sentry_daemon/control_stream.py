"""The live stream: ``GET /__parlel/stream``, every record as it is stored, as Server-Sent Events.

Wire format (``Content-Type: text/event-stream; charset=utf-8``, ``Cache-Control: no-cache``,
``X-Accel-Buffering: no``; the body is UTF-8 lines ending in ``\\n``, blocks separated by a blank
line, as the SSE spec and ``EventSource`` read them):

- first ``retry: 1000`` (an ``EventSource`` reconnects after one second) and a comment
  ``: live after id <seq>`` (the last sequence number stored when the stream opened; with a
  resume it follows the replayed records);
- one block per stored record::

      event: <kind>
      id: <seq>
      data: <one line of compact JSON>

  ``<kind>`` is one of ``error``, ``default``, ``transaction``, ``feedback`` (an event, by its
  type; security reports and other types are ``default``), ``span`` (each span of a span item or
  container and of a transaction), ``log`` (each entry of a log container), ``check_in`` (again
  on each update, and when the clock marks one missed or timed out), ``session`` (an update or
  an aggregate), ``attachment``, ``client_report``. ``<seq>`` is the store's record-log sequence
  number (``store.record_log``): it only grows, across resets too, with gaps where records of
  kinds not streamed (envelopes, items, issues, outcomes) were numbered. ``data`` is always an
  object with exactly these keys::

      {"kind": "error", "id": "<the record's id or null>", "project": 1,
       "time": "2026-12-02T04:50:00.000000Z", "title": "ValueError: boom", "level": "error",
       "url": "/__parlel/events?project=1&event_id=<event_id>"}

  ``id``: the event id (error, default, transaction, feedback), ``span_id``, the check-in's id,
  the attachment's id, a session update's ``sid``; null for log entries, session aggregates
  and client reports (they have none). ``project``: the numeric project id. ``time``: ISO 8601
  UTC of when the record says it happened (an event's ``timestamp``, a span's
  ``start_timestamp``, a log entry's ``timestamp``, a check-in's last update, a session's
  ``timestamp`` or ``started``, a client report's ``timestamp``, an attachment's arrival), or
  when it was stored when it says nothing. ``title``: one line of text (an event's title as the
  issue list shows it, a transaction's name, feedback's message, a span's description or op, a
  log entry's body, ``"<monitor slug> <status>"`` for a check-in, ``"session <status>"`` or
  ``"session aggregates"``, an attachment's file name, ``"client report: <n> discarded"``).
  ``level``: an event's or a log entry's level, null for the rest. ``url``: the control-API path
  (relative to the daemon's root) that returns the whole record, as precise as the control API
  allows: ``/__parlel/events?project=P&event_id=<event_id>`` for events,
  ``/__parlel/attachments/<id>`` (the bytes), ``/__parlel/check_ins?project=P&monitor=<slug>``,
  the transaction's URL for a transaction's spans, otherwise ``/__parlel/items?project=P&type=
  <span|log|session|sessions|client_report>`` (the items that carry them).
- a comment ``: heartbeat`` every ``heartbeat`` seconds (15 s; ``Config.stream_heartbeat``),
  so proxies keep the connection open; ``EventSource`` ignores comments.

Filters: ``?project=`` (numeric id), ``?tenant=`` (a tenant id), ``?org=`` (slug or id), as the
control lists take them (``control_lists``), and ``?type=`` (a kind above; repeatable); unknown
filters or kinds are ``400``, an unknown tenant or organization ``404``. With ``--control-auth
token`` a tenant's or organization's token sees only its organization's records (``control_auth``).

Resume: ``Last-Event-ID: <seq>`` (the header ``EventSource`` sends when it reconnects) or
``?last_event_id=<seq>`` (which wins over the header) first replays the matching records after
``seq`` that are still in the backlog, then goes live. The backlog is the record log's ``recent`` tail: the last 4096 records of
every kind (``record_log.DEFAULT_SIZE``; envelopes, items and outcomes count too, so a few
thousand streamed ones at most), emptied by a reset; records deleted since are skipped. When
records after ``seq`` are no longer kept a comment ``: records <a> to <b> are gone`` says so
before the replay. ``last_event_id=0`` replays the whole backlog.

A slow client never makes the daemon buffer without bound: the stream registers as the
request's push producer, so the transport says when its send buffer (Twisted's 64 KiB) is full;
bytes written from then until it drains again count against ``max_buffer`` (1 MiB;
``Config.stream_max_buffer``), and past it the connection is aborted (the client resumes with
``Last-Event-ID``). A disconnected client unsubscribes. Records are written at most 10 ms after
they were stored (``FLUSH_DELAY``; at once past 64 KiB queued), together: one write, one system
call per client for all the records of those 10 ms, which is what keeps ten listeners cheap.

Costs nothing when nobody listens: the streams subscribe to the record log only while one is
open, as ``control_wait``'s waiters do; a record is summarized once, however many listen. The
daemon's ``--idle-timeout`` never cuts a stream (Twisted suspends it while a response is being
written); the heartbeat runs on the reactor (real time, never the domain clock).
"""

from __future__ import annotations

import json
from typing import Any, Callable
from urllib.parse import quote

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IPushProducer
from twisted.internet.task import LoopingCall
from twisted.logger import Logger
from twisted.web.server import Request
from zope.interface import implementer

from sentry_daemon.control_auth import Scope, require_org
from sentry_daemon.control_lists import named_org, whole_number
from sentry_daemon.http.errors import ApiError
from sentry_daemon.store.records import Attachment, CheckIn, Event, Organization, Project
from sentry_daemon.store.record_log import DEFAULT_SIZE as BACKLOG_SIZE  # noqa: F401  (the backlog: its size)
from sentry_daemon.store.store import Store
from sentry_daemon.timestamps import isoformat, usable_timestamp

KINDS = ("error", "default", "transaction", "span", "log", "check_in", "session", "attachment",
         "client_report", "feedback")
FILTERS = ("project", "tenant", "org", "type", "last_event_id")
DEFAULT_HEARTBEAT = 15.0
DEFAULT_MAX_BUFFER = 1 << 20  # bytes a paused client may have waiting in the daemon
FLUSH_AT = 1 << 16  # bytes queued for a client that are written at once
FLUSH_DELAY = 0.01  # seconds a frame may wait to share its write (and its syscall) with others
EVENT_KINDS = frozenset({"error", "default", "transaction", "feedback"})
# the record log's kinds that are streamed, and what they become
STREAMED = frozenset({"event", "span", "log", "check_in", "session", "attachment", "client_report"})
HEARTBEAT = b": heartbeat\n\n"

_log = Logger()


# --- a record, summarized ------------------------------------------------------------------

# (stream kind, project id, and the data: its id, time (Unix seconds until framed), title, level and url)
Summary = tuple[str, int, dict[str, Any]]


def _seconds(value: Any, default: float) -> float:
    found = usable_timestamp(value)
    return default if found is None else found


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _event(event: Event) -> Summary:
    kind = event.type if event.type in EVENT_KINDS else "default"
    pid = event.project.id
    title = level = None
    if kind in ("error", "default"):
        title = next((v for k, v in event.texts if k == "title"), None)
        level = next((v for k, v in event.tags if k == "level"), None)
    if title is None or level is None:
        data = event.data
        if kind == "transaction":
            title = title or _text(data.get("transaction"))
        elif kind == "feedback":
            contexts = data.get("contexts") if isinstance(data.get("contexts"), dict) else {}
            feedback = contexts.get("feedback") if isinstance(contexts.get("feedback"), dict) else {}
            title = title or _text(feedback.get("message"))
        title = title or _text(data.get("message")) or _text(data.get("title"))
        level = level or _text(data.get("level"))
    url = f"/__parlel/events?project={pid}&event_id={event.event_id}"
    return kind, pid, {"id": event.event_id, "time": event.time, "title": title or "", "level": level, "url": url}


def _span(span: dict[str, Any], now: float) -> Summary:
    pid = span["project"]
    title = span.get("description") or span.get("name") or span.get("op") or ""
    return "span", pid, {"id": _text(span.get("span_id")), "time": _seconds(span.get("start_timestamp"), now),
                         "title": str(title), "level": None, "url": f"/__parlel/items?project={pid}&type=span"}


def _log_entry(record: tuple[int, dict[str, Any]], now: float) -> Summary:
    pid, entry = record
    return "log", pid, {"id": None, "time": _seconds(entry.get("timestamp"), now), "title": str(entry.get("body") or ""),
                        "level": _text(entry.get("level")), "url": f"/__parlel/items?project={pid}&type=log"}


def _check_in(check_in: CheckIn) -> Summary:
    monitor = check_in.monitor
    pid = monitor.project.id
    return "check_in", pid, {"id": check_in.id, "time": check_in.date_updated,
                             "title": f"{monitor.slug} {check_in.status}", "level": None,
                             "url": f"/__parlel/check_ins?project={pid}&monitor={quote(monitor.slug, safe='')}"}


def _session(row: dict[str, Any], now: float) -> Summary:
    pid = row["project"]
    if "aggregates" in row:
        return "session", pid, {"id": None, "time": now, "title": "session aggregates", "level": None,
                                "url": f"/__parlel/items?project={pid}&type=sessions"}
    when = _seconds(row.get("timestamp"), _seconds(row.get("started"), now))
    return "session", pid, {"id": _text(row.get("sid")), "time": when, "title": f"session {row.get('status') or 'ok'}",
                            "level": None, "url": f"/__parlel/items?project={pid}&type=session"}


def _attachment(attachment: Attachment) -> Summary:
    return "attachment", attachment.project.id, {
        "id": attachment.id, "time": attachment.date_created, "title": attachment.filename, "level": None,
        "url": f"/__parlel/attachments/{attachment.id}"}


def _client_report(record: tuple[int, dict[str, Any]], now: float) -> Summary:
    pid, report = record
    lost = 0
    for key in ("discarded_events", "rate_limited_events", "filtered_events", "filtered_sampling_events"):
        rows = report.get(key)
        for row in rows if isinstance(rows, list) else ():
            quantity = row.get("quantity") if isinstance(row, dict) else None
            if isinstance(quantity, int) and not isinstance(quantity, bool):
                lost += quantity
    return "client_report", pid, {"id": None, "time": _seconds(report.get("timestamp"), now),
                                  "title": f"client report: {lost} discarded", "level": None,
                                  "url": f"/__parlel/items?project={pid}&type=client_report"}


def summarize(kind: str, record: Any, now: float) -> Summary:
    """What the stream shows of one record of the record log (a kind in ``STREAMED``)."""
    if kind == "event":
        return _event(record)
    if kind == "span":
        return _span(record, now)
    if kind == "log":
        return _log_entry(record, now)
    if kind == "check_in":
        return _check_in(record)
    if kind == "session":
        return _session(record, now)
    if kind == "attachment":
        return _attachment(record)
    return _client_report(record, now)


def _project_of(store: Store, kind: str, record: Any, pid: int) -> Project | None:
    """The record's project while the record is still stored (None once it or its project is gone)."""
    if kind == "event":
        return record.project if store.has_event(record) else None
    if kind == "attachment":
        return record.project if store.attachments.get(record.id) is record else None
    project = store.projects.get(pid)
    if kind == "check_in" and record.monitor.project is not project:
        return None
    return project


class Framer:
    """Turns records into SSE frames in record-log order; remembers the transaction just stored,
    so its spans (stored right after it) point at it."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._parent: tuple[int, str] | None = None  # (seq of the transaction or its last span, its url)

    def frame(self, seq: int, kind: str, record: Any) -> tuple[str, Project | None, bytes]:
        store = self._store
        stream_kind, pid, body = summarize(kind, record, store.now())
        parent = self._parent
        if stream_kind == "transaction":
            self._parent = (seq, body["url"])
        elif stream_kind == "span" and parent is not None and parent[0] == seq - 1:
            body["url"] = parent[1]
            self._parent = (seq, parent[1])
        body["time"] = isoformat(body["time"])
        data = json.dumps({"kind": stream_kind, "id": body["id"], "project": pid, "time": body["time"],
                           "title": body["title"], "level": body["level"], "url": body["url"]},
                          separators=(",", ":"))
        frame = f"event: {stream_kind}\nid: {seq}\ndata: {data}\n\n".encode()
        return stream_kind, _project_of(store, kind, record, pid), frame


# --- one client ----------------------------------------------------------------------------


@implementer(IPushProducer)
class Stream:
    """One open stream: what it wants, and its writes, paused and counted when the client lags."""

    def __init__(self, streams: "Streams", request: Request, org: Organization | None, project_id: int | None,
                 kinds: frozenset[str]) -> None:
        self.streams = streams
        self.request = request
        self.org = org
        self.project_id = project_id
        self.kinds = kinds
        self.paused = False
        self.held = 0  # bytes written since the transport said its buffer is full
        self.most_held = 0  # the most ``held`` ever was (``max_buffer`` plus one write at most)
        self.queued: list[bytes] = []
        self.queued_bytes = 0
        self.done = False
        self.deferred: Deferred = Deferred(lambda _: self.end())

    def wants(self, kind: str, project: Project | None) -> bool:
        if kind not in self.kinds or project is None:
            return False
        if self.project_id is not None and project.id != self.project_id:
            return False
        return self.org is None or project.organization is self.org

    def send(self, frame: bytes) -> None:
        """Queue a frame for the next write (at once past ``FLUSH_AT``)."""
        queued = self.queued
        queued.append(frame)
        self.queued_bytes += len(frame)
        if self.queued_bytes >= FLUSH_AT:
            self.flush()
        elif len(queued) == 1:
            self.streams.flush_soon(self)

    def flush(self) -> None:
        if self.done or not self.queued:
            return
        data = b"".join(self.queued)
        self.queued, self.queued_bytes = [], 0
        self.write(data)

    def write(self, data: bytes) -> None:
        if self.done:
            return
        if self.paused:
            self.held += len(data)
            self.most_held = max(self.most_held, self.held)
            if self.held > self.streams.max_buffer:
                self.drop()
                return
        self.request.write(data)

    def drop(self) -> None:
        """The client lags past ``max_buffer``: cut it (it resumes with ``Last-Event-ID``)."""
        self.streams.dropped += 1
        _log.warn("stream client {peer} lags more than {cap} bytes: disconnected", peer=self.request.getClientAddress(),
                  cap=self.streams.max_buffer)
        transport = self.request.transport
        self.end()
        if transport is not None:
            transport.abortConnection()

    def end(self) -> None:
        """Stop writing and unsubscribe (the client went away, lagged, or the service stops)."""
        if self.done:
            return
        self.done = True
        self.queued = []
        self.streams.forget(self)
        request = self.request
        if request.producer is self:
            if request.channel is not None:
                request.unregisterProducer()
            else:  # the connection is gone, and with it the channel that held the producer
                request.producer = None

    def finish(self) -> None:
        """End the response cleanly (the service is stopping)."""
        if not self.done:
            self.flush()
            self.end()
            self.deferred.callback(None)

    # IPushProducer: the transport's word on its send buffer
    def pauseProducing(self) -> None:
        self.paused = True

    def resumeProducing(self) -> None:
        self.paused = False
        self.held = 0  # the transport resumes a producer once its buffer is empty

    def stopProducing(self) -> None:
        self.end()


# --- every client ---------------------------------------------------------------------------


def _kinds(values: list[str]) -> frozenset[str]:
    for value in values:
        if value not in KINDS:
            raise ApiError(400, f"invalid type: {value!r}; choose among {', '.join(KINDS)}")
    return frozenset(values) if values else frozenset(KINDS)


def _last_event_id(request: Request, args: dict[str, list[str]]) -> int | None:
    header = request.getHeader(b"last-event-id")
    value = (args.get("last_event_id") or [None])[0]
    if value in (None, "") and header:
        value = header.decode("utf-8", "replace").strip()
    return whole_number(value, "last_event_id")  # digits only: never negative


def _org(store: Store, args: dict[str, list[str]], scope: Scope, request: Request) -> tuple[Organization | None, bool]:
    """The organization ``org``, ``tenant`` and the caller's scope bound the stream to, as the
    control lists read them; and whether they name different organizations (nothing matches)."""
    found, nothing = named_org(store, (args.get("org") or [None])[0], (args.get("tenant") or [None])[0])
    if found is not None:
        require_org(request, found)
    elif isinstance(scope, Organization):
        found = scope
    return found, nothing


class Streams:
    """Every open stream of a service, fed by the store's record log while one is open."""

    def __init__(self, store: Store, reactor: Any, heartbeat: float = DEFAULT_HEARTBEAT,
                 max_buffer: int = DEFAULT_MAX_BUFFER) -> None:
        """``heartbeat``: seconds between comments; ``max_buffer``: bytes a client whose
        transport is full may have waiting before it is disconnected."""
        self._store = store
        self._reactor = reactor
        self.heartbeat = heartbeat
        self.max_buffer = max_buffer
        self.dropped = 0  # clients disconnected for lagging past ``max_buffer``
        self._streams: tuple[Stream, ...] = ()  # replaced, never changed: a write may end a stream
        self._framer = Framer(store)
        self._wanted: frozenset[str] = frozenset()  # the kinds some open stream wants
        self._unsubscribe: Callable[[], None] | None = None
        self._beat: LoopingCall | None = None
        self._due: set[Stream] = set()
        self._flush: Any = None

    @property
    def open(self) -> int:
        """How many streams are open."""
        return len(self._streams)

    @property
    def clients(self) -> tuple[Stream, ...]:
        """The open streams, oldest first."""
        return self._streams

    @property
    def listening(self) -> bool:
        """Whether the streams are subscribed to the record log (only while one is open)."""
        return self._unsubscribe is not None

    def stream(self, request: Request, args: dict[str, list[str]], scope: Scope) -> Deferred:
        """Open a stream for ``request``: filters checked (400/404/403 before anything is
        written), the backlog replayed after ``Last-Event-ID``, then live. The Deferred fires
        (with nothing more to write) when the service stops; a client that goes away cancels it."""
        unknown = sorted(set(args) - set(FILTERS))
        if unknown:
            raise ApiError(400, f"unknown filter {', '.join(unknown)} for the stream; it takes {', '.join(FILTERS)}")
        store = self._store
        org, nothing = _org(store, args, scope, request)
        project_id = whole_number((args.get("project") or [None])[0], "project")
        kinds = frozenset() if nothing else _kinds(args.get("type") or [])
        last = _last_event_id(request, args)

        stream = Stream(self, request, org, project_id, kinds)
        request.setResponseCode(200)
        request.setHeader(b"Content-Type", b"text/event-stream; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-cache")
        request.setHeader(b"X-Accel-Buffering", b"no")  # nginx: pass each event on as it comes
        request.registerProducer(stream, True)
        head = [b"retry: 1000\n\n"]
        if last is not None:
            head += self._backlog(stream, last)
        head.append(b": live after id %d\n\n" % store.record_log.seq)
        stream.write(b"".join(head))
        self._streams = (*self._streams, stream)
        self._wanted = self._wanted | stream.kinds
        if self._unsubscribe is None:
            self._framer = Framer(store)
            self._unsubscribe = store.record_log.subscribe(self._record)
        if self._beat is None:
            self._beat = LoopingCall(self._heartbeat)
            self._beat.clock = self._reactor
            self._beat.start(self.heartbeat, now=False)
        return stream.deferred

    def _backlog(self, stream: Stream, last: int) -> list[bytes]:
        log = self._store.record_log
        recent = log.recent
        oldest = recent[0][0] if recent else log.seq + 1
        frames = []
        if last + 1 < oldest:
            frames.append(b": records %d to %d are gone (the backlog keeps the last %d records)\n\n"
                          % (last + 1, oldest - 1, recent.maxlen))
        framer = Framer(self._store)
        for seq, kind, record in recent:
            if seq > last and kind in STREAMED:
                stream_kind, project, frame = framer.frame(seq, kind, record)
                if stream.wants(stream_kind, project):
                    frames.append(frame)
        return frames

    def _record(self, seq: int, kind: str, record: Any) -> None:
        if kind not in STREAMED:
            return
        wanted = self._wanted
        stream_kind = (record.type if record.type in EVENT_KINDS else "default") if kind == "event" else kind
        if stream_kind not in wanted and not (stream_kind == "transaction" and "span" in wanted):
            return  # nobody wants it (a transaction is framed for its spans' url)
        stream_kind, project, frame = self._framer.frame(seq, kind, record)
        for stream in self._streams:
            if stream.wants(stream_kind, project):
                stream.send(frame)

    def flush_soon(self, stream: Stream) -> None:
        """Write ``stream``'s queue on the next reactor turn (after the write that fed it)."""
        self._due.add(stream)
        if self._flush is None:
            self._flush = self._reactor.callLater(FLUSH_DELAY, self._flush_due)

    def _flush_due(self) -> None:
        self._flush = None
        due, self._due = self._due, set()
        for stream in due:
            stream.flush()

    def _heartbeat(self) -> None:
        for stream in self._streams:
            stream.flush()
            stream.write(HEARTBEAT)

    def forget(self, stream: Stream) -> None:
        self._streams = tuple(s for s in self._streams if s is not stream)
        self._wanted = frozenset(k for s in self._streams for k in s.kinds)
        self._due.discard(stream)
        if not self._streams:
            if self._unsubscribe is not None:
                self._unsubscribe()
                self._unsubscribe = None
            if self._beat is not None:
                self._beat.stop()
                self._beat = None

    def close(self) -> None:
        """The service is stopping: every stream's response ends."""
        for stream in self._streams:
            stream.finish()
