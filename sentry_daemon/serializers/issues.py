"""Issues (Sentry's groups) as the web API shows them: the base object, list items and the detail.

Per-user fields (``isBookmarked``, ``hasSeen``, ``isSubscribed``) are the asking user's. Counts are
the issue's own, or (``filtered``, and the list's seen stats under a query) those of the events that
matched. ``status`` and ``statusDetails`` say how it was resolved or ignored, as Sentry shows them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

from sentry_daemon.search.issue_search import Counts
from sentry_daemon.serializers.releases import release
from sentry_daemon.serializers.users import actor, user
from sentry_daemon.store.event_tags import display_key, lookup_key, user_tag_query
from sentry_daemon.store.issues import short_id
from sentry_daemon.store.lifecycle import snooze_details
from sentry_daemon.store.records import Activity, Issue, Release, TagValueStats, Team, User
from sentry_daemon.timestamps import isoformat

TAG_LABELS = {"sentry:user": "User", "sentry:release": "Release", "sentry:dist": "Distribution", "os": "OS",
              "url": "URL", "server_name": "Server", "exc_type": "Exception Type"}


@dataclass
class IssueView:
    """Who is looking, from where, when, and how to find what an issue refers to."""

    base_url: str
    user: User
    now: float
    user_for: Callable[[int], User | None]
    team_for: Callable[[int], Team | None]
    release_for: Callable[[Issue, str], Release | None]

    def user_body(self, user_id: int | None) -> dict[str, Any] | None:
        """The user with that id as Sentry shows a user, or None (no id, or nobody has it)."""
        found = self.user_for(user_id) if user_id is not None else None
        return user(found) if found is not None else None


def status_details(issue: Issue, view: IssueView) -> dict[str, Any]:
    if issue.status == "ignored" and issue.snooze is not None:
        details = snooze_details(issue, view.now)
        details["ignoreUntil"] = isoformat(details["ignoreUntil"])
        details["actor"] = view.user_body(details["actor"])
        return details
    if issue.status == "resolved" and issue.resolution is not None:
        resolution = issue.resolution
        actor_body = view.user_body(resolution.actor_id)
        if resolution.kind == "in_next_release":
            return {"inNextRelease": True, "actor": actor_body}
        if resolution.kind == "in_release":
            return {"inRelease": resolution.version, "actor": actor_body}
    return {}


def _metadata(issue: Issue) -> dict[str, Any]:
    metadata = dict(issue.metadata)
    if issue.type == "error":
        if issue.sdk_name:
            metadata["sdk"] = {"name": issue.sdk_name, "name_normalized": issue.sdk_name}
        metadata["initial_priority"] = issue.initial_priority
    return metadata


def issue(i: Issue, view: IssueView, matched: Counts | None = None) -> dict[str, Any]:
    """The base issue object with its seen stats (``count`` is a string, ``userCount`` an int)."""
    p = i.project
    uid = view.user.id
    seen = i.seen_by.get(uid)
    stats = matched if matched is not None else i
    return {
        "id": str(i.id),
        "shareId": i.share_id,
        "shortId": short_id(i),
        "title": i.title,
        "culprit": i.culprit,
        "permalink": f"{view.base_url}/organizations/{p.organization.slug}/issues/{i.id}/",
        "logger": i.logger or None,
        "level": i.level,
        "status": i.status,
        "statusDetails": status_details(i, view),
        "substatus": i.substatus if i.status in ("unresolved", "ignored") else None,
        "isPublic": i.share_id is not None,
        "platform": i.platform,
        "project": {"id": str(p.id), "name": p.name, "slug": p.slug, "platform": p.platform},
        "type": i.type,
        "metadata": _metadata(i),
        "numComments": 0,
        "assignedTo": actor(i.assignee, view.user_for, view.team_for),
        "isBookmarked": uid in i.bookmarked_by,
        "isSubscribed": bool(i.subscribed.get(uid)),
        "subscriptionDetails": {"reason": "unknown"} if i.subscribed.get(uid) else None,
        "hasSeen": seen is not None and seen > i.active_at,
        "annotations": [],
        "issueType": "error",
        "issueCategory": "error",
        "priority": i.priority,
        "priorityLockedAt": isoformat(i.priority_locked_at),
        "seerFixabilityScore": None,
        "seerAutofixLastTriggered": None,
        "seerExplorerAutofixLastTriggered": None,
        "isUnhandled": i.is_unhandled,
        "count": str(stats.count),
        "userCount": stats.user_count,
        "firstSeen": isoformat(stats.first_seen),
        "lastSeen": isoformat(stats.last_seen),
    }


def inbox(i: Issue) -> dict[str, Any] | None:
    if i.inbox is None:
        return None
    return {"reason": i.inbox.reason, "reason_details": i.inbox.reason_details,
            "date_added": isoformat(i.inbox.date_added)}


def derived_data(i: Issue) -> dict[str, Any]:
    """Sentry's Seer-derived summary: nothing was derived here."""
    return {"blocker": "", "progress": "", "status": "", "viewCount": len(i.seen_by), "hasOpenFixPr": False,
            "isAssigned": i.assignee is not None, "hasRootCause": False, "lastCompletedAutofixStep": "",
            "lastProgressedAt": None}


