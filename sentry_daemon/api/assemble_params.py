"""The bodies of the two assemble endpoints, checked as Sentry checks them: ``orjson`` then a
JSON schema, answering ``400 {"error": ...}`` with the message ``jsonschema`` would pick.

Sentry validates with ``jsonschema.validate``, which reports its "best match": the error highest
in the document (fewest path steps), and among equals the first the schema's keywords raise
(``type``, then ``required``, then ``additionalProperties``/``properties`` in schema order). The
checks below run in that order. The artifact bundle endpoint then swaps the message of an error
inside a field for its own sentence about that field (``error_messages`` in Sentry's endpoint).
"""

from __future__ import annotations

import re
import reprlib
from typing import Any

import orjson
from twisted.web.server import Request

from sentry_daemon.http.errors import ErrorResponse

SHA1 = re.compile(r"^[0-9a-f]{40}$")
_SHA1_PATTERN = "'^[0-9a-f]{40}$'"
BUNDLE_FIELDS = ("version", "dist", "projects", "checksum", "chunks")
BUNDLE_REQUIRED = ("checksum", "chunks", "projects")
BUNDLE_MESSAGES = {
    "version": 'The version field cannot be empty and cannot contain any "/" characters.',
    "dist": "The dist field must be a string.",
    "projects": "The projects field is required and must be provided as an array of strings.",
    "checksum": "The checksum field is required and must be a 40-character hexadecimal string.",
    "chunks": "The chunks field is required and must be provided as an array of 40-character hexadecimal strings.",
}


def _json(request: Request) -> Any:
    raw = request.content.read() if request.content is not None else b""
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ErrorResponse(400, "Invalid json body") from None


def _repr(value: Any) -> str:
    """``repr`` as jsonschema's message shows the value; one nested too deep for ``repr`` (orjson
    reads 1024 levels) is shown shortened instead."""
    try:
        return repr(value)
    except RecursionError:
        return reprlib.repr(value)


def _not_of_type(value: Any, kind: str) -> ErrorResponse:
    return ErrorResponse(400, f"{_repr(value)} is not of type '{kind}'")


def _sha1(value: Any) -> bool:
    return isinstance(value, str) and SHA1.match(value) is not None


def bundle_body(request: Request) -> dict[str, Any]:
    """``{checksum, chunks, projects, version?, dist?}`` of the artifact bundle assemble endpoint."""
    data = _json(request)
    if not isinstance(data, dict):
        raise _not_of_type(data, "object")
    for key in BUNDLE_REQUIRED:
        if key not in data:
            raise ErrorResponse(400, f"{key!r} is a required property")
    extras = [k for k in data if k not in BUNDLE_FIELDS]
    if extras:
        verb = "was" if len(extras) == 1 else "were"
        names = ", ".join(map(repr, extras))
        raise ErrorResponse(400, f"Additional properties are not allowed ({names} {verb} unexpected)")
    shallow = {
        "version": lambda v: isinstance(v, str) and bool(v) and "/" not in v,
        "dist": lambda v: isinstance(v, str),
        "projects": lambda v: isinstance(v, list),
        "checksum": _sha1,
        "chunks": lambda v: isinstance(v, list),
    }
    deep = {"projects": lambda v: all(isinstance(p, str) for p in v), "chunks": lambda v: all(_sha1(c) for c in v)}
    for checks in (shallow, deep):
        for key in BUNDLE_FIELDS:
            if key in data and key in checks and not checks[key](data[key]):
                raise ErrorResponse(400, BUNDLE_MESSAGES[key])
    return data


def dif_body(request: Request) -> dict[str, dict[str, Any]]:
    """``{<sha1>: {name, chunks, debug_id?}}`` of the debug file assemble endpoint."""
    data = _json(request)
    if not isinstance(data, dict):
        raise _not_of_type(data, "object")
    extras = sorted(k for k in data if not SHA1.match(k))
    if extras:
        verb = "does" if len(extras) == 1 else "do"
        raise ErrorResponse(400, f"{', '.join(map(repr, extras))} {verb} not match any of the regexes: {_SHA1_PATTERN}")
    entries = list(data.values())
    for entry in entries:
        if not isinstance(entry, dict):
            raise _not_of_type(entry, "object")
        for key in ("name", "chunks"):
            if key not in entry:
                raise ErrorResponse(400, f"{key!r} is a required property")
    for entry in entries:
        for key, kind in (("name", "string"), ("debug_id", "string"), ("chunks", "array")):
            value = entry.get(key)
            if key in entry and not isinstance(value, str if kind == "string" else list):
                raise _not_of_type(value, kind)
    for entry in entries:
        for chunk in entry["chunks"]:
            if not isinstance(chunk, str):
                raise _not_of_type(chunk, "string")
            if not SHA1.match(chunk):
                raise ErrorResponse(400, f"{chunk!r} does not match {_SHA1_PATTERN}")
    return data
