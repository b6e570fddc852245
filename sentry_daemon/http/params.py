"""Reading a web request: its query arguments and its JSON body, with Sentry's 400 answers."""

from __future__ import annotations

import json
import shlex
from typing import Any, Callable, Mapping

from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError


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


MAX_DIGITS = 1000  # more is no id or count (and ``int`` refuses 4300 digits)


def parse_int(text: str | bytes | None, signed: bool = False) -> int | None:
    """An id or number as a path segment or query argument spells it: ASCII digits (a leading
    ``-`` too when ``signed``), else None. ``str.isdigit`` takes ``²``, which ``int`` refuses, and
    ``int`` takes ``١``, `` 1 ``, ``1_0`` and ``+1``, which are no ids."""
    if isinstance(text, bytes):
        text = text.decode("latin-1")
    if not text:
        return None
    digits = text[1:] if signed and text[0] == "-" else text
    if len(digits) > MAX_DIGITS or not (digits.isascii() and digits.isdigit()):
        return None
    return int(text)


def query_arg(request: Request, name: str, default: str | None = None) -> str | None:
    values = request.args.get(name.encode())
    return values[0].decode("utf-8", "replace") if values else default


def query_args(request: Request, name: str) -> list[str]:
    return [v.decode("utf-8", "replace") for v in request.args.get(name.encode(), [])]


def query_flag(request: Request, name: str) -> bool:
    """A boolean argument as Sentry's endpoints read one (``?full=1``, ``?full=true``)."""
    return query_arg(request, name) in ("1", "true", "True")


def query_tokens(text: str) -> dict[str, list[str]]:
    """Sentry's ``tokenize_query`` for list filters: ``key:value`` terms by key (repeatable,
    comma-separated values), every other word under ``query``."""
    try:
        words = shlex.split(text)
    except ValueError:
        words = text.split()
    tokens: dict[str, list[str]] = {}
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key:
            tokens.setdefault(key, []).extend(v for v in value.split(",") if v)
        else:
            tokens.setdefault("query", []).append(word)
    return tokens


def match_tokens(tokens: dict[str, list[str]], checks: Mapping[str, Callable[[list[str]], bool]]) -> bool:
    """Whether an object passes every term of a list filter: each key's check, and no key the
    endpoint does not know (for those Sentry's lists answer nothing)."""
    return all(key in checks and checks[key](values) for key, values in tokens.items())


def contains_text(values: list[str], *texts: str) -> bool:
    """The free-text terms, joined, appear (case-insensitively) in one of ``texts``."""
    wanted = " ".join(values).lower()
    return any(wanted in text.lower() for text in texts)