def tag_keys(i: Issue) -> list[dict[str, Any]]:
    """``{key, name, totalValues}`` of every tag the issue's events had, sorted by name."""
    totals: dict[str, int] = {}
    for (key, _value), stats in i.tag_stats():
        totals[key] = totals.get(key, 0) + stats.count
    rows = [{"key": display_key(k), "name": tag_label(k), "totalValues": n} for k, n in totals.items()]
    return sorted(rows, key=lambda r: r["name"])


def tag_label(key: str) -> str:
    return TAG_LABELS.get(key) or key.replace("_", " ").title()


def tag_values(i: Issue, key: str) -> list[tuple[str, TagValueStats]]:
    """Every value the issue's events had for the tag ``key`` (as the API names it), with its counts."""
    stored = lookup_key(key)
    return [(value, stats) for (k, value), stats in i.tag_stats() if k == stored]


def tag_value(key: str, value: str, stats: TagValueStats) -> dict[str, Any]:
    body = {"key": key, "name": value.split(":", 1)[1] if key == "user" and ":" in value else value,
            "value": value, "count": stats.count, "lastSeen": isoformat(stats.last_seen),
            "firstSeen": isoformat(stats.first_seen)}
    if key == "user" and (query := user_tag_query(value)) is not None:
        body["query"] = query
    return body


def tag_key(i: Issue, key: str, top: int) -> dict[str, Any] | None:
    """One tag of the issue: its counts and its ``top`` most frequent values (None: no such tag)."""
    values = tag_values(i, key)
    if not values:
        return None
    values.sort(key=lambda pair: (-pair[1].count, pair[0]))
    return {
        "key": key,
        "name": tag_label(lookup_key(key)),
        "uniqueValues": len(values),
        "totalValues": sum(stats.count for _, stats in values),
        "topValues": [tag_value(key, value, stats) for value, stats in values[:top]],
    }


def activity(i: Issue, view: IssueView) -> list[dict[str, Any]]:
    """Newest first, at most 100, ending with the issue's ``first_seen`` (as Sentry adds it)."""
    rows = [_activity(item, view) for item in reversed(i.activity[-99:])]
    rows.append({"id": "0", "user": None, "sentry_app": None, "type": "first_seen", "data": {},
                 "dateCreated": isoformat(i.first_seen)})
    return rows


def _activity(item: Activity, view: IssueView) -> dict[str, Any]:
    return {"id": str(item.id), "user": view.user_body(item.user_id), "sentry_app": None, "type": item.type,
            "data": item.data, "dateCreated": isoformat(item.date_created)}


def _release(i: Issue, view: IssueView, version: str | None) -> dict[str, Any] | None:
    if version is None:
        return None
    found = view.release_for(i, version)
    return release(found, [i.project]) if found is not None else {"version": version}


def detail(i: Issue, view: IssueView, stats: dict[str, list[list[int]]], last_release: str | None) -> dict[str, Any]:
    """The issue detail: the base object and its releases, tags, activity, who saw it, stats."""
    body = issue(i, view)
    body["firstRelease"] = _release(i, view, i.first_release)
    body["lastRelease"] = _release(i, view, last_release) if i.first_release is not None else None
    body["tags"] = tag_keys(i)
    body["activity"] = activity(i, view)
    body["seenBy"] = [{**user(found), "lastSeen": isoformat(when)}
                      for uid, when in sorted(i.seen_by.items(), key=lambda kv: -kv[1])
                      if (found := view.user_for(uid)) is not None]
    body["userReportCount"] = 0
    body["stats"] = stats
    participants = {uid for uid in i.subscribed if i.subscribed[uid]}
    body["participants"] = [{**user(found), "type": "user"} for uid in sorted(participants)
                            if (found := view.user_for(uid)) is not None]
    return body
