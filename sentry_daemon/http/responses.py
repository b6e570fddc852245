"""JSON answers, the one shape every route and every error leaves in."""

from __future__ import annotations

import json
from typing import Any

from twisted.web.server import Request


def json_response(
    request: Request, status: int, body: Any, headers: dict[str, str] | None = None
) -> bytes:
    """Set status and headers on ``request`` and return the JSON bytes for the caller to write."""
    return json_bytes_response(request, status, json.dumps(body, separators=(",", ":")).encode(), headers)


def json_bytes_response(
    request: Request, status: int, payload: bytes, headers: dict[str, str] | None = None
) -> bytes:
    """:func:`json_response` for a body already serialized (the hot ingest answer builds its own)."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", b"application/json")
    _set_headers(request, headers)
    request.setHeader(b"Content-Length", b"%d" % len(payload))
    return payload


def bytes_response(request: Request, status: int, payload: bytes, content_type: str,
                   headers: dict[str, str] | None = None) -> bytes:
    """A body that is not JSON (a downloaded file), with its own content type."""
    request.setResponseCode(status)
    request.setHeader(b"Content-Type", content_type.encode("latin-1", "replace"))
    _set_headers(request, headers)
    request.setHeader(b"Content-Length", b"%d" % len(payload))
    return payload


def empty_response(request: Request, status: int, headers: dict[str, str] | None = None) -> bytes:
    """An answer with no body, and so no content type (Twisted would default to ``text/html``)."""
    request.setResponseCode(status)
    request.defaultContentType = None
    _set_headers(request, headers)
    request.setHeader(b"Content-Length", b"0")
    return b""


def _set_headers(request: Request, headers: dict[str, str] | None) -> None:
    for name, value in (headers or {}).items():
        request.setHeader(name.encode(), value.encode())


def finish_json(request: Request, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
    """Answer and finish a request that no resource renders (rejected before dispatch)."""
    request.write(json_response(request, status, body, headers))
    request.finish()
