"""What the store keeps: one record type per kind of state (organizations to attachments).

The records kept per request are slotted: no ``__dict__`` each, so half the objects for the
collector to scan as the store grows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Iterator

from sentry_daemon.store import payloads


@dataclass(frozen=True)
class Seed:
    """What the store starts with, and returns to on reset."""

    org_slug: str = "parlel"
    project_slug: str = "hello-world"
    project_id: int = 1
    dsn_key: str = "parlel"
    tokens: tuple[str, ...] = ("sntrys_parlel",)
    user_email: str = "sentryfake@localhost"
    # more tokens from ``--tokens FILE``: (token, scopes or None for all, organization slug or None)
    token_specs: tuple[tuple[str, tuple[str, ...] | None, str | None], ...] = ()


@dataclass
class Organization:
    id: int
    slug: str
    name: str
    date_created: float
    settings: dict[str, Any] = field(default_factory=dict)  # what PUT set (Sentry's options and flags)


@dataclass
class Team:
    id: int
    slug: str
    name: str
    organization: Organization
    date_created: float
    member_ids: set[int] = field(default_factory=set)  # the users on the team


@dataclass
class Project:
    id: int
    slug: str
    name: str
    platform: str | None
    organization: Organization
    team: Team | None
    date_created: float
    first_event: float | None = None
    first_transaction_event: float | None = None
    next_short_id: int = 1
    environments: set[str] = field(default_factory=set)  # every environment its events named
    options: dict[str, Any] = field(default_factory=dict)  # what PUT set (Sentry's ProjectOption)
    bookmarked_by: set[int] = field(default_factory=set)


@dataclass
class ProjectKey:
    public: str
    secret: str
    project: Project
    label: str
    date_created: float
    is_active: bool = True
    rate_limit: tuple[int, int] | None = None  # (count, window in seconds)
    browser_sdk_version: str | None = None
    loader_options: dict[str, bool] = field(default_factory=dict)  # dynamicSdkLoaderOptions set by PUT


@dataclass
class OrganizationMember:
    """A user's membership of an organization (the fake's one user owns every organization)."""

    id: int
    organization: Organization
    user: User
    role: str
    date_created: float


@dataclass
class User:
    """The person behind the web API's tokens (the fake has one; Sentry has many)."""

    id: int
    email: str
    username: str
    name: str
    date_joined: float


@dataclass
class Token:
    """A bearer token of the web API: a user's (``kind`` "user", every organization of its user)
    or an organization's (``kind`` "org", bound to ``organization``), with its scopes."""

    id: int
    value: str
    kind: str
    scopes: frozenset[str]
    user: User
    date_created: float
    name: str | None = None
    organization: Organization | None = None
    date_last_used: float | None = None

    @property
    def last_characters(self) -> str:
        return self.value[-4:]


@dataclass
class Repository:
    """A version-control repository of an organization, named by ``commits[].repository``, by
    ``refs`` or created through the API; ``provider`` None is Sentry's "Unknown Provider"."""

    id: int
    organization: Organization
    name: str
    date_created: float
    url: str | None = None
    provider: str | None = None


@dataclass
class CommitAuthor:
    id: int
    email: str
    name: str | None


@dataclass(eq=False)
class Commit:
    """One commit of a repository; ``releases`` lists the releases whose commit list holds it
    (compared by identity: a commit and its releases refer to each other)."""

    id: int
    repository: Repository
    key: str
    date_created: float
    message: str | None = None
    author: CommitAuthor | None = None
    files: dict[str, str] = field(default_factory=dict)  # the patch set: path -> A, M or D
    releases: list["Release"] = field(default_factory=list)


@dataclass
class Deploy:
    id: int
    environment: str
    date_finished: float
    date_started: float | None = None
    name: str | None = None
    url: str | None = None


@dataclass
class ReleaseFile:
    """A file uploaded to a release (legacy source maps), its bytes kept."""

    id: int
    name: str
    dist: str | None
    headers: dict[str, str]
    data: bytes
    sha1: str
    date_created: float


@dataclass(slots=True)
class ReleaseEnvironment:
    """What Sentry's ``ReleaseProjectEnvironment`` holds: the release in one project and
    environment, seen by events (``first_seen``/``last_seen``) or deployed there."""

    first_seen: float | None = None
    last_seen: float | None = None
    last_deploy: Deploy | None = None


