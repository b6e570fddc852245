"""What the near-miss journal (``store.journal``) is told about ingest requests: each one refused,
cut short or answered by a fault, with the request as far as it was understood and the cause in
Relay's words.

Three places feed it: ``journaled`` (around every ingest handler: the refusals they raise), the
site's 413 for a body over the limit (never buffered, so its body is not shown), and the fault
gate (``ingest.faults``). Items kept with an error are noted where they are kept
(``ingest.process``).
"""

from __future__ import annotations

import functools
import re
from typing import Any, Callable, Iterable

from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int
from sentry_daemon.ingest.auth import IngestAuth, IngestRejected, request_ingest_auth
from sentry_daemon.store.journal import BODY_HEAD
from sentry_daemon.store.store import Store

_TARGET = re.compile(
    rb"^(?:.*/)?api/([^/]+)/(envelope|store|security|csp-report|minidump|cron|integration/otlp)(?:/|$)")
_ENDPOINT_NAMES = {b"csp-report": "security", b"integration/otlp": "otlp"}


class NotedError(ApiError):
    """A refusal whose journal entry was written where it was decided (``journaled`` skips it)."""


def ingest_target(path: bytes) -> tuple[str, int | None] | None:
    """(endpoint, project id or None when the path's is no number) of an ingest path; None else."""
    match = _TARGET.match(path)
    if match is None:
        return None
    raw_id, name = match.groups()
    project_id = parse_int(raw_id) if len(raw_id) <= 18 else None
    return _ENDPOINT_NAMES.get(name, name.decode()), project_id


def journaled(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an ingest handler of ``IngestRoutes``: a refusal it raises is journaled, then answered
    as before (the cron route's path key counts as its auth form)."""

    @functools.wraps(handler)
    def wrapper(routes: Any, request: Request, *args: Any, **kwargs: Any) -> Any:
        try:
            return handler(routes, request, *args, **kwargs)
        except NotedError:
            raise
        except ApiError as error:
            note(routes.store, request, error.status, cause_of(error), detail=error.detail,
                 path_key=kwargs.get("sentry_key"))
            raise

    return wrapper


def cause_of(error: ApiError) -> str:
    """Why, in Relay's words: its message and causes; for a refused key, which rule refused it."""
    if isinstance(error, IngestRejected):
        return error.why
    text = error.detail
    if error.causes:
        text += ": " + "; ".join(error.causes)
    if error.status == 413:
        text = f"payload too large: {text}"
    return text


def note(store: Store, request: Request, status: int | None, cause: str, *, detail: str | None = None,
         fault: int | None = None, dropped: Iterable[dict[str, Any]] = (), path_key: str | None = None,
         body: tuple[bytes, int | None] | None = None) -> None:
    """Journal one ingest request (requests to other paths are not journaled); ``body``: its head
    and size when the request no longer holds it (see ``body_of``)."""
    target = ingest_target(request.path)
    if target is None:
        return
    endpoint, project_id = target
    project = store.projects.get(project_id) if project_id is not None else None
    auth = _auth(request, path_key)
    user_agent = _header(request, b"user-agent")
    head, size = body if body is not None else body_of(request)
    address = request.getClientAddress()
    store.journal.add(
        endpoint, cause, status,
        method=request.method.decode("ascii", "replace"),
        path=request.path.decode("utf-8", "replace"),
        project=project_id,
        organization=project.organization.slug if project is not None else None,
        remote_addr=getattr(address, "host", None),
        client=(auth.client if auth else None) or user_agent,
        user_agent=user_agent,
        auth=auth.source if auth else None,
        content_type=_header(request, b"content-type"),
        content_encoding=_header(request, b"content-encoding"),
        detail=detail, fault=fault, dropped=list(dropped), body=head, body_size=size,
    )


def too_large_observer(store: Store) -> Callable[[Request, dict[str, Any]], None]:
    """What the site calls when it answers 413 for a body over ``--max-body`` (or its route's cap)."""

    def observe(request: Request, body: dict[str, Any]) -> None:
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
        note(store, request, 413, f"payload too large: {detail or 'body over the limit'}", detail=detail,
             body=(b"", _content_length(request)))

    return observe


def _auth(request: Request, path_key: str | None) -> IngestAuth | None:
    try:
        return request_ingest_auth(request, path_key=path_key)
    except ApiError:  # several forms at once, or a malformed one: the refusal says which
        return None


def body_of(request: Request) -> tuple[bytes, int | None]:
    """The first ``BODY_HEAD`` bytes of the request's body, and its size (none once it is gone)."""
    content = request.content
    if content is None or content.closed:
        return b"", None
    position = content.tell()
    try:
        content.seek(0)
        head = content.read(BODY_HEAD)
        content.seek(0, 2)
        return head, content.tell()
    finally:
        content.seek(position)


def _content_length(request: Request) -> int | None:
    value = request.getHeader(b"content-length")
    return parse_int(value)


def _header(request: Request, name: bytes) -> str | None:
    value = request.getHeader(name)
    return value.decode("latin-1") if value is not None else None
