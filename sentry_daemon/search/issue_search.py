"""Sentry's issue search: which keys mean what, and which issues a parsed query matches.

Three kinds of filters, as in Sentry's search backend:

- issue-level ones are checked against the issue: ``is:`` (status, substatus, assigned, for
  review, linked), ``assigned:``, ``assigned_or_suggested:``, ``bookmarks:``, ``subscribed:``,
  ``firstRelease:``, ``firstSeen:``/``age:``, ``issue:``, ``issue.category:``, ``issue.type:``,
  ``issue.priority:``;
- event-level ones (everything else: tags, ``message`` and free text, ``error.*``, ``stack.*``,
  ``user.*``, ``release:``, ``environment:``, ...) are checked against each event, and an issue
  matches when at least one of its events in the time window matches all of them at once;
- ``times_seen:`` and ``lastSeen:`` are counted over those matching events.

Keys Sentry does not know are tags. Everything an issue or event is checked against is kept by
the store next to it (``Issue.values``, ``Event.tags``/``Event.fields``): no payload is parsed.
"""

from __future__ import annotations

import re
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sentry_daemon.http.params import parse_int
from sentry_daemon.search.event_document import FIELD_KEYS, TAG_KEYS, UNINDEXED_FIELDS
from sentry_daemon.search.grammar import (
    InvalidSearchQuery,
    SearchConfig,
    SearchFilter,
    SearchValue,
    parse_search_query,
)
from sentry_daemon.store.event_tags import lookup_key
from sentry_daemon.store.lifecycle import PRIORITY_VALUES
from sentry_daemon.store.records import Event, Issue, Organization, Project, User

DEFAULT_QUERY = "is:unresolved"
STATUS_VALUES = {"unresolved": 0, "resolved": 1, "ignored": 2, "archived": 2, "muted": 2, "reprocessing": 6}
STATUS_NAMES = {0: "unresolved", 1: "resolved", 2: "ignored", 6: "reprocessing"}
SUBSTATUS_VALUES = {"archived_until_escalating": 1, "escalating": 2, "ongoing": 3, "archived_until_condition_met": 4,
                    "archived_forever": 5, "regressed": 6, "new": 7}
SUBSTATUS_NAMES = {v: k for k, v in SUBSTATUS_VALUES.items()}
SUBSTATUS_STATUS = {1: 2, 2: 0, 3: 0, 4: 2, 5: 2, 6: 0, 7: 0}
CATEGORIES = {"error", "performance", "profile", "cron", "replay", "feedback", "uptime", "metric_alert",
              "outage", "metric", "db_query", "http_client", "frontend", "mobile", "ai_detected", "test_notification"}
ISSUE_TYPES = {
    "error", "performance_consecutive_db_queries", "performance_consecutive_http", "performance_db_main_thread",
    "performance_file_io_main_thread", "performance_http_overhead", "performance_large_http_payload",
    "performance_m_n_plus_one_db_queries", "performance_n_plus_one_api_calls", "performance_n_plus_one_db_queries",
    "performance_render_blocking_asset_span", "performance_slow_db_query", "performance_uncompressed_assets",
    "performance_p95_endpoint_regression", "performance_duration_regression", "profile_file_io_main_thread",
    "profile_image_decode_main_thread", "profile_json_decode_main_thread", "profile_regex_main_thread",
    "profile_frame_drop", "profile_function_regression", "replay_deadclick", "replay_rageclick",
    "replay_hydration_error", "feedback", "monitor_check_in_failure", "uptime_domain_failure", "metric_issue",
}

ISSUE_SEARCH_CONFIG = SearchConfig(
    key_aliases={
        "assigned": "assigned_to", "bookmarks": "bookmarked_by", "subscribed": "subscribed_by",
        "first-release": "first_release", "firstRelease": "first_release", "age": "first_seen",
        "firstSeen": "first_seen", "lastSeen": "last_seen", "event.timestamp": "date", "timesSeen": "times_seen",
        "dist": "sentry:dist",
    },
    numeric_keys=frozenset({"project_id", "project.id", "issue.id", "stack.colno", "stack.lineno", "stack.stack_level",
                            "transaction.duration", "times_seen"}),
    date_keys=frozenset({"start", "end", "last_seen()", "time", "timestamp", "timestamp.to_hour", "timestamp.to_day",
                         "error.received", "date", "first_seen", "last_seen"}),
    boolean_keys=frozenset({"error.handled", "error.unhandled", "error.main_thread", "stack.in_app", "is_application",
                            "symbolicated_in_app", "team_key_transaction"}),
    is_values={
        "assigned": ("unassigned", False), "unassigned": ("unassigned", True), "for_review": ("for_review", True),
        "linked": ("linked", True), "unlinked": ("linked", False),
        **{name: ("status", value) for name, value in STATUS_VALUES.items()},
        **{name: ("substatus", value) for name, value in SUBSTATUS_VALUES.items()},
    },
)