@dataclass
class Release:
    """A release as Sentry creates it: on first sight in an event, or through the API.

    ``commits`` is the release's commit list in Sentry's order (newest first), ``head_commits``
    the head commit per repository id; ``environments`` is keyed by (project id, environment).
    """

    id: int
    organization: Organization
    version: str
    date_created: float
    project_ids: set[int] = field(default_factory=set)
    first_event: float | None = None
    last_event: float | None = None
    new_groups_by_project: dict[int, int] = field(default_factory=dict)
    ref: str | None = None
    url: str | None = None
    date_released: float | None = None
    status: str = "open"
    owner: User | None = None
    user_agent: str | None = None
    commits: list[Commit] = field(default_factory=list)
    head_commits: dict[int, Commit] = field(default_factory=dict)
    total_deploys: int = 0
    last_deploy: Deploy | None = None
    environments: dict[tuple[int, str], ReleaseEnvironment] = field(default_factory=dict)
    files: dict[int, ReleaseFile] = field(default_factory=dict)

    @property
    def new_groups(self) -> int:
        return sum(self.new_groups_by_project.values())

    def count_new_group(self, project_id: int) -> None:
        """An issue was opened by an event of this release (Sentry's ``ReleaseProject.new_groups``)."""
        self.new_groups_by_project[project_id] = self.new_groups_by_project.get(project_id, 0) + 1


@dataclass(slots=True)
class Event:
    """One error, default, transaction or feedback event: the index that lists and searches read,
    and its normalized payload, read through ``data`` (a fresh dict each time).

    The payload is not kept a second time when the envelope it came in is kept whole: ``source``
    is that envelope and the item's JSON is ``source.raw[offset:offset + size]``, normalized again
    when read (``store.payloads.derive``: normalization is a function of the item, ``received``,
    ``event_id``, the envelope's ``remote_addr`` and ``client`` and the type). Otherwise
    (``source`` None: the store endpoint's JSON, security reports, minidumps, Open Sentry batches,
    the transform API) ``payload`` holds it packed (``store.payloads.pack``).

    ``tags`` are the event's tags as Sentry derives them (sorted ``(key, value)`` pairs, ``sentry:``
    keys inside, ``level`` among them), ``fields``, ``stack_fields`` (the pairs of its stack
    traces) and ``texts`` what event-level search reads (``search.event_document``; ``texts`` are
    the pairs nearly unique to each event, ``title`` and ``message`` among them, for error and
    default events) and ``hashes`` its grouping hashes, primary first. Equal pairs, and equal
    tuples of tags, fields, stack fields and hashes, are one object across events
    (``IssueStore._intern``). ``time`` is the event's own timestamp, ``received`` when it arrived: a reader
    of the record log finds title, level and time here without parsing anything.
    """

    event_id: str
    project: Project
    type: str
    payload: bytes
    received: float
    time: float
    environment: str | None = None
    group_id: int | None = None
    envelope_id: int | None = None
    tags: tuple[tuple[str, str], ...] = ()
    fields: tuple[tuple[str, str], ...] = ()
    texts: tuple[tuple[str, str], ...] = ()
    hashes: tuple[str, ...] = ()
    size: int = 0
    seq: int = 0
    source: EnvelopeRecord | None = None
    stack_fields: tuple[tuple[str, str], ...] = ()
    offset: int = 0

    @property
    def data(self) -> dict[str, Any]:
        """The normalized payload, a fresh copy: changing it changes nothing stored."""
        if self.source is not None:
            return payloads.derive(self)
        return payloads.unpack(self.payload)


@dataclass(slots=True)
class Resolution:
    """How an issue was resolved: ``in_release`` (a version), ``in_next_release`` (after the latest
    release at the time), or plainly (``None``: any new event regresses it)."""

    kind: str | None
    version: str | None = None
    actor_id: int | None = None


@dataclass(slots=True)
class Snooze:
    """The condition under which an ignored (archived) issue comes back."""

    until: float | None = None
    count: int | None = None
    window: int | None = None       # minutes
    user_count: int | None = None
    user_window: int | None = None  # minutes
    times_seen_at: int = 0
    users_seen_at: int = 0
    actor_id: int | None = None


@dataclass(slots=True)
class Activity:
    id: int
    type: str
    data: dict[str, Any]
    user_id: int | None
    date_created: float


@dataclass(slots=True)
class Inbox:
    """Why an issue is "for review": ``reason`` is Sentry's GroupInboxReason (0 new, 2 regression,
    3 manual, 5 escalating, 6 ongoing)."""

    reason: int
    date_added: float
    reason_details: dict[str, Any] | None = None


@dataclass(slots=True)
class TagValueStats:
    count: int
    first_seen: float
    last_seen: float


_SHORT_EVENT_LIST = 1024  # an issue's event list this short loses its head at once (a cheap memmove)


