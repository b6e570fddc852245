"""Issues (Sentry's groups) as the web API shows them, and their short ids."""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.records import Issue
from sentry_daemon.timestamps import isoformat


def short_id(issue: Issue) -> str:
    """``HELLO-WORLD-1A``: project slug upper-cased and the per-project counter in base32."""
    alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
    n, digits = issue.short_id, ""
    while True:
        n, r = divmod(n, 32)
        digits = alphabet[r] + digits
        if n == 0:
            break
    return f"{issue.project.slug.upper()}-{digits}"


def issue(i: Issue, base_url: str) -> dict[str, Any]:
    p = i.project
    return {
        "id": str(i.id),
        "shortId": short_id(i),
        "title": i.title,
        "culprit": i.culprit,
        "permalink": f"{base_url}/organizations/{p.organization.slug}/issues/{i.id}/",
        "logger": i.logger or None,
        "level": i.level,
        "status": i.status,
        "statusDetails": {},
        "substatus": i.substatus,
        "isPublic": False,
        "platform": i.platform,
        "priority": "high" if i.level in ("error", "fatal") else "medium",
        "priorityLockedAt": None,
        "project": {"id": str(p.id), "name": p.name, "slug": p.slug, "platform": p.platform},
        "type": i.type,
        "issueType": "error",
        "issueCategory": "error",
        "metadata": dict(i.metadata),
        "numComments": 0,
        "assignedTo": None,
        "isBookmarked": False,
        "isSubscribed": False,
        "subscriptionDetails": None,
        "hasSeen": False,
        "annotations": [],
        "isUnhandled": False,
        "count": str(i.times_seen),
        "userCount": len(i.users),
        "firstSeen": isoformat(i.first_seen),
        "lastSeen": isoformat(i.last_seen),
        "shareId": None,
    }
