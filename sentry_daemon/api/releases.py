"""Releases: the organization's and a project's lists, one release, its commits, the previous
release with commits, its deploys, and the organization's repositories.

Bodies and answers follow Sentry's release endpoints (``OrganizationReleasesEndpoint``,
``OrganizationReleaseDetailsEndpoint``, ``ProjectReleasesEndpoint``, ``ReleaseDeploysEndpoint``,
``OrganizationRepositoriesEndpoint``, ...): creating an existing release is ``208`` with the
release, a ``PUT`` changes only what it names, deleting a release an issue was first seen in is
refused, versions are the URL's path segment (Sentry allows no ``/`` in a version).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.permissions import DENIED
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import parse_int, query_arg, query_args, read_json_object
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.http.validation import Field, ValidationError, validate
from sentry_daemon.search.glob import Glob
from sentry_daemon.serializers import releases as release_serializers
from sentry_daemon.store import versions
from sentry_daemon.store.records import Conflict, Organization, Project, Release, User
from sentry_daemon.store.releases import InvalidProjects, InvalidRepository, UnsafeReleaseDeletion, release_date

ORG_RELEASES = "/api/0/organizations/<org>/releases"
PROJECT_RELEASES = "/api/0/projects/<org>/<project>/releases"
MAX_VERSION_LENGTH = 200
MAX_COMMIT_LENGTH = 64
# Sentry's BAD_RELEASE_CHARS
_BAD_VERSION_CHARS = frozenset("\r\n\f\x0c\t/\\")
_BAD_ENVIRONMENT = re.compile(r"[\n\r\f/]")
# DRF's URLField: Django's URLValidator, which refuses more than 2048 characters before it matches
_URL = re.compile(r"^(?:https?|ftps?)://[^\s/?#]\S*$", re.IGNORECASE)
MAX_URL_LENGTH = 2048
SESSION_SORTS = frozenset({"crash_free_sessions", "crash_free_users", "sessions", "users", "sessions_24h", "users_24h"})


# --- request bodies ------------------------------------------------------------------------


def _url(value: str) -> str | None:
    if value and (len(value) > MAX_URL_LENGTH or not _URL.match(value)):
        return "Enter a valid URL."
    return None


def _version(value: str) -> str | None:
    if value in (".", "..") or value.lower() == "latest" or _BAD_VERSION_CHARS & set(value):
        return f"Release with name {value} is not allowed"
    return None


def _status(value: str) -> str | None:
    return None if value in ("open", "archived") else f"Invalid status {value}"


def _ref_commit(value: str) -> str | None:
    """A head commit, or a range ``previous..head`` (Sentry's ``validate_commit``)."""
    if ".." in value:
        parts = value.split("..")
        if len(parts) != 2 or not all(parts):
            return "Commit cannot begin or end with .."
        if any(len(part) > MAX_COMMIT_LENGTH for part in parts):
            return f"Start or end commit too long - max is {MAX_COMMIT_LENGTH} chars each"
    elif len(value) > MAX_COMMIT_LENGTH:
        return f"Commit too long - max is {MAX_COMMIT_LENGTH} chars"
    return None


def _patch_type(value: str) -> str | None:
    return None if value in ("A", "D", "M") else f"Commit patch_set type {value} is not supported."


def _environment(value: str) -> str | None:
    return "Invalid value for environment" if _BAD_ENVIRONMENT.search(value) else None


COMMIT = {
    "id": Field(required=True, max_length=MAX_COMMIT_LENGTH),
    "repository": Field(max_length=64, null=True, blank=True),
    "message": Field(null=True, blank=True, trim=False),
    "author_name": Field(max_length=128, null=True, blank=True),
    "author_email": Field(max_length=200, null=True, blank=True),
    "timestamp": Field("datetime", null=True),
    "patch_set": Field("list", null=True, item=Field("dict", fields={
        "path": Field(required=True, max_length=510), "type": Field(required=True, max_length=1, check=_patch_type),
    })),
}
REF = {
    "commit": Field(required=True, check=_ref_commit),
    "repository": Field(required=True, max_length=200),
    "previousCommit": Field(max_length=MAX_COMMIT_LENGTH, null=True, blank=True),
}
HEAD_COMMIT = {
    "currentId": Field(required=True, max_length=MAX_COMMIT_LENGTH),
    "repository": Field(required=True, max_length=64),
    "previousId": Field(max_length=MAX_COMMIT_LENGTH, null=True),
}
# a project's release (ReleaseSerializer)
RELEASE = {
    "ref": Field(max_length=MAX_VERSION_LENGTH, null=True, blank=True),
    "url": Field(null=True, blank=True, check=_url),
    "dateReleased": Field("datetime", null=True),
    "commits": Field("list", item=Field("dict", fields=COMMIT)),
    "status": Field(check=_status),
}
# an organization's release (OrganizationReleaseSerializer)
ORG_RELEASE = {
    **RELEASE,
    "headCommits": Field("list", item=Field("dict", fields=HEAD_COMMIT)),
    "refs": Field("list", item=Field("dict", fields=REF)),
}
NEW_RELEASE = {
    "version": Field(required=True, max_length=MAX_VERSION_LENGTH, trim=False, check=_version),
    "owner": Field("any", null=True),
}
DEPLOY = {
    "name": Field(max_length=64, null=True, blank=True),
    "environment": Field(required=True, max_length=64, check=_environment),
    "url": Field(null=True, blank=True, check=_url),
    "dateStarted": Field("datetime", null=True),
    "dateFinished": Field("datetime", null=True),
}
REPOSITORY = {
    "name": Field(required=True, max_length=200),
    "url": Field(null=True, blank=True, check=_url),
    "provider": Field(null=True, blank=True),
}


class _ParameterValidationError(ApiError):
    """Sentry's ``ParameterValidationError``: ``{"detail": {"code", "message", "extra"}}``."""

    def body(self) -> dict:
        return {"detail": {"code": "parameter-validation-error", "message": self.detail, "extra": {"context": ""}}}


# --- lookups -------------------------------------------------------------------------------


def release_of(api: ApiContext, request: Request, org: str, version: str) -> Release:
    """The organization's release; one of no project is 404, as Sentry's ``has_release_permission``
    finds no project of it the caller may see."""
    found = api.store.releases.get(api.org(request, org), version)
    if found is None or not found.project_ids:
        raise not_found()
    return found


def project_release_of(api: ApiContext, request: Request, org: str, project: str,
                       version: str) -> tuple[Project, Release]:
    """The project and its release (a release of the organization the project is not in is 404)."""
    found_project = api.project(request, org, project)
    found = api.store.releases.get(found_project.organization, version)
    if found is None or found_project.id not in found.project_ids:
        raise not_found()
    return found_project, found


def _projects(api: ApiContext, release: Release) -> list[Project]:
    return [p for p in api.store.org_projects(release.organization) if p.id in release.project_ids]


def release_body(api: ApiContext, request: Request, release: Release,
                 for_project: Project | None = None) -> dict[str, Any]:
    return release_serializers.release(release, _projects(api, release), api.user(request), for_project)


def _selected_project_ids(api: ApiContext, request: Request, org: Organization) -> set[int]:
    """``project`` (repeatable ids, ``-1`` for all) as Sentry's ``get_projects`` reads it."""
    known = {p.id for p in api.store.org_projects(org)}
    wanted = query_args(request, "project")
    if not wanted or "-1" in wanted:
        return known
    numbers = [parse_int(value, signed=True) for value in wanted]
    if any(n is None for n in numbers):
        raise ApiError(400, "Invalid project parameter. Values must be numbers.")
    ids = set(numbers)
    if not ids <= known:
        raise ApiError(403, DENIED)
    return ids


def _owner(api: ApiContext, value: Any) -> User | None:
    """Sentry's ``UserField``: a user by id, username or email."""
    if not value:
        return None
    user = api.store.user
    if str(value) in (str(user.id), user.username, user.email):
        return user
    raise ValidationError({"owner": ["Unable to find user"]})


def _new_release_fields(body: dict[str, Any], fields: dict[str, Field]) -> dict[str, Any]:
    return validate(body, {**fields, **NEW_RELEASE})


def _refs(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``refs``, or the deprecated ``headCommits`` spelled as refs."""
    if body.get("refs"):
        return body["refs"]
    return [{"repository": h["repository"], "previousCommit": h.get("previousId"), "commit": h["currentId"]}
            for h in body.get("headCommits") or ()]


def _apply_commits(api: ApiContext, release: Release, body: dict[str, Any], refs: list[dict[str, Any]]) -> None:
    commits = body.get("commits")
    if commits:
        api.store.releases.set_commits(release, commits)
    if refs:
        try:
            api.store.releases.set_refs(release, refs, fetch=not commits)
        except InvalidRepository as exc:
            raise ValidationError({"refs": [str(exc)]}) from None


# --- release lists -------------------------------------------------------------------------


def _release_search(api: ApiContext, query: str, project_ids: set[int]) -> Callable[[Release], bool]:
    """The release list's ``query``: free text (any part of the version, as Sentry matches it:
    the whole query), ``release:`` (exact, ``*`` wildcards, ``latest``) and ``finalized:``."""
    checks: list[Callable[[Release], bool]] = []
    free_text = False
    for token in query.split():
        key, colon, value = token.partition(":")
        negated = key.startswith("!")
        key = key.lstrip("!")
        if not colon or not key:
            free_text = True
        elif key in ("release", "release.version"):
            if value == "latest":
                latest = api.store.releases.latest(project_ids)
                wanted = latest.version if latest is not None else None
                checks.append(lambda r, v=wanted, n=negated: (r.version == v) != n)
            else:
                glob = Glob.compile(value)
                checks.append(lambda r, g=glob, n=negated: g.matches(r.version) != n)
        elif key == "finalized":
            if value in ("true", "false"):
                checks.append(lambda r, want=value == "true": (r.date_released is not None) == want)
        else:
            raise ApiError(400, f"Invalid key for this search: {key}")
    if free_text:
        needles = [query.lower()]
        build = _with_build(query)
        if build is not None:
            needles.append(build.lower())
        checks.append(lambda r: any(n in r.version.lower() for n in needles))
    return lambda r: all(check(r) for check in checks)


def _with_build(query: str) -> str | None:
    """``1.0 (45)`` spelled as the version it shows, ``1.0+45``: what ``^(.*)\\s+\\(([^)]+)\\)\\s*$``
    matches, found right to left without the regex's quadratic backtracking."""
    text = query.rstrip()
    if not text.endswith(")"):
        return None
    inner = text[:-1]
    newline = inner.find("\n")  # the version (``.*``) stops at the first one
    after_newline = len(inner) - len(inner[newline:].lstrip()) if newline >= 0 else -1
    floor = inner.rfind(")")  # the build holds no ")"
    at = inner.rfind("(", floor + 1)
    while at > floor:
        if at + 1 < len(inner) and at > 0 and inner[at - 1].isspace():
            if newline < 0 or newline >= at - 1:
                return f"{inner[:at - 1]}+{inner[at + 1:]}"
            if at <= after_newline:  # only whitespace from the newline to the "("
                return f"{inner[:newline]}+{inner[at + 1:]}"
        at = inner.rfind("(", floor + 1, at)
    return None


