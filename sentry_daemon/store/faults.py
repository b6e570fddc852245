"""Faults a test injects: Sentry's failure modes on demand, and the state each one keeps.

A fault is one flat record: what it matches (``endpoint``, ``project``, ``tenant``, item
``categories``), what it does (``action`` and its parameters) and how often (``times``: the next N
matching requests; ``probability`` drawn from a ``random.Random`` seeded per fault, so a run
repeats exactly). The store owns the state: how often each fault fired, its random stream, the
rate limit it holds while its window lasts (Relay's cached limits: matching requests stay
limited without a new draw), and a quota's use in its current window. Windows read the store's
clock. Nothing here sees HTTP; ``ingest.faults`` applies the verdicts.

Choices where Sentry is silent (a fault is ours, not Sentry's):

- ``endpoint: any`` (the default) is every ingest endpoint; the web API is faulted only by a
  fault that says ``endpoint: api``, so a test can still read what it sent.
- Faults are tried in the order they were made; for ``status``, ``delay`` and
  ``drop_connection`` the first that fires decides, while every rate limit and quota that
  matches applies at once (as Relay enforces every quota of a project).
- A quota's windows start when the fault is made (``created + k * window``), not at the epoch
  (Relay's slots), so a test's first window is always whole.
- ``times`` and ``probability`` gate a rate limit's start; once started it lasts
  ``retry_after`` seconds. A quota counts every matching request, so it takes neither.
"""

from __future__ import annotations

import itertools
import math
import random
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

from sentry_daemon.store.records import Organization

ENDPOINTS = ("envelope", "store", "security", "minidump", "cron", "otlp", "api", "any")
INGEST_ENDPOINTS = frozenset(ENDPOINTS) - {"api", "any"}
ACTIONS = ("rate_limit", "status", "delay", "drop_connection", "quota")
# decided before the request is handled; rate limits and quotas look at an envelope's items
REQUEST_ACTIONS = frozenset({"status", "delay", "drop_connection"})
LIMIT_ACTIONS = frozenset({"rate_limit", "quota"})
# the parameters each action takes (the rest of a fault is its match and how often it acts)
PARAMETERS = {
    "rate_limit": ("retry_after", "scope", "reason_code"),
    "quota": ("limit", "window", "scope", "reason_code"),
    "status": ("status", "retry_after"),
    "delay": ("delay",),
    "drop_connection": (),
}
# Relay's ``RateLimitScope::name``
SCOPES = ("organization", "project", "key", "global")
# what a project quota limits in Sentry (``DataCategory.error_categories()``), and its reason
ERROR_CATEGORIES = ("default", "error", "security")
QUOTA_REASON = "project_quota"
DEFAULT_RETRY_AFTER = 60


@dataclass
class Fault:
    """One injected fault as made, and what it has done since."""

    id: int
    action: str
    created: float
    endpoint: str = "any"
    project: int | None = None
    tenant: str | None = None
    org_id: int | None = None  # the organization ``tenant`` named when the fault was made
    categories: tuple[str, ...] = ()
    status: int | None = None
    retry_after: int | None = None
    delay: float | None = None
    limit: int | None = None
    window: int | None = None
    scope: str | None = None
    reason_code: str | None = None
    times: int | None = None
    probability: float | None = None
    seed: int | None = None
    fired: int = 0
    limited_until: float | None = None  # a rate limit in force until then
    used: int = 0  # a quota's use in window ``slot``
    slot: int = 0
    _random: random.Random | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.probability is not None:
            self._random = random.Random(self.seed)

    @property
    def remaining(self) -> int | None:
        return None if self.times is None else max(self.times - self.fired, 0)

    def matches(self, endpoint: str, project_id: int | None, org: Organization | None) -> bool:
        if self.endpoint == "any":
            if endpoint not in INGEST_ENDPOINTS:
                return False
        elif self.endpoint != endpoint:
            return False
        if self.project is not None and self.project != project_id:
            return False
        if self.org_id is not None and (org is None or org.id != self.org_id):
            return False
        return True

    def covers(self, category: str) -> bool:
        """Whether the fault limits items of ``category`` (no categories: every category; an
        event, counted ``error``, is covered by any of Sentry's error categories)."""
        if not self.categories or category in self.categories:
            return True
        return category in ERROR_CATEGORIES and any(c in ERROR_CATEGORIES for c in self.categories)

    def fire(self) -> bool:
        """Whether the fault acts on this matching request: ``times`` left, then the draw."""
        if self.times is not None and self.fired >= self.times:
            return False
        if self._random is not None and not self._random.random() < self.probability:
            return False
        self.fired += 1
        return True


