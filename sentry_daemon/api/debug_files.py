"""Debug information files (``sentry-cli debug-files upload``): assembling them from uploaded
chunks, a project's list, one file's bytes (``?id=``) and deleting one, as Sentry's
``DifAssembleEndpoint`` and ``DebugFilesEndpoint`` serve them.

Sentry answers a missing download and a refused or missing delete with a bare status and no
body; so does the fake.
"""

from __future__ import annotations

import posixpath

from twisted.web.server import Request

from sentry_daemon.api import assemble_params, permissions, uploads
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.api.uploads import assemble_answer
from sentry_daemon.http.pagination import paginate
from sentry_daemon.http.params import query_arg, query_args
from sentry_daemon.http.responses import empty_response, json_response
from sentry_daemon.serializers.debug_files import debug_file
from sentry_daemon.store.records import Project

# ProjectDebugFile.file_extension: the download's file name is its debug id and this
_EXTENSIONS = {"elf": ".debug"}


@endpoint("/api/0/projects/<org>/<project>/files/difs/assemble/", methods=["POST"], permission=permissions.UPLOADS)
def assemble_difs(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    files = assemble_params.dif_body(request)
    answer = {}
    for checksum, entry in files.items():
        result = api.store.uploads.assemble_debug_file(found, checksum, entry.get("name"), entry.get("debug_id"),
                                                       entry.get("chunks") or [])
        dif = debug_file(result.debug_file) if result.state == "ok" and result.debug_file else None
        answer[checksum] = assemble_answer(result, dif)
    return json_response(request, 200, answer)


def _download_file(api: ApiContext, project: Project, file_id: str) -> tuple[bytes, str] | None:
    found = api.store.uploads.debug_file(project, file_id)
    if found is None:
        return None
    return found.data, posixpath.basename(found.debug_id) + _EXTENSIONS.get(found.file_format, "")


@endpoint("/api/0/projects/<org>/<project>/files/dsyms/", methods=["GET"], permission=permissions.UPLOADS)
def project_debug_files(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    found = api.project(request, org, project)
    file_id = query_arg(request, "id")
    if file_id is not None:
        return uploads.download(api, request, _download_file(api, found, file_id))
    rows = api.store.uploads.project_debug_files(
        found, debug_id=query_arg(request, "debug_id"), code_id=query_arg(request, "code_id"),
        query=query_arg(request, "query"), file_formats=query_args(request, "file_formats"))
    page, headers = paginate(request, rows, api.base_url(request), default=20)
    return json_response(request, 200, [debug_file(d) for d in page], headers)


@endpoint("/api/0/projects/<org>/<project>/files/dsyms/", methods=["DELETE"], permission=permissions.UPLOADS)
def delete_debug_file(api: ApiContext, request: Request, org: str, project: str) -> bytes:
    """Deleting needs ``project:write`` besides the endpoint's scopes (Sentry's
    ``_has_delete_permission``); without it, or without such a file, the answer is a bare 404."""
    found = api.project(request, org, project)
    file_id = query_arg(request, "id")
    dif = api.store.uploads.debug_file(found, file_id) if file_id else None
    if dif is None or "project:write" not in api.token(request).scopes:
        return empty_response(request, 404)
    api.store.uploads.delete_debug_file(dif)
    return empty_response(request, 204)
