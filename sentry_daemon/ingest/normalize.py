"""Events as Relay stores them, whatever dialect the SDK spoke.

sentry-python, @sentry/node and sentry-cli each send the same event protocol in a different shape
(top-level ``message`` vs ``logentry``, bare lists vs ``{"values": [...]}``, ISO vs float
timestamps, tag objects vs pair lists). Sentry never sees those differences because Relay
normalizes first (getsentry/relay ``relay-event-normalization/src/event.rs`` and the
``FromValue`` rules in ``relay-event-schema/src/protocol``); this module does the same, so grouping
and the web API read one canonical shape:

- ``event_id``: 32 lowercase hex.
- ``timestamp``, ``start_timestamp``, ``received`` and every breadcrumb and span timestamp:
  float Unix seconds (serializers format them).
- ``level``, ``platform``, ``type``, ``logger``: strings, always present.
- ``logentry``: ``{formatted, message?, params?}``; the legacy top-level ``message`` is gone.
- ``exception``, ``threads``, ``breadcrumbs``: ``{"values": [dict, ...]}`` or absent.
- ``tags``, ``request.headers``, ``request.cookies``, ``request.query_string``: ``[[key, value], ...]``
  of strings.
- ``user``, ``request``, ``contexts``, ``sdk``, ``extra``, ``modules``: dicts or absent.
- ``fingerprint``: list of strings or absent.
- ``errors``: Relay's list of ``{"type", "name", "value"?}`` for what had to be dropped or fixed.
- ``server_name`` and ``site`` stay as attributes and also become tags (Relay moves them to tags).

An event dated more than a minute after ``received`` or 30 days before it gets ``received`` as its
timestamp, every other timestamp shifted by the same amount (Relay's clock-drift rule).

Values of the wrong type are dropped (and noted in ``errors``), never fatal; unknown keys are kept.
"""

from __future__ import annotations

import ipaddress
import json
import math
import re
import uuid
from functools import lru_cache
from operator import itemgetter
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from sentry_daemon.timestamps import isoformat, usable_timestamp

MAX_SECS_IN_FUTURE = 60
MAX_SECS_IN_PAST = 30 * 24 * 3600
TAG_KEY_LIMIT = 200
TAG_VALUE_LIMIT = 200
ENVIRONMENT_LIMIT = 64
RELEASE_LIMIT = 200
DIST_LIMIT = 64

VALID_PLATFORMS = frozenset(
    "as3 c cfml cocoa csharp elixir go groovy haskell java javascript native node objc other "
    "perl php python ruby".split()
)
EVENT_TYPES = frozenset(
    "default error csp hpkp expectct expectstaple nel transaction feedback generic".split()
)
SECURITY_INTERFACES = ("csp", "hpkp", "expectct", "expectstaple")
_SECURITY_KEYS = frozenset(SECURITY_INTERFACES)

_LEVELS = frozenset(("debug", "info", "warning", "error", "fatal"))
_LEVEL_ALIASES = {"critical": "fatal", "log": "info", "warn": "warning"}
_PYTHON_LEVELS = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "fatal"}
_FORCED_TYPES = {"transaction": "transaction", "feedback": "feedback"}
_LEGACY_ALIASES = {
    "logentry": ("sentry.interfaces.Message", "message"),
    "user": ("sentry.interfaces.User",),
    "request": ("sentry.interfaces.Http",),
    "contexts": ("sentry.interfaces.Contexts",),
    "breadcrumbs": ("sentry.interfaces.Breadcrumbs",),
    "exception": ("sentry.interfaces.Exception",),
    "stacktrace": ("sentry.interfaces.Stacktrace",),
    "template": ("sentry.interfaces.Template",),
}
_ALIAS_KEYS = frozenset(alias for aliases in _LEGACY_ALIASES.values() for alias in aliases)
_BANNED_TAGS = frozenset(("release", "dist", "user", "filename", "function"))
_USER_STRINGS = ("email", "name", "segment", "sentry_user")
_USER_LENIENT = ("id", "username")
_USER_PLAIN_KEYS = frozenset(_USER_STRINGS + _USER_LENIENT)
_URL_PREFIXES = ("file:", "http:", "https:", "applewebdata:")

_UUID_RE = re.compile(
    r"(?:urn:uuid:)?(\{)?([0-9a-f]{8})(-?)([0-9a-f]{4})\3([0-9a-f]{4})\3([0-9a-f]{4})\3([0-9a-f]{12})"
    r"(?(1)\})",
    re.IGNORECASE,
)
_HEX32_RE = re.compile(r"[0-9a-f]{32}")
_TAG_KEY_RE = re.compile(r"[a-zA-Z0-9_.:-]+")
_DIST_RE = re.compile(r"[a-zA-Z0-9_.-]+")
_API_ATTRIBUTE_BAD = re.compile(r"[/\r\n\t\x0c]")
_METHOD_RE = re.compile(r"[A-Z\-_]{3,32}")
_TYPE_VALUE_RE = re.compile(r"(\w+):(.*)")
_PERCENT_RE = re.compile(
    r"%(?:\((?P<key>[^)]*)\))?(?P<spec>[-#0 +]*\d*(?:\.\d+)?)(?P<conv>[diouxXeEfFgGcrsa%])"
)
_CURLY_RE = re.compile(r"\{(\w*)\}")
_DIGITS_RE = re.compile(r"\d+")

_MISSING = object()
_JUST_STR = frozenset((str,))
_JUST_DICT = frozenset((dict,))
_STR_OR_NONE = frozenset((str, type(None)))
# Frame fields Relay types as strings: any other value is dropped, with an ``invalid_data`` error.
_FRAME_STRINGS = ("module", "function", "raw_function", "package", "platform", "context_line", "symbol")
_NO_DATA: dict[str, Any] = {}  # read-only stand-in for an absent object


