"""Sentry's cursor pagination: ``cursor=value:offset:is_prev`` and the two-entry ``Link`` header.

We use the ``OffsetPaginator`` scheme (value = page size, offset = page number), which Sentry uses
for most list endpoints; clients treat cursors as opaque (SENTRY-PROTOCOL §7.2).
"""

from __future__ import annotations

from typing import Sequence, TypeVar
from urllib.parse import urlencode

from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int

T = TypeVar("T")

MAX_PER_PAGE = 100


def _page_size(request: Request, param: str, default: int) -> int:
    raw = request.args.get(param.encode())
    if not raw:
        return default
    size = parse_int(raw[0], signed=True)
    if size is None:
        raise ApiError(400, f"Invalid {param} parameter.")
    if size > MAX_PER_PAGE:
        raise ApiError(400, f"Invalid {param} value. Cannot exceed {MAX_PER_PAGE}.")
    if size < 1:
        raise ApiError(400, f"Invalid {param} parameter.")
    return size


def _page_number(request: Request) -> int:
    raw = request.args.get(b"cursor")
    if not raw or not raw[0]:
        return 0
    try:
        _value, offset, _is_prev = (int(part) for part in raw[0].decode().split(":"))
    except ValueError:
        raise ApiError(400, "Invalid cursor parameter.") from None
    return max(offset, 0)


def paginate(
    request: Request, items: Sequence[T], base_url: str, param: str = "per_page", default: int = MAX_PER_PAGE,
    size: int | None = None,
) -> tuple[list[T], dict[str, str]]:
    """One page of ``items`` and the headers (``Link``, ``X-Hits``) that describe the others.

    ``size``: the page size, when the caller read it already (issue lists read ``limit`` their way).
    """
    if size is None:
        size = _page_size(request, param, default)
    page = _page_number(request)
    chunk = list(items[page * size : (page + 1) * size])
    query = [
        (k.decode(), v.decode("utf-8", "replace"))
        for k, values in request.args.items()
        if k != b"cursor"
        for v in values
    ]
    url = f"{base_url}{request.path.decode()}?{urlencode(query)}"

    def link(rel: str, cursor: str, results: bool) -> str:
        return f'<{url}&cursor={cursor}>; rel="{rel}"; results="{str(results).lower()}"; cursor="{cursor}"'

    has_prev = page > 0
    has_next = (page + 1) * size < len(items)
    header = ", ".join(
        [
            link("previous", f"{size}:{page - 1}:1", has_prev),
            link("next", f"{size}:{page + 1}:0", has_next),
        ]
    )
    return chunk, {"Link": header, "X-Hits": str(len(items)), "X-Max-Hits": str(len(items))}