ISSUE_KEYS = {"status", "substatus", "unassigned", "for_review", "linked", "assigned_to", "assigned_or_suggested",
              "bookmarked_by", "subscribed_by", "first_release", "first_seen", "issue", "issue.id", "issue.category",
              "issue.type", "issue.priority", "regressed_in_release"}
AGGREGATE_KEYS = {"times_seen", "last_seen"}
WINDOW_KEYS = {"date", "timestamp"}
_COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b, "!=": lambda a, b: a != b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b,
    "<": lambda a, b: a < b, "<=": lambda a, b: a <= b,
}


def _epoch(value: Any) -> float:
    return value.timestamp() if isinstance(value, datetime) else float(value)


@dataclass
class Matched:
    """What the matching events of an issue add up to (Sentry's ``filtered`` counts)."""

    count: int = 0
    first_seen: float | None = None
    last_seen: float | None = None
    # the matching events' tag tuples: users are counted only when asked (a list shows one page
    # of the issues it matches, so most matches never are)
    tag_sets: list[tuple[tuple[str, str], ...]] = field(default_factory=list)

    @property
    def user_count(self) -> int:
        return len({value for tags in self.tag_sets for key, value in tags if key == "sentry:user"})

    def add(self, event: Event) -> None:
        self.count += 1
        time = event.time
        if self.first_seen is None or time < self.first_seen:
            self.first_seen = time
        if self.last_seen is None or time > self.last_seen:
            self.last_seen = time
        self.tag_sets.append(event.tags)


# What a list reads of a matching issue's events: ``Matched``, or the ``Issue`` itself (its
# ``count``, ``users``, ``first_seen``, ``last_seen``) when every event counts.
Counts = Matched | Issue
EventPredicate = Callable[[Event], bool]
IssuePredicate = Callable[[Issue], bool]


@dataclass
class IssueQuery:
    """A parsed, converted issue query, ready to check issues against."""

    issue_checks: list[IssuePredicate] = field(default_factory=list)
    event_checks: list[EventPredicate] = field(default_factory=list)
    aggregates: list[tuple[str, str, float]] = field(default_factory=list)
    required: list[tuple[str, str]] = field(default_factory=list)  # (key, value) a matching event must have
    start: float | None = None
    end: float | None = None
    statuses: set[str] | None = None
    for_review: bool = False

    @property
    def has_event_conditions(self) -> bool:
        return bool(self.event_checks)


@dataclass
class SearchContext:
    """What converting a query needs to know: who asks, where, and when."""

    organization: Organization
    projects: list[Project]
    user: User
    now: float
    user_teams: list[Any]
    team_by_slug: Callable[[str], Any]
    user_by_name: Callable[[str], User | None]
    latest_releases: Callable[[list[Project]], list[str]]
    issue_by_short_id: Callable[[str], Issue | None]


def event_values(event: Event, key: str) -> list[str]:
    """The values an event has for a search key (several for array fields, none when absent)."""
    if key == "id":
        return [event.event_id]
    if key in ("project", "project.name"):
        return [event.project.slug]
    if key.startswith("tags[") and key.endswith("]"):
        wanted = lookup_key(key[5:-1])
        return [v for k, v in event.tags if k == wanted]
    if key in FIELD_KEYS:
        if key in UNINDEXED_FIELDS:
            return [v for k, v in event.texts if k == key]
        return [v for pairs in (event.fields, event.stack_fields) for k, v in pairs if k == key]
    wanted = stored_key(key)
    return [v for k, v in event.tags if k == wanted]


def stored_key(key: str) -> str:
    """The event field or tag that holds a search key (``release`` → ``sentry:release``)."""
    if key in FIELD_KEYS:
        return key
    if key.startswith("tags[") and key.endswith("]"):
        return lookup_key(key[5:-1])
    return TAG_KEYS.get(key) or lookup_key(key)