def normalize_event(
    data: dict[str, Any],
    *,
    received: float,
    event_id: str | None = None,
    client_ip: str | None = None,
    sdk_client: str | None = None,
    item_type: str = "event",
    in_place: bool = False,
) -> dict[str, Any]:
    """``data`` in the canonical shape described in the module docstring.

    ``event_id`` (the envelope header's) wins over the payload's; ``client_ip`` replaces
    ``{{auto}}``; ``sdk_client`` (``name/version``) stands in for a missing ``sdk``; ``item_type``
    forces ``transaction`` and ``feedback`` types as Relay does for those envelope items.

    By default the result is a new dict and ``data`` is never modified. With ``in_place`` the
    caller gives ``data`` up: the result is built out of ``data`` itself (same output, no deep
    copy, which was most of the cost for a payload fresh from ``json.loads``). ``data`` must then
    be a tree (no dict or list reachable twice), as parsed JSON always is.
    """
    event = data if in_place else _clone(data)
    return _EventNormalizer(float(received), client_ip).run(event, event_id, sdk_client, item_type)


def _clone(value: Any) -> Any:
    """Deep copy of JSON data without recursion, so pathological nesting cannot raise.

    Each container is first copied shallowly (in C), then only its nested containers are replaced.
    """
    if isinstance(value, dict):
        root: Any = dict(value)
    elif isinstance(value, list):
        root = list(value)
    else:
        return value
    stack = [root]
    while stack:
        node = stack.pop()
        for key, item in node.items() if isinstance(node, dict) else enumerate(node):
            if isinstance(item, dict):
                node[key] = copy = dict(item)
                stack.append(copy)
            elif isinstance(item, list):
                node[key] = copy = list(item)
                stack.append(copy)
    return root


def _timestamp(value: Any) -> float | None:
    """Unix seconds rounded to microseconds (as Relay stores them), None if not a usable date.

    Dates (strings with a ``:``) need no rounding: an aware ``datetime``'s ``timestamp()`` is a
    whole number of microseconds divided by 10**6, which ``round(_, 6)`` leaves unchanged.
    """
    stamp = usable_timestamp(value)
    if stamp is None:
        return None
    return stamp if type(value) is str and ":" in value else round(stamp, 6)


def _event_id(value: Any) -> str | None:
    """A UUID in any of its spellings (plain, dashed, braced, urn) as 32 lowercase hex."""
    if not isinstance(value, str):
        return None
    if _HEX32_RE.fullmatch(value):
        return value
    match = _UUID_RE.fullmatch(value.strip())
    if match is None:
        return None
    return "".join(match.group(2, 4, 5, 6, 7)).lower()


def _level(value: Any) -> str | None:
    """Relay's ``Level``, plus case-insensitive names, ``warn`` and numeric strings."""
    if type(value) is str and value in _LEVELS:
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return _PYTHON_LEVELS.get(value)
    if not isinstance(value, str):
        return None
    text = value.strip().lower()
    if text.isascii() and text.isdigit() and len(text) == 2:
        return _PYTHON_LEVELS.get(int(text))
    return text if text in _LEVELS else _LEVEL_ALIASES.get(text)


def _lenient_string(value: Any) -> str | None:
    """Relay's ``LenientString``: Python's ``str()`` of primitives, floats truncated."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, int):
        return str(value) if -(2**63) <= value < 2**64 else None
    if isinstance(value, float) and math.isfinite(value) and abs(value) < 2**53:
        return str(math.trunc(value))
    return None


def _json_lenient_string(value: Any) -> str | None:
    """Relay's ``JsonLenientString``: strings as they are, anything else as compact JSON."""
    if value is None or isinstance(value, str):
        return value
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=True, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        return None


def _display(value: Any) -> str:
    """How a log parameter reads when interpolated: strings bare, everything else as JSON."""
    if isinstance(value, str):
        return value
    return _json_lenient_string(value) or ""


def _format_percent(template: str, params: Any) -> str | None:
    """``%s`` / ``%(name)s`` interpolation; None when an argument is missing or unfit."""
    out: list[str] = []
    position = index = 0
    while True:
        found = template.find("%", position)
        if found < 0:
            out.append(template[position:])
            return "".join(out)
        out.append(template[position:found])
        match = _PERCENT_RE.match(template, found)
        if match is None or any(len(number) > 3 for number in _DIGITS_RE.findall(match["spec"])):
            return None
        position = match.end()
        conv = match["conv"]
        if conv == "%":
            out.append("%")
            continue
        if match["key"] is not None:
            if not isinstance(params, dict) or match["key"] not in params:
                return None
            arg = params[match["key"]]
        else:
            if not isinstance(params, list) or index >= len(params):
                return None
            arg = params[index]
            index += 1
        if conv in "sra":
            arg, conv = _display(arg), "s"
        elif isinstance(arg, bool) or not isinstance(arg, (int, float)):
            return None
        try:
            out.append(f"%{match['spec']}{conv}" % arg)
        except (TypeError, ValueError, OverflowError):
            return None


def _format_curly(template: str, params: Any) -> str | None:
    """``{}`` / ``{0}`` / ``{name}`` interpolation; None when an argument is missing."""
    counter = iter(range(len(template)))
    failed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal failed
        key = match[1]
        if key == "" or (key.isascii() and key.isdigit()):
            position = next(counter) if key == "" else int(key[:19])
            if isinstance(params, list) and position < len(params):
                return _display(params[position])
        elif isinstance(params, dict) and key in params:
            return _display(params[key])
        failed = True
        return ""

    result = _CURLY_RE.sub(replace, template)
    return None if failed else result


def _format_message(template: str, params: Any) -> str | None:
    """Relay picks one style by the first marker it sees: ``%`` wins over ``{``."""
    if "%" in template:
        return _format_percent(template, params)
    if "{" in template:
        return _format_curly(template, params)
    return None


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == [] or value == {}