@dataclass(slots=True)
class Issue:
    """A group of events sharing a grouping hash (Sentry calls it a Group).

    Counts and the tag-value statistics live here, not in the events, so they hold however the
    events are kept. ``values`` counts every tag (key, value) its events had (the tags endpoints;
    read it through ``tag_stats``: a value seen once is kept as just the time it was seen, most of
    an issue's users are) and ``fields`` holds every search field (key, value) they had: both
    narrow event-level searches (``pair in values``).
    """

    id: int
    project: Project
    short_id: int
    title: str
    culprit: str
    metadata: dict[str, Any]
    type: str
    level: str
    logger: str | None
    platform: str
    first_seen: float
    last_seen: float
    active_at: float
    hashes: list[str] = field(default_factory=list)
    status: str = "unresolved"
    substatus: str | None = "new"
    substatus_since: float = 0.0
    resolution: Resolution | None = None
    resolved_at: float | None = None
    snooze: Snooze | None = None
    priority: str = "medium"
    priority_locked_at: float | None = None
    times_seen: int = 0
    user_count: int = 0  # distinct ``sentry:user`` values its events had (each has a key in ``values``)
    stored_events: list[Event] = field(default_factory=list)  # read ``events``: retention may trim it
    evicted_head: int = 0  # how many of ``stored_events``' first entries retention evicted
    hourly: dict[int, int] = field(default_factory=dict)
    values: dict[tuple[str, str], TagValueStats | float] = field(default_factory=dict)
    fields: set[tuple[str, str]] = field(default_factory=set)
    first_release: str | None = None
    initial_priority: int = 50
    sdk_name: str | None = None
    is_unhandled: bool = False
    latest_event_time: float = 0.0
    assignee: tuple[str, int] | None = None
    bookmarked_by: set[int] = field(default_factory=set)
    seen_by: dict[int, float] = field(default_factory=dict)
    subscribed: dict[int, bool] = field(default_factory=dict)
    share_id: str | None = None
    inbox: Inbox | None = None
    activity: list[Activity] = field(default_factory=list)

    @property
    def count(self) -> int:
        """With ``user_count``, ``first_seen`` and ``last_seen``: the issue's own totals, in the shape of
        a search's matched counts (``search.issue_search.Matched``) when all its events match."""
        return self.times_seen

    def tag_stats(self) -> Iterator[tuple[tuple[str, str], TagValueStats]]:
        """Every tag (key, value) the issue's events had, with its statistics."""
        for pair, stats in self.values.items():
            yield pair, stats if type(stats) is TagValueStats else TagValueStats(1, stats, stats)  # type: ignore[arg-type]

    @property
    def events(self) -> list[Event]:
        """The issue's stored events, oldest first (by sequence); what retention evicted is gone."""
        if self.evicted_head:
            del self.stored_events[:self.evicted_head]
            self.evicted_head = 0
        return self.stored_events

    def drop_oldest(self, event: Event) -> None:
        """Retention evicted ``event``, the oldest still listed: out of a short list at once, out of
        a long one when 1/64 of it is gone or it is next read, so evicting costs what it evicts."""
        stored, dead = self.stored_events, self.evicted_head
        if dead >= len(stored) or stored[dead] is not event:  # not the oldest: the slow way, still correct
            events = self.events
            events[:] = [e for e in events if e is not event]
            return
        self.evicted_head = dead = dead + 1
        if len(stored) <= _SHORT_EVENT_LIST or dead * 64 >= len(stored):
            del stored[:dead]
            self.evicted_head = 0


