"""Every Sentry JSON shape the daemon answers with, in one place (SENTRY-PROTOCOL §7.4).

Ids are strings, dates ISO-8601 with ``Z``, and field names are Sentry's own camelCase.
``base_url`` is the externally visible root (``http://127.0.0.1:4773``), used for DSNs and links.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sentry_daemon.store import (
    Attachment,
    EnvelopeRecord,
    Event,
    Issue,
    ItemRecord,
    Monitor,
    Organization,
    Project,
    ProjectKey,
    Team,
)
from sentry_daemon.timestamps import isoformat

_AVATAR = {"avatarType": "letter_avatar", "avatarUuid": None, "avatarUrl": None}
_PROJECT_ACCESS = [
    "project:read", "project:write", "project:admin", "project:releases",
    "event:read", "event:write", "event:admin",
]
_TEAM_ACCESS = ["team:read", "team:write", "team:admin"]


def organization(org: Organization, base_url: str) -> dict[str, Any]:
    return {
        "id": str(org.id),
        "slug": org.slug,
        "name": org.name,
        "dateCreated": isoformat(org.date_created),
        "status": {"id": "active", "name": "active"},
        "isEarlyAdopter": False,
        "require2FA": False,
        "requireEmailVerification": False,
        "avatar": dict(_AVATAR),
        "features": [],
        "links": {
            "organizationUrl": f"{base_url}/organizations/{org.slug}/",
            "regionUrl": base_url,
        },
        "hasAuthProvider": False,
        "allowMemberInvite": True,
        "allowMemberProjectCreation": True,
        "allowSuperuserAccess": False,
    }


def team_summary(team: Team) -> dict[str, Any]:
    return {"id": str(team.id), "name": team.name, "slug": team.slug}


def team(team: Team, member_count: int = 1) -> dict[str, Any]:
    return {
        **team_summary(team),
        "dateCreated": isoformat(team.date_created),
        "isMember": True,
        "teamRole": "admin",
        "flags": {"idp:provisioned": False},
        "access": list(_TEAM_ACCESS + _PROJECT_ACCESS),
        "hasAccess": True,
        "isPending": False,
        "memberCount": member_count,
        "avatar": dict(_AVATAR),
    }


def project(p: Project, environments: list[str] | None = None) -> dict[str, Any]:
    """The project summary of list endpoints (everything sentry-cli and the UI read)."""
    teams = [team_summary(p.team)] if p.team else []
    return {
        "id": str(p.id),
        "slug": p.slug,
        "name": p.name,
        "platform": p.platform,
        "dateCreated": isoformat(p.date_created),
        "isBookmarked": False,
        "isMember": True,
        "features": [],
        "firstEvent": isoformat(p.first_event),
        "firstTransactionEvent": p.first_transaction_event is not None,
        "access": list(_PROJECT_ACCESS),
        "hasAccess": True,
        "hasMinifiedStackTrace": False,
        "hasMonitors": False,
        "hasProfiles": False,
        "hasReplays": False,
        "hasFeedbacks": False,
        "hasNewFeedbacks": False,
        "hasSessions": False,
        "hasLogs": False,
        "isInternal": False,
        "isPublic": False,
        "avatar": dict(_AVATAR),
        "color": "#3f70bf",
        "status": "active",
        "team": teams[0] if teams else None,
        "teams": teams,
        "platforms": [p.platform] if p.platform else [],
        "environments": environments or [],
        "latestRelease": None,
    }


def project_detail(p: Project, base_url: str, environments: list[str] | None = None) -> dict[str, Any]:
    return {
        **project(p, environments),
        "organization": organization(p.organization, base_url),
        "options": {},
        "resolveAge": 0,
        "subjectPrefix": "",
        "subjectTemplate": "$shortID - $title",
        "groupingConfig": "newstyle:2023-01-11",
        "fingerprintingRules": "",
        "groupingEnhancements": "",
        "dataScrubber": False,
        "scrubIPAddresses": False,
        "sensitiveFields": [],
        "safeFields": [],
        "allowedDomains": ["*"],
        "verifySSL": False,
        "digestsMinDelay": 300,
        "digestsMaxDelay": 1800,
        "processingIssues": 0,
        "defaultEnvironment": None,
        "relayPiiConfig": None,
        "builtinSymbolSources": [],
        "dynamicSamplingBiases": None,
        "eventProcessing": {"symbolicationDegraded": False},
        "symbolSources": "[]",
    }


def dsn_url(base_url: str, project_id: int, public: str, secret: str | None = None) -> str:
    """``http://<public>[:<secret>]@host:port/<project_id>`` for the daemon at ``base_url``."""
    parts = urlsplit(base_url)
    auth = f"{public}:{secret}" if secret else public
    return f"{parts.scheme}://{auth}@{parts.netloc}{parts.path.rstrip('/')}/{project_id}"