def _valid_ip(value: Any) -> bool:
    return isinstance(value, str) and _valid_ip_text(value)


@lru_cache(maxsize=512)
def _valid_ip_text(text: str) -> bool:
    """Cached: ``ip_address`` costs microseconds and a client keeps sending the same address."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


@lru_cache(maxsize=512)
def _header_name(name: str) -> str:
    """Relay capitalizes the first letter and each letter after ``-``, leaving the rest alone.

    Cached: every request repeats the same few dozen names.
    """
    chars = []
    upper = True
    for char in name:
        chars.append(char.upper() if upper else char)
        upper = char == "-"
    return "".join(chars)


@lru_cache(maxsize=256)
def _release_problem(release: str) -> str | None:
    """The error kind a release gets, None if valid; cached as a project sends a few releases."""
    if len(release.encode()) > RELEASE_LIMIT:
        return "value_too_long"
    if release in (".", "..") or release.lower() == "latest" or _API_ATTRIBUTE_BAD.search(release):
        return "invalid_data"
    return None


@lru_cache(maxsize=256)
def _environment_problem(environment: str) -> str | None:
    """The error kind an environment gets, None if valid; cached like ``_release_problem``."""
    if len(environment.encode()) > ENVIRONMENT_LIMIT:
        return "value_too_long"
    if environment in (".", "..") or environment.lower() == "none" or _API_ATTRIBUTE_BAD.search(environment):
        return "invalid_data"
    return None


def _plain_tags(raw: dict[str, Any]) -> list[list[str]] | None:
    """Tags as SDKs send them (an object of valid keys and string values) as sorted pairs, or None
    when any entry needs the general rules (and may produce errors)."""
    if not _JUST_STR.issuperset(map(type, raw)) or not _JUST_STR.issuperset(map(type, raw.values())):
        return None
    kept = []
    for key in sorted(raw):
        if not _plain_tag_key(key):
            return None
        value = raw[key].strip()
        if not value or len(value) > TAG_VALUE_LIMIT or "\n" in value:
            return None
        kept.append([key, value])
    return kept


@lru_cache(maxsize=1024)
def _plain_tag_key(key: str) -> bool:
    """A key the tag rules keep as it is; cached because projects use a handful of tag names."""
    return (
        len(key) <= TAG_KEY_LIMIT
        and key not in _BANNED_TAGS
        and key != "environment"
        and _TAG_KEY_RE.fullmatch(key) is not None
    )


def _security_interface(event: dict[str, Any]) -> str | None:
    """The first security report interface the event carries; the set test spares most events the scan."""
    if event.keys().isdisjoint(_SECURITY_KEYS):
        return None
    return next((key for key in SECURITY_INTERFACES if event.get(key) is not None), None)


def _parse_sdk_client(client: str) -> dict[str, str] | None:
    """``sentry.python/2.75.0`` (or ``name version``) from the auth header, as Relay reads it."""
    for separator in ("/", " "):
        name, found, version = client.partition(separator)
        if found:
            return {"name": name, "version": version}
    return None


def _stacktrace_name(owner: str, index: int) -> str:
    """``stacktrace`` or ``exception.values.0.stacktrace``, built only for an error's name."""
    return "stacktrace" if index < 0 else f"{owner}.values.{index}.stacktrace"


