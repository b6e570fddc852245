"""All state of a running sentryfake: organizations, teams, projects, keys, tokens, events, issues.

The store is the only place state lives. Routes call its methods; it never sees HTTP.
Everything is in memory; ``reset()`` returns to the seeded state.
"""

from __future__ import annotations

import itertools
import secrets
import sys
import time
from collections import deque
from typing import Any, Callable, Iterable

from sentry_daemon import event_data
from sentry_daemon.store import payloads, tokens
from sentry_daemon.store.batches import BatchStore
from sentry_daemon.store.error_counts import ErrorCounts
from sentry_daemon.store.faults import FaultStore
from sentry_daemon.store.issues import IssueStore
from sentry_daemon.store.journal import DEFAULT_SIZE as JOURNAL_SIZE, Journal
from sentry_daemon.store.organizations import OrgStore
from sentry_daemon.store.monitors import MonitorStore
from sentry_daemon.store.outcomes import OutcomeStore
from sentry_daemon.store.record_log import OutcomeRecord, RecordLog
from sentry_daemon.store.releases import ReleaseStore
from sentry_daemon.store.retention import Retention, RetentionPolicy
from sentry_daemon.store.tenants import TenantStore
from sentry_daemon.store.uploads import UploadStore
from sentry_daemon.store.records import (
    Attachment,
    CheckIn,
    Conflict,
    EnvelopeRecord,
    Event,
    ItemRecord,
    Organization,
    Project,
    ProjectKey,
    Release,
    Seed,
    Team,
    Token,
    User,
    slugify,
)
from sentry_daemon.store.tokens import ORG_TOKEN_SCOPES, SCOPES

SESSION_STATUSES = {"ok", "exited", "crashed", "abnormal", "errored"}


def _health_key(project: Project, payload: dict[str, Any]) -> tuple[int, str, str]:
    attrs = payload.get("attrs") if isinstance(payload.get("attrs"), dict) else {}
    return (project.id, str(attrs.get("release") or ""), str(attrs.get("environment") or "production"))


def _empty_health() -> dict[str, int]:
    return {"sessions": 0, "healthy": 0, "errored": 0, "abnormal": 0, "crashed": 0}


# Fields of an envelope record that take the same few values request after request.
_REPEATED_STRINGS = ("endpoint", "client", "auth_source", "remote_addr", "content_type", "content_encoding")

# Event types that are kept but never open an issue (feedback is shown in its own list).
UNGROUPED_TYPES = {"transaction", "feedback"}


