"""``multipart/form-data`` bodies (minidump uploads), parsed from bytes we already hold.

Twisted's own form parsing is switched off (``LimitedRequest``) so a malformed upload is our
400, not a dropped connection.
"""

from __future__ import annotations

import binascii
import quopri
import re
from dataclasses import dataclass
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
        """The field's text in its charset; one Python has no text codec for reads as UTF-8."""
        try:
            return self.data.decode(self.charset or "utf-8", "replace")
        except (LookupError, ValueError):  # ValueError: UnicodeError, or a NUL in the name
            return self.data.decode("utf-8", "replace")


def _boundary(content_type: str) -> bytes:
    header = Message()
    header["content-type"] = content_type
    boundary = header.get_param("boundary") if header.get_content_type() == "multipart/form-data" else None
    if not isinstance(boundary, str) or not boundary:
        raise ApiError(400, "invalid multipart data", ["expected multipart/form-data with a boundary"])
    return boundary.encode("latin-1", "replace")


def _cut_off() -> ApiError:
    return ApiError(400, "invalid multipart data", ["unexpected end of multipart body"])


# A part's header lines: a few hundred bytes from any client. A part without the blank line that
# ends them would otherwise hand its whole body (megabytes) to the email parser as "headers".
MAX_PART_HEADERS = 16 * 1024
_BLANK_LINE = re.compile(rb"\r?\n\r?\n")


def form_parts(body: bytes, content_type: str) -> list[FormPart]:
    """Every named part of a ``multipart/form-data`` body, in order (repeated names kept).

    The body is cut at its boundaries with ``bytes.find`` and only each part's few header lines go
    through the stdlib's email parser: a 32 MiB chunk upload is split in milliseconds, where the
    email parser alone takes over a second of the reactor's time. Bare-LF line ends are accepted,
    as the email parser accepts them.
    """
    delimiter = b"--" + _boundary(content_type)
    found = body.find(delimiter)
    if found < 0 or (found > 0 and body[found - 1:found] != b"\n"):
        raise ApiError(400, "invalid multipart data", ["no parts found"])
    parser = BytesParser(policy=HTTP)
    parts: list[FormPart] = []
    position = found + len(delimiter)
    while not body.startswith(b"--", position):
        line_end = body.find(b"\n", position)
        if line_end < 0:
            raise _cut_off()
        start = line_end + 1
        next_delimiter = _next_delimiter(body, b"\n" + delimiter, start)
        end = next_delimiter - 1 if body[next_delimiter - 1:next_delimiter] == b"\r" else next_delimiter
        raw = body[start:max(start, end)]
        split = _BLANK_LINE.search(raw, 0, MAX_PART_HEADERS + 4)
        if raw.startswith((b"\r\n", b"\n")):
            head, content = b"", raw[2 if raw.startswith(b"\r") else 1:]
        elif split is None:
            head, content = raw, b""
        else:
            head, content = raw[:split.start()], raw[split.end():]
        if len(head) > MAX_PART_HEADERS:
            raise ApiError(400, "invalid multipart data", ["multipart part headers too large"])
        headers = parser.parsebytes(head + b"\r\n\r\n", headersonly=True)
        name = headers.get_param("name", header="content-disposition")
        if name:
            parts.append(FormPart(str(name), headers.get_filename(), headers.get("content-type"),
                                  headers.get_content_type(), headers.get_content_charset(),
                                  _decoded(content, headers.get("content-transfer-encoding"))))
        position = next_delimiter + 1 + len(delimiter)
    return parts


_AFTER_DELIMITER = re.compile(rb"--|[ \t]*\r?\n")


def _next_delimiter(body: bytes, marker: bytes, start: int) -> int:
    """Where the next real delimiter line starts: the boundary followed by ``--`` or the end of
    its line (RFC 2046), so a part's bytes may hold the boundary's text followed by anything else."""
    while True:
        found = body.find(marker, start)
        if found < 0:
            raise _cut_off()
        if _AFTER_DELIMITER.match(body, found + len(marker)):
            return found
        start = found + 1


def _decoded(content: bytes, transfer_encoding: str | None) -> bytes:
    """A part's bytes with a ``Content-Transfer-Encoding`` undone (browsers and SDKs send none)."""
    encoding = (transfer_encoding or "").strip().lower()
    if encoding == "base64":
        try:
            return binascii.a2b_base64(content)
        except binascii.Error:
            raise ApiError(400, "invalid multipart data", ["invalid base64 in a part"]) from None
    if encoding == "quoted-printable":
        return quopri.decodestring(content)
    return content


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
