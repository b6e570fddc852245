"""The HTTP surface: JSON answers, Sentry-shaped errors, and the root that dispatches by path.

Three route groups, each an instance-bound Klein app that only parses, calls the store and
serializes: ``ingest`` (what SDKs send), ``api`` (``/api/0/``, the web API) and ``control``
(``/``, ``/health``, ``/__parlel/...``). Every error, routing ones included, leaves as
``{"detail": ...}`` JSON; an unexpected exception is logged and answered 500 without a traceback.
"""

from __future__ import annotations

import json
import re
from typing import Any, Callable
from urllib.parse import unquote_to_bytes

from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.resource import Resource
from twisted.web.server import Request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from sentry_daemon.errors import ApiError
from sentry_daemon.responses import json_response

log = Logger()

def read_json_object(request: Request) -> dict[str, Any]:
    """The request body as a JSON object, or a 400 saying why it is not one."""
    raw = request.content.read() if request.content is not None else b""
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "JSON parse error - nested too deeply") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ApiError(400, f"JSON parse error - {exc}") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Invalid data. Expected a dictionary, but got %s." % type(body).__name__)
    return body


def query_arg(request: Request, name: str, default: str | None = None) -> str | None:
    values = request.args.get(name.encode())
    return values[0].decode("utf-8", "replace") if values else default


def query_args(request: Request, name: str) -> list[str]:
    return [v.decode("utf-8", "replace") for v in request.args.get(name.encode(), [])]


def install_error_handlers(app: Klein) -> None:
    """Make every failure in ``app`` a JSON ``{"detail": ...}`` answer with Sentry's status."""

    @app.handle_errors(ApiError)
    def api_error(_instance: Any, request: Request, failure: Failure) -> bytes:
        error: ApiError = failure.value
        return json_response(request, error.status, error.body(), error.headers)

    @app.handle_errors(MethodNotAllowed)
    def method_not_allowed(_instance: Any, request: Request, failure: Failure) -> bytes:
        allowed = sorted(set(failure.value.valid_methods or []) | {"OPTIONS"})
        method = request.method.decode("ascii", "replace")
        return json_response(
            request, 405, {"detail": f'Method "{method}" not allowed.'}, {"Allow": ", ".join(allowed)}
        )

    @app.handle_errors(NotFound)
    def not_found(_instance: Any, request: Request, failure: Failure) -> bytes:
        return json_response(request, 404, {"detail": "The requested resource does not exist"})

    @app.handle_errors(HTTPException)
    def http_error(_instance: Any, request: Request, failure: Failure) -> bytes:
        exc: HTTPException = failure.value
        return json_response(request, exc.code or 400, {"detail": exc.description or exc.name})

    @app.handle_errors(Exception)
    def internal_error(_instance: Any, request: Request, failure: Failure) -> bytes:
        log.failure("unhandled error answering {uri}", failure, uri=request.uri)
        return json_response(request, 500, {"detail": "Internal Error"})


_INGEST_PATH = re.compile(rb"(?:^|/)api/[^/]+/")


DirectHandler = Callable[[Request, str], bytes]


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
        direct: list[tuple[re.Pattern[bytes], bytes, DirectHandler]] | None = None,
    ) -> None:
        super().__init__()
        self._api = api
        self._ingest = ingest
        self._control = control
        self._direct = direct or []

    def render(self, request: Request) -> bytes | int:
        path = request.path
        if b"%" in path or not path.isascii():
            try:
                unquote_to_bytes(path).decode("utf-8")
            except UnicodeDecodeError:
                return json_response(request, 400, {"detail": "Non-UTF-8 encoding in URL."})
        if path == b"/api/0" or path.startswith(b"/api/0/"):
            return self._api.render(request)
        if _INGEST_PATH.search(path):
            for pattern, method, handler in self._direct:
                match = pattern.match(path)
                if match and request.method == method:
                    return render_direct(request, handler, match.group(1).decode())
            return self._ingest.render(request)
        return self._control.render(request)