def _text_matcher(key: str, value: Any) -> Callable[[list[str]], bool]:
    """Does any of an event's values for ``key`` equal (or match the wildcard) ``value``?"""
    if key == "message":
        if SearchValue.is_wildcard(value):
            glob = SearchValue.wildcard(value, anchored=False)
            return lambda values: any(glob.matches(v) for v in values)
        needle = SearchValue.literal(str(value)).lower()
        if not needle:
            return lambda values: not values or values == [""]
        return lambda values: any(needle in v for v in values)
    if value == "":
        return lambda values: not values or all(v == "" for v in values)
    if SearchValue.is_wildcard(value):
        glob = SearchValue.wildcard(value)
        return lambda values: any(glob.matches(v) for v in values)
    literal = SearchValue.literal(str(value))
    return lambda values: literal in values


def _event_check(search_filter: SearchFilter, context: SearchContext) -> EventPredicate:
    key, operator = search_filter.key, search_filter.operator
    texts = search_filter.value.texts()
    if key in ("error.handled", "error.unhandled"):
        texts = [str(int(v)) if isinstance(v, (int, float)) else v for v in texts]
    if key == "release":
        expanded: list[Any] = []
        for value in texts:
            expanded += context.latest_releases(context.projects) if value == "latest" else [value]
        texts = expanded or [""]
    if key == "project":
        slugs = {p.slug for p in context.projects}
        missing = [str(t) for t in texts if t not in slugs]
        if missing:
            raise InvalidSearchQuery(
                f"Invalid query. Project(s) {', '.join(missing)} do not exist or are not actively selected."
            )
    matchers = [_text_matcher(key, t) for t in texts]
    if operator in ("=", "IN"):
        return lambda event: any(m(event_values(event, key)) for m in matchers)
    if operator in ("!=", "NOT IN"):
        return lambda event: not any(m(event_values(event, key)) for m in matchers)
    raise InvalidSearchQuery(f"Operator {operator} not valid for search {key}{operator}{search_filter.value.raw}")


def _status_name(value: Any) -> str:
    """``unresolved``, ``resolved``, ... for an ``is:``/``status:`` value (a name, alias or number)."""
    if isinstance(value, int) and value in STATUS_NAMES:
        return STATUS_NAMES[value]
    if isinstance(value, str) and value in STATUS_VALUES:
        return STATUS_NAMES[STATUS_VALUES[value]]
    raise InvalidSearchQuery(f"invalid status value of '{value}'")


def _as_set(values: Iterable[Any], convert: Callable[[Any], Any]) -> set[Any]:
    return {convert(v) for v in values}


