"""Projects as Sentry's web API shows them: the list summary and the detail."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.access import PROJECT_ACCESS
from sentry_daemon.serializers.organizations import AVATAR, organization
from sentry_daemon.serializers.teams import team_summary
from sentry_daemon.store.records import Project
from sentry_daemon.timestamps import isoformat


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
        "access": list(PROJECT_ACCESS),
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
        "avatar": dict(AVATAR),
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
