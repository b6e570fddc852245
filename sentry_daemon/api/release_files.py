"""A release's files (legacy source maps): list, upload, one file, its bytes, rename, delete;
under the organization and under each of the release's projects, as Sentry serves them.

Uploads are ``multipart/form-data``: ``file`` (required), ``name`` (default: the file part's
filename), ``dist``, ``header`` (repeatable ``Key: Value``), checked as Sentry's
``ReleaseFilesMixin.post_releasefile`` checks them.
"""

from __future__ import annotations

import re

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.permissions import DENIED
from sentry_daemon.api.releases import ORG_RELEASES, PROJECT_RELEASES, project_release_of, release_of
from sentry_daemon.api.uploads import attachment, may_download
from sentry_daemon.http.errors import ApiError, not_found
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import parse_int, query_args, read_json_object
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.http.validation import Field, validate
from sentry_daemon.ingest.multipart import form_parts
from sentry_daemon.serializers.releases import release_file
from sentry_daemon.store.records import Conflict, Release, ReleaseFile

_SPECIAL_WHITESPACE = re.compile(r"[\n\t\r\f\v\\]")
RENAME = {"name": Field(required=True, max_length=200)}


def _list(api: ApiContext, request: Request, release: Release) -> bytes:
    queries = [q.lower() for q in query_args(request, "query")]
    checksums = set(query_args(request, "checksum"))
    rows = api.store.releases.files(release, lambda f: (not queries or any(q in f.name.lower() for q in queries))
                                    and (not checksums or f.sha1 in checksums))
    page, headers = paginate(request, rows, api.base_url(request))
    return json_response(request, 200, [release_file(f) for f in page], headers)


def _upload(api: ApiContext, request: Request, release: Release) -> bytes:
    content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
    raw = request.content.read() if request.content is not None else b""
    parts = []
    if content_type.lower().startswith("multipart/"):
        try:
            parts = form_parts(raw, content_type)
        except ApiError as exc:
            raise ApiError(400, "Multipart form parse error - " + "; ".join(exc.causes or [exc.detail])) from None
    upload = next((p for p in parts if p.name == "file" and p.filename is not None), None)
    if upload is None:
        raise ApiError(400, "Missing uploaded file")
    fields = {p.name: p.text() for p in parts if p.filename is None}
    full_name = fields.get("name", upload.filename)
    if not full_name or full_name == "file":
        raise ApiError(400, "File name must be specified")
    if _SPECIAL_WHITESPACE.search(full_name.rsplit("/", 1)[-1]):
        raise ApiError(400, "File name must not contain special whitespace characters")
    headers = {"Content-Type": upload.kind if upload.content_type else ""}
    for part in parts:
        if part.name != "header" or part.filename is not None:
            continue
        key, colon, value = part.text().partition(":")
        if not colon:
            raise ApiError(400, "header value was not formatted correctly")
        if _SPECIAL_WHITESPACE.search(value):
            raise ApiError(400, "header value must not contain special whitespace characters")
        headers[key] = value.strip()
    try:
        created = api.store.releases.add_file(release, full_name, fields.get("dist") or None, headers, upload.data)
    except Conflict as exc:
        raise ApiError(409, str(exc)) from None
    return json_response(request, 201, release_file(created))


def _file(release: Release, file_id: str) -> ReleaseFile:
    number = parse_int(file_id)
    found = release.files.get(number) if number is not None else None
    if found is None:
        raise not_found()
    return found


def _get(api: ApiContext, request: Request, release: Release, file_id: str) -> bytes:
    """The file's metadata, or with ``?download`` its bytes (which an organization token may
    not fetch: Sentry lets only a member whose role may download debug files)."""
    found = _file(release, file_id)
    if b"download" not in request.args:
        return json_response(request, 200, release_file(found))
    if not may_download(api, request):
        raise ApiError(403, DENIED)
    content_type = next((v for k, v in found.headers.items() if k.lower() == "content-type" and v),
                        "application/octet-stream")
    return attachment(request, found.data, content_type, found.name)


def _rename(api: ApiContext, request: Request, release: Release, file_id: str) -> bytes:
    if parse_int(file_id, signed=True) is None:
        raise ApiError(400, "Can only update release files with integer IDs")
    found = _file(release, file_id)
    api.store.releases.rename_file(found, validate(read_json_object(request), RENAME)["name"])
    return json_response(request, 200, release_file(found))


def _delete(api: ApiContext, request: Request, release: Release, file_id: str) -> bytes:
    api.store.releases.delete_file(release, _file(release, file_id))
    return empty_response(request, 204)


FILES = "/<version>/files/"
FILE = "/<version>/files/<file_id>/"


@endpoint(ORG_RELEASES + FILES, methods=["GET"], permission=permissions.RELEASES)
def organization_release_files(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    return _list(api, request, release_of(api, request, org, version))


@endpoint(ORG_RELEASES + FILES, methods=["POST"], permission=permissions.RELEASES)
def upload_organization_release_file(api: ApiContext, request: Request, org: str, version: str) -> bytes:
    return _upload(api, request, release_of(api, request, org, version))


@endpoint(ORG_RELEASES + FILE, methods=["GET"], permission=permissions.RELEASES)
def organization_release_file(api: ApiContext, request: Request, org: str, version: str, file_id: str) -> bytes:
    return _get(api, request, release_of(api, request, org, version), file_id)


@endpoint(ORG_RELEASES + FILE, methods=["PUT"], permission=permissions.RELEASES)
def rename_organization_release_file(api: ApiContext, request: Request, org: str, version: str,
                                     file_id: str) -> bytes:
    return _rename(api, request, release_of(api, request, org, version), file_id)


@endpoint(ORG_RELEASES + FILE, methods=["DELETE"], permission=permissions.RELEASES)
def delete_organization_release_file(api: ApiContext, request: Request, org: str, version: str,
                                     file_id: str) -> bytes:
    return _delete(api, request, release_of(api, request, org, version), file_id)


@endpoint(PROJECT_RELEASES + FILES, methods=["GET"], permission=permissions.RELEASES)
def project_release_files(api: ApiContext, request: Request, org: str, project: str, version: str) -> bytes:
    return _list(api, request, project_release_of(api, request, org, project, version)[1])


@endpoint(PROJECT_RELEASES + FILES, methods=["POST"], permission=permissions.RELEASES)
def upload_project_release_file(api: ApiContext, request: Request, org: str, project: str, version: str) -> bytes:
    return _upload(api, request, project_release_of(api, request, org, project, version)[1])


@endpoint(PROJECT_RELEASES + FILE, methods=["GET"], permission=permissions.RELEASES)
def project_release_file(api: ApiContext, request: Request, org: str, project: str, version: str,
                         file_id: str) -> bytes:
    return _get(api, request, project_release_of(api, request, org, project, version)[1], file_id)


@endpoint(PROJECT_RELEASES + FILE, methods=["PUT"], permission=permissions.RELEASES)
def rename_project_release_file(api: ApiContext, request: Request, org: str, project: str, version: str,
                                file_id: str) -> bytes:
    return _rename(api, request, project_release_of(api, request, org, project, version)[1], file_id)


@endpoint(PROJECT_RELEASES + FILE, methods=["DELETE"], permission=permissions.RELEASES)
def delete_project_release_file(api: ApiContext, request: Request, org: str, project: str, version: str,
                                file_id: str) -> bytes:
    return _delete(api, request, project_release_of(api, request, org, project, version)[1], file_id)
