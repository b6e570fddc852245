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


def parse_multipart(body: bytes, content_type: str) -> tuple[dict[str, str], dict[str, FilePart]]:
    """Text fields and file parts of a form body, by field name (the last one wins)."""
    if not content_type.lower().startswith("multipart/form-data") or "boundary=" not in content_type:
        raise ApiError(400, "invalid multipart data", ["expected multipart/form-data with a boundary"])
    head = f"Content-Type: {content_type}\r\nMIME-Version: 1.0\r\n\r\n".encode("latin-1")
    message: Message = BytesParser(policy=HTTP).parsebytes(head + body)
    if not message.is_multipart():
        raise ApiError(400, "invalid multipart data", ["no parts found"])
    if any(isinstance(d, (errors.StartBoundaryNotFoundDefect, errors.CloseBoundaryNotFoundDefect))
           for d in message.defects):
        raise ApiError(400, "invalid multipart data", ["unexpected end of multipart body"])
    fields: dict[str, str] = {}
    files: dict[str, FilePart] = {}
    for part in message.iter_parts():  # type: ignore[attr-defined]
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        filename = part.get_filename()
        if filename is not None or part.get_content_type() == "application/octet-stream":
            files[name] = FilePart(filename, part.get_content_type(), data)
        else:
            fields[name] = data.decode(part.get_content_charset() or "utf-8", "replace")
    return fields, files
