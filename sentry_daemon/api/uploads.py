"""Chunk uploads (``sentry-cli sourcemaps upload``, ``debug-files upload``): the options and the
upload itself, as Sentry's ``ChunkUploadEndpoint`` serves them; and what the assemble and
download endpoints of ``artifact_bundles`` and ``debug_files`` share.

A chunk POST is ``multipart/form-data`` with one part per chunk: ``file`` (raw, or decoded by the
request's ``Content-Encoding``, gzip or zstd) or ``file_gzip`` (gzip), each named by the sha1 of
its decoded bytes. The options advertise gzip only, as sentry-cli 3.8.2 was captured with (Sentry
now lists zstd too). Decisions where Sentry fails with a 500: a ``file_gzip`` part that is not
gzip is ``400 {"error": "Invalid gzip payload"}`` (Sentry says ``Invalid zstd payload`` for zstd).
A request whose chunks fail is refused whole: no chunk of it is kept.
"""

from __future__ import annotations

import posixpath
import re
from typing import Any

from twisted.web.server import Request

from sentry_daemon.api import permissions
from sentry_daemon.api.app import ApiContext, endpoint
from sentry_daemon.http.errors import ApiError, ErrorResponse
from sentry_daemon.http.responses import bytes_response, empty_response, json_response
from sentry_daemon.ingest.encoding import decode_body
from sentry_daemon.ingest.multipart import FormPart, form_parts
from sentry_daemon.store.uploads import MAX_FILE_SIZE, Assembled, ChecksumMismatch

CHUNK_SIZE = 8 * 1024 * 1024  # settings.SENTRY_CHUNK_UPLOAD_BLOB_SIZE
MAX_CHUNKS_PER_REQUEST = 64
MAX_REQUEST_SIZE = 32 * 1024 * 1024
MAX_CONCURRENCY = 8
COMPRESSION = ("gzip",)
DECODINGS = ("gzip", "zstd")
ACCEPT = ("debug_files", "release_files", "pdbs", "sources", "bcsymbolmaps", "il2cpp", "portablepdbs",
          "artifact_bundles", "artifact_bundles_v2", "proguard", "preprod_artifacts", "dartsymbolmap")
_CLI_VERSION = re.compile(r"^sentry-cli/(\d+)\.(\d+)\.(\d+)")


def _upload_url(api: ApiContext, request: Request, slug: str) -> str:
    """Absolute for sentry-cli 2.30 and later (and for anyone else), relative and versionless
    for 1.70.1 up to 2.30, as Sentry decides."""
    path = f"/api/0/organizations/{slug}/chunk-upload/"
    agent = (request.getHeader(b"user-agent") or b"").decode("latin-1")
    match = _CLI_VERSION.search(agent)
    version = tuple(int(n) for n in match.groups()) if match else None
    if version is not None and (1, 70, 1) <= version < (2, 30, 0):
        return path[len("/api/0/"):]
    return api.base_url(request) + path


