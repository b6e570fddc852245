"""Changing issues as Sentry's bulk and single-issue ``PUT`` do: status, assignment, bookmarks, ...

``apply`` takes the validated changes (``IssueChanges``, built by the web API from the request) and
returns the answer's body as Sentry's bulk endpoint shapes it: the changes as applied (a status
change says its ``statusDetails``, an assignment the actor, a merge its parent and children).
Status changes apply only to issues whose status differs, as in Sentry: resolving a resolved issue
or unresolving an unresolved one changes nothing.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sentry_daemon.store import lifecycle
from sentry_daemon.store.records import Inbox, Issue, Resolution, Snooze, User
from sentry_daemon.timestamps import isoformat

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

UNSET: Any = object()
# The conditions of an ignore (each in minutes, or a count), as the PUT body names them.
IGNORE_FIELDS = ("ignoreDuration", "ignoreCount", "ignoreWindow", "ignoreUserCount", "ignoreUserWindow")


@dataclass
class IssueChanges:
    """What a ``PUT`` asks for, validated; an attribute left at ``UNSET`` is not changed."""

    status: str | None = None                 # resolved | unresolved | ignored
    substatus: str | None = None
    resolution: str | None = None             # None (plain) | in_release | in_next_release
    resolve_version: str | None = None
    ignore: dict[str, Any] | None = None      # ignoreDuration/Count/Window/UserCount/UserWindow (minutes)
    status_details_given: bool = False
    assigned_to: Any = UNSET                  # ("user", id) | ("team", id) | None
    has_seen: Any = UNSET
    is_bookmarked: Any = UNSET
    is_subscribed: Any = UNSET
    is_public: Any = UNSET
    merge: Any = UNSET
    priority: Any = UNSET
    inbox: Any = UNSET
    echo: dict[str, Any] = field(default_factory=dict)



def _log(store: Store, issue: Issue, kind: str, data: dict[str, Any], user: User) -> None:
    store.issues.log(issue, kind, data, user.id)


def _resolve(store: Store, issue: Issue, changes: IssueChanges, user: User, now: float) -> None:
    issue.status, issue.substatus, issue.resolved_at = "resolved", None, now
    issue.snooze, issue.inbox = None, None
    if changes.resolution is None or changes.resolve_version is None:
        issue.resolution = Resolution(None, None, user.id) if changes.resolution is None else None
        _log(store, issue, "set_resolved", {}, user)
    else:
        issue.resolution = Resolution(changes.resolution, changes.resolve_version, user.id)
        _log(store, issue, "set_resolved_in_release",
             {"version": changes.resolve_version if changes.resolution == "in_release" else ""}, user)
    issue.subscribed[user.id] = True


def _unresolve(store: Store, issue: Issue, changes: IssueChanges, user: User, now: float, single: bool) -> None:
    previous = issue.status
    substatus = changes.substatus if changes.substatus in lifecycle.UNRESOLVED_SUBSTATUSES else None
    if substatus is None:
        if single and previous == "resolved":
            substatus = "regressed"
        elif single and previous == "ignored":
            substatus = "new" if now - issue.first_seen < lifecycle.ONGOING_AFTER else "ongoing"
        else:
            substatus = "ongoing"
    issue.status, issue.substatus, issue.substatus_since = "unresolved", substatus, now
    issue.resolution, issue.resolved_at, issue.snooze = None, None, None
    _log(store, issue, "set_unresolved", {}, user)


def _snooze(issue: Issue, ignore: dict[str, Any], user: User, now: float) -> Snooze | None:
    duration, count, user_count = ignore.get("ignoreDuration"), ignore.get("ignoreCount"), ignore.get("ignoreUserCount")
    if not (duration or count or user_count):
        return None
    return Snooze(
        until=now + duration * 60 if duration else None,
        count=count or None,
        window=ignore.get("ignoreWindow") or None,
        user_count=user_count or None,
        user_window=ignore.get("ignoreUserWindow") or None,
        times_seen_at=issue.times_seen,
        users_seen_at=issue.user_count,
        actor_id=user.id,
    )


def _ignore(store: Store, issue: Issue, changes: IssueChanges, user: User, now: float) -> None:
    ignore = changes.ignore or {}
    if issue.status != "ignored":
        if changes.substatus in lifecycle.IGNORED_SUBSTATUSES:
            substatus = changes.substatus
        elif any(ignore.get(k) is not None for k in IGNORE_FIELDS):
            substatus = "archived_until_condition_met"
        else:
            substatus = "archived_forever"
        issue.status, issue.substatus, issue.substatus_since = "ignored", substatus, now
    issue.resolution, issue.resolved_at, issue.inbox = None, None, None
    issue.snooze = _snooze(issue, ignore, user, now)
    _log(store, issue, "set_ignored", {
        "ignoreCount": ignore.get("ignoreCount"), "ignoreDuration": ignore.get("ignoreDuration"),
        "ignoreUntil": isoformat(issue.snooze.until) if issue.snooze and issue.snooze.until else None,
        "ignoreUserCount": ignore.get("ignoreUserCount"), "ignoreUserWindow": ignore.get("ignoreUserWindow"),
        "ignoreWindow": ignore.get("ignoreWindow"),
        "ignoreUntilEscalating": issue.substatus == "archived_until_escalating",
    }, user)


def apply(store: Store, issues: list[Issue], changes: IssueChanges, user: User, single: bool) -> dict[str, Any]:
    """Apply ``changes`` to ``issues``; the bulk endpoint's answer body."""
    now = store.now()
    body: dict[str, Any] = dict(changes.echo)
    if changes.status is not None:
        changed = [i for i in issues if i.status != changes.status]
        changed_ids = {i.id for i in changed}
        for issue in changed:
            if changes.status == "resolved":
                _resolve(store, issue, changes, user, now)
            elif changes.status == "unresolved":
                _unresolve(store, issue, changes, user, now, single)
            else:
                _ignore(store, issue, changes, user, now)
        if changes.status == "ignored":
            for issue in issues:
                if issue.id not in changed_ids:
                    issue.snooze = _snooze(issue, changes.ignore or {}, user, now)
        body["status"] = changes.status
        body["statusDetails"] = _status_details(changes, user, now)
        if changes.status in ("resolved", "ignored") and changed:
            body["inbox"] = None
        if changes.substatus is not None:
            body["substatus"] = changes.substatus
    if changes.assigned_to is not UNSET:
        for issue in issues:
            if issue.assignee != changes.assigned_to:
                issue.assignee = changes.assigned_to
                kind = "assigned" if changes.assigned_to is not None else "unassigned"
                _log(store, issue, kind, {"assignee": str(changes.assigned_to[1]), "assigneeType": changes.assigned_to[0]}
                     if changes.assigned_to else {}, user)
                if changes.assigned_to is not None and changes.assigned_to[0] == "user":
                    issue.subscribed[changes.assigned_to[1]] = True
        body["assignedTo"] = changes.assigned_to  # the route serializes the actor
    if changes.has_seen is not UNSET:
        for issue in issues:
            if changes.has_seen:
                issue.seen_by[user.id] = now
            else:
                issue.seen_by.pop(user.id, None)
        body["hasSeen"] = changes.has_seen
    if changes.is_bookmarked is not UNSET:
        for issue in issues:
            if changes.is_bookmarked:
                issue.bookmarked_by.add(user.id)
                issue.subscribed[user.id] = True
            else:
                issue.bookmarked_by.discard(user.id)
                issue.subscribed.pop(user.id, None)
        body["isBookmarked"] = changes.is_bookmarked
    if changes.is_subscribed is not UNSET:
        for issue in issues:
            issue.subscribed[user.id] = bool(changes.is_subscribed)
        body["isSubscribed"] = changes.is_subscribed
        body["subscriptionDetails"] = {"reason": "unknown"}
    if changes.is_public is not UNSET:
        share_id = None
        for issue in issues:
            issue.share_id = secrets.token_hex(16) if changes.is_public else None
            share_id = issue.share_id
            _log(store, issue, "set_public" if changes.is_public else "set_private", {}, user)
        body["isPublic"] = changes.is_public
        body["shareId"] = share_id
    if changes.priority is not UNSET:
        for issue in issues:
            if issue.priority != changes.priority:
                issue.priority = changes.priority
                _log(store, issue, "set_priority", {"priority": changes.priority, "reason": None}, user)
            issue.priority_locked_at = now
        body["priority"] = changes.priority
    if changes.inbox is not UNSET and not (changes.status in ("resolved", "ignored")):
        for issue in issues:
            if changes.inbox:
                issue.inbox = issue.inbox or Inbox(lifecycle.MANUAL, now)
            else:
                issue.inbox = None
                _log(store, issue, "mark_reviewed", {}, user)
                if issue.status == "unresolved" and issue.substatus != "ongoing":
                    issue.substatus, issue.substatus_since = "ongoing", now
                    _log(store, issue, "auto_set_ongoing", {"manually": True}, user)
        body["inbox"] = changes.inbox
    if changes.merge is not UNSET:
        if changes.merge and len(issues) > 1:
            parent, children = store.issues.merge(issues)
            body["merge"] = {"parent": str(parent.id), "children": [str(c.id) for c in children]}
        else:
            body["merge"] = changes.merge
    for issue in issues:
        if issue.id in store.issues.by_id:  # a merged child is gone
            store.record_log.append("issue", issue)
    return body


def _status_details(changes: IssueChanges, user: User, now: float) -> dict[str, Any]:
    """``statusDetails`` as the answer states them (an actor is serialized by the route)."""
    if changes.status == "resolved":
        if changes.resolution == "in_next_release":
            return {"inNextRelease": True, "actor": user.id}
        if changes.resolution == "in_release":
            return {"inRelease": changes.resolve_version, "actor": user.id}
        return {}
    if changes.status == "ignored":
        ignore = changes.ignore or {}
        if changes.substatus == "archived_until_escalating":
            return {"ignoreUntilEscalating": True}
        if not any(ignore.get(k) for k in ("ignoreDuration", "ignoreCount", "ignoreUserCount")):
            return {}
        duration = ignore.get("ignoreDuration")
        return {
            "ignoreCount": ignore.get("ignoreCount"),
            "ignoreUntil": isoformat(now + duration * 60) if duration else None,
            "ignoreUserCount": ignore.get("ignoreUserCount"),
            "ignoreUserWindow": ignore.get("ignoreUserWindow"),
            "ignoreWindow": ignore.get("ignoreWindow"),
            "actor": user.id,
        }
    return {}