def _in_environments(release: Release, project_ids: set[int], environments: set[str]) -> bool:
    return any(project_id in project_ids and env in environments for project_id, env in release.environments)


def _build_number(release: Release) -> int | None:
    """Sentry's ``build_number``: the version's build when it is a number (``app@1.0+45``)."""
    info = versions.parse_version(release.version)
    build = info.build if info is not None else None
    return parse_int(build)


def _sort_key(sort: str) -> Callable[[Release], Any]:
    """Newest first once reversed: by creation (``date``, and the sorts needing session data the
    fake has none of), by semver (versions that are not semver last), by build number."""
    if sort == "semver":
        def semver(r: Release) -> Any:
            info = versions.parse_version(r.version)
            return (1, info.sort_key(), r.date_created, r.id) if info is not None else (0, (), r.date_created, r.id)
        return semver
    if sort == "build":
        return lambda r: (_build_number(r) or 0, r.id)
    return lambda r: (r.date_created, r.id)


@endpoint(f"{ORG_RELEASES}/", methods=["GET"], permission=permissions.RELEASES)
def organization_releases(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    status = query_arg(request, "status", "open")
    if status and status not in ("open", "archived"):
        raise ApiError(400, "invalid value for status")
    sort = query_arg(request, "sort") or "date"
    if sort in SESSION_SORTS and query_arg(request, "flatten") != "1":
        raise ApiError(400, "sorting by crash statistics requires flattening (flatten=1)")
    if sort not in SESSION_SORTS | {"date", "semver", "build", "adoption"}:
        raise ApiError(400, "invalid sort")
    project_ids = _selected_project_ids(api, request, found)
    environments = set(query_args(request, "environment"))
    if environments and not environments <= set().union(*(p.environments for p in api.store.org_projects(found))):
        raise not_found()
    matches = _release_search(api, query_arg(request, "query") or "", project_ids)
    rows = [r for r in api.store.releases.of_projects(project_ids)
            if (not status or r.status == status) and matches(r)
            and (not environments or _in_environments(r, project_ids, environments))]
    if sort == "build":
        rows = [r for r in rows if _build_number(r) is not None]
    rows.sort(key=_sort_key(sort), reverse=True)
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, [release_body(api, request, r) for r in page], headers)