def _issue_check(search_filter: SearchFilter, context: SearchContext) -> IssuePredicate:
    key, operator, raw = search_filter.key, search_filter.operator, search_filter.value.raw
    values = search_filter.value.texts()
    negate = operator in ("!=", "NOT IN")

    def member(get: Callable[[Issue], Any], allowed: set[Any]) -> IssuePredicate:
        return (lambda i: get(i) not in allowed) if negate else (lambda i: get(i) in allowed)

    if key == "status":
        allowed = _as_set(values, _status_name)  # every list asks this of every issue: one lambda, not two
        return (lambda i: i.status not in allowed) if negate else (lambda i: i.status in allowed)
    if key == "substatus":
        def substatus(value: Any) -> str:
            if isinstance(value, int) and value in SUBSTATUS_NAMES:
                return SUBSTATUS_NAMES[value]
            if isinstance(value, str) and value in SUBSTATUS_VALUES:
                return value
            raise InvalidSearchQuery(f"invalid substatus value of '{value}'")
        return member(lambda i: i.substatus, _as_set(values, substatus))
    if key == "unassigned":
        wanted = bool(raw) != negate
        return lambda i: (i.assignee is None) == wanted
    if key == "for_review":
        wanted = bool(raw) != negate
        return lambda i: (i.inbox is not None) == wanted
    if key == "linked":
        wanted = bool(raw) != negate
        return lambda i: wanted is False  # no issue is linked to an external tracker here
    if key in ("assigned_to", "assigned_or_suggested"):
        actors: set[Any] = set()
        for value in values:
            if value == "me":
                actors.add(("user", context.user.id))
                actors |= {("team", t.id) for t in context.user_teams}
            elif value == "none":
                actors.add(None)
            elif value == "my_teams":
                actors |= {("team", t.id) for t in context.user_teams}
            elif isinstance(value, str) and value.startswith("#"):
                team = context.team_by_slug(value[1:].lower())
                actors.add(("team", team.id) if team is not None else ("team", 0))
            else:
                user = context.user_by_name(str(value))
                actors.add(("user", user.id) if user is not None else ("user", 0))
        return member(lambda i: i.assignee, actors)
    if key in ("bookmarked_by", "subscribed_by"):
        ids = set()
        for value in values:
            user = context.user if value == "me" else context.user_by_name(str(value))
            ids.add(user.id if user is not None else 0)
        if key == "bookmarked_by":
            check: IssuePredicate = lambda i: bool(i.bookmarked_by & ids)
        else:
            check = lambda i: any(i.subscribed.get(u) for u in ids)
        return (lambda i: not check(i)) if negate else check
    if key in ("first_release", "regressed_in_release"):
        versions: set[Any] = set()
        for value in values:
            versions |= set(context.latest_releases(context.projects)) if value == "latest" else {value}
        if key == "first_release":
            return member(lambda i: i.first_release, versions)
        return lambda i: any(a.type == "set_regression" and a.data.get("version") in versions for a in i.activity) \
            != negate
    if key == "first_seen":
        if not isinstance(raw, datetime):
            raise InvalidSearchQuery(f"Operator {operator} not valid for search {key}{operator}{raw}")
        bound, compare = raw.timestamp(), _COMPARE[operator]
        return lambda i: compare(i.first_seen, bound)
    if key in ("issue", "issue.id"):
        ids = set()
        for value in values:
            number = parse_int(value) if isinstance(value, str) else None
            if key == "issue.id" or number is not None:
                ids.add(number if number is not None else int(float(value)))
            elif value != "unknown":
                found = context.issue_by_short_id(str(value))
                ids.add(found.id if found is not None else 0)
        return member(lambda i: i.id, ids)
    if key == "issue.category":
        for value in values:
            if str(value).lower() not in CATEGORIES:
                raise InvalidSearchQuery(f"Invalid category value of '{value}'")
        return member(lambda i: "error", {str(v).lower() for v in values})
    if key == "issue.type":
        for value in values:
            if value not in ISSUE_TYPES:
                raise InvalidSearchQuery(f"Invalid type value of '{value}'")
        return member(lambda i: "error", set(values))
    if key == "issue.priority":
        priorities = set()
        for value in values:
            if str(value).lower() not in PRIORITY_VALUES:
                raise InvalidSearchQuery(f"Invalid priority value of '{value}'")
            priorities.add(str(value).lower())
        return member(lambda i: i.priority, priorities)
    raise InvalidSearchQuery(f"Invalid search key {key}")  # pragma: no cover - every ISSUE_KEYS key is handled


def compile_query(text: str, context: SearchContext) -> IssueQuery:
    """The query as checks; :class:`InvalidSearchQuery` with Sentry's message if it cannot be run."""
    now = datetime.fromtimestamp(context.now, timezone.utc)
    filters = parse_search_query(text, ISSUE_SEARCH_CONFIG, now)
    query = IssueQuery()
    has_status = any(f.key == "status" for f in filters)
    first_substatus = next((f for f in filters if f.key == "substatus"), None)
    if first_substatus is not None and not has_status:
        # Sentry adds the status a substatus belongs to (``!is:new`` thus excludes every unresolved issue).
        value = first_substatus.value.texts()[0]
        number = value if isinstance(value, int) else SUBSTATUS_VALUES.get(value)
        if number is not None:
            filters.append(SearchFilter("status", "!=" if first_substatus.negated else "=",
                                        SearchValue(SUBSTATUS_STATUS[number])))
    for search_filter in filters:
        key = search_filter.key
        if key in ISSUE_KEYS:
            query.issue_checks.append(_issue_check(search_filter, context))
            if key == "status" and not search_filter.negated:
                names = _as_set(search_filter.value.texts(), _status_name)
                query.statuses = names if query.statuses is None else query.statuses & names
            if key == "for_review" and search_filter.value.raw and not search_filter.negated:
                query.for_review = True
        elif key in AGGREGATE_KEYS:
            value = search_filter.value.raw
            if isinstance(value, list):
                raise InvalidSearchQuery(f"Operator {search_filter.operator} not valid for search {key}")
            query.aggregates.append((key, search_filter.operator, _epoch(value)))
        elif key in WINDOW_KEYS:
            bound = _epoch(search_filter.value.raw)
            if search_filter.operator in (">", ">="):
                query.start = bound if query.start is None else max(query.start, bound)
            elif search_filter.operator in ("<", "<="):
                query.end = bound if query.end is None else min(query.end, bound)
        else:
            query.event_checks.append(_event_check(search_filter, context))
            value = search_filter.value.raw
            stored = stored_key(key)
            if search_filter.operator == "=" and isinstance(value, str) and value and stored not in UNINDEXED_FIELDS \
                    and not SearchValue.is_wildcard(value) and key not in ("id", "project", "release"):
                query.required.append((stored, SearchValue.literal(value)))
    return query


