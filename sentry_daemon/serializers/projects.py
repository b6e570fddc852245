"""Projects as Sentry's web API shows them: the base shape (``ProjectSerializer``), the summary of
lists (``ProjectSummarySerializer``), the detail (``DetailedProjectSerializer``) and the shape of
``GET /api/0/projects/`` (``ProjectWithOrganizationSerializer``).

What Sentry keeps as project flags (``hasSessions``, ``hasReplays``, ...) is read from what ingest
accepted for the project (``ProjectFacts``); the feature list is the one a new project of a
self-hosted Sentry has, plus ``releases`` once the project has one.
"""

from __future__ import annotations

import colorsys
import hashlib
from typing import Any

from sentry_daemon.serializers.access import Viewer
from sentry_daemon.serializers.avatars import LETTER_AVATAR
from sentry_daemon.serializers.organizations import organization
from sentry_daemon.serializers.teams import team_summary
from sentry_daemon.store.organizations import ProjectFacts
from sentry_daemon.store.records import Project
from sentry_daemon.timestamps import isoformat

FEATURES = ["alert-filters", "custom-inbound-filters", "discard-groups", "minidump", "rate-limits",
            "servicehooks", "similarity-indexing", "similarity-indexing-v2", "similarity-view",
            "similarity-view-v2"]
_INSIGHTS = ("Http", "Db", "Assets", "AppStart", "ScreenLoad", "Vitals", "Caches", "Queues", "AgentMonitoring",
             "MCP")
# Sentry's mobile platforms (``platform_categories.MOBILE``), which get the mobile highlight preset
_MOBILE = {"android", "apple-ios", "capacitor", "cordova", "dart", "dotnet-maui", "dotnet-xamarin", "flutter",
           "ionic", "java-android", "kotlin", "react-native", "unity", "unreal"}
DEFAULT_SUBJECT_TEMPLATE = "$shortID - $title"


def color(slug: str) -> str:
    """Sentry's ``get_hashed_color`` of the upper-cased slug."""
    value = int(hashlib.md5(slug.upper().encode("utf-8")).hexdigest()[:3], 16)
    red, green, blue = colorsys.hls_to_rgb(value / 4096.0, 0.5, 0.5)
    return f"#{int(red * 255):02x}{int(green * 255):02x}{int(blue * 255):02x}"


def _flags(p: Project, facts: ProjectFacts) -> dict[str, bool]:
    seen = facts.categories
    return {
        "hasMinifiedStackTrace": False,
        "hasMonitors": facts.has_monitors,
        "hasProfiles": bool(seen & {"profile", "profile_chunk"}),
        "hasReplays": "replay" in seen,
        "hasFeedbacks": bool(seen & {"feedback", "user_report_v2"}),
        "hasFlags": False,
        "hasNewFeedbacks": "feedback" in seen,
        "hasSessions": "session" in seen,
        **{f"hasInsights{name}": False for name in _INSIGHTS},
        "hasLogs": "log_item" in seen,
        "hasTraceMetrics": "trace_metric" in seen,
    }


def _common(p: Project, viewer: Viewer, facts: ProjectFacts) -> dict[str, Any]:
    is_member, has_access, access = viewer.project_access(p)
    return {
        "id": str(p.id),
        "slug": p.slug,
        "name": p.name,
        "platform": p.platform,
        "dateCreated": isoformat(p.date_created),
        "isBookmarked": viewer.user_id is not None and viewer.user_id in p.bookmarked_by,
        "isMember": is_member,
        "features": FEATURES + (["releases"] if facts.has_releases else []),
        "firstEvent": isoformat(p.first_event),
        "firstTransactionEvent": p.first_transaction_event is not None,
        "access": list(access),
        "hasAccess": has_access,
        **_flags(p, facts),
    }


def _teams(p: Project) -> list[dict[str, Any]]:
    return [team_summary(p.team)] if p.team else []


def project(p: Project, viewer: Viewer, facts: ProjectFacts) -> dict[str, Any]:
    """Sentry's base shape (a team's ``expand=projects``, the project index)."""
    return {
        **_common(p, viewer, facts),
        "isInternal": False,
        "isPublic": False,
        "avatar": dict(LETTER_AVATAR),
        "color": color(p.slug),
        "status": "active",
    }


def project_summary(p: Project, viewer: Viewer, facts: ProjectFacts) -> dict[str, Any]:
    """The summary of the organization's and a team's project lists (everything sentry-cli reads)."""
    teams = _teams(p)
    return {
        "team": teams[0] if teams else None,
        "teams": teams,
        **_common(p, viewer, facts),
        "environments": list(facts.environments),
        "eventProcessing": {"symbolicationDegraded": False},
        "platforms": [p.platform] if p.platform else [],
        "latestRelease": {"version": facts.latest_release} if facts.latest_release else None,
        "hasUserReports": "user_report_v2" in facts.categories,
        "latestDeploys": None,
    }


