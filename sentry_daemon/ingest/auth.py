"""Who is sending: ingest keys and DSNs, by Relay's rules (SENTRY-PROTOCOL §1.4)."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal
from urllib.parse import parse_qsl, urlsplit

from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int
from sentry_daemon.store.records import Project
from sentry_daemon.store.store import Store

IngestMode = Literal["lenient", "strict"]
MAX_PROTOCOL_VERSION = 7


@dataclass(frozen=True)
class IngestAuth:
    """The credentials of one ingest request, and where they came from."""

    public_key: str
    source: str
    secret: str | None = None
    version: str | None = None
    client: str | None = None


def parse_sentry_auth(value: str) -> dict[str, str]:
    """``Sentry sentry_key=K, sentry_version=7`` → ``{"sentry_key": "K", ...}`` (prefix already checked)."""
    pairs = {}
    for part in value[7:].split(","):
        key, sep, val = part.strip().partition("=")
        if sep:
            pairs[key.strip()] = val.strip()
    return pairs


def _from_pairs(pairs: dict[str, str], source: str) -> IngestAuth:
    key = pairs.get("sentry_key")
    if not key:
        raise ApiError(401, "bad x-sentry-auth header", ["missing public key in auth header"])
    version = pairs.get("sentry_version")
    if version:
        major = version.split(".", 1)[0]
        number = parse_int(major)
        if number is not None and number > MAX_PROTOCOL_VERSION:
            raise ApiError(400, f"unsupported protocol version ({major})")
    return IngestAuth(key, source, pairs.get("sentry_secret"), version, pairs.get("sentry_client"))


@lru_cache(maxsize=256)
def _sentry_header_auth(header: bytes, source: str) -> IngestAuth:
    """A ``Sentry ...`` header's credentials; an SDK sends the same header with every request."""
    return _from_pairs(parse_sentry_auth(header.decode("utf-8", "replace")), source)


def request_ingest_auth(request: Request, path_key: str | None = None) -> IngestAuth | None:
    """Every credential form Relay reads from a request; two at once is an error."""
    found: list[IngestAuth] = []
    header = request.getHeader(b"x-sentry-auth")
    if header and header[:7].lower() == b"sentry ":
        found.append(_sentry_header_auth(header, "x-sentry-auth"))
    authorization = request.getHeader(b"authorization")
    if authorization:
        if authorization[:7].lower() == b"sentry ":
            found.append(_sentry_header_auth(authorization, "authorization"))
        elif authorization[:6].lower() == b"basic ":
            try:
                decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise ApiError(401, "bad x-sentry-auth header", ["invalid basic auth"]) from None
            public, _, secret = decoded.partition(":")
            if not public:
                raise ApiError(401, "bad x-sentry-auth header", ["missing public key in auth header"])
            found.append(IngestAuth(public, "basic", secret or None))
    query = request.uri.partition(b"?")[2]
    if b"sentry_" in query:
        pairs = dict(parse_qsl(query.decode("utf-8", "replace")))
        if "sentry_key" in pairs:
            found.append(_from_pairs(pairs, "query"))
    if path_key:
        found.append(IngestAuth(path_key, "path"))
    if len(found) > 1:
        raise ApiError(401, "multiple authorization payloads detected")
    return found[0] if found else None


class IngestRejected(ApiError):
    """Relay's one answer for a key it refuses (``403 ... with_reason: ProjectId``); ``why`` says
    which rule refused it, for the near-miss journal (clients never see it)."""

    def __init__(self, why: str) -> None:
        super().__init__(403, "event submission rejected with_reason: ProjectId")
        self.why = why


@dataclass(frozen=True)
class Dsn:
    public_key: str
    project_id: str


def parse_dsn(dsn: str) -> Dsn:
    """The key and project id of a DSN string (envelope ``dsn`` header)."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        raise ApiError(401, "bad envelope authentication header") from None
    project_id = parts.path.rstrip("/").rpartition("/")[2]
    if parts.scheme not in ("http", "https") or not parts.username or parse_int(project_id) is None:
        raise ApiError(401, "bad envelope authentication header")
    return Dsn(parts.username, project_id)


def authorize_ingest(store: Store, mode: IngestMode, project_id: int, auth: IngestAuth | None) -> Project:
    """The project an ingest request may write to, or Relay's 401/403 (strict) answer.

    Lenient (the default): any key or none; a project id nobody created is created on the fly.
    Strict: the key must exist, be active and belong to the project in the URL.
    """
    if mode == "lenient":
        return store.ingest_project(project_id, auth.public_key if auth else None)
    if auth is None:
        raise ApiError(401, "missing authorization information")
    public_key = auth.public_key.split(".", 1)[0]
    key = store.keys.get(public_key)
    if project_id not in store.projects:
        raise IngestRejected(f"unknown project {project_id}")
    if key is None:
        raise IngestRejected(f"unknown key {public_key}")
    if not key.is_active:
        raise IngestRejected(f"disabled key {public_key}")
    if key.project.id != project_id:
        raise IngestRejected(f"key {public_key} of another project ({key.project.id})")
    return key.project