def match_issue(issue: Issue, query: IssueQuery, start: float | None, end: float | None,
                environments: set[str] | None) -> Counts | None:
    """The matching events' counts if the issue matches the query in ``[start, end)``, else None
    (the issue itself when all its events count)."""
    for check in query.issue_checks:  # loops, not all(): this runs for every issue of every list
        if not check(issue):
            return None
    values, fields = issue.values, issue.fields
    for pair in query.required:
        if pair not in values and pair not in fields:
            return None
    if query.start is not None:
        start = query.start if start is None else max(start, query.start)
    if query.end is not None:
        end = query.end if end is None else min(end, query.end)
    if environments is not None and not any(("environment", e) in values for e in environments):
        return None
    whole = not query.event_checks and environments is None and (start is None or start <= issue.first_seen) \
        and (end is None or issue.last_seen < end)
    if whole:
        matched = issue  # its own totals: no allocation per issue of a list
    else:
        matched = Matched()
        checks = query.event_checks
        for event in issue.events:
            if (start is not None and event.time < start) or (end is not None and event.time >= end):
                continue
            if environments is not None and event.environment not in environments:
                continue
            if not checks or all(check(event) for check in checks):
                matched.add(event)
        if matched.count == 0:
            return None
    for key, operator, bound in query.aggregates:
        actual = matched.count if key == "times_seen" else matched.last_seen
        if actual is None or not _COMPARE[operator](actual, bound):
            return None
    return matched


def match_issues(issues: Iterable[Issue], query: IssueQuery, start: float | None, end: float | None,
                 environments: set[str] | None) -> list[tuple[Issue, Counts]]:
    """``(issue, counts)`` of each issue ``match_issue`` matches, in order. A list asks this of every
    issue it may show; for the commonest queries (only issue-level conditions, such as the default
    ``is:unresolved``) each issue is decided here without a call per issue."""
    if query.required or query.event_checks or query.aggregates or environments is not None \
            or query.start is not None or query.end is not None:
        return [(issue, matched) for issue in issues
                if (matched := match_issue(issue, query, start, end, environments)) is not None]
    checks = query.issue_checks
    low = -math.inf if start is None else start
    high = math.inf if end is None else end
    found: list[tuple[Issue, Counts]] = []
    append = found.append
    for issue in issues:
        for check in checks:
            if not check(issue):
                break
        else:
            if low <= issue.first_seen and issue.last_seen < high:
                append((issue, issue))
            elif (matched := match_issue(issue, query, start, end, None)) is not None:
                append((issue, matched))
    return found


def event_matches(event: Event, query: IssueQuery) -> bool:
    """Whether one event matches the query's event-level filters (the issue events' ``query``)."""
    if query.start is not None and event.time < query.start:
        return False
    if query.end is not None and event.time >= query.end:
        return False
    return all(check(event) for check in query.event_checks)


def search_error(exc: InvalidSearchQuery) -> str:
    return f"Error parsing search query: {exc}"


# An event id as Sentry accepts one: 32 hex digits, or the hyphenated UUID form.
EVENT_ID = re.compile(r"^(?:[0-9a-fA-F]{32}|[0-9a-fA-F]{8}-(?:[0-9a-fA-F]{4}-){3}[0-9a-fA-F]{12})$")


def looks_like_event_id(text: str) -> bool:
    return bool(EVENT_ID.match(text.strip()))