class _EventNormalizer:
    """One normalization run; collects Relay-style ``errors`` while it goes."""

    def __init__(self, received: float, client_ip: str | None) -> None:
        self.received = received
        self.client_ip = client_ip
        self.errors: list[dict[str, Any]] = []

    def invalid(self, name: str, value: Any = _MISSING, kind: str = "invalid_data", **extra: Any) -> None:
        error: dict[str, Any] = {"type": kind, "name": name}
        if value is not _MISSING:
            error["value"] = value
        error.update(extra)
        self.errors.append(error)

    def run(
        self, event: dict[str, Any], envelope_id: str | None, sdk_client: str | None, item_type: str
    ) -> dict[str, Any]:
        """The steps in Relay's order; those whose key is absent (and so would do nothing) are skipped."""
        if "errors" in event:
            previous = event.pop("errors")
            if isinstance(previous, list):
                self.errors.extend(error for error in previous if isinstance(error, dict))
        self.resolve_aliases(event)

        self.set_event_id(event, envelope_id)
        explicit_type = self.explicit_type(event) if "type" in event else None
        if "logentry" in event:
            self.set_logentry(event)
        self.set_interfaces(event)
        self.set_strings(event)
        self.set_tags(event)
        if "user" in event:
            self.set_user(event)
        if "request" in event:
            self.set_request(event)
        self.resolve_ips(event)
        if "contexts" in event:
            self.set_contexts(event)
        self.set_misc(event, sdk_client)
        self.set_platform(event)
        self.set_type(event, explicit_type, item_type)
        self.set_defaults(event)
        self.set_timestamps(event)
        if self.errors:
            event["errors"] = self.errors
        return event

    def resolve_aliases(self, event: dict[str, Any]) -> None:
        """The old ``sentry.interfaces.*`` names; the canonical key wins and aliases always go.

        Canonical keys move to the end even when no alias is there (their place in the output
        depends on it). With no alias only ``template`` needs that move here: every other canonical
        key is popped and set again by its own step later, which puts it last anyway.
        """
        if event.keys().isdisjoint(_ALIAS_KEYS):
            if "template" in event:
                event["template"] = event.pop("template")
            return
        for canonical, aliases in _LEGACY_ALIASES.items():
            value = event.pop(canonical, _MISSING)
            for alias in aliases:
                aliased = event.pop(alias, _MISSING)
                if value is _MISSING:
                    value = aliased
            if value is not _MISSING:
                event[canonical] = value

    def set_event_id(self, event: dict[str, Any], envelope_id: str | None) -> None:
        raw = event.get("event_id")
        parsed = _event_id(raw)
        if raw is not None and parsed is None:
            self.invalid("event_id", raw)
        envelope = parsed if envelope_id == raw else _event_id(envelope_id)
        event["event_id"] = envelope or parsed or uuid.uuid4().hex

    def explicit_type(self, event: dict[str, Any]) -> str | None:
        raw = event.pop("type", None)
        if raw is None:
            return None
        if isinstance(raw, str) and raw in EVENT_TYPES:
            return raw
        self.invalid("type", raw)
        return None

    def set_logentry(self, event: dict[str, Any]) -> None:
        """Relay's ``LogEntry::from_value`` then ``normalize_logentry``."""
        raw = event.pop("logentry", None)
        if raw is None or raw is False:
            return
        if isinstance(raw, str):
            if raw:
                event["logentry"] = {"formatted": raw}
            return
        if not isinstance(raw, dict):
            raw = {"formatted": _json_lenient_string(raw)}
        entry = {}
        for key in ("message", "formatted"):
            value = raw.pop(key, None)
            if isinstance(value, str):
                entry[key] = value
            elif value is not None:
                self.invalid(f"logentry.{key}", value)
        params = raw.pop("params", None)
        if isinstance(params, (dict, list)):
            entry["params"] = params
        elif params is not None:
            self.invalid("logentry.params", params)
        other = {key: value for key, value in raw.items() if value is not None}
        if all(_is_empty(value) for value in (*entry.values(), *other.values())):
            return
        if "message" not in entry and "formatted" not in entry:
            self.invalid("logentry", reason="no message present")
            return
        if "params" in entry and "formatted" not in entry and "message" in entry:
            formatted = _format_message(entry["message"], entry["params"])
            if formatted is not None:
                entry["formatted"] = formatted
        if "formatted" not in entry or entry.get("message") == entry["formatted"]:
            entry["formatted"] = entry.pop("message")
        event["logentry"] = {**entry, **other}

    def values(self, event: dict[str, Any], name: str) -> list[dict[str, Any]] | None:
        """Relay's ``Values<T>``: a list, ``{"values": [...]}``, one bare object, or ``{}``/null.

        A ``{"values": [...]}`` wrapper is reused: popping ``values`` and setting it again puts it
        last, as a fresh ``{**other, "values": kept}`` would.
        """
        raw = event.pop(name, None)
        if raw is None:
            return None
        if isinstance(raw, list):
            items = raw
            wrapper: dict[str, Any] = {}
        elif isinstance(raw, dict) and "values" in raw:
            items = raw.pop("values")
            wrapper = raw
            if not isinstance(items, list):
                if items is not None:
                    self.invalid(f"{name}.values", items)
                return None
        elif isinstance(raw, dict):
            items = [raw] if raw else []
            wrapper = {}
        else:
            self.invalid(name, raw)
            return None
        if _JUST_DICT.issuperset(map(type, items)):
            kept = items
        else:
            kept = []
            for index, item in enumerate(items):
                if isinstance(item, dict):
                    kept.append(item)
                elif item is not None:
                    self.invalid(f"{name}.values.{index}", item)
        wrapper["values"] = kept
        event[name] = wrapper
        return kept

    def set_interfaces(self, event: dict[str, Any]) -> None:
        if "stacktrace" in event:
            self.set_stacktrace(event, "stacktrace")
        exceptions = self.values(event, "exception")
        if exceptions is not None:
            kept = [exc for index, exc in enumerate(exceptions) if self.exception(exc, index)]
            if len(kept) == 1 and "stacktrace" in event:
                kept[0]["stacktrace"] = event.pop("stacktrace")
            if kept:
                event["exception"]["values"] = kept
            else:
                del event["exception"]
        if "threads" in event:
            threads = self.values(event, "threads")
            if threads is not None:
                for index, thread in enumerate(threads):
                    self.set_stacktrace(thread, "stacktrace", "threads", index)
                if not threads:
                    del event["threads"]
        crumbs = self.values(event, "breadcrumbs")
        if crumbs is not None:
            for index, crumb in enumerate(crumbs):
                self.breadcrumb(crumb, index)
            if not crumbs:
                del event["breadcrumbs"]
        if "spans" in event:
            self.set_spans(event)

    def exception(self, exc: dict[str, Any], index: int) -> bool:
        """Relay's ``Exception`` fields plus ``normalize_exception``; False drops the exception.

        Error names are spelled out only when an error is recorded, which almost never happens.
        """
        for key in ("type", "module"):
            value = exc.get(key, "")
            if not isinstance(value, str):
                del exc[key]
                if value is not None:
                    self.invalid(f"exception.values.{index}.{key}", value)
        if "value" in exc:
            value = exc.pop("value")
            if not isinstance(value, str):
                value = _json_lenient_string(value)
            if value is not None:
                exc["value"] = value
        if not isinstance(exc.get("mechanism", _NO_DATA), dict):
            value = exc.pop("mechanism")
            if value is not None:
                self.invalid(f"exception.values.{index}.mechanism", value)
        if "thread_id" in exc and (
            isinstance(exc["thread_id"], bool) or not isinstance(exc["thread_id"], (int, str))
        ):
            value = exc.pop("thread_id")
            if value is not None:
                self.invalid(f"exception.values.{index}.thread_id", value)
        if "stacktrace" in exc:
            self.set_stacktrace(exc, "stacktrace", "exception", index)
        if exc.get("type"):
            return True
        if exc.get("value"):
            match = _TYPE_VALUE_RE.fullmatch(exc["value"])
            if match:
                exc["type"], exc["value"] = match[1], match[2].strip()
        if not exc.get("type") and not exc.get("value"):
            self.invalid(f"exception.values.{index}", kind="missing_attribute", attribute="type or value")
            return False
        return True

    def set_stacktrace(self, holder: dict[str, Any], key: str, owner: str = "", index: int = -1) -> None:
        """``holder[key]`` as a stack trace; ``owner`` and ``index`` say where, for error names.

        Frames with both paths set and their other string fields strings (every Python frame) need
        nothing, so they are only looked at.
        """
        raw = holder.pop(key, None)
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.invalid(_stacktrace_name(owner, index), raw)
            return
        frames = raw.get("frames")
        if not isinstance(frames, list):
            name = _stacktrace_name(owner, index)
            if frames is None:
                self.invalid(f"{name}.frames", kind="missing_attribute")
            else:
                self.invalid(f"{name}.frames", frames)
            return
        if _JUST_DICT.issuperset(map(type, frames)):
            for position, frame in enumerate(frames):
                filename, abs_path = frame.get("filename"), frame.get("abs_path")
                if not (isinstance(filename, str) and isinstance(abs_path, str) and filename and abs_path) \
                        or not _STR_OR_NONE.issuperset(map(type, map(frame.get, _FRAME_STRINGS))):
                    self.frame(frame, _stacktrace_name(owner, index), position)
        else:
            name = _stacktrace_name(owner, index)
            kept = []
            for position, frame in enumerate(frames):
                if isinstance(frame, dict):
                    self.frame(frame, name, position)
                    kept.append(frame)
                elif frame is not None:
                    self.invalid(f"{name}.frames.{position}", frame)
            raw["frames"] = kept
        holder[key] = raw

    def frame(self, frame: dict[str, Any], stacktrace: str, index: int) -> None:
        """The frame's string fields typed, then ``process_non_raw_frame``: fill ``abs_path``/``filename``
        from each other; URLs give a path."""
        name = f"{stacktrace}.frames.{index}"
        for key in _FRAME_STRINGS:
            value = frame.get(key)
            if value is not None and type(value) is not str:
                self.invalid(f"{name}.{key}", frame.pop(key))
        filename, abs_path = frame.get("filename"), frame.get("abs_path")
        if isinstance(filename, str) and isinstance(abs_path, str) and filename and abs_path:
            return
        for key in ("filename", "abs_path"):
            if key in frame and not isinstance(frame[key], str):
                value = frame.pop(key)
                if value is not None:
                    self.invalid(f"{name}.{key}", value)
        if not frame.get("abs_path"):
            filename = frame.pop("filename", None)
            frame.pop("abs_path", None)
            if filename is not None:
                frame["abs_path"] = filename
        abs_path = frame.get("abs_path")
        if not frame.get("filename") and abs_path:
            frame["filename"] = abs_path
            if abs_path.startswith(_URL_PREFIXES):
                try:
                    path = urlsplit(abs_path).path
                except ValueError:
                    path = ""
                if path and path != "/":
                    frame["filename"] = path

    def breadcrumb(self, crumb: dict[str, Any], index: int) -> None:
        """A crumb as SDKs send it (valid type, level and fields, no legacy ``ty``) only needs its
        timestamp parsed; anything else takes the field-by-field path."""
        kind, level = crumb.get("type"), crumb.get("level")
        if (
            type(kind) is str
            and kind
            and type(level) is str
            and level in _LEVELS
            and type(crumb.get("category", "")) is str
            and type(crumb.get("message", "")) is str
            and type(crumb.get("data", _NO_DATA)) is dict
            and "ty" not in crumb
        ):
            if "timestamp" not in crumb:
                return
            stamp = _timestamp(crumb["timestamp"])
            if stamp is not None:
                crumb["timestamp"] = stamp
                return
        self.any_breadcrumb(crumb, index)

    def any_breadcrumb(self, crumb: dict[str, Any], index: int) -> None:
        legacy_type = crumb.pop("ty", _MISSING)
        if "type" not in crumb and legacy_type is not _MISSING:
            crumb["type"] = legacy_type
        if "timestamp" in crumb:
            stamp = _timestamp(crumb["timestamp"])
            if stamp is None:
                value = crumb.pop("timestamp")
                if value is not None:
                    self.invalid(f"breadcrumbs.values.{index}.timestamp", value)
            else:
                crumb["timestamp"] = stamp
        for key in ("type", "category", "message"):
            if key in crumb and not isinstance(crumb[key], str):
                value = crumb.pop(key)
                if value is not None:
                    self.invalid(f"breadcrumbs.values.{index}.{key}", value)
        if not crumb.get("type"):
            crumb["type"] = "default"
        if "data" in crumb and not isinstance(crumb["data"], dict):
            value = crumb.pop("data")
            if value is not None:
                self.invalid(f"breadcrumbs.values.{index}.data", value)
        raw_level = crumb.get("level")
        level = _level(raw_level)
        if level is None and raw_level is not None:
            self.invalid(f"breadcrumbs.values.{index}.level", raw_level)
        crumb["level"] = level or "info"

    def set_spans(self, event: dict[str, Any]) -> None:
        raw = event.pop("spans", None)
        if raw is None:
            return
        if not isinstance(raw, list):
            self.invalid("spans", raw)
            return
        kept = []
        for index, span in enumerate(raw):
            if not isinstance(span, dict):
                if span is not None:
                    self.invalid(f"spans.{index}", span)
                continue
            for key in ("start_timestamp", "timestamp"):
                if key in span:
                    stamp = _timestamp(span[key])
                    if stamp is None:
                        value = span.pop(key)
                        if value is not None:
                            self.invalid(f"spans.{index}.{key}", value)
                    else:
                        span[key] = stamp
            kept.append(span)
        event["spans"] = kept

    def string(self, holder: dict[str, Any], key: str, prefix: str = "") -> None:
        """Keeps ``holder[key]`` only if it is a string; anything else is dropped with an error."""
        value = holder.get(key)
        if value is None:
            holder.pop(key, None)
        elif not isinstance(value, str):
            self.invalid(prefix + key, holder.pop(key))

    def set_strings(self, event: dict[str, Any]) -> None:
        """Relay's schema rules for the plain string attributes."""
        for key in ("culprit", "server_name", "site", "logger", "dist", "environment", "transaction"):
            if key in event:
                value = event[key]
                if value is None:
                    del event[key]
                elif not isinstance(value, str):
                    self.invalid(key, event.pop(key))
        if "release" in event:
            raw = event.pop("release")
            release = _lenient_string(raw)
            if release is not None:
                release = release.strip()
                if release and self.valid_release(release):
                    event["release"] = release
                elif not release:
                    self.invalid("release", raw, reason="expected a non-empty value")
            elif raw is not None:
                self.invalid("release", raw)
        if "environment" in event:
            environment = event.pop("environment").strip()
            if environment and self.valid_environment(environment):
                event["environment"] = environment
        if "dist" in event:
            dist = event.pop("dist").strip()
            if len(dist) > DIST_LIMIT:
                self.invalid("dist", dist, kind="value_too_long")
            elif dist and not _DIST_RE.fullmatch(dist):
                self.invalid("dist", dist)
            elif dist:
                event["dist"] = dist
        if "transaction" in event:
            event["transaction"] = event["transaction"].strip()
        if "logger" in event and ("\r" in event["logger"] or "\n" in event["logger"]):
            self.invalid("logger", event.pop("logger"))

    def valid_release(self, release: str) -> bool:
        """sentry-release-parser's ``validate_release``."""
        problem = _release_problem(release)
        if problem is not None:
            self.invalid("release", release, kind=problem)
        return problem is None

    def valid_environment(self, environment: str) -> bool:
        """sentry-release-parser's ``validate_environment``."""
        problem = _environment_problem(environment)
        if problem is not None:
            self.invalid("environment", environment, kind=problem)
        return problem is None

    def pair_entries(self, raw: Any, name: str, sort: bool) -> list[tuple[int, Any, Any]]:
        """Relay's ``PairList``: an object (key order sorted when Relay sorts) or a list of 2-lists."""
        if raw is None:
            return []
        if isinstance(raw, dict):
            items = list(raw.items())
            if sort:
                items.sort(key=itemgetter(0))
            return [(index, key, value) for index, (key, value) in enumerate(items)]
        if not isinstance(raw, list):
            self.invalid(name, raw)
            return []
        entries = []
        for index, item in enumerate(raw):
            if isinstance(item, list) and len(item) == 2:
                entries.append((index, item[0], item[1]))
            elif item is not None:
                self.invalid(f"{name}.{index}", item)
        return entries

    def set_tags(self, event: dict[str, Any]) -> None:
        """``TagEntry::from_value``, the schema's character rules, then ``normalize_event_tags``."""
        raw = event.pop("tags", None)
        kept = [] if raw is None else _plain_tags(raw) if type(raw) is dict else None
        if kept is None:
            kept = self.any_tags(event, raw)
        for key in ("server_name", "site"):
            value = event.get(key)
            if isinstance(value, str):
                for pair in kept:
                    if pair[0] == key:
                        pair[1] = value
                        break
                else:
                    kept.append([key, value])
        if kept:
            event["tags"] = kept

    def any_tags(self, event: dict[str, Any], raw: Any) -> list[list[str]]:
        pairs: list[list[str | None]] = []
        for index, raw_key, raw_value in self.pair_entries(raw, "tags", sort=True):
            key = _lenient_string(raw_key)
            value = _lenient_string(raw_value)
            if key is not None:
                key = key.replace(" ", "-").strip()
                if key and not _TAG_KEY_RE.fullmatch(key):
                    self.invalid(f"tags.{index}.0", key)
                    key = None
            elif raw_key is not None:
                self.invalid(f"tags.{index}.0", raw_key)
            if value is not None:
                value = value.strip()
                if "\n" in value:
                    self.invalid(f"tags.{index}.1", value)
                    value = None
            elif raw_value is not None:
                self.invalid(f"tags.{index}.1", raw_value)
            pairs.append([key, value])

        for pair in pairs:
            if pair[0] == "environment":
                pairs.remove(pair)
                if pair[1] and "environment" not in event:
                    event["environment"] = pair[1]
                break

        seen: set[str | None] = set()
        kept: list[list[str]] = []
        for index, (key, value) in enumerate(pairs):
            if key in _BANNED_TAGS or key in seen:
                continue
            seen.add(key)
            if key is None or value is None:
                continue
            if not key or not value:
                self.invalid(f"tags.{index}", [key, value], reason="expected a non-empty value")
            elif len(key) > TAG_KEY_LIMIT or len(value) > TAG_VALUE_LIMIT:
                self.invalid(f"tags.{index}", [key, value], kind="value_too_long")
            else:
                kept.append([key, value])
        return kept

    def set_user(self, event: dict[str, Any]) -> None:
        """Relay's ``User`` fields; unknown keys move into ``user.data`` (``normalize_user``)."""
        raw = event.pop("user", None)
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.invalid("user", raw)
            return
        if raw and _USER_PLAIN_KEYS.issuperset(raw) and _JUST_STR.issuperset(map(type, raw.values())):
            event["user"] = raw
            return
        user: dict[str, Any] = {}
        other: dict[str, Any] = {}
        for key, value in raw.items():
            if value is None:
                continue
            if key in _USER_LENIENT:
                converted = _lenient_string(value)
            elif key in _USER_STRINGS:
                converted = value if isinstance(value, str) else None
            elif key == "ip_address":
                converted = value if value == "{{auto}}" or _valid_ip(value) else None
            elif key in ("geo", "data"):
                converted = value if isinstance(value, dict) else None
            else:
                other[key] = value
                continue
            if converted is None:
                self.invalid(f"user.{key}", value)
            else:
                user[key] = converted
        if other:
            user["data"] = {**user.get("data", {}), **other}
        if user:
            event["user"] = user

    def set_request(self, event: dict[str, Any]) -> None:
        """Relay's ``Request`` schema plus ``normalize_request`` (url, method, cookies)."""
        raw = event.pop("request", None)
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.invalid("request", raw)
            return
        for key in ("url", "method", "fragment", "protocol"):
            self.string(raw, key, "request.")
        if "env" in raw and not isinstance(raw["env"], dict):
            value = raw.pop("env")
            if value is not None:
                self.invalid("request.env", value)
        self.set_headers(raw)
        self.set_cookies(raw)
        self.set_query(raw)
        if "method" in raw:
            method = raw.pop("method").upper()
            if _METHOD_RE.fullmatch(method):
                raw["method"] = method
            else:
                self.invalid("request.method", method)
        if "url" in raw:
            self.split_url(raw)
        event["request"] = raw

    def set_headers(self, request: dict[str, Any]) -> None:
        raw = request.pop("headers", None)
        headers = []
        for index, name, value in self.pair_entries(raw, "request.headers", sort=False):
            if not isinstance(name, str):
                if name is not None:
                    self.invalid(f"request.headers.{index}.0", name)
                continue
            if isinstance(value, list):
                parts = [_lenient_string(part) for part in value]
                text: str | None = ",".join(part for part in parts if part is not None)
            else:
                text = _lenient_string(value)
            if text is None:
                if value is not None:
                    self.invalid(f"request.headers.{index}.1", value)
                continue
            headers.append([_header_name(name), text])
        if isinstance(raw, dict):
            headers.sort(key=itemgetter(0))
        if headers:
            request["headers"] = headers

    def set_cookies(self, request: dict[str, Any]) -> None:
        raw = request.pop("cookies", None)
        if isinstance(raw, str):
            cookies, valid = self.parse_cookies(raw)
            if not valid:
                self.invalid("request.cookies", raw)
        else:
            cookies = []
            for index, name, value in self.pair_entries(raw, "request.cookies", sort=True):
                if isinstance(name, str) and isinstance(value, str):
                    cookies.append([name, value])
                elif name is not None and value is not None:
                    self.invalid(f"request.cookies.{index}", [name, value])
        headers = request.get("headers", [])
        header = next((pair for pair in headers if pair[0] == "Cookie"), None)
        if raw is None and header is not None:
            parsed, valid = self.parse_cookies(header[1])
            if valid:
                cookies = parsed
            else:
                header = None
        if header is not None:
            headers.remove(header)
            if not headers:
                del request["headers"]
        if cookies:
            request["cookies"] = cookies

    @staticmethod
    def parse_cookies(text: str) -> tuple[list[list[str]], bool]:
        """``a=b; c=d`` as the ``cookie`` crate reads it; False if any part is not a cookie."""
        cookies = []
        valid = True
        for part in text.split(";"):
            if not part.strip():
                continue
            name, found, value = part.partition("=")
            if not found or not name.strip():
                valid = False
                continue
            cookies.append([unquote(name.strip()), unquote(value.strip())])
        return cookies, valid

    def set_query(self, request: dict[str, Any]) -> None:
        raw = request.pop("query_string", None)
        if isinstance(raw, str):
            query = [list(pair) for pair in parse_qsl(raw.removeprefix("?"), keep_blank_values=True)]
        else:
            query = []
            for index, name, value in self.pair_entries(raw, "request.query_string", sort=True):
                text = _json_lenient_string(value)
                if isinstance(name, str) and text is not None:
                    query.append([name, text])
                elif name is not None and value is not None:
                    self.invalid(f"request.query_string.{index}", [name, value])
        if query:
            request["query_string"] = query

    @staticmethod
    def split_url(request: dict[str, Any]) -> None:
        """The query string and fragment of ``url`` move to their own fields (fields win)."""
        url = request["url"]
        if url.endswith("\u2026"):
            url = url[:-1] + "..."
        url, hash_found, fragment = url.partition("#")
        if hash_found and fragment and "fragment" not in request:
            request["fragment"] = fragment
        url, question_found, query = url.partition("?")
        if question_found and query and "query_string" not in request:
            pairs = [list(pair) for pair in parse_qsl(query, keep_blank_values=True)]
            if pairs:
                request["query_string"] = pairs
        request["url"] = url

    def resolve_ips(self, event: dict[str, Any]) -> None:
        """``normalize_ip_addresses``: ``{{auto}}``, ``REMOTE_ADDR``, then JS/Cocoa backfill."""
        request = event.get("request") or _NO_DATA
        env = request.get("env") or _NO_DATA
        user = event.get("user") or _NO_DATA
        if self.client_ip:
            if env.get("REMOTE_ADDR") == "{{auto}}":
                env["REMOTE_ADDR"] = self.client_ip
            if user.get("ip_address") == "{{auto}}":
                user["ip_address"] = self.client_ip
        http_ip = env.get("REMOTE_ADDR")
        browser_like = event.get("platform") in ("javascript", "cocoa", "objc")
        if http_ip is not None and _valid_ip(http_ip):
            event.setdefault("user", {}).setdefault("ip_address", http_ip)
        elif self.client_ip and browser_like and "ip_address" not in user:
            event.setdefault("user", {})["ip_address"] = self.client_ip
        is_security = _security_interface(event) is not None
        is_nel = isinstance(event.get("contexts"), dict) and "nel" in event["contexts"]
        if self.client_ip and (is_security or is_nel):
            event.setdefault("user", {})["ip_address"] = self.client_ip
        if is_security and "logger" not in event:
            event["logger"] = "csp"

    def set_contexts(self, event: dict[str, Any]) -> None:
        """Every context is an object whose ``type`` defaults to its key (``Contexts::from_value``)."""
        raw = event.pop("contexts", None)
        if raw is None:
            return
        if not isinstance(raw, dict):
            self.invalid("contexts", raw)
            return
        if "reprocessing" in raw or not _JUST_DICT.issuperset(map(type, raw.values())):
            raw = self.object_contexts(raw)
        for key, context in raw.items():
            kind = context.get("type")
            if not isinstance(kind, str) or not kind:
                context["type"] = kind = key
            if kind == "trace" and not isinstance(context.get("status"), str):
                context["status"] = "unknown"
        event["contexts"] = raw

    def object_contexts(self, raw: dict[str, Any]) -> dict[str, Any]:
        """``raw`` without ``reprocessing`` and the contexts that are not objects."""
        contexts = {}
        for key, context in raw.items():
            if key == "reprocessing" or context is None:
                continue
            if not isinstance(context, dict):
                self.invalid(f"contexts.{key}", context)
                continue
            contexts[key] = context
        return contexts

    def set_misc(self, event: dict[str, Any], sdk_client: str | None) -> None:
        for key in ("extra", "sdk", "transaction_info", "debug_meta", "measurements", "breakdowns"):
            if key in event and not isinstance(event[key], dict):
                value = event.pop(key)
                if value is not None:
                    self.invalid(key, value)
        if "sdk" not in event and sdk_client:
            sdk = _parse_sdk_client(sdk_client)
            if sdk is not None:
                event["sdk"] = sdk
        if "modules" in event:
            modules = event.pop("modules")
            if isinstance(modules, dict):
                if not _JUST_STR.issuperset(map(type, modules.values())):
                    modules = {name: version for name, version in modules.items() if isinstance(version, str)}
                event["modules"] = modules
            elif modules is not None:
                self.invalid("modules", modules)
        if "fingerprint" in event:
            self.set_fingerprint(event)
        raw_level = event.pop("level", None)
        level = _level(raw_level)
        if level is not None:
            event["level"] = level
        elif raw_level is not None:
            self.invalid("level", raw_level)

    def set_fingerprint(self, event: dict[str, Any]) -> None:
        """``Fingerprint::from_value``: primitives stringified, nulls skipped, others dropped."""
        raw = event.pop("fingerprint")
        if raw is None:
            return
        if not isinstance(raw, list):
            self.invalid("fingerprint", raw)
            return
        parts = []
        bad = []
        for item in raw:
            text = _lenient_string(item)
            if text is not None:
                parts.append(text)
            elif item is not None:
                bad.append(item)
        if bad:
            self.invalid("fingerprint", bad)
        if parts:
            event["fingerprint"] = parts

    def set_platform(self, event: dict[str, Any]) -> None:
        platform = event.get("platform")
        if not isinstance(platform, str) or platform not in VALID_PLATFORMS:
            event["platform"] = "other"

    def set_type(self, event: dict[str, Any], explicit: str | None, item_type: str) -> None:
        """``infer_event_type``: only ``transaction`` and ``feedback`` are taken as stated."""
        if item_type in _FORCED_TYPES:
            event["type"] = _FORCED_TYPES[item_type]
        elif explicit in ("transaction", "feedback"):
            event["type"] = explicit
        elif event.get("exception"):
            event["type"] = "error"
        else:
            found = _security_interface(event)
            if found is None and "nel" in event.get("contexts", _NO_DATA):
                found = "nel"
            event["type"] = found or "default"

    def set_defaults(self, event: dict[str, Any]) -> None:
        is_transaction = event["type"] == "transaction"
        event.setdefault("level", "info" if is_transaction else "error")
        event.setdefault("logger", "")
        if not is_transaction:
            event.pop("measurements", None)
            return
        if not event.get("transaction"):
            event["transaction"] = "<unlabeled transaction>"
        info = event.setdefault("transaction_info", {})
        if not isinstance(info.get("source"), str):
            info["source"] = "unknown"
        trace = event.get("contexts", {}).get("trace")
        if trace is not None and trace.get("op") is None:
            trace["op"] = "default"
        for span in event.get("spans", ()):
            if span.get("op") is None:
                span["op"] = "default"

    def set_timestamps(self, event: dict[str, Any]) -> None:
        """Parse, then Relay's clock-drift rule: too far in the future or past means now."""
        for key in ("timestamp", "start_timestamp"):
            if key in event:
                stamp = _timestamp(event[key])
                if stamp is None:
                    value = event.pop(key)
                    if value is not None:
                        self.invalid(key, value)
                else:
                    event[key] = stamp
        stamp = event.get("timestamp")
        if stamp is not None:
            if stamp > self.received + MAX_SECS_IN_FUTURE:
                self.shift_clock(event, stamp, "future_timestamp")
            elif stamp < self.received - MAX_SECS_IN_PAST:
                self.shift_clock(event, stamp, "past_timestamp")
        event.setdefault("timestamp", self.received)
        event["received"] = self.received

    def shift_clock(self, event: dict[str, Any], stamp: float, kind: str) -> None:
        """``ClockDriftProcessor``: move every timestamp by the drift so durations survive."""
        drift = self.received - stamp
        self.invalid("timestamp", kind=kind, sdk_time=isoformat(stamp), server_time=isoformat(self.received))
        event["timestamp"] = self.received
        holders: list[tuple[dict[str, Any], str, str]] = [(event, "start_timestamp", "start_timestamp")]
        for index, crumb in enumerate((event.get("breadcrumbs") or {}).get("values", ())):
            holders.append((crumb, "timestamp", f"breadcrumbs.values.{index}.timestamp"))
        for index, span in enumerate(event.get("spans", ())):
            holders.append((span, "start_timestamp", f"spans.{index}.start_timestamp"))
            holders.append((span, "timestamp", f"spans.{index}.timestamp"))
        for holder, key, name in holders:
            if key in holder:
                shifted = _timestamp(holder[key] + drift)
                if shifted is None:
                    self.invalid(name, holder.pop(key))
                else:
                    holder[key] = shifted