def dsn(key: ProjectKey, base_url: str, secret: bool = False) -> str:
    return dsn_url(base_url, key.project.id, key.public, key.secret if secret else None)


def project_key(key: ProjectKey, base_url: str) -> dict[str, Any]:
    pid = key.project.id
    root = f"{base_url}/api/{pid}"
    return {
        "id": key.public,
        "name": key.label,
        "label": key.label,
        "public": key.public,
        "secret": key.secret,
        "projectId": pid,
        "isActive": key.is_active,
        "rateLimit": None,
        "dsn": {
            "secret": dsn(key, base_url, secret=True),
            "public": dsn(key, base_url),
            "csp": f"{root}/csp-report/?sentry_key={key.public}",
            "security": f"{root}/security/?sentry_key={key.public}",
            "minidump": f"{root}/minidump/?sentry_key={key.public}",
            "nel": f"{root}/nel/?sentry_key={key.public}",
            "unreal": f"{root}/unreal/{key.public}/",
            "crons": f"{root}/cron/___MONITOR_SLUG___/{key.public}/",
            "cdn": f"{base_url}/js-sdk-loader/{key.public}.min.js",
            "playstation": f"{root}/playstation/?sentry_key={key.public}",
            "integration": f"{root}/integration/",
            "otlp_traces": f"{root}/integration/otlp/v1/traces",
            "otlp_logs": f"{root}/integration/otlp/v1/logs",
        },
        "browserSdkVersion": "latest",
        "browserSdk": {"choices": [["latest", "latest"]]},
        "dateCreated": isoformat(key.date_created),
        "dynamicSdkLoaderOptions": {
            "hasReplay": True,
            "hasPerformance": True,
            "hasDebug": False,
            "hasFeedback": False,
            "hasLogsAndMetrics": False,
        },
        "useCase": "user",
    }


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


def monitor(m: Monitor) -> dict[str, Any]:
    last = m.check_ins[-1] if m.check_ins else {}
    return {
        "id": str(m.id),
        "slug": m.slug,
        "name": m.slug,
        "status": m.status,
        "isMuted": False,
        "type": "cron_job",
        "config": m.config or {},
        "dateCreated": isoformat(m.date_created),
        "project": {"id": str(m.project.id), "slug": m.project.slug, "name": m.project.name,
                    "platform": m.project.platform},
        "environments": [
            {
                "name": last.get("environment") or "production",
                "status": {"ok": "ok", "error": "error"}.get(last.get("status"), "active"),
                "isMuted": False,
                "dateCreated": isoformat(m.date_created),
                "lastCheckIn": isoformat(m.last_check_in),
            }
        ] if m.check_ins else [],
    }


def captured_event(e: Event) -> dict[str, Any]:
    """An event as the control API shows it: the normalized payload plus where it went."""
    return {
        **e.data,
        "event_id": e.event_id,
        "type": e.type,
        "project": e.project.id,
        "group_id": e.group_id,
        "received": e.data.get("received", e.received),
    }


def captured_envelope(e: EnvelopeRecord) -> dict[str, Any]:
    return {
        "id": e.id,
        "project": e.project.id,
        "endpoint": e.endpoint,
        "received": isoformat(e.received),
        "client": e.client,
        "auth": e.auth_source,
        "remote_addr": e.remote_addr,
        "content_type": e.content_type,
        "content_encoding": e.content_encoding,
        "size": len(e.raw),
        "headers": e.headers,
        "items": e.item_headers,
    }


def captured_item(i: ItemRecord) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": i.id,
        "envelope": i.envelope_id,
        "project": i.project.id,
        "type": i.type,
        "headers": i.headers,
        "payload": i.payload,
        "size": i.size,
        "received": isoformat(i.received),
    }
    if i.error is not None:
        body["error"] = i.error
    if i.attachment_id is not None:
        body["attachment"] = i.attachment_id
    return body


def captured_attachment(a: Attachment) -> dict[str, Any]:
    return {
        "id": a.id,
        "project": a.project.id,
        "event_id": a.event_id,
        "filename": a.filename,
        "content_type": a.content_type,
        "attachment_type": a.attachment_type,
        "size": len(a.data),
        "dateCreated": isoformat(a.date_created),
    }
