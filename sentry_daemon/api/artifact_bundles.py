"""Artifact bundles (``sentry-cli sourcemaps upload``): assembling one from uploaded chunks, a
project's bundles, a bundle's files and their bytes, and the lookup by debug id or release
(Sentry's ``artifact-lookup``, what Symbolicator asks).

Sentry does not list artifact bundles among a release's files (``…/releases/{version}/files/``
shows legacy release files only); a bundle's release is seen in its ``associations`` and found
with ``?query=<release>`` here or ``artifact-lookup?release=``.
"""

from __future__ import annotations

import base64
import binascii

from twisted.web.server import Request

from sentry_daemon.api import assemble_params, permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api import uploads
from sentry_daemon.api.uploads import assemble_answer, may_download
from sentry_daemon.http.errors import ApiError, ErrorResponse
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import query_arg
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.serializers import artifact_bundles
from sentry_daemon.store.bundles import lower_keys, read_file
from sentry_daemon.store.debug_files import normalize_debug_id
from sentry_daemon.store.records import ArtifactBundle, BundleFile, Organization, Project

SORT_ERROR = "You can either sort via 'date_added' or '-date_added'"


class _InvalidSortBy(ApiError):
    """Sentry's ``InvalidSortByParameter`` (a SentryAPIException: ``detail`` is an object)."""

    def __init__(self) -> None:
        super().__init__(400, SORT_ERROR)

    def body(self) -> dict:
        return {"detail": {"code": "invalid_sort_by_parameter", "message": SORT_ERROR, "extra": {}}}


def _projects(api: ApiContext, org: Organization, names: list[str]) -> list[Project]:
    """The named projects (ids or slugs); Sentry's 400 unless every name found one project (a name
    given twice counts once: Sentry reads them as a set)."""
    wanted = set(names)
    if not wanted:
        raise ErrorResponse(400, "You need to specify at least one project")
    found = [p for p in api.store.org_projects(org) if p.slug in wanted or str(p.id) in wanted]
    if len(found) != len(wanted):
        raise ErrorResponse(400, "One or more projects are invalid")
    return found


@endpoint("/api/0/organizations/<org>/artifactbundle/assemble/", methods=["POST"], permission=permissions.UPLOADS)
def assemble_bundle(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    body = assemble_params.bundle_body(request)
    projects = _projects(api, found, body["projects"])
    try:
        result = api.store.uploads.assemble_bundle(found, projects, body["checksum"], body["chunks"],
                                                   body.get("version"), body.get("dist"))
    except ValueError as exc:
        raise ErrorResponse(400, str(exc)) from None
    return json_response(request, 200, assemble_answer(result))


@endpoint("/api/0/projects/<org>/<project>/files/artifact-bundles/", methods=["GET"], permission=permissions.UPLOADS)
def project_bundles(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    sort_by = query_arg(request, "sortBy") or "-date_added"
    if sort_by.strip("-") != "date_added":
        raise _InvalidSortBy()
    rows = sorted(api.store.uploads.project_bundles(found, query_arg(request, "query")),
                  key=lambda b: (b.date_uploaded, b.id), reverse=sort_by.startswith("-"))
    page, headers = paginate(request, rows, api.base_url(request), default=10)
    return json_response(request, 200, [artifact_bundles.bundle(b) for b in page], headers)


@endpoint("/api/0/projects/<org>/<project>/files/artifact-bundles/", methods=["DELETE"],
          permission=permissions.UPLOADS)
def delete_bundle(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    bundle_id = query_arg(request, "bundleId")
    if not bundle_id:
        raise ErrorResponse(404, f"Supplied an invalid bundle_id {bundle_id}")
    if api.store.uploads.delete_bundle(found, bundle_id) is False:
        raise ErrorResponse(404, f"Artifact bundle with {bundle_id} found but it is not connected to project "
                                 f"{found.id}")
    return empty_response(request, 204)


def _bundle(api: ApiContext, project: Project, bundle_id: str) -> ArtifactBundle:
    bundle = api.store.uploads.bundle(project, bundle_id)
    if bundle is None:
        raise ErrorResponse(400, f"The artifact bundle with {bundle_id} is not bound to this project or doesn't exist")
    return bundle


def _matches(f: BundleFile, query: str | None) -> bool:
    """``ArtifactBundleArchive.get_files_by_url_or_debug_id``: url or debug id contains the query."""
    if query is None:
        return True
    needle = query.lower()
    if needle in (f.url or "").lower():
        return True
    if f.debug_id is None:
        return False
    normalized = normalize_debug_id(needle)
    return needle in f.debug_id or normalized is not None and normalized in f.debug_id


@endpoint("/api/0/projects/<org>/<project>/artifact-bundles/<bundle_id>/files/", methods=["GET"],
          permission=permissions.UPLOADS)
def bundle_files(api: ApiContext, request: Request, org: str, project: str, bundle_id: str) -> bytes:
    bundle = _bundle(api, api.project(request, org, project), bundle_id)
    query = query_arg(request, "query")
    rows = sorted((f for f in bundle.files if _matches(f, query)), key=lambda f: f.path)
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, artifact_bundles.bundle_files(bundle, page), headers)


@endpoint("/api/0/projects/<org>/<project>/artifact-bundles/<bundle_id>/files/<file_id>/", methods=["GET"],
          permission=permissions.UPLOADS)
def bundle_file(api: ApiContext, request: Request, org: str, project: str, bundle_id: str, file_id: str) -> bytes:
    found = api.project(request, org, project)
    if not may_download(api, request):
        raise ErrorResponse(403, "You don't have the permissions to download this file")
    try:
        path = base64.urlsafe_b64decode(file_id).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ErrorResponse(400, f"The file_id {file_id} is invalid") from None
    bundle = _bundle(api, found, bundle_id)
    entry = next((f for f in bundle.files if f.path == path), None)
    try:
        data = read_file(bundle.data, path)
    except KeyError:
        raise ErrorResponse(404, f"The file {path} can't be found in the artifact bundle") from None
    content_type = lower_keys(entry.headers if entry else {}).get("content-type") or "application/octet-stream"
    return uploads.attachment(request, data, str(content_type), path)


@endpoint("/api/0/projects/<org>/<project>/artifact-lookup/", methods=["GET"], permission=permissions.UPLOADS)
def artifact_lookup(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    download = query_arg(request, "download")
    if download is not None:
        return uploads.download(api, request, _download_file(api, found, download))
    raw_id = query_arg(request, "debug_id")
    debug_id = normalize_debug_id(raw_id) or raw_id
    results = api.store.uploads.lookup(found, debug_id, query_arg(request, "url") or "",
                                       query_arg(request, "release") or "", query_arg(request, "dist") or "")
    url = api.base_url(request) + request.path.decode()
    rows = sorted(results, key=lambda pair: pair[0].id)
    return json_response(request, 200, [artifact_bundles.lookup(b, how, url) for b, how in rows])


def _download_file(api: ApiContext, project: Project, download: str) -> tuple[bytes, str] | None:
    kind, ident = (download.split("/") + [""])[:2]
    bundle = next((b for b in api.store.uploads.project_bundles(project)
                   if kind == "artifact_bundle" and str(b.id) == ident), None)
    return (bundle.data, bundle.name) if bundle is not None else None
