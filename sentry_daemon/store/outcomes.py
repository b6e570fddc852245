"""Outcomes with their time: what ingest accepted or found invalid, and what SDKs report they
dropped (client reports), as Sentry's usage stats count them.

Relay emits one outcome per item (``outcomes_raw``) and Snuba rolls them up by the hour. Here each
(project, category, outcome, reason) keeps one cell per 10-second bucket holding the summed
quantity and the number of outcomes (``times_seen``), so memory grows with time and variety, never
with volume. Ten seconds is the finest resolution any stats endpoint serves (the legacy
``resolution=10s``; stats_v2's finest interval is one minute); coarser intervals sum buckets,
aligned to the epoch as Snuba aligns them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Hashable, Iterable

BUCKET_SECONDS = 10

# (project id, category, outcome, reason)
Key = tuple[int, str, str, "str | None"]
# group -> interval start -> [quantity, times_seen]
Rollup = dict[Hashable, dict[int, list[int]]]

OUTCOMES = ("accepted", "filtered", "rate_limited", "invalid", "abuse", "client_discard", "cardinality_limited")
# Relay's ``DataCategory`` names; ``default``, ``error`` and ``security`` are all "error" in the API
CATEGORIES = (
    "default", "error", "transaction", "security", "attachment", "attachment_item", "session",
    "profile", "profile_indexed", "replay", "replay_video", "transaction_processed",
    "transaction_indexed", "monitor", "monitor_seat", "span", "span_indexed", "feedback",
    "user_report_v2", "metric_bucket", "metric_second", "profile_duration", "profile_duration_ui",
    "profile_chunk", "profile_chunk_ui", "uptime", "log_item", "log_byte", "trace_metric",
    "seer_autofix", "seer_scanner",
)
ERROR_CATEGORIES = frozenset({"default", "error", "security"})
# the one category the legacy name parses to (Relay's ``user_report_v2`` is shown as "feedback")
_ALIASES = {"user_report_v2": "feedback"}


def api_category(category: str) -> str:
    """The name the stats API shows a stored category under."""
    if category in ERROR_CATEGORIES:
        return "error"
    return _ALIASES.get(category, category)


class OutcomeStore:
    """Every outcome of a running sentryfake, bucketed in time."""

    def __init__(self) -> None:
        self._cells: dict[Key, dict[int, list[int]]] = {}
        self._accepted: dict[int, set[str]] = {}  # project id -> categories it had accepted

    def add(self, key: Key, quantity: int, when: float) -> None:
        """Count one outcome of ``quantity`` (items, or bytes for attachments) at ``when``."""
        buckets = self._cells.get(key)
        if buckets is None:
            buckets = self._cells[key] = {}
            if key[2] == "accepted":
                self._accepted.setdefault(key[0], set()).add(key[1])
        start = int(when) - int(when) % BUCKET_SECONDS
        cell = buckets.get(start)
        if cell is None:
            buckets[start] = [quantity, 1]
        else:
            cell[0] += quantity
            cell[1] += 1

    def forget_projects(self, project_ids: set[int]) -> None:
        """Removed projects' outcomes go with them (a tenant removed, ``store.tenants``)."""
        for key in [k for k in self._cells if k[0] in project_ids]:
            del self._cells[key]
        for project_id in project_ids:
            self._accepted.pop(project_id, None)

    def accepted_categories(self, project_id: int) -> frozenset[str]:
        """The data categories ingest ever accepted for the project (what its serializers show)."""
        return frozenset(self._accepted.get(project_id, ()))

    def totals(self) -> dict[Key, int]:
        """Quantity per key over all time, keys in the order first seen (the control API's view)."""
        return {key: sum(cell[0] for cell in buckets.values()) for key, buckets in self._cells.items()}

    def rollup(self, start: float, end: float, interval: int, group: Callable[[Key], Hashable | None]) -> Rollup:
        """Quantity and times seen in [start, end) by ``group(key)`` (None leaves the key out) and by
        ``interval``-second slot (epoch-aligned; one slot for the whole range when ``interval`` is 0)."""
        result: Rollup = {}
        for key, buckets in self._cells.items():
            name = group(key)
            if name is None:
                continue
            slots = result.setdefault(name, {})
            for when, (quantity, seen) in buckets.items():
                if start <= when < end:
                    slot = when - when % interval if interval else 0
                    cell = slots.setdefault(slot, [0, 0])
                    cell[0] += quantity
                    cell[1] += seen
        return result