class Store:
    """The in-memory Sentry: one instance per service."""

    def __init__(self, seed: Seed = Seed(), now: Callable[[], float] = time.time,
                 journal_size: int = JOURNAL_SIZE, retention: RetentionPolicy = RetentionPolicy()) -> None:
        self.seed = seed
        self.now = now
        self.journal_size = journal_size
        self.retention_policy = retention
        self.record_log = RecordLog()  # outlives resets: its subscribers and numbering carry on
        self.reset()

    # --- lifecycle -------------------------------------------------------------------------

    def reset(self) -> None:
        """Forget everything and return to the seeded organization, team, project and key."""
        self._ids = itertools.count(1)
        self._event_seq = itertools.count(1)
        self.organizations: dict[str, Organization] = {}
        self.teams: dict[tuple[str, str], Team] = {}
        self.projects: dict[int, Project] = {}
        self.keys: dict[str, ProjectKey] = {}
        self._token_ids = itertools.count(1)
        self.tokens: dict[str, Token] = {}
        self._events: dict[int, Event] = {}  # by ``seq``, oldest first: removing some costs what they are
        self._events_by_project: dict[int, deque[Event]] = {}  # deques: retention pops their heads
        self.events_by_id: dict[str, Event] = {}
        self.error_counts = ErrorCounts()  # the error events above, by project and time
        self.issues = IssueStore(self)
        self.releases = ReleaseStore(self)
        self.user = User(1, self.seed.user_email, self.seed.user_email, self.seed.user_email, self.now())
        self._envelope_ids = itertools.count(1)
        self._item_ids = itertools.count(1)
        self.envelopes: dict[int, EnvelopeRecord] = {}
        self.items: dict[int, ItemRecord] = {}
        # per project id: its envelopes, items and attachments, so removing it costs what it holds
        self._captured: dict[int, deque[EnvelopeRecord | ItemRecord | Attachment]] = {}
        self._span_projects: set[int] = set()
        self._session_projects: set[int] = set()
        self.attachments: dict[str, Attachment] = {}
        self.monitors = MonitorStore(self.now, lambda: next(self._ids))
        self.monitors.clock_made = lambda check_in: self.record_log.append("check_in", check_in)
        self.uploads = UploadStore(self.now)
        self.spans: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self._session_states: dict[tuple[int, str], dict[str, Any]] = {}
        self._session_aggregates: dict[tuple[int, str, str], dict[str, int]] = {}
        self.outcomes = OutcomeStore()
        self.batches = BatchStore()
        self.retention = Retention(self, self.retention_policy)
        self.orgs = OrgStore(self)
        self.tenants = TenantStore(self)
        self.faults = FaultStore(self.now)
        self.journal = Journal(self.journal_size, self.now)

        org = self.create_organization(self.seed.org_slug)
        team = self.create_team(org, org.slug)
        team.member_ids.add(self.user.id)
        project = self.create_project(
            org, self.seed.project_slug, team=team, project_id=self.seed.project_id
        )
        self.create_key(project, public=self.seed.dsn_key)
        for value in self.seed.tokens:
            self.add_token(value, SCOPES)
        for value, scopes, org_slug in self.seed.token_specs:
            bound = None
            if org_slug is not None:
                bound = self.organization(org_slug) or self.create_organization(org_slug)
            self.add_token(value, ORG_TOKEN_SCOPES if bound and scopes is None else scopes or SCOPES,
                           kind="org" if bound else "user", organization=bound)
        self.record_log.clear()
        self.record_log.append("reset", None)

    # --- organizations, teams, projects, keys ----------------------------------------------

    def create_organization(self, slug: str, name: str | None = None) -> Organization:
        org = Organization(next(self._ids), slug, name or slug, self.now())
        self.organizations[slug] = org
        return org

    def organization(self, id_or_slug: str) -> Organization | None:
        if id_or_slug in self.organizations:
            return self.organizations[id_or_slug]
        return next((o for o in self.organizations.values() if str(o.id) == id_or_slug), None)

    def create_team(self, org: Organization, slug: str, name: str | None = None) -> Team:
        if (org.slug, slug) in self.teams:
            raise Conflict("A team with this slug already exists.")
        team = Team(next(self._ids), slug, name or slug, org, self.now())
        self.teams[(org.slug, slug)] = team
        return team

    def team(self, org: Organization, id_or_slug: str) -> Team | None:
        if (org.slug, id_or_slug) in self.teams:
            return self.teams[(org.slug, id_or_slug)]
        return next(
            (t for t in self.teams.values() if t.organization is org and str(t.id) == id_or_slug),
            None,
        )

    def default_team(self, org: Organization) -> Team | None:
        return next((t for t in self.teams.values() if t.organization is org), None)

    def create_project(
        self,
        org: Organization,
        name: str,
        *,
        slug: str | None = None,
        platform: str | None = None,
        team: Team | None = None,
        project_id: int | None = None,
    ) -> Project:
        """Create a project; ``project_id`` is only chosen by the seed and by lenient ingest."""
        slug = slug or slugify(name)
        if any(p.organization is org and p.slug == slug for p in self.projects.values()):
            raise Conflict("A project with this slug already exists.")
        if project_id is None:
            project_id = max(self.projects, default=0) + 1
        elif project_id in self.projects:
            raise Conflict("A project with this id already exists.")
        project = Project(project_id, slug, name, platform, org, team, self.now())
        project.options["securityToken"] = secrets.token_hex(16)  # Sentry's, minted with the project
        self.projects[project_id] = project
        return project

    def project(self, org: Organization, id_or_slug: str) -> Project | None:
        for p in self.projects.values():
            if p.organization is org and (p.slug == id_or_slug or str(p.id) == id_or_slug):
                return p
        return None

    def org_projects(self, org: Organization) -> list[Project]:
        return sorted(
            (p for p in self.projects.values() if p.organization is org), key=lambda p: p.slug
        )

    def create_key(self, project: Project, public: str | None = None, label: str = "Default") -> ProjectKey:
        key = ProjectKey(
            public=public or secrets.token_hex(16),
            secret=secrets.token_hex(16),
            project=project,
            label=label,
            date_created=self.now(),
        )
        self.keys[key.public] = key
        return key

    def project_keys(self, project: Project) -> list[ProjectKey]:
        return [k for k in self.keys.values() if k.project is project]

    def ingest_project(self, project_id: int, public_key: str | None = None) -> Project:
        """The project an ingest request names, created on the fly (lenient ingest).

        A project id nobody created yet becomes a project of the default organization, so a
        test never fails for want of setup; the key it used is registered to it.
        """
        project = self.projects.get(project_id)
        if project is None:
            org = self.organizations.get(self.seed.org_slug) or next(iter(self.organizations.values()))
            slug = f"project-{project_id}"
            while any(p.organization is org and p.slug == slug for p in self.projects.values()):
                slug += "-1"
            project = self.create_project(
                org, slug, team=self.default_team(org), project_id=project_id
            )
        if public_key and public_key not in self.keys and public_key not in self.orgs.deleted_keys:
            self.create_key(project, public=public_key)
        return project

    # --- tokens ----------------------------------------------------------------------------

    def add_token(self, value: str, scopes: Iterable[str], kind: str = "user", name: str | None = None,
                  organization: Organization | None = None) -> Token:
        """Keep a token; every token acts for the one user, an org token only in its organization."""
        token = Token(next(self._token_ids), value, kind, frozenset(scopes), self.user, self.now(), name,
                      organization)
        self.tokens[value] = token
        return token

    def create_user_token(self, scopes: Iterable[str], name: str | None = None) -> Token:
        return self.add_token(tokens.user_token_value(), scopes, name=name)

    def create_org_token(self, org: Organization, name: str, base_url: str | None) -> Token:
        value = tokens.org_token_value(org.slug, base_url, self.now())
        return self.add_token(value, ORG_TOKEN_SCOPES, kind="org", name=name, organization=org)

    def token(self, value: str) -> Token | None:
        return self.tokens.get(value)

    def delete_token(self, token: Token) -> None:
        self.tokens.pop(token.value, None)

    def user_tokens(self, user: User) -> list[Token]:
        """A user's own tokens (``/api-tokens/``), oldest first."""
        return [t for t in self.tokens.values() if t.kind == "user" and t.user is user]

    def org_tokens(self, org: Organization) -> list[Token]:
        """An organization's auth tokens (``/org-auth-tokens/``), oldest first."""
        return [t for t in self.tokens.values() if t.kind == "org" and t.organization is org]

    def rename_token(self, token: Token, name: str) -> None:
        token.name = name

    # --- events and issues -----------------------------------------------------------------

    def add_event(self, project: Project, data: dict[str, Any], envelope_id: int | None = None,
                  size: int = 0, source: tuple[EnvelopeRecord, int] | None = None) -> Event:
        """Record a normalized event (``size``: its payload's bytes); error and default events join
        (or open) an issue. With ``source`` (the kept envelope and where the event's item starts in
        its raw bytes) the event is normalized again from there when read; without, it keeps
        ``data`` packed (``store.payloads``). Changing ``data`` afterwards changes nothing."""
        now = data.get("received") or self.now()
        event_type = data.get("type") or "default"
        environment = data.get("environment")
        event = Event(data["event_id"], project, event_type, b"", now, event_data.event_time(data, now),
                      environment=sys.intern(str(environment)) if environment else None,
                      envelope_id=envelope_id, size=size, seq=next(self._event_seq))
        if event.environment is not None:
            project.environments.add(event.environment)
        issue = None
        if event_type == "transaction":
            if project.first_transaction_event is None:
                project.first_transaction_event = now
            if data.get("release"):  # transactions create releases too (Sentry's save_transaction_events)
                self.see_release(project, data["release"], event.time, event.environment)
        elif event_type not in UNGROUPED_TYPES:
            if project.first_event is None:
                project.first_event = now
            if project.platform is None and data.get("platform") not in (None, "other"):
                project.platform = data["platform"]
            issue = self.issues.save(event, data)
            self.error_counts.add(project.id, event.environment, event.time)
        if source is None:
            event.payload = payloads.pack(data)
        else:
            event.source, event.offset = source
        self._events[event.seq] = event
        by_project = self._events_by_project.get(project.id)
        if by_project is None:
            by_project = self._events_by_project[project.id] = deque()
        by_project.append(event)
        self.retention.stored_bytes += len(event.payload)
        self.events_by_id[event.event_id] = event
        self.record_log.append("event", event)
        if issue is not None:
            self.record_log.append("issue", issue)
        return event

    def forget_events(self, events: Iterable[Event]) -> None:
        """Drop events (their issue or project was deleted), at the cost of their projects' events."""
        gone = {e.seq: e for e in events}
        projects = set()
        for seq, event in gone.items():
            if self._events.get(seq) is event:
                self.retention.stored_bytes -= len(event.payload)
            if self._events.pop(seq, None) is not None and event.type not in UNGROUPED_TYPES:
                self.error_counts.add(event.project.id, event.environment, event.time, -1)
            if self.events_by_id.get(event.event_id) is event:
                del self.events_by_id[event.event_id]
            projects.add(event.project.id)
        for project_id in projects:
            kept = deque(e for e in self._events_by_project.get(project_id, ()) if e.seq not in gone)
            if kept:
                self._events_by_project[project_id] = kept
            else:
                self._events_by_project.pop(project_id, None)

    @property
    def events(self) -> list[Event]:
        """Every event, oldest first (a new list each time)."""
        return list(self._events.values())

    def has_event(self, event: Event) -> bool:
        """Whether ``event`` is still stored (not deleted with its issue, project or tenant)."""
        return self._events.get(event.seq) is event

    def event(self, event_id: str) -> Event | None:
        """An event by its id, hyphenated or not, in either case (as Sentry's lookups take it)."""
        return self.events_by_id.get(event_id.replace("-", "").lower())

    def project_events(self, project: Project) -> deque[Event]:
        return self._events_by_project.get(project.id, deque())

    # --- releases --------------------------------------------------------------------------

    def release(self, org: Organization, version: str) -> Release | None:
        return self.releases.get(org, version)

    def see_release(self, project: Project, version: str, when: float, environment: str | None = None) -> Release:
        """The release an event names, created the first time it is seen (``store.releases``)."""
        return self.releases.see(project, version, when, environment)

    def project_releases(self, project_ids: set[int]) -> list[Release]:
        return self.releases.of_projects(project_ids)

    def latest_release(self, project_ids: set[int]) -> Release | None:
        return self.releases.latest(project_ids)

    # --- envelopes, items, attachments ------------------------------------------------------

    def add_envelope(self, project: Project, headers: dict[str, Any], item_headers: list[dict[str, Any]],
                     headers_in_raw: bool = False, received: float | None = None, **fields: Any) -> EnvelopeRecord:
        """Keep an accepted request (``received``: when, default now); ``headers_in_raw``: ``raw`` is
        the envelope these headers were parsed from, every item of it kept, so they are read from
        there (no copy)."""
        packed = b"" if headers_in_raw else payloads.pack([headers, item_headers])
        for name in _REPEATED_STRINGS:  # the same few values in every request: one object each
            if isinstance(value := fields.get(name), str):
                fields[name] = sys.intern(value)
        record = EnvelopeRecord(next(self._envelope_ids), project, self.now() if received is None else received,
                                packed_headers=packed, **fields)
        self.envelopes[record.id] = record
        self.retention.stored_bytes += len(record.raw)
        self._capture(project, record)
        self.record_log.append("envelope", record)
        return record

    def add_item(self, envelope: EnvelopeRecord, type: str, headers: dict[str, Any], payload: Any,
                 size: int, error: str | None = None) -> ItemRecord:
        record = ItemRecord(next(self._item_ids), envelope.id, envelope.project, sys.intern(type), payloads.pack(headers),
                            payload, size, envelope.received, error)
        self.items[record.id] = record
        self._capture(envelope.project, record)
        self.record_log.append("item", record)
        return record

    def add_attachment(self, project: Project, event_id: str | None, filename: str, content_type: str,
                       attachment_type: str, data: bytes) -> Attachment:
        attachment = Attachment(secrets.token_hex(16), project, event_id, filename, content_type,
                                attachment_type, data, self.now())
        self.attachments[attachment.id] = attachment
        self.retention.stored_bytes += len(data)
        self._capture(project, attachment)
        self.record_log.append("attachment", attachment)
        return attachment

    def _capture(self, project: Project, record: EnvelopeRecord | ItemRecord | Attachment) -> None:
        captured = self._captured.get(project.id)
        if captured is None:
            captured = self._captured[project.id] = deque()
        captured.append(record)

    def project_records(self, project_id: int) -> deque[EnvelopeRecord | ItemRecord | Attachment]:
        """What a project's clients sent, in the order it was stored: envelopes, items, attachments."""
        return self._captured.get(project_id, deque())

    def forget_captured(self, project: Project) -> None:
        """Drop what the project's clients sent: envelopes, items, attachments, spans, sessions
        (its events go with the project, ``OrgStore.delete_project``)."""
        for record in self._captured.pop(project.id, ()):
            if isinstance(record, EnvelopeRecord):
                self.envelopes.pop(record.id, None)
                self.retention.stored_bytes -= len(record.raw)
            elif isinstance(record, ItemRecord):
                self.items.pop(record.id, None)
            else:
                self.attachments.pop(record.id, None)
                self.retention.stored_bytes -= len(record.data)
        pid = project.id
        if pid in self._span_projects:
            self._span_projects.discard(pid)
            self.spans = [s for s in self.spans if s["project"] != pid]
        if pid in self._session_projects:
            self._session_projects.discard(pid)
            self.sessions = [s for s in self.sessions if s["project"] != pid]
            for states in (self._session_states, self._session_aggregates):
                for key in [k for k in states if k[0] == pid]:
                    del states[key]

    def event_attachments(self, event_id: str) -> list[Attachment]:
        return [a for a in self.attachments.values() if a.event_id == event_id]

    # --- monitors, sessions, spans, outcomes -----------------------------------------------

    def check_in(self, project: Project, check_in: dict[str, Any]) -> CheckIn | None:
        """Record a cron check-in (``store.monitors``); None when Sentry would drop it."""
        found = self.monitors.check_in(project, check_in)
        if found is not None:
            self.record_log.append("check_in", found)
        return found

    def tick(self) -> None:
        """What Sentry's clock tasks do by now (missed and timed-out check-ins); the service
        calls it every minute of the store's clock and whenever a test moves that clock; and
        retention by age (``store.retention``)."""
        self.monitors.tick()
        self.retention.tick()

    def record_session(self, project: Project, update: dict[str, Any]) -> None:
        """One session update; the session's latest status and error count are what count."""
        row = {**update, "project": project.id}
        self.sessions.append(row)
        self._session_projects.add(project.id)
        self.record_log.append("session", row)
        state = self._session_states.setdefault(
            (project.id, str(update.get("sid") or "")),
            {"release": _health_key(project, update), "status": "ok", "errors": 0, "started": False},
        )
        if update.get("init") is True:
            state["started"] = True
        status = update.get("status")
        if isinstance(status, str) and status in SESSION_STATUSES:
            state["status"] = status
        errors = update.get("errors")
        if isinstance(errors, int) and not isinstance(errors, bool) and errors > state["errors"]:
            state["errors"] = errors

    def record_session_aggregates(self, project: Project, payload: dict[str, Any]) -> None:
        """Pre-aggregated buckets (request-mode SDKs): counts by final status, added as they come."""
        row = {**payload, "project": project.id}
        self.sessions.append(row)
        self._session_projects.add(project.id)
        self.record_log.append("session", row)
        counts = self._session_aggregates.setdefault(_health_key(project, payload), _empty_health())
        buckets = payload.get("aggregates")
        for bucket in buckets if isinstance(buckets, list) else []:
            if not isinstance(bucket, dict):
                continue
            for status, name in (("exited", "healthy"), ("errored", "errored"), ("abnormal", "abnormal"),
                                 ("crashed", "crashed")):
                value = bucket.get(status)
                if isinstance(value, int) and not isinstance(value, bool) and value > 0:
                    counts[name] += value
                    counts["sessions"] += value

    def release_health(self) -> dict[tuple[int, str, str], dict[str, int]]:
        """Sessions per (project, release, environment), each counted once by its final state.

        As in Sentry: ``crashed`` and ``abnormal`` by status; ``errored`` when the session saw
        errors (or says so); the rest ``healthy``. Sessions that never sent ``init`` are not counted.
        """
        result = {key: dict(counts) for key, counts in self._session_aggregates.items()}
        for state in self._session_states.values():
            if not state["started"]:
                continue
            counts = result.setdefault(state["release"], _empty_health())
            counts["sessions"] += 1
            if state["status"] in ("crashed", "abnormal"):
                counts[state["status"]] += 1
            elif state["errors"] > 0 or state["status"] == "errored":
                counts["errored"] += 1
            else:
                counts["healthy"] += 1
        return result

    def add_spans(self, project: Project, spans: Iterable[dict[str, Any]]) -> None:
        pid, kept, log = project.id, self.spans, self.record_log
        self._span_projects.add(pid)
        for span in spans:
            row = {**span, "project": pid}
            kept.append(row)
            log.append("span", row)

    def add_logs(self, project: Project, entries: Iterable[dict[str, Any]]) -> None:
        """Log entries of a ``log`` item: kept in their item, offered to the record log one by one
        as ``(project id, entry)`` (no copy of the entry)."""
        pid, log = project.id, self.record_log
        for entry in entries:
            log.append("log", (pid, entry))

    def add_client_report(self, project: Project, report: dict[str, Any]) -> None:
        """A client report (its losses are counted as outcomes by ingest), offered to the record log
        as ``(project id, report)``."""
        self.record_log.append("client_report", (project.id, report))

    def add_outcome(self, project: Project, category: str, outcome: str, quantity: int,
                    reason: str | None = None, when: float | None = None) -> None:
        """Count an outcome at ``when`` (default now: ingest counts as it receives)."""
        key, when = (project.id, category, outcome, reason), self.now() if when is None else when
        self.outcomes.add(key, quantity, when)
        record: OutcomeRecord = (key, quantity, when)
        self.record_log.append("outcome", record)

    def query_events(self, project_id: int | None = None, types: Iterable[str] | None = None) -> list[Event]:
        wanted = set(types) if types else None
        events = self._events.values() if project_id is None else self._events_by_project.get(project_id, [])
        return [e for e in events if wanted is None or e.type in wanted]
