"""Organizations: the list, creating one, one organization (read and change), its members and users.

Creating one needs a user (Sentry: "This endpoint requires user info"), so an org auth token
cannot: with the ``org:ci`` scope Sentry gives it, the permission check refuses it first (403).
A slug given and taken is a ``400`` naming the slug (the serializer checks it before anything
is written); one derived from the name is made unique. The settings PUT accepts are stored and
read back by the detail; ones needing what the fake does not have (a second factor, Codecov,
replay permissions, uploaded avatars) are refused as Sentry refuses them.
"""

from __future__ import annotations

from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.projects import requested_projects, summaries
from sentry_daemon.api.teams import team_body
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import contains_text, match_tokens, query_arg, query_tokens, read_json_object
from sentry_daemon.http.responses import json_response
from sentry_daemon.http.validation import SLUG, Field, ValidationError, validate
from sentry_daemon.serializers import organizations
from sentry_daemon.serializers.access import ORG_ROLES
from sentry_daemon.store.organizations import ORG_SLUG, RESERVED_ORGANIZATION_SLUGS
from sentry_daemon.store.records import Organization

ROLES = tuple(role[0] for role in ORG_ROLES)
NO_2FA = "Cannot require two-factor authentication without personal two-factor enabled."


def _org_slug(value: str) -> str | None:
    """``BaseOrganizationSerializer``'s slug rules (the uniqueness check needs the store)."""
    if not ORG_SLUG.match(value):
        return SLUG
    if len(value) < 3:
        return f'This slug "{value}" is too short. Minimum of 3 characters.'
    if value in RESERVED_ORGANIZATION_SLUGS:
        return f'This slug "{value}" is reserved and not allowed.'
    return None


def _no_empty(values: list[str]) -> str | None:
    return "Empty values are not allowed." if values and not all(values) else None


def _role(value: str) -> str | None:
    return None if value in ROLES else "Invalid role"


def _crash_reports(value: int) -> str | None:
    if value < -1:
        return "Ensure this value is greater than or equal to -1."
    return "Ensure this value is less than or equal to 100." if value > 100 else None


SLUG_FIELD = Field(max_length=50, check=_org_slug)
# OrganizationPostSerializer (self-hosted: no terms to agree to)
ORG_POST = {
    "name": Field(required=True, max_length=64),
    "slug": SLUG_FIELD,
    "defaultTeam": Field(kind="boolean"),
    "agreeTerms": Field(kind="boolean"),
    "aggregatedDataConsent": Field(kind="boolean"),
    "idempotencyKey": Field(max_length=48),
}
_BOOLEAN_SETTINGS = (
    "isEarlyAdopter", "hideAiFeatures", "codecovAccess", "openMembership", "eventsMemberAdmin", "alertsMemberWrite",
    "require2FA", "allowSharedIssues", "enhancedPrivacy", "scrapeJavaScript", "allowJoinRequests", "dataScrubber",
    "dataScrubberDefaults", "scrubIPAddresses", "issueAlertsThreadFlag", "metricAlertsThreadFlag", "githubPRBot",
    "githubNudgeInvite", "gitlabPRBot", "allowMemberInvite", "allowMemberProjectCreation", "allowSuperuserAccess",
)
# OrganizationSerializer (the settings PUT changes)
ORG_PUT = {
    "name": Field(max_length=64),
    "slug": SLUG_FIELD,
    **{name: Field(kind="boolean") for name in _BOOLEAN_SETTINGS},
    "attachmentsRole": Field(check=_role),
    "debugFilesRole": Field(check=_role),
    "avatarType": Field(null=True, choices=("upload", "letter_avatar")),
    "storeCrashReports": Field(kind="integer", check=_crash_reports),
    "sensitiveFields": Field(kind="list", item=Field(blank=True), check=_no_empty),
    "safeFields": Field(kind="list", item=Field(blank=True), check=_no_empty),
    "relayPiiConfig": Field(null=True, blank=True),
    "apdexThreshold": Field(kind="integer", check=lambda v: None if v >= 1 else
                            "Ensure this value is greater than or equal to 1."),
}
# OwnerOrganizationSerializer adds these for org:admin
ORG_OWNER_PUT = {**ORG_PUT, "defaultRole": Field(choices=ROLES), "cancelDeletion": Field(kind="boolean")}


def _check_slug(api: ApiContext, raw: dict[str, Any], body: dict[str, Any], org: Organization | None) -> None:
    """``validate_slug``'s checks beyond the field (already in use, whitespace in what was sent);
    the slug is kept lower-cased, as Sentry keeps it."""
    slug = body.get("slug")
    if slug is None:
        return
    if api.store.orgs.org_slug_taken(slug, exclude=org):
        raise ValidationError({"slug": [f'The slug "{slug}" is already in use.']})
    if any(c.isspace() for c in str(raw.get("slug"))):
        raise ValidationError({"slug": [f'The slug "{slug}" should not contain any whitespace.']})
    body["slug"] = slug.lower()


def _matches(api: ApiContext, tokens: dict[str, list[str]], org: Organization) -> bool:
    """The list's filter terms (``query``, ``slug``, ``email``, ``id``, ``status``, ``member_id``)."""
    email = api.store.user.email.lower()
    return match_tokens(tokens, {
        "query": lambda values: contains_text(values, org.name, org.slug) or " ".join(values).lower() == email,
        "slug": lambda values: org.slug.lower() in {v.lower() for v in values},
        "email": lambda values: email in {v.lower() for v in values},
        "id": lambda values: str(org.id) in values,
        "status": lambda values: "active" in {v.lower() for v in values},
        "member_id": lambda values: str(api.store.orgs.member(org).id) in values,
    })