def project_with_organization(p: Project, viewer: Viewer, facts: ProjectFacts, base_url: str) -> dict[str, Any]:
    return {**project(p, viewer, facts), "organization": organization(p.organization, base_url)}


def highlight_preset(platform: str | None) -> dict[str, Any]:
    """Sentry's ``get_highlight_preset_for_project``."""
    if platform in _MOBILE:
        return {"tags": ["handled", "level", "mobile", "main_thread"],
                "context": {"trace": ["trace_id"], "profile": ["profile_id"], "app": ["name"]}}
    return {"tags": ["handled", "level", "url"], "context": {"trace": ["trace_id"]}}


def _options() -> dict[str, Any]:
    """``DetailedProjectSerializer.format_options`` of a project whose filters were never set."""
    return {
        "sentry:csp_ignored_sources_defaults": True,
        "sentry:csp_ignored_sources": "",
        "filters:blacklisted_ips": "",
        "filters:react-hydration-errors": True,
        "filters:chunk-load-error": True,
        "filters:releases": "",
        "filters:error_messages": "",
        "feedback:branding": True,
        "sentry:feedback_user_report_notifications": True,
        "sentry:feedback_ai_spam_detection": False,
        "sentry:replay_rage_click_issues": True,
        "sentry:replay_hydration_error_issues": True,
        "sentry:toolbar_allowed_origins": "",
        "quotas:spike-protection-disabled": None,
    }


def project_detail(p: Project, viewer: Viewer, facts: ProjectFacts, base_url: str) -> dict[str, Any]:
    o = p.options
    teams = _teams(p)
    body = project(p, viewer, facts)
    if teams:
        body["team"] = teams[0]
    preset = highlight_preset(p.platform)
    body.update({
        "teams": teams,
        "latestRelease": {"version": facts.latest_release} if facts.latest_release else None,
        "options": _options(),
        "digestsMinDelay": o.get("digestsMinDelay", 300),
        "digestsMaxDelay": o.get("digestsMaxDelay", 1800),
        "subjectPrefix": o.get("subjectPrefix", ""),
        "allowedDomains": o.get("allowedDomains", ["*"]),
        "resolveAge": o.get("resolveAge", 0),
        "dataScrubber": o.get("dataScrubber", True),
        "dataScrubberDefaults": o.get("dataScrubberDefaults", True),
        "safeFields": o.get("safeFields", []),
        "storeCrashReports": o.get("storeCrashReports"),
        "sensitiveFields": o.get("sensitiveFields", []),
        "subjectTemplate": o.get("subjectTemplate") or DEFAULT_SUBJECT_TEMPLATE,
        "securityToken": facts.security_token,
        "securityTokenHeader": o.get("securityTokenHeader"),
        "verifySSL": o.get("verifySSL", False),
        "scrubIPAddresses": o.get("scrubIPAddresses", False),
        "scrapeJavaScript": o.get("scrapeJavaScript", True),
        "highlightTags": o.get("highlightTags", preset["tags"]),
        "highlightContext": o.get("highlightContext", preset["context"]),
        "highlightPreset": preset,
        "groupingConfig": "newstyle:2023-01-11",
        "groupingEnhancements": o.get("groupingEnhancements", ""),
        "derivedGroupingEnhancements": "",
        "secondaryGroupingExpiry": 0,
        "secondaryGroupingConfig": None,
        "fingerprintingRules": o.get("fingerprintingRules", ""),
        "organization": organization(p.organization, base_url),
        "plugins": [],
        "platforms": [p.platform] if p.platform else [],
        "processingIssues": 0,
        "defaultEnvironment": o.get("defaultEnvironment"),
        "relayPiiConfig": o.get("relayPiiConfig"),
        "builtinSymbolSources": o.get("builtinSymbolSources", []),
        "dynamicSamplingBiases": None,
        "eventProcessing": {"symbolicationDegraded": False},
        "symbolSources": "[]",
        "isDynamicallySampled": False,
        "tempestFetchScreenshots": False,
        "enableAutoReleaseCreation": o.get("enableAutoReleaseCreation", True),
        "autofixAutomationTuning": o.get("autofixAutomationTuning", "off"),
        "seerScannerAutomation": o.get("seerScannerAutomation", False),
        "seerNightshiftTweaks": None,
        "scmSourceContextEnabled": o.get("scmSourceContextEnabled", False),
        "debugFilesRole": o.get("debugFilesRole"),
    })
    return body


def environment(env_id: int, name: str) -> dict[str, Any]:
    """``EnvironmentProjectSerializer`` (the fake hides no environment)."""
    return {"id": str(env_id), "name": name, "isHidden": False}
