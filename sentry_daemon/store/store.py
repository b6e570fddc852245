"""All state of a running sentryfake: organizations, teams, projects, keys, tokens, events, issues.

The store is the only place state lives. Routes call its methods; it never sees HTTP.
Everything is in memory; ``reset()`` returns to the seeded state.
"""

from __future__ import annotations

import itertools
import secrets
import time
from typing import Any, Callable, Iterable

from sentry_daemon import event_data
from sentry_daemon.store import payloads, tokens
from sentry_daemon.store.issues import IssueStore
from sentry_daemon.store.organizations import OrgStore
from sentry_daemon.store.monitors import MonitorStore
from sentry_daemon.store.outcomes import OutcomeStore
from sentry_daemon.store.releases import ReleaseStore
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


# Event types that are kept but never open an issue (feedback is shown in its own list).
UNGROUPED_TYPES = {"transaction", "feedback"}


class Store:
    """The in-memory Sentry: one instance per service."""

    def __init__(self, seed: Seed = Seed(), now: Callable[[], float] = time.time) -> None:
        self.seed = seed
        self.now = now
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
        self.events: list[Event] = []
        self._events_by_project: dict[int, list[Event]] = {}
        self.events_by_id: dict[str, Event] = {}
        self.issues = IssueStore(self)
        self.releases = ReleaseStore(self)
        self.user = User(1, self.seed.user_email, self.seed.user_email, self.seed.user_email, self.now())
        self._envelope_ids = itertools.count(1)
        self._item_ids = itertools.count(1)
        self.envelopes: dict[int, EnvelopeRecord] = {}
        self.items: list[ItemRecord] = []
        self.attachments: dict[str, Attachment] = {}
        self.monitors = MonitorStore(self.now, lambda: next(self._ids))
        self.uploads = UploadStore(self.now)
        self.spans: list[dict[str, Any]] = []
        self.sessions: list[dict[str, Any]] = []
        self._session_states: dict[tuple[int, str], dict[str, Any]] = {}
        self._session_aggregates: dict[tuple[int, str, str], dict[str, int]] = {}
        self.outcomes = OutcomeStore()
        self.orgs = OrgStore(self)

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
        return self.add_token(tokens.org_token_value(org.slug, base_url), ORG_TOKEN_SCOPES, kind="org",
                              name=name, organization=org)

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
                  size: int = 0) -> Event:
        """Record a normalized event (``size``: its payload's bytes); error and default events join
        (or open) an issue. The event keeps ``data`` packed: changing it afterwards changes nothing."""
        now = data.get("received") or self.now()
        event_type = data.get("type") or "default"
        environment = data.get("environment")
        event = Event(data["event_id"], project, event_type, b"", now, event_data.event_time(data, now),
                      environment=str(environment) if environment else None,
                      envelope_id=envelope_id, size=size, seq=next(self._event_seq))
        if event.environment is not None:
            project.environments.add(event.environment)
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
            self.issues.save(event, data)
        event.payload = payloads.pack(data)
        self.events.append(event)
        self._events_by_project.setdefault(project.id, []).append(event)
        self.events_by_id[event.event_id] = event
        return event

    def forget_events(self, event_ids: set[str]) -> None:
        """Drop events (their issue was deleted)."""
        if not event_ids:
            return
        self.events = [e for e in self.events if e.event_id not in event_ids]
        for project_id, events in self._events_by_project.items():
            self._events_by_project[project_id] = [e for e in events if e.event_id not in event_ids]
        for event_id in event_ids:
            self.events_by_id.pop(event_id, None)

    def event(self, event_id: str) -> Event | None:
        """An event by its id, hyphenated or not, in either case (as Sentry's lookups take it)."""
        return self.events_by_id.get(event_id.replace("-", "").lower())

    def project_events(self, project: Project) -> list[Event]:
        return self._events_by_project.get(project.id, [])

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

    def add_envelope(self, project: Project, **fields: Any) -> EnvelopeRecord:
        record = EnvelopeRecord(next(self._envelope_ids), project, self.now(), **fields)
        self.envelopes[record.id] = record
        return record

    def add_item(self, envelope: EnvelopeRecord, type: str, headers: dict[str, Any], payload: Any,
                 size: int, error: str | None = None) -> ItemRecord:
        record = ItemRecord(next(self._item_ids), envelope.id, envelope.project, type, headers,
                            payload, size, envelope.received, error)
        self.items.append(record)
        return record

    def add_attachment(self, project: Project, event_id: str | None, filename: str, content_type: str,
                       attachment_type: str, data: bytes) -> Attachment:
        attachment = Attachment(secrets.token_hex(16), project, event_id, filename, content_type,
                                attachment_type, data, self.now())
        self.attachments[attachment.id] = attachment
        return attachment

    def event_attachments(self, event_id: str) -> list[Attachment]:
        return [a for a in self.attachments.values() if a.event_id == event_id]

    # --- monitors, sessions, spans, outcomes -----------------------------------------------

    def check_in(self, project: Project, check_in: dict[str, Any]) -> CheckIn | None:
        """Record a cron check-in (``store.monitors``); None when Sentry would drop it."""
        return self.monitors.check_in(project, check_in)

    def record_session(self, project: Project, update: dict[str, Any]) -> None:
        """One session update; the session's latest status and error count are what count."""
        self.sessions.append({**update, "project": project.id})
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
        self.sessions.append({**payload, "project": project.id})
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
        self.spans.extend({**span, "project": project.id} for span in spans)

    def add_outcome(self, project: Project, category: str, outcome: str, quantity: int,
                    reason: str | None = None, when: float | None = None) -> None:
        """Count an outcome at ``when`` (default now: ingest counts as it receives)."""
        self.outcomes.add((project.id, category, outcome, reason), quantity, self.now() if when is None else when)

    def query_events(self, project_id: int | None = None, types: Iterable[str] | None = None) -> list[Event]:
        wanted = set(types) if types else None
        events = self.events if project_id is None else self._events_by_project.get(project_id, [])
        return [e for e in events if wanted is None or e.type in wanted]