@endpoint("/api/0/organizations/", methods=["GET"], permission=permissions.ORGANIZATION)
def organization_list(api: ApiContext, request: Request) -> bytes:
    """Newest first; ``owner=1`` answers Sentry's ``[{"organization", "singleOwner"}]`` by name."""
    base = api.base_url(request)
    orgs = api.organizations(request)
    if query_arg(request, "owner") in ("1", "true"):
        return json_response(request, 200, [{"organization": organizations.organization(o, base), "singleOwner": True}
                                            for o in sorted(orgs, key=lambda o: o.name)])
    tokens = query_tokens(query_arg(request, "query") or "")
    rows = sorted((o for o in orgs if _matches(api, tokens, o)), key=lambda o: (o.date_created, o.id), reverse=True)
    page, headers = paginate(request, rows, base)
    return json_response(request, 200, [organizations.organization(o, base) for o in page], headers)


@endpoint("/api/0/organizations/", methods=["POST"], permission=permissions.ORGANIZATION)
def create_organization(api: ApiContext, request: Request) -> bytes:
    if api.viewer(request).user_id is None:
        raise ApiError(401, "This endpoint requires user info")
    raw = read_json_object(request)
    body = validate(raw, ORG_POST)
    _check_slug(api, raw, body, None)
    orgs = api.store.orgs
    org = orgs.create_organization(body["name"], body.get("slug"), consent=bool(body.get("aggregatedDataConsent")))
    if body.get("defaultTeam"):
        orgs.create_team(org, org.name, None, api.user(request))
    return json_response(request, 201, organizations.organization(org, api.base_url(request)))


def _detail(api: ApiContext, request: Request, org: Organization) -> dict[str, Any]:
    """Sentry's detail for a caller with ``org:read`` access (``detailed=0``: without teams and
    projects), the summary for one without. The feature list is there unless
    ``include_feature_flags=0``: Sentry now adds it only when asked, but the schema lists it and
    clients written against older Sentry versions read it, and a field more breaks no client."""
    base = api.base_url(request)
    viewer = api.viewer(request)
    include_features = query_arg(request, "include_feature_flags", "1") != "0"
    if "org:read" not in viewer.scopes:
        return organizations.organization(org, base, include_features)
    detailed = query_arg(request, "detailed", "1") != "0"
    teams = [team_body(api, request, t, set()) for t in api.store.orgs.org_teams(org)] if detailed else []
    projects = summaries(api, request, api.store.org_projects(org)) if detailed else []
    body = organizations.organization_detail(org, base, viewer, teams, projects, include_features)
    if not detailed:
        del body["teams"], body["projects"]
    return body


@endpoint("/api/0/organizations/<org>/", methods=["GET"], permission=permissions.ORGANIZATION)
def organization_detail(api: ApiContext, request: Request, org: str) -> bytes:
    return json_response(request, 200, _detail(api, request, api.org(request, org)))


@endpoint("/api/0/organizations/<org>/", methods=["PUT"], permission=permissions.ORGANIZATION)
def update_organization(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    raw = read_json_object(request)
    if raw.get("codecovAccess"):  # the raw value, before validation, as Sentry's put() tests it
        raise ApiError(403, "A paid plan is required to enable this feature.")
    fields = ORG_OWNER_PUT if "org:admin" in api.viewer(request).scopes else ORG_PUT
    body = validate(raw, fields, partial=True)
    if "hasGranularReplayPermissions" in raw or "replayAccessMembers" in raw:
        raise ApiError(404, "This feature is not enabled for your organization.")
    if body.get("require2FA"):
        raise ValidationError({"require2FA": [NO_2FA]})
    if body.get("avatarType") == "upload" and not raw.get("avatar"):
        raise ValidationError({"avatarType": ["Cannot set avatarType to upload without avatar"]})
    _check_slug(api, raw, body, found)
    for name in ("avatarType", "cancelDeletion"):
        body.pop(name, None)
    api.store.orgs.update_organization(found, body)
    return json_response(request, 200, _detail(api, request, found))


@endpoint("/api/0/organizations/<org>/members/", methods=["GET"], permission=permissions.MEMBER)
def organization_members(api: ApiContext, request: Request, org: str) -> bytes:
    """The one user, the organization's owner."""
    found = api.org(request, org)
    page, headers = paginate(request, [api.store.orgs.member(found)], api.base_url(request))
    return json_response(request, 200, [organizations.member(m) for m in page], headers)


@endpoint("/api/0/organizations/<org>/users/", methods=["GET"], permission=permissions.ORGANIZATION)
def organization_users(api: ApiContext, request: Request, org: str) -> bytes:
    """Members on a team of the projects asked for (``project``; default: the caller's), each with
    the slugs of those projects it is on (Sentry's ``OrganizationMemberWithProjectsSerializer``)."""
    found = api.org(request, org)
    member = api.store.orgs.member(found)
    slugs = [p.slug for p in requested_projects(api, request, found)
             if p.team is not None and member.user.id in p.team.member_ids]
    return json_response(request, 200, [organizations.member(member, slugs)] if slugs else [])
