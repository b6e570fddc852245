"""Every failure inside a Klein route group leaves as Sentry-shaped ``{"detail": ...}`` JSON.

Routing errors (404, 405 with ``Allow``) included; an unexpected exception is logged and answered
500 without a traceback.
"""

from __future__ import annotations

from typing import Any

from klein import Klein
from twisted.logger import Logger
from twisted.python.failure import Failure
from twisted.web.server import Request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.responses import empty_response, json_response

log = Logger()


def install_error_handlers(app: Klein) -> None:
    """Make every failure in ``app`` a JSON ``{"detail": ...}`` answer with Sentry's status."""

    @app.handle_errors(ApiError)
    def api_error(_instance: Any, request: Request, failure: Failure) -> bytes:
        error: ApiError = failure.value
        return json_response(request, error.status, error.body(), error.headers)

    @app.handle_errors(MethodNotAllowed)
    def method_not_allowed(_instance: Any, request: Request, failure: Failure) -> bytes:
        allowed = sorted(set(failure.value.valid_methods or []) | {"OPTIONS"})
        if request.method == b"OPTIONS":
            return empty_response(request, 200, {"Allow": ", ".join(allowed)})
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