@dataclass(frozen=True)
class Limit:
    """A rate limit in force for one request: the fault, the categories it refuses (empty: all),
    until when, and the scope and reason Relay's header names."""

    fault: Fault
    categories: tuple[str, ...]
    until: float
    scope: str
    reason_code: str | None

    def retry_after(self, now: float) -> int:
        """Whole seconds left, rounded up (Relay's ``RetryAfter::remaining_seconds``)."""
        return max(1, math.ceil(self.until - now))


class FaultStore:
    """The faults of a running sentryfake, in the order they were made."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._ids = itertools.count(1)
        self.faults: dict[int, Fault] = {}
        self._limiting = 0  # how many rate limits and quotas there are (the hot path skips when none)

    @property
    def limiting(self) -> bool:
        """Whether any rate limit or quota exists (the ingest hot path skips its work when none)."""
        return self._limiting > 0

    def add(self, action: str, **fields: Any) -> Fault:
        fault = Fault(next(self._ids), action, self._now(), **fields)
        self.faults[fault.id] = fault
        self._limiting += fault.action in LIMIT_ACTIONS
        return fault

    def get(self, fault_id: int) -> Fault | None:
        return self.faults.get(fault_id)

    def of(self, org: Organization | None = None) -> list[Fault]:
        """Every fault, or those a tenant made (named by its organization)."""
        return [f for f in self.faults.values() if org is None or self.belongs_to(f, org)]

    @staticmethod
    def belongs_to(fault: Fault, org: Organization) -> bool:
        """Whether the fault was made for ``org`` (its ``tenant`` named it; a tenant's reset keeps
        its organization's id, so the fault would still name it)."""
        return fault.org_id == org.id

    def remove(self, fault: Fault) -> None:
        if self.faults.pop(fault.id, None) is not None:
            self._limiting -= fault.action in LIMIT_ACTIONS

    def clear(self, org: Organization | None = None) -> None:
        for fault in self.of(org):
            self.remove(fault)

    def _matching(self, actions: frozenset[str], endpoint: str, project_id: int | None,
                  org: Organization | None) -> Iterable[Fault]:
        for fault in list(self.faults.values()):
            if fault.action in actions and fault.matches(endpoint, project_id, org):
                yield fault

    def request_fault(self, endpoint: str, project_id: int | None, org: Organization | None) -> Fault | None:
        """The ``status``/``delay``/``drop_connection`` fault that acts on a request, if any."""
        return next((f for f in self._matching(REQUEST_ACTIONS, endpoint, project_id, org) if f.fire()), None)

    def limits(self, endpoint: str, project_id: int | None, org: Organization | None,
               quantities: dict[str, int]) -> list[Limit]:
        """The rate limits and quotas that refuse some of what a request carries.

        ``quantities``: what the request carries, by data category (one for a request to the web
        API, ``{"request": 1}``). A fault that covers none of them neither fires nor counts.
        """
        if not self.limiting:
            return []
        now = self._now()
        found = []
        for fault in self._matching(LIMIT_ACTIONS, endpoint, project_id, org):
            covered = [q for category, q in quantities.items() if fault.covers(category)]
            if not covered:
                continue
            limit = (self._rate_limit(fault, now) if fault.action == "rate_limit"
                     else self._quota(fault, now, sum(covered)))
            if limit is not None:
                found.append(limit)
        return found

    @staticmethod
    def _limit(fault: Fault) -> Limit:
        return Limit(fault, fault.categories, fault.limited_until or 0.0, fault.scope or "project",
                     fault.reason_code)

    def _rate_limit(self, fault: Fault, now: float) -> Limit | None:
        if fault.limited_until is None or fault.limited_until <= now:
            if not fault.fire():
                return None
            fault.limited_until = now + (fault.retry_after or DEFAULT_RETRY_AFTER)
        return self._limit(fault)

    def _quota(self, fault: Fault, now: float, quantity: int) -> Limit | None:
        """Relay's quota check: refused when the window's use plus this request's quantity would
        pass the limit (and nothing of it is counted); then limited until the window ends."""
        if fault.limited_until is not None and fault.limited_until > now:
            return self._limit(fault)
        window = fault.window or 1
        slot = math.floor((now - fault.created) / window)
        if slot != fault.slot:
            fault.slot, fault.used = slot, 0
        if fault.used + quantity > (fault.limit or 0):
            fault.fired += 1
            fault.limited_until = fault.created + (slot + 1) * window
            return self._limit(fault)
        fault.used += quantity
        return None
