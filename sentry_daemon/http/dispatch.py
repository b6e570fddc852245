"""The root resource: dispatches each request by path to the route group that owns it.

Three route groups, each an instance-bound Klein app that only parses, calls the store and
serializes: ``ingest`` (what SDKs send), ``api`` (``/api/0/``, the web API) and ``control``
(``/``, ``/health``, ``/__parlel/...``).
"""

from __future__ import annotations

import re
from typing import Callable, Sequence
from urllib.parse import unquote_to_bytes

from twisted.logger import Logger
from twisted.web.resource import Resource
from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.responses import json_response

log = Logger()

_INGEST_PATH = re.compile(rb"(?:^|/)api/[^/]+/")


DirectHandler = Callable[[Request, str], bytes]
# runs a request's handling (``proceed``) or answers instead (``ingest.faults.FaultGate.guard``)
Guard = Callable[[Request, Callable[[], "bytes | int"]], "bytes | int"]


def render_direct(request: Request, handler: DirectHandler, argument: str) -> bytes:
    """Run a handler outside Klein with the same error answers ``install_error_handlers`` gives."""
    try:
        return handler(request, argument)
    except ApiError as error:
        return json_response(request, error.status, error.body(), error.headers)
    except Exception:
        log.failure("unhandled error answering {uri}", uri=request.uri)
        return json_response(request, 500, {"detail": "Internal Error"})


class Root(Resource):
    """Dispatches each request, whole path intact, to the route group that owns it.

    ``direct`` routes (the SDKs' ``POST .../envelope/`` and ``.../store/``) skip Klein's werkzeug
    matching, which costs as much as the rest of the request; their Klein routes stay registered
    for every other method (``OPTIONS``, the 405 answers).
    """

    isLeaf = True

    def __init__(
        self,
        api: Resource,
        ingest: Resource,
        control: Resource,
        direct: list[tuple[re.Pattern[bytes], bytes, DirectHandler, str]] | None = None,
        mounts: Sequence[tuple[bytes, Resource]] = (),
        guard: Guard | None = None,
    ) -> None:
        """``direct``: (path pattern, method, handler, route template); ``mounts``: (path prefix,
        resource) for the front doors that are not Sentry's own
        (``/v1/ingest``), matched before the ingest routes; ``guard``: what every web-API and
        ingest request goes through first (injected faults)."""
        super().__init__()
        self._api = api
        self._ingest = ingest
        self._control = control
        self._direct = direct or []
        self._mounts = tuple(mounts)
        self._guard: Guard = guard or (lambda request, proceed: proceed())

    def render(self, request: Request) -> bytes | int:
        path = request.path
        if b"%" in path or not path.isascii():
            try:
                unquote_to_bytes(path).decode("utf-8")
            except UnicodeDecodeError:
                return json_response(request, 400, {"detail": "Non-UTF-8 encoding in URL."})
        if _is_api(path):
            return self._guard(request, lambda: self._api.render(request))
        mount = self._mount(path)
        if mount is not None:
            return mount.render(request)
        if _INGEST_PATH.search(path):
            return self._guard(request, lambda: self._render_ingest(request, path))
        return self._control.render(request)

    def direct_route(self, method: bytes, path: bytes) -> tuple[DirectHandler, str, str] | None:
        """The direct route ``render`` gives ``method`` and ``path`` (an ASCII path with no escapes),
        its argument and template, when nothing before it (the web API, a mount) answers instead:
        what ``http.lean_channel`` may answer itself (while no fault is set)."""
        if _is_api(path) or self._mount(path) is not None:
            return None
        return self._direct_match(method, path)

    def _mount(self, path: bytes) -> Resource | None:
        for prefix, resource in self._mounts:
            if path.startswith(prefix):
                return resource
        return None

    def _direct_match(self, method: bytes, path: bytes) -> tuple[DirectHandler, str, str] | None:
        for pattern, direct_method, handler, template in self._direct:
            if direct_method == method:
                match = pattern.match(path)
                if match:
                    return handler, match.group(1).decode(), template
        return None

    def _render_ingest(self, request: Request, path: bytes) -> bytes | int:
        direct = self._direct_match(request.method, path)
        if direct is None:
            return self._ingest.render(request)
        handler, argument, request.route = direct  # type: ignore[attr-defined]  (as ``http.routing`` sets it)
        return render_direct(request, handler, argument)


def _is_api(path: bytes) -> bool:
    return path == b"/api/0" or path.startswith(b"/api/0/")