@endpoint("/api/0/organizations/<org>/chunk-upload/", methods=["GET"], permission=permissions.UPLOADS)
def chunk_upload_options(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    return json_response(request, 200, {
        "url": _upload_url(api, request, found.slug),
        "chunkSize": CHUNK_SIZE,
        "chunksPerRequest": MAX_CHUNKS_PER_REQUEST,
        "maxFileSize": MAX_FILE_SIZE,
        "maxRequestSize": MAX_REQUEST_SIZE,
        "concurrency": MAX_CONCURRENCY,
        "hashAlgorithm": "sha1",
        "compression": list(COMPRESSION),
        "accept": list(ACCEPT),
    })


def _chunk_parts(request: Request) -> list[FormPart]:
    """The file parts named ``file``/``file_gzip`` (Django's ``request.FILES``): none for a body
    that is not a form or holds no parts, DRF's 400 for a form cut short or without a boundary.
    (Django reads a cut-off last part as it stands; the fake refuses it.)"""
    content_type = (request.getHeader(b"content-type") or b"").decode("latin-1")
    body = request.content.read() if request.content is not None else b""
    if not content_type.lower().startswith("multipart/form-data") or not body:
        return []
    match = re.search(r"boundary=\"?([^\";]*)", content_type)
    if match is None or not match.group(1):
        raise ApiError(400, "Multipart form parse error - Invalid boundary in multipart: None")
    try:
        parts = form_parts(body, content_type)
    except ApiError as exc:
        if exc.causes == ["no parts found"]:
            return []  # Django reads a body without parts as a form without files
        raise ApiError(400, "Multipart form parse error - " + "; ".join(exc.causes or [exc.detail])) from None
    return [p for p in parts if p.name in ("file", "file_gzip") and p.filename]


def _decoded(part: FormPart, encoding: str) -> bytes:
    coding = "gzip" if part.name == "file_gzip" else encoding
    if not coding:
        return part.data
    try:
        return decode_body(part.data, coding, CHUNK_SIZE)
    except ApiError as exc:
        if exc.status == 413:
            raise ErrorResponse(400, "Chunk size too large") from None
        raise ErrorResponse(400, f"Invalid {coding} payload") from None


@endpoint("/api/0/organizations/<org>/chunk-upload/", methods=["POST"], permission=permissions.UPLOADS)
def upload_chunks(api: ApiContext, request: Request, org: str) -> bytes:
    found = api.org(request, org)
    encoding = (request.getHeader(b"content-encoding") or b"").decode("latin-1").strip().lower()
    if encoding and encoding not in DECODINGS:
        raise ErrorResponse(400, "Unsupported Content-Encoding")
    parts = _chunk_parts(request)
    if encoding and any(p.name == "file_gzip" for p in parts):
        raise ErrorResponse(400, "Cannot combine Content-Encoding with file_gzip field")
    if len(parts) > MAX_CHUNKS_PER_REQUEST:
        raise ErrorResponse(400, "Too many chunks")
    chunks, total = [], 0
    for part in parts:
        data = _decoded(part, encoding)
        if len(data) > CHUNK_SIZE:
            raise ErrorResponse(400, "Chunk size too large")
        total += len(data)
        if total > MAX_REQUEST_SIZE:
            raise ErrorResponse(400, "Request too large")
        chunks.append((str(part.filename), data))
    try:
        api.store.uploads.save_chunks(found, chunks)
    except ChecksumMismatch:
        raise ErrorResponse(400, "Checksum mismatch") from None
    return empty_response(request, 200)


def assemble_answer(result: Assembled, dif: dict[str, Any] | None = None) -> dict[str, Any]:
    """One file's assemble answer in Sentry's shape: ``detail`` only once a state is known."""
    body: dict[str, Any] = {"state": result.state, "missingChunks": list(result.missing)}
    if result.state != "not_found":
        body["detail"] = result.detail
    if dif is not None:
        body["dif"] = dif
    return body


def may_download(api: ApiContext, request: Request) -> bool:
    """Sentry's ``has_download_permission``: a member whose role reaches the organization's debug
    files role (admin by default). The fake's one user owns every organization; an org auth token
    acts for no user, so it may not download."""
    return api.token(request).kind == "user"


def attachment(request: Request, data: bytes, content_type: str, name: str) -> bytes:
    """Bytes as a download named by ``name``'s last path part, each whitespace run one space
    (Sentry's ``posixpath.basename(" ".join(name.split()))``)."""
    filename = posixpath.basename(" ".join(name.split()))
    return bytes_response(request, 200, data, content_type,
                          {"Content-Disposition": f'attachment; filename="{filename}"'})


def download(api: ApiContext, request: Request, found: tuple[bytes, str] | None) -> bytes:
    """A stored file's bytes as an attachment (``?download=``, ``?id=``): a bare 403 for a caller
    who may not download, Django's 404 when no (bytes, file name) was found."""
    if not may_download(api, request):
        return empty_response(request, 403)
    if found is None:
        raise ApiError(404, "Not found.")
    data, name = found
    return attachment(request, data, "application/octet-stream", name)
