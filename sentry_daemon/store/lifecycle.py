"""An issue's lifecycle, as Sentry runs it (status, substatus, resolution, snooze).

- A new issue is ``unresolved``/``new``; seven days after it was first seen it is ``ongoing``
  (Sentry moves it with a periodic task; here it is decided when the issue is read), and so is a
  ``regressed`` or ``escalating`` one seven days after it became so.
- A resolved issue regresses (``unresolved``/``regressed``) on a new event, unless it was resolved
  in a release and the event comes from that release's past: resolved *in* release X, events from
  releases older than X do not regress it; resolved *in the next release*, events from the release
  that was the latest at the time (or older) do not. An event without a release regresses only a
  plainly resolved issue.
- An ignored (archived) issue comes back when its condition passes: after ``ignoreDuration``
  minutes as ``ongoing`` (decided when read, as the periodic task would), after ``ignoreCount``
  more events or ``ignoreUserCount`` more users (within ``ignoreWindow``/``ignoreUserWindow``
  minutes when given) as ``escalating``. Archived until escalating, it comes back as
  ``escalating`` once it sees more than ``ESCALATION_PER_HOUR`` events in an hour (Sentry compares
  with a per-issue forecast whose floor is that figure; the fake has no forecasts).
"""

from __future__ import annotations

from typing import Any, Callable

from sentry_daemon.store.records import Event, Inbox, Issue, Release, Resolution, Snooze
from sentry_daemon.store.versions import is_newer

ONGOING_AFTER = 7 * 86400.0
ESCALATION_PER_HOUR = 10
PRIORITY_BY_LEVEL = {"fatal": "high", "error": "high", "warning": "medium", "info": "low", "debug": "low"}
PRIORITY_VALUES = {"low": 25, "medium": 50, "high": 75}
# GroupInboxReason
NEW, REGRESSION, MANUAL, ESCALATING, ONGOING = 0, 2, 3, 5, 6
UNRESOLVED_SUBSTATUSES = ("new", "ongoing", "regressed", "escalating")
IGNORED_SUBSTATUSES = ("archived_until_escalating", "archived_until_condition_met", "archived_forever")

# (issue, activity type, data, user id)
ActivityLog = Callable[[Issue, str, dict[str, Any], "int | None"], None]
ReleaseLookup = Callable[[str], "Release | None"]


def initial_priority(level: str) -> str:
    return PRIORITY_BY_LEVEL.get(level, "medium")


# The substatuses that time alone changes (and a snooze, whose end can pass): only issues in one
# of them need ``settle``.
SETTLING = frozenset({"new", "regressed", "escalating"})


def settle(issue: Issue, now: float, log: ActivityLog) -> None:
    """What Sentry's periodic tasks would have done to the issue by ``now``."""
    if issue.status == "ignored" and issue.snooze is not None and issue.snooze.until is not None \
            and now >= issue.snooze.until:
        _snooze_over(issue, issue.snooze.until, log, {})
    if issue.status == "unresolved" and issue.substatus in SETTLING:
        since = issue.first_seen if issue.substatus == "new" else issue.substatus_since
        if now - since >= ONGOING_AFTER:
            if issue.substatus == "escalating" and issue.priority_locked_at is None:
                issue.priority = initial_priority(issue.level)
            issue.substatus, issue.substatus_since = "ongoing", since + ONGOING_AFTER
            issue.inbox = None
            log(issue, "auto_set_ongoing", {"after_days": 7}, None)


def _still_resolved(resolution: Resolution, event_release: Release | None, releases: ReleaseLookup) -> bool:
    """Sentry's ``GroupResolution.has_resolution``: does the resolution still hold for this event?"""
    if resolution.kind is None:
        return False
    if event_release is None:
        return True
    resolved = releases(resolution.version) if resolution.version else None
    if resolved is None:
        return False
    if resolution.kind == "in_release":
        return is_newer(resolved, event_release)
    return not is_newer(event_release, resolved)


