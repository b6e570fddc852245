"""What the store keeps: one record type per kind of state (organizations to attachments).

The records kept per request are slotted: no ``__dict__`` each, so half the objects for the
collector to scan as the store grows.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Seed:
    """What the store starts with, and returns to on reset."""

    org_slug: str = "parlel"
    project_slug: str = "hello-world"
    project_id: int = 1
    dsn_key: str = "parlel"
    tokens: tuple[str, ...] = ("sntrys_parlel",)


@dataclass
class Organization:
    id: int
    slug: str
    name: str
    date_created: float


@dataclass
class Team:
    id: int
    slug: str
    name: str
    organization: Organization
    date_created: float


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


@dataclass
class ProjectKey:
    public: str
    secret: str
    project: Project
    label: str
    date_created: float
    is_active: bool = True


@dataclass(slots=True)
class Event:
    """One error, default, transaction or feedback event, in its normalized form."""

    event_id: str
    project: Project
    type: str
    data: dict[str, Any]
    received: float
    group_id: int | None = None
    envelope_id: int | None = None


@dataclass(slots=True)
class Issue:
    """A group of events sharing one grouping hash (Sentry calls it a Group)."""

    id: int
    project: Project
    short_id: int
    hash: str
    title: str
    culprit: str
    metadata: dict[str, Any]
    type: str
    level: str
    logger: str | None
    platform: str
    first_seen: float
    last_seen: float
    status: str = "unresolved"
    substatus: str | None = "new"
    times_seen: int = 0
    users: set[str] = field(default_factory=set)
    event_ids: list[str] = field(default_factory=list)


@dataclass(slots=True)
class EnvelopeRecord:
    """One accepted ingest request, kept whole so tests can see exactly what a client sent."""

    id: int
    project: Project
    received: float
    endpoint: str
    client: str | None
    auth_source: str | None
    remote_addr: str | None
    content_type: str | None
    content_encoding: str | None
    headers: dict[str, Any]
    item_headers: list[dict[str, Any]]
    raw: bytes


@dataclass(slots=True)
class ItemRecord:
    """One envelope item: its header, and its payload parsed when it is JSON."""

    id: int
    envelope_id: int
    project: Project
    type: str
    headers: dict[str, Any]
    payload: Any
    size: int
    received: float
    error: str | None = None
    attachment_id: str | None = None


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
class Monitor:
    id: int
    slug: str
    project: Project
    config: dict[str, Any] | None
    date_created: float
    status: str = "active"
    last_check_in: float | None = None
    check_ins: list[dict[str, Any]] = field(default_factory=list)


_SLUG_RE = re.compile(r"[^a-z0-9_-]+")


def slugify(name: str) -> str:
    """Sentry-style slug: lowercase, runs of other characters become one dash."""
    return _SLUG_RE.sub("-", name.strip().lower()).strip("-")[:50] or "project"


class Conflict(Exception):
    """A slug that is already taken."""
