"""Organizations and their members as Sentry's web API shows them (SENTRY-PROTOCOL §7.4).

``organization`` is Sentry's ``OrganizationSerializer`` (lists, and inside a project),
``organization_detail`` its ``DetailedOrganizationSerializerWithProjectsAndTeams``. A setting PUT
never set reads as Sentry's default for a new organization (``sentry.constants``); the links are
a self-hosted Sentry's, whose organization and region URLs are both its own URL.
"""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.access import ROLE_NAMES, Viewer, open_membership, org_role_list, team_role_list
from sentry_daemon.serializers.avatars import AVATAR
from sentry_daemon.serializers.users import user
from sentry_daemon.store.records import Organization, OrganizationMember
from sentry_daemon.timestamps import isoformat

# detail settings: name -> Sentry's default (also what PUT validates, in ``api.organizations``)
SETTING_DEFAULTS: dict[str, Any] = {
    "isEarlyAdopter": False,
    "require2FA": False,
    "allowMemberInvite": True,
    "allowMemberProjectCreation": True,
    "allowSuperuserAccess": True,
    "defaultRole": "member",
    "openMembership": True,
    "allowSharedIssues": True,
    "enhancedPrivacy": False,
    "dataScrubber": False,
    "dataScrubberDefaults": False,
    "sensitiveFields": [],
    "safeFields": [],
    "storeCrashReports": 0,
    "attachmentsRole": "member",
    "debugFilesRole": "admin",
    "eventsMemberAdmin": True,
    "alertsMemberWrite": True,
    "scrubIPAddresses": False,
    "scrapeJavaScript": True,
    "allowJoinRequests": True,
    "relayPiiConfig": None,
    "codecovAccess": False,
    "hideAiFeatures": False,
    "githubPRBot": True,
    "githubOpenPRBot": True,
    "githubNudgeInvite": True,
    "gitlabPRBot": True,
    "genAIConsent": False,
    "aggregatedDataConsent": False,
    "issueAlertsThreadFlag": True,
    "metricAlertsThreadFlag": True,
    "rollbackEnabled": True,
    "apdexThreshold": 300,
}
# fields of newer Sentry versions the schema requires, as a new organization has them
_NEWER_DEFAULTS: dict[str, Any] = {
    "relayDsnEndpoint": None,
    "defaultAutofixAutomationTuning": "off",
    "autoEnableCodeReview": True,
    "defaultCodeReviewTriggers": ["on_ready_for_review", "on_new_commit"],
    "defaultSeerScannerAutomation": True,
    "enableSeerCoding": True,
    "autoOpenPrs": False,
    "defaultCodingAgent": "seer",
    "defaultCodingAgentIntegrationId": None,
    "defaultAutomatedRunStoppingPoint": "code_changes",
}


def setting(org: Organization, name: str) -> Any:
    value = org.settings.get(name, SETTING_DEFAULTS[name])
    return list(value) if isinstance(value, list) else value


def features(org: Organization) -> list[str]:
    """The flag features Sentry derives from an organization's own settings (no feature backend)."""
    found = []
    if open_membership(org):
        found.append("open-membership")
    if setting(org, "allowSharedIssues"):
        found.append("shared-issues")
    return sorted(found)


def organization(org: Organization, base_url: str, include_features: bool = True) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": str(org.id),
        "slug": org.slug,
        "status": {"id": "active", "name": "active"},
        "name": org.name or org.slug,
        "dateCreated": isoformat(org.date_created),
        "isEarlyAdopter": setting(org, "isEarlyAdopter"),
        "require2FA": setting(org, "require2FA"),
        "requireEmailVerification": False,
        "avatar": dict(AVATAR),
        "allowMemberInvite": setting(org, "allowMemberInvite"),
        "allowMemberProjectCreation": setting(org, "allowMemberProjectCreation"),
        "allowSuperuserAccess": setting(org, "allowSuperuserAccess"),
        "links": {"organizationUrl": base_url, "regionUrl": base_url},
        "hasAuthProvider": False,
    }
    if include_features:
        body["features"] = features(org)
        body["extraOptions"] = {"traces": {"spansExtractionDate": None, "checkSpanExtractionDate": False}}
    return body


def organization_detail(org: Organization, base_url: str, viewer: Viewer, teams: list[dict[str, Any]],
                        projects: list[dict[str, Any]], include_features: bool = True) -> dict[str, Any]:
    body = organization(org, base_url, include_features)
    body["access"] = list(viewer.scopes)
    body["onboardingTasks"] = []
    body.update({
        "experiments": {},
        "quota": {"maxRate": None, "maxRateInterval": 60, "accountLimit": 0, "projectLimit": 100},
        "isDefault": False,
        "availableRoles": [{"id": role["id"], "name": role["name"]} for role in org_role_list()],
        "orgRoleList": org_role_list(),
        "teamRoleList": team_role_list(),
        **{name: setting(org, name) for name in SETTING_DEFAULTS},
        **_NEWER_DEFAULTS,
        "streamlineOnly": None,
        "trustedRelays": [],
        "requiresSso": False,
        "pendingAccessRequests": 0,
        "isDynamicallySampled": False,
    })
    if viewer.role is not None:
        body["role"] = body["orgRole"] = viewer.role
    body["teams"] = teams
    body["projects"] = projects
    return body


def member(m: OrganizationMember, projects: list[str] | None = None) -> dict[str, Any]:
    """Sentry's ``OrganizationMemberSerializer`` (with ``projects``: ``...WithProjectsSerializer``)."""
    body: dict[str, Any] = {
        "id": str(m.id),
        "email": m.user.email,
        "name": m.user.name,
        "user": user(m.user),
        "role": m.role,
        "roleName": ROLE_NAMES[m.role],
        "orgRole": m.role,
        "pending": False,
        "expired": False,
        "flags": {"idp:provisioned": False, "idp:role-restricted": False, "sso:linked": False, "sso:invalid": False,
                  "member-limit:restricted": False, "partnership:restricted": False},
        "dateCreated": isoformat(m.date_created),
        "inviteStatus": "approved",
        "inviterName": None,
    }
    if projects is not None:
        body["projects"] = projects
    return body
