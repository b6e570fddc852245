"""The web page, ``GET /ui/``: static files shipped in the package (``sentry_daemon/ui/``).

The page is plain HTML, CSS and JavaScript modules that read the daemon's own JSON APIs and the
live stream; nothing is fetched from elsewhere. Every file is read once, when the service is made,
into a table of name -> bytes: a request can only name a file of that table, so no path (``..``,
an encoded slash, a symlink) reaches the file system. Every answer carries a strict
``Content-Security-Policy`` (``default-src 'self'``: no inline script or style, no other origin)
and ``X-Content-Type-Options: nosniff``; event content is data from outside, and the page renders
it as text only (``ui/js/dom.js``).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable

from twisted.web.resource import Resource
from twisted.web.server import Request

from sentry_daemon.http.responses import bytes_response, empty_response, json_response

PREFIX = b"/ui"
ROUTE = "/ui/{file}"  # the one route template the metrics count these requests under
CONTENT_SECURITY_POLICY = ("default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; "
                           "object-src 'none'")
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    # the files change with the installed version only; revalidating costs one small request
    "Cache-Control": "no-cache",
}


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str


def _walk(folder: Traversable, prefix: str = "") -> dict[str, StaticFile]:
    found: dict[str, StaticFile] = {}
    for entry in folder.iterdir():
        name = prefix + entry.name
        if entry.is_dir():
            found.update(_walk(entry, name + "/"))
            continue
        suffix = name[name.rfind("."):] if "." in entry.name else ""
        if suffix in CONTENT_TYPES:
            found[name] = StaticFile(entry.read_bytes(), CONTENT_TYPES[suffix])
    return found


def load_files(folder: Traversable) -> dict[str, StaticFile]:
    """The files of ``folder`` by their path under it (``index.html``, ``js/app.js``, ...)."""
    return _walk(folder)


@cache
def shipped_files() -> dict[str, StaticFile]:
    """The page as installed with the package: read once per process (every service shares it)."""
    return load_files(resources.files("sentry_daemon") / "ui")


class PageResource(Resource):
    """``/ui`` (a redirect to ``/ui/``), ``/ui/`` (the page) and ``/ui/<file>``."""

    isLeaf = True

    def __init__(self, files: dict[str, StaticFile] | None = None) -> None:
        super().__init__()
        self.files = shipped_files() if files is None else files

    def render(self, request: Request) -> bytes:
        path = request.path
        if path == PREFIX:
            return empty_response(request, 301, {"Location": "/ui/"})
        if not path.startswith(PREFIX + b"/"):
            return json_response(request, 404, {"detail": "The requested resource does not exist"})
        request.route = ROUTE  # type: ignore[attr-defined]  (as ``http.routing`` sets it)
        if request.method not in (b"GET", b"HEAD"):
            method = request.method.decode("ascii", "replace")
            return json_response(request, 405, {"detail": f'Method "{method}" not allowed.'},
                                 {"Allow": "GET, HEAD"})
        name = path[len(PREFIX) + 1:].decode("ascii", "replace") or "index.html"
        found = self.files.get(name)
        if found is None:
            return json_response(request, 404, {"detail": "The requested resource does not exist"}, HEADERS)
        return bytes_response(request, 200, found.body, found.content_type, HEADERS)