def after_event(issue: Issue, event: Event, event_release: Release | None, releases: ReleaseLookup,
                now: float, log: ActivityLog) -> None:
    """A new event's effect on the issue's status (its counts are already updated)."""
    if issue.status == "resolved":
        if issue.resolution is not None and _still_resolved(issue.resolution, event_release, releases):
            return
        issue.status, issue.substatus, issue.substatus_since = "unresolved", "regressed", now
        issue.resolution, issue.resolved_at, issue.active_at = None, None, now
        if issue.inbox is None:
            issue.inbox = Inbox(REGRESSION, now)
        log(issue, "set_regression", {"event_id": event.event_id,
                                      "version": event_release.version if event_release else ""}, None)
        return
    if issue.status != "ignored":
        return
    if issue.substatus == "archived_until_escalating":
        hour = int(event.time // 3600)
        if issue.hourly.get(hour, 0) > ESCALATION_PER_HOUR:
            _escalate(issue, now, log, {"event_id": event.event_id, "forecast": ESCALATION_PER_HOUR})
        return
    snooze = issue.snooze
    if snooze is None:
        return
    if snooze.until is not None:
        if now >= snooze.until:
            _snooze_over(issue, now, log, {"event_id": event.event_id})
        return
    if _condition_met(issue, snooze, now):
        _escalate(issue, now, log, {"event_id": event.event_id, "expired_snooze": {
            "count": snooze.count, "window": snooze.window, "user_count": snooze.user_count,
            "user_window": snooze.user_window, "until": None}})


def _snooze_over(issue: Issue, since: float, log: ActivityLog, data: dict[str, Any]) -> None:
    """An ``ignoreDuration`` that has passed: the issue is unresolved again, ``ongoing``."""
    issue.status, issue.substatus, issue.substatus_since, issue.snooze = "unresolved", "ongoing", since, None
    issue.inbox = issue.inbox or Inbox(ONGOING, since)
    log(issue, "set_unresolved", data, None)


def _condition_met(issue: Issue, snooze: Snooze, now: float) -> bool:
    if snooze.count is not None:
        if snooze.window:
            since = now - snooze.window * 60
            if sum(1 for e in reversed(issue.events) if e.time >= since) >= snooze.count:
                return True
        elif issue.times_seen - snooze.times_seen_at >= snooze.count:
            return True
    if snooze.user_count is not None:
        if snooze.user_window:
            since = now - snooze.user_window * 60
            users = {value for e in issue.events if e.time >= since
                     for key, value in e.tags if key == "sentry:user"}
            if len(users) >= snooze.user_count:
                return True
        elif issue.user_count - snooze.users_seen_at >= snooze.user_count:
            return True
    return False


def _escalate(issue: Issue, now: float, log: ActivityLog, data: dict[str, Any]) -> None:
    issue.status, issue.substatus, issue.substatus_since, issue.snooze = "unresolved", "escalating", now, None
    issue.inbox = issue.inbox or Inbox(ESCALATING, now)
    if issue.priority_locked_at is None:
        issue.priority = "medium" if issue.priority == "low" else "high"
    log(issue, "set_escalating", data, None)


def snooze_details(issue: Issue, now: float) -> dict[str, Any]:
    """``statusDetails`` of an ignored issue: the conditions, with counts still to go."""
    snooze = issue.snooze
    if snooze is None:
        return {}
    count = snooze.count
    if count is not None and not snooze.window:
        count = max(count - (issue.times_seen - snooze.times_seen_at), 0)
    user_count = snooze.user_count
    if user_count is not None and not snooze.user_window:
        user_count = max(user_count - (issue.user_count - snooze.users_seen_at), 0)
    return {
        "ignoreCount": count,
        "ignoreUntil": snooze.until,
        "ignoreUserCount": user_count,
        "ignoreUserWindow": snooze.user_window,
        "ignoreWindow": snooze.window,
        "actor": snooze.actor_id,
    }