@dataclass(slots=True)
class EnvelopeRecord:
    """One accepted ingest request, kept whole so tests can see exactly what a client sent.

    Its envelope headers and item headers are read through ``headers`` and ``item_headers``: from
    ``raw`` itself when it is the envelope they were parsed from (``packed_headers`` empty), else
    kept packed (``store.payloads``): one bytes object instead of a tree of dicts per request.
    """

    id: int
    project: Project
    received: float
    endpoint: str
    client: str | None
    auth_source: str | None
    remote_addr: str | None
    content_type: str | None
    content_encoding: str | None
    packed_headers: bytes  # ``[headers, item_headers]``, or empty: parse ``raw``
    raw: bytes
    batch: str | None = None  # the Open Sentry batch it was made from (``ingest.open_sentry``)

    def header_objects(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """The envelope's header object and each item's, in order, as sent (fresh copies), from
        one parse."""
        if not self.packed_headers:
            return payloads.envelope_headers(self.raw)
        headers, item_headers = payloads.unpack(self.packed_headers)
        return headers, item_headers

    @property
    def headers(self) -> dict[str, Any]:
        return self.header_objects()[0]

    @property
    def item_headers(self) -> list[dict[str, Any]]:
        return self.header_objects()[1]


@dataclass(slots=True)
class BatchItem:
    """One item of an Open Sentry batch: what was sent, and the event (and span) it became."""

    index: int
    type: str
    sent: dict[str, Any]
    event_id: str
    envelope_id: int
    span_id: str | None = None  # an ``ai_generation``: its span inside the transaction


@dataclass(slots=True)
class Batch:
    """One accepted ``POST /v1/ingest``: its id (the answer's), who sent it, and its items."""

    id: str
    project: Project
    received: float
    public_key: str
    auth_source: str
    client: str | None
    remote_addr: str | None
    size: int
    items: list[BatchItem]


@dataclass(slots=True)
class ItemRecord:
    """One envelope item: its header (packed, read through ``headers``), and its payload parsed
    when it is JSON."""

    id: int
    envelope_id: int
    project: Project
    type: str
    packed_headers: bytes
    payload: Any
    size: int
    received: float
    error: str | None = None
    attachment_id: str | None = None
    event: Event | None = None  # an event item's payload is its stored (normalized) event

    @property
    def headers(self) -> dict[str, Any]:
        """The item's header object as sent (a fresh copy)."""
        return payloads.unpack(self.packed_headers)


@dataclass
class Attachment:
    id: str
    project: Project
    event_id: str | None
    filename: str
    content_type: str
    attachment_type: str
    data: bytes
    date_created: float


@dataclass
class MonitorEnvironment:
    """A monitor's state in one environment (Sentry's MonitorEnvironment): ``status`` is
    ``active`` until a check-in closes, then ``ok`` or ``error``."""

    name: str
    date_created: float
    status: str = "active"
    is_muted: bool = False
    last_checkin: float | None = None
    next_checkin: float | None = None
    next_checkin_latest: float | None = None


@dataclass
class Monitor:
    """A cron monitor. ``config`` is the validated config as Sentry stores it (``schedule_type``
    by name, ``schedule`` a crontab or ``[count, unit]``), ``None`` when no check-in carried one;
    ``id`` is Sentry's guid, ``seq`` the order monitors were made in."""

    seq: int
    id: str
    slug: str
    project: Project
    config: dict[str, Any] | None
    date_created: float
    status: str = "active"
    environments: dict[str, MonitorEnvironment] = field(default_factory=dict)
    check_ins: list["CheckIn"] = field(default_factory=list)


@dataclass
class CheckIn:
    """One check-in (Sentry's MonitorCheckIn): opened ``in_progress`` and closed by a later one
    with the same id, or sent closed; ``missed`` and ``timeout`` ones come from the clock
    (``store.monitors``). ``duration`` is in milliseconds; ``monitor_config`` is the monitor's
    config when the check-in was made; ``timeout_at`` is when an open one times out."""

    id: str
    monitor: Monitor
    environment: str
    status: str
    duration: int | None
    date_added: float
    date_updated: float
    date_clock: float
    date_in_progress: float | None
    expected_time: float | None
    monitor_config: dict[str, Any] | None
    trace_id: str | None = None
    timeout_at: float | None = None


@dataclass
class BundleFile:
    """One file of an artifact bundle as its manifest lists it (``size`` is read from the zip)."""

    path: str
    url: str | None
    type: str | None
    headers: dict[str, Any]
    debug_id: str | None
    size: int | None


@dataclass
class ArtifactBundle:
    """An uploaded source bundle (Sentry's ArtifactBundle): its bytes, its files, the projects it
    serves and the (release, dist) pairs it is bound to, newest first (``""``: none)."""

    id: int
    organization: Organization
    bundle_id: str
    checksum: str
    name: str
    data: bytes
    files: list[BundleFile]
    date_uploaded: float
    date_added: float
    date_last_modified: float
    project_ids: set[int] = field(default_factory=set)
    releases: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class DebugFile:
    """A debug information file of a project (Sentry's ProjectDebugFile)."""

    id: int
    project: Project
    checksum: str
    data: bytes
    object_name: str
    cpu_name: str
    debug_id: str
    code_id: str | None
    file_format: str
    headers: dict[str, str]
    details: dict[str, Any]  # ``{"type": "lib", "features": [...]}``, Sentry's ``data``
    date_created: float

    @property
    def features(self) -> set[str]:
        return set(self.details.get("features") or ())


_SLUG_RE = re.compile(r"[^a-z0-9_-]+")


def slugify(name: str) -> str:
    """Sentry-style slug: lowercase, runs of other characters become one dash."""
    return _SLUG_RE.sub("-", name.strip().lower()).strip("-")[:50] or "project"


class Conflict(Exception):
    """A slug that is already taken."""
