"""``multipart/form-data`` bodies (minidump uploads), parsed from bytes we already hold.

Twisted's own form parsing is switched off (``LimitedRequest``) so a malformed upload is our
400, not a dropped connection.
"""

from __future__ import annotations

from dataclasses import dataclass
from email import errors
from email.message import Message
from email.parser import BytesParser
from email.policy import HTTP

from sentry_daemon.http.errors import ApiError


@dataclass(frozen=True)
class FilePart:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass(frozen=True)
class FormPart:
    """One part of a form body as sent: ``filename`` None for a text field, ``content_type`` the
    part's own header (None when it has none), ``kind`` its media type (``text/plain`` when none)."""

    name: str
    filename: str | None
    content_type: str | None
    kind: str
    charset: str | None
    data: bytes

    def text(self) -> str:
        return self.data.decode(self.charset or "utf-8", "replace")


def form_parts(body: bytes, content_type: str) -> list[FormPart]:
    """Every named part of a ``multipart/form-data`` body, in order (repeated names kept)."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise ApiError(400, "invalid multipart data", ["expected multipart/form-data with a boundary"])
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message: Message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "invalid multipart data", ["no parts found"])
    if any(isinstance(d, (errors.StartBoundaryNotFoundDefect, errors.CloseBoundaryNotFoundDefect))
           for d in message.defects):
        raise ApiError(400, "invalid multipart data", ["unexpected end of multipart body"])
    parts = []
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if name:
            parts.append(FormPart(name, part.get_filename(), part.get("content-type"), part.get_content_type(),
                                  part.get_content_charset(), part.get_payload(decode=True) or b""))
    return parts


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, FilePart]]:
    """Text fields and file parts of a form body, by field name (the last one wins)."""
    fields: dict[str, str] = {}
    files: dict[str, FilePart] = {}
    for part in form_parts(body, content_type):
        if part.filename is not None or part.kind == "application/octet-stream":
            files[part.name] = FilePart(part.filename, part.kind, part.data)
        else:
            fields[part.name] = part.text()
    return fields, files