@dataclass(frozen=True)
class OutcomeQuery:
    """A stats_v2 query, validated: which outcomes count, how they are grouped, over which range.

    ``group_by`` holds ``outcome``, ``category``, ``reason`` and ``project``; empty filters mean
    "all"; ``project_ids`` None means every project of the organization (``organization_projects``).
    """

    fields: tuple[str, ...]
    group_by: tuple[str, ...]
    start: float
    end: float
    interval: int
    organization_projects: frozenset[int]
    project_ids: frozenset[int] | None = None
    categories: frozenset[str] = frozenset()
    outcomes: frozenset[str] = frozenset()
    reasons: frozenset[str] = frozenset()

    @property
    def hourly(self) -> bool:
        """Snuba answers intervals of an hour or more from its hourly rollup, where a missing
        reason is stored as ``"none"``; finer ones come from the raw table, where it stays null."""
        return self.interval >= 3600

    def group_of(self, key: Key) -> tuple[tuple[str, object], ...] | None:
        """The ``by`` of the group an outcome counts in, or None when the query leaves it out."""
        project_id, category, outcome, reason = key
        projects = self.project_ids if self.project_ids is not None else self.organization_projects
        if project_id not in projects:
            return None
        if self.categories and category not in self.categories:
            return None
        if self.outcomes and outcome not in self.outcomes:
            return None
        if reason is None and self.hourly:
            reason = "none"
        if self.reasons and reason not in self.reasons:
            return None
        values = {"outcome": outcome, "category": api_category(category), "project": project_id,
                  "reason": "spike_protection" if reason == "smart_rate_limit" else reason}
        return tuple((name, values[name]) for name in self.group_by)


def run_query(store: OutcomeStore, query: OutcomeQuery) -> tuple[Rollup, Rollup | None]:
    """Totals per group, and the time series per group (none when grouped by project, as Sentry
    answers: per-project series are not offered)."""
    totals = store.rollup(query.start, query.end, 0, query.group_of)
    if "project" in query.group_by:
        return totals, None
    return totals, store.rollup(query.start, query.end, query.interval, query.group_of)


# The legacy stats are Sentry's TSDB outcome models (``sentry/tsdb/snuba.py``): the quantity of
# error-category outcomes only, "received" being accepted + filtered + rate-limited (invalid
# items and client discards are not received), "rejected" rate-limited, "blacklisted" filtered;
# an inbound-filter stat counts the received outcomes with that filter as their reason.
RECEIVED = frozenset({"accepted", "filtered", "rate_limited"})
LEGACY_STATS = {"received": RECEIVED, "rejected": frozenset({"rate_limited"}), "blacklisted": frozenset({"filtered"})}
FILTER_STATS = ("ip-address", "release-version", "error-message", "browser-extensions", "legacy-browsers",
                "localhost", "web-crawlers", "invalid-csp", "cors", "discarded-hash", "filtered-transaction")


def legacy_counts(store: OutcomeStore, stat: str, project_ids: Iterable[int], start: float, end: float,
                  interval: int) -> dict[int, dict[int, int]]:
    """Per project, the quantity a legacy ``stat`` (a key of ``LEGACY_STATS`` or a filter stat)
    counts in each ``interval``-second slot of [start, end)."""
    wanted = frozenset(project_ids)
    outcomes = LEGACY_STATS.get(stat, RECEIVED)
    reason = None if stat in LEGACY_STATS else stat

    def group(key: Key) -> int | None:
        project_id, category, outcome, why = key
        if project_id in wanted and category in ERROR_CATEGORIES and outcome in outcomes and (
                reason is None or why == reason):
            return project_id
        return None

    rolled = store.rollup(start, end, interval, group)
    return {int(pid): {slot: cell[0] for slot, cell in slots.items()} for pid, slots in rolled.items()}