@endpoint(f"{PROJECT_RELEASES}/", methods=["GET"], permission=permissions.RELEASES)
def project_releases(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    environment = query_arg(request, "environment")
    known = set().union(*(p.environments for p in api.store.org_projects(found.organization)))
    query = (query_arg(request, "query") or "").lower()
    rows = [r for r in api.store.releases.of_projects({found.id})
            if r.status == "open" and query in r.version.lower()
            and (not environment or (found.id, environment) in r.environments)]
    if environment and environment not in known:
        rows = []
    rows.sort(key=lambda r: (release_date(r), r.id), reverse=True)
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, [release_body(api, request, r, found) for r in page], headers)


@endpoint(f"{ORG_RELEASES}/", methods=["POST"], permission=permissions.RELEASES)
def create_organization_release(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    body = _new_release_fields(read_json_object(request), {**ORG_RELEASE, "projects": Field("list", required=True)})
    owner = _owner(api, body.get("owner"))
    by_slug = {p.slug: p for p in api.store.org_projects(found)}
    by_id = {p.id: p for p in by_slug.values()}
    projects = []
    for ident in body["projects"]:
        project = by_slug.get(ident) if isinstance(ident, str) else (
            by_id.get(ident) if isinstance(ident, int) and not isinstance(ident, bool) else None)
        if project is None:
            raise ValidationError({"projects": ["Invalid project ids or slugs"]})
        projects.append(project)
    release, created, added = api.store.releases.create(
        found, body["version"], projects, ref=body.get("ref"), url=body.get("url"),
        date_released=body.get("dateReleased"), status=body.get("status"), owner=owner,
        user_agent=_user_agent(request))
    _apply_commits(api, release, body, _refs(body))
    return json_response(request, 201 if created or added else 208, release_body(api, request, release))


@endpoint(f"{PROJECT_RELEASES}/", methods=["POST"], permission=permissions.RELEASES)
def create_project_release(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    body = _new_release_fields(read_json_object(request), RELEASE)
    owner = _owner(api, body.get("owner"))
    release, _created, added = api.store.releases.create(
        found.organization, body["version"], [found], ref=body.get("ref"), url=body.get("url"),
        date_released=body.get("dateReleased"), status=body.get("status"), owner=owner,
        user_agent=_user_agent(request))
    _apply_commits(api, release, body, [])
    return json_response(request, 201 if added else 208, release_body(api, request, release))


def _user_agent(request: Request) -> str:
    return (request.getHeader(b"user-agent") or b"").decode("utf-8", "replace")[:256]


# --- one release ---------------------------------------------------------------------------


@endpoint(f"{ORG_RELEASES}/<version>/", methods=["GET"], permission=permissions.RELEASES)
def organization_release(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    return json_response(request, 200, release_body(api, request, release_of(api, request, org, version)))


@endpoint(f"{PROJECT_RELEASES}/<version>/", methods=["GET"], permission=permissions.RELEASES)
def project_release(api: ApiContext, request: Request, org: str, project: str, version: str) -> bytes:
    found_project, found = project_release_of(api, request, org, project, version)
    return json_response(request, 200, release_body(api, request, found, found_project))


@endpoint(f"{ORG_RELEASES}/<version>/", methods=["PUT"], permission=permissions.RELEASES)
def update_organization_release(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    release = release_of(api, request, org, version)
    body = validate(read_json_object(request), ORG_RELEASE)
    _update(api, release, body)
    refs = _refs(body)
    if not refs and body.get("refs") == [] and not body.get("headCommits"):
        api.store.releases.clear_commits(release)
    _apply_commits(api, release, body, refs)
    return json_response(request, 200, release_body(api, request, release))


@endpoint(f"{PROJECT_RELEASES}/<version>/", methods=["PUT"], permission=permissions.RELEASES)
def update_project_release(api: ApiContext, request: Request, org: str, project: str, version: str) -> bytes:
    _project, release = project_release_of(api, request, org, project, version)
    body = validate(read_json_object(request), RELEASE, partial=True)
    _update(api, release, body)
    _apply_commits(api, release, body, [])
    return json_response(request, 200, release_body(api, request, release))


def _update(api: ApiContext, release: Release, body: dict[str, Any]) -> None:
    api.store.releases.update(release, ref=body.get("ref"), url=body.get("url"),
                              date_released=body.get("dateReleased"), status=body.get("status"))


def _delete(api: ApiContext, request: Request, release: Release) -> bytes:
    try:
        api.store.releases.delete(release)
    except UnsafeReleaseDeletion as exc:
        raise ApiError(400, str(exc)) from None
    return empty_response(request, 204)


@endpoint(f"{ORG_RELEASES}/<version>/", methods=["DELETE"], permission=permissions.RELEASES)
def delete_organization_release(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    return _delete(api, request, release_of(api, request, org, version))


@endpoint(f"{PROJECT_RELEASES}/<version>/", methods=["DELETE"], permission=permissions.RELEASES)
def delete_project_release(api: ApiContext, request: Request, org: str, project: str, version: str) -> bytes:
    return _delete(api, request, project_release_of(api, request, org, project, version)[1])


# --- commits -------------------------------------------------------------------------------


def _commits(api: ApiContext, request: Request, release: Release, commits: list[Any]) -> bytes:
    page, headers = paginate(request, commits, api.base_url(request))
    user = api.user(request)
    return json_response(request, 200, [release_serializers.commit(c, user) for c in page], headers)


@endpoint(f"{ORG_RELEASES}/<version>/commits/", methods=["GET"], permission=permissions.RELEASES)
def organization_release_commits(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    release = release_of(api, request, org, version)
    return _commits(api, request, release, release.commits)


@endpoint(f"{PROJECT_RELEASES}/<version>/commits/", methods=["GET"], permission=permissions.RELEASES)
def project_release_commits(api: ApiContext, request: Request, org: str, project: str, version: str) -> bytes:
    found_project, release = project_release_of(api, request, org, project, version)
    commits = release.commits
    if query_arg(request, "repo_id"):
        raise not_found()  # repositories have no external id without a provider integration
    repo_name = query_arg(request, "repo_name")
    if repo_name:
        repo = api.store.releases.repository(found_project.organization, repo_name)
        if repo is None:
            raise not_found()
        commits = [c for c in commits if c.repository is repo]
    return _commits(api, request, release, commits)


@endpoint(f"{ORG_RELEASES}/<version>/previous-with-commits/", methods=["GET"], permission=permissions.RELEASES)
def previous_release_with_commits(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    previous = api.store.releases.previous_with_commits(release_of(api, request, org, version))
    return json_response(request, 200, release_body(api, request, previous) if previous is not None else {})


# --- deploys -------------------------------------------------------------------------------


@endpoint(f"{ORG_RELEASES}/<version>/deploys/", methods=["GET"], permission=permissions.RELEASES)
def release_deploys(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    release = release_of(api, request, org, version)
    deploys = api.store.releases.deploys(release, _selected_project_ids(api, request, release.organization))
    page, headers = paginate(request, deploys, api.base_url(request))
    return json_response(request, 200, [release_serializers.deploy(d) for d in page], headers)


@endpoint(f"{ORG_RELEASES}/<version>/deploys/", methods=["POST"], permission=permissions.RELEASES)
def create_release_deploy(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    release = release_of(api, request, org, version)

    def project_of(value: Any) -> Project | None:
        """Sentry's ``ProjectField(id_allowed=True)``: a slug, or an id."""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            return None
        return api.store.project(release.organization, str(value))

    def project_error(value: Any) -> str | None:
        return None if project_of(value) is not None else "Invalid project"

    fields = {**DEPLOY, "projects": Field("list", item=Field("any", check=project_error),
                                          check=lambda v: "This list may not be empty." if not v else None)}
    body = validate(read_json_object(request), fields)
    projects = [project_of(v) for v in body["projects"]] if "projects" in body else None
    try:
        deploy = api.store.releases.add_deploy(
            release, projects, body["environment"], name=body.get("name") or None, url=body.get("url") or None,
            date_started=body.get("dateStarted"), date_finished=body.get("dateFinished"))
    except InvalidProjects as exc:
        raise _ParameterValidationError(400, str(exc)) from None
    return json_response(request, 201, release_serializers.deploy(deploy))


# --- repositories --------------------------------------------------------------------------


@endpoint("/api/0/organizations/<org>/repos/", methods=["GET"], permission=permissions.REPOS)
def organization_repositories(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    status = query_arg(request, "status", "active")
    query = (query_arg(request, "query") or "").lower()
    rows = [r for r in api.store.releases.organization_repositories(found) if query in r.name.lower()]
    if status != "active" or query_arg(request, "integration_id"):
        rows = []  # every repository is active, none is an integration's
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, [release_serializers.repository(r) for r in page], headers)


@endpoint("/api/0/organizations/<org>/repos/", methods=["POST"], permission=permissions.REPOS)
def create_organization_repository(api: ApiContext, request: Request, org: str) -> bytes:
    """A repository by ``name`` (or an integration's ``identifier``), ``url`` and ``provider``
    (``integrations:github``, ...; none: "Unknown Provider"). Sentry's providers check the
    repository with the code host; the fake takes it as given."""
    found = api.org(request, org)
    raw = read_json_object(request)
    if "name" not in raw and "identifier" in raw:
        raw = {**raw, "name": raw["identifier"]}
    body = validate(raw, REPOSITORY)
    provider = body.get("provider") or None
    if provider is not None and provider not in release_serializers.PROVIDERS:
        return json_response(request, 400, {"error_type": "validation"})
    try:
        repo = api.store.releases.create_repository(found, body["name"], body.get("url") or None, provider)
    except Conflict as exc:
        return json_response(request, 400, {"errors": {"__all__": str(exc)}})
    return json_response(request, 201, release_serializers.repository(repo))
