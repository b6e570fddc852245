"""What the upload tests share: building artifact bundles, splitting files into chunks, posting
chunk forms and assembling, all over the real daemon's HTTP."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import struct
import zipfile
from typing import Any

from conftest import AUTH, request_json

ORG = "/api/0/organizations/parlel"
PROJECT = "/api/0/projects/parlel/hello-world"
CHUNK_UPLOAD = f"{ORG}/chunk-upload/"
BUNDLE_ASSEMBLE = f"{ORG}/artifactbundle/assemble/"
DIF_ASSEMBLE = f"{PROJECT}/files/difs/assemble/"
BOUNDARY = "------------------------d74496d66958873e"
DEBUG_ID = "2f2b0b1a-0d1e-4e6a-9c3b-5b1f7a2f1e01"
MINIFIED = b'function hello(){throw new Error("x")}\n//# debugId=2f2b0b1a-0d1e-4e6a-9c3b-5b1f7a2f1e01\r\n'
SOURCE_MAP = b'{"version":3,"file":"app.min.js","sources":["app.js"],"names":[],"mappings":"AAAA"}'


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def bundle_bytes(files: dict[str, tuple[bytes, dict[str, Any]]] | None = None, **manifest: Any) -> bytes:
    """A source bundle as sentry-cli writes one: ``SYSB`` + u32-LE version 2, then the zip."""
    if files is None:
        files = {
            "files/_/_/app.min.js": (MINIFIED, {"type": "minified_source", "url": "~/app.min.js",
                                               "headers": {"Sourcemap": "app.min.js.map", "debug-id": DEBUG_ID}}),
            "files/_/_/app.min.js.map": (SOURCE_MAP, {"type": "source_map", "url": "~/app.min.js.map",
                                                     "headers": {"debug-id": DEBUG_ID}}),
        }
    manifest.setdefault("org", "parlel")
    manifest.setdefault("project", "hello-world")
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        entries = {path: info for path, (_, info) in files.items()}
        archive.writestr("manifest.json", json.dumps({"files": entries, **manifest}))
        for path, (data, _) in files.items():
            archive.writestr(path, data)
    return b"SYSB" + struct.pack("<I", 2) + out.getvalue()


def split(data: bytes, size: int) -> list[bytes]:
    return [data[i:i + size] for i in range(0, len(data), size)] or [b""]


def form(parts: list[tuple[str, str, bytes]], boundary: str = BOUNDARY) -> tuple[bytes, dict[str, str]]:
    """A ``multipart/form-data`` body of (field name, filename, bytes) parts, as libcurl writes it."""
    body = b""
    for name, filename, data in parts:
        body += (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{name}\"; filename=\"{filename}\"\r\n"
                 f"Content-Type: application/octet-stream\r\n\r\n").encode() + data + b"\r\n"
    body += f"--{boundary}--\r\n".encode()
    return body, {"Content-Type": f"multipart/form-data; boundary={boundary}", **AUTH}


async def upload(sentry: Any, chunks: list[bytes], gzipped: bool = True, expect: int = 200) -> Any:
    """POST the chunks as one form (``file_gzip`` parts, or raw ``file`` ones)."""
    parts = [("file_gzip", sha1(c), gzip.compress(c)) if gzipped else ("file", sha1(c), c) for c in chunks]
    body, headers = form(parts)
    response, answer = await request_json("POST", sentry.url + CHUNK_UPLOAD, data=body, headers=headers)
    assert response.code == expect, (response.code, answer)
    return answer


async def call(sentry: Any, method: str, path: str, expect: int = 200, headers: dict[str, str] | None = None,
               **kwargs: Any) -> Any:
    response, body = await request_json(method, sentry.url + path, headers=headers or AUTH, **kwargs)
    assert response.code == expect, (method, path, response.code, body)
    if body:
        assert response.headers.getRawHeaders("content-type") == ["application/json"], path
    return body


async def assemble_bundle(sentry: Any, data: bytes, chunks: list[bytes], expect: int = 200, **extra: Any) -> Any:
    return await call(sentry, "POST", BUNDLE_ASSEMBLE, expect, json={
        "checksum": sha1(data), "chunks": [sha1(c) for c in chunks], "projects": ["hello-world"], **extra})


async def upload_bundle(sentry: Any, data: bytes, **extra: Any) -> dict[str, Any]:
    """The whole sentry-cli flow for one bundle: assemble (not_found), upload, assemble (ok)."""
    chunks = split(data, 1024)
    first = await assemble_bundle(sentry, data, chunks, **extra)
    assert first["state"] == "not_found", first
    await upload(sentry, chunks)
    return await assemble_bundle(sentry, data, chunks, **extra)
