"""Event-specific values in messages and exception values, replaced by placeholders before hashing.

``Connection to 10.0.0.7 failed after 3 retries`` and ``... 10.0.0.9 ... 5 retries`` are one issue
in Sentry because both read ``Connection to <ip> failed after <int> retries`` when grouped. This is
Sentry's parameterization (``grouping/parameterization.py``) as sentry.io runs it, re-expressed:

- One pass of one alternation, left to right. The match that starts first wins; at the same
  start the pattern listed first wins (not the longest), so the list runs specific → generic.
- A pattern may validate its match (IP addresses are checked with :mod:`ipaddress`). When a
  validator declines, the combined pass is discarded and the patterns are applied one at a time,
  in order, each over the previous one's output: an earlier alternative's consumed text is then
  no longer hidden from the later ones (``12:31:99`` is not a time, not an IP: ``<int>:<int>:<int>``).
- Case is spelled out where it matters (hex is all-lower or all-upper, TLDs too); ``\\d``, ``\\w``
  and ``\\b`` are Unicode, as in Python.
- ``key='value'`` and ``key=true`` keep the ``=`` and replace only the value.

Not here (Sentry added them after the version this follows and their exact rules are not public
in a form we could read): a MAC-address token, ints and hex next to underscores, and the strict
"exactly four dotted parts" rule for IPv4 and floats.
"""

from __future__ import annotations

import ipaddress
import re
from functools import lru_cache
from typing import Callable

_TLDS = (
    "COM NET ORG JP DE UK FR BR IT RU ES ME GOV PL CA AU CN CO IN NL EDU INFO EU CH ID AT KR CZ MX BE "
    "TV SE TR TW AL UA IR VN CL SK LY CC TO NO FI US PT DK AR HU TK GR IL NEWS RO MY BIZ IE ZA NZ SG EE "
    "TH IO XYZ PE BG HK RS LT LINK PH CLUB SI SITE MOBI BY CAT WIKI LA GA XXX CF HR NG JOBS ONLINE KZ UG "
    "GQ AE IS LV PRO FM TIPS MS SA APP"
).split()

_MON = r"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)"
_DOW = r"(?:Sun|Mon|Tue|Wed|Thu|Fri|Sat)"
_DOW_LONG = r"(?:Sun|Sunday|Mon|Monday|Tue|Tuesday|Wed|Wednesday|Thu|Thursday|Fri|Friday|Sat|Saturday)"
_TZ = r"(?:UT|GMT|(?:E|C|M|P)(?:ST|DT)|[A-IK-Z])"
_OFFSET = r"(?:[-+]\d{2}[0-5]\d|" + _TZ + ")"
_YMD_HM = r"\d{4}-?[01]\d-?[0-3]\d[\sT][0-2]\d:?[0-5]\d"
_ZONE = r"(?:[+-][0-2]\d:?[0-5]\d|Z)"

_DATE = "|".join([
    # RFC 822 / 1123 with a zone
    rf"{_DOW},\s\d{{1,2}}\s{_MON}\s\d{{2,4}}\s\d{{1,2}}:\d{{1,2}}(?::\d{{1,2}})?\s{_OFFSET}",
    # "Mon Jan 02, 1999", "Jan 18, 2019"
    rf"(?:{_DOW}\s)?{_MON}\s[0-3]\d,\s\d{{2,4}}",
    # RFC 850
    rf"{_DOW_LONG},\s\d{{2}}-{_MON}-\d{{2}}\s\d{{2}}:\d{{2}}:\d{{2}}\s{_TZ}",
    # RFC 3339 (nano)
    r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z?(?:[+-]?\d{2}:\d{2})?",
    # JavaScript's Date.toString()
    rf"{_DOW}\s{_MON}\s\d{{2}}\s\d{{4}}\s\d{{2}}:\d{{2}}:\d{{2}}\sGMT[+-]\d{{4}}(?:\s\([^)]+\))?",
    # datetimes with a zone before those without, so the zone is not left over as a number
    rf"{_YMD_HM}:?[0-5]\d\.\d+{_ZONE}",
    rf"{_YMD_HM}:?[0-5]\d{_ZONE}",
    rf"{_YMD_HM}{_ZONE}",
    rf"{_YMD_HM}:?[0-5]\d\.\d+",
    rf"{_YMD_HM}:?[0-5]\d",
    _YMD_HM,
    # kitchen clocks, 12- and 24-hour
    r"(?<!\d)(?:[1-9]|1[0-2]):[0-5]\d(?::[0-5]\d)?(?![\d:])(?:\s?[aApP][Mm])?",
    r"(?<!\d)(?:0?\d|1\d|2[0-3]):[0-5]\d(?::[0-5]\d)?(?![\d:])",
    r"\d{4}-[01]\d-[0-3]\d",
    # "Wed Apr 17 22:31:45 2019"
    rf"\b(?:{_DOW}\s+)?{_MON}\s+\d{{1,2}}\s+\d{{2}}:\d{{2}}:\d{{2}}\s+\d{{4}}",
    # "Wed, 17 Apr 2019 22:31 +0200"
    rf"\b(?:{_DOW},\s+)?(?:0[1-9]|[1-2]?\d|3[01])\s+{_MON}\s+(?:19\d{{2}}|[2-9]\d{{3}})\s+(?:2[0-3]|[0-1]\d)"
    rf":[0-5]\d(?::(?:60|[0-5]\d))?\s+{_OFFSET}",
    # Python's repr of a datetime (up to the first ")", as Sentry's)
    r"datetime.datetime\(.*?\)",
])

# IP-like text, validated by ``ipaddress``: IPv4, or IPv6 (eight groups, or one ``::``; an embedded
# IPv4; a ``%zone``; a ``/prefix``). ``Option::unwrap`` is not a candidate (a word before the colons);
# what looks like an address but is not one is declined.
_H = "[0-9a-fA-F]{1,4}"
_IPV4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_IPV6 = "|".join([
    rf"(?:{_H}:){{6}}{_IPV4}",
    rf"(?:{_H}(?::{_H}){{0,5}})?::(?:{_H}:){{0,5}}{_IPV4}",
    rf"(?:{_H}:){{7}}{_H}",
    rf"(?:{_H}(?::{_H}){{0,6}})?::(?:{_H}(?::{_H}){{0,6}})?",
])
_IP = rf"\b{_IPV4}\b|(?<![\w:])(?:{_IPV6})(?:%[0-9a-zA-Z]+)?(?:/\d{{1,3}})?(?![\w:]|\.\d)"

_PATTERNS: list[tuple[str, str]] = [
    ("email", r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-zA-Z0-9-]+(?:\.[a-zA-Z0-9-]+)*"),
    ("url", r"\b(?:wss?|https?|ftp)://[^\s/$.?#].[^\s]*"),
    ("hostname", r"\b(?:[a-zA-Z0-9\-]{1,63}\.)+?(?:" + "|".join(_TLDS) + "|"
     + "|".join(t.lower() for t in _TLDS) + r")\b"),
    ("traceparent", r"\b00-[0-9a-f]{32}-[0-9a-f]{16}-0[01]\b|\b1-[0-9a-f]{8}-[0-9a-f]{24}\b"),
    ("uuid", r"\b[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}\b"),
    ("sha1", r"\b[0-9a-fA-F]{40}\b"),
    ("md5", r"\b[0-9a-fA-F]{32}\b"),
    ("date", _DATE),
    ("ip", _IP),
    ("duration", r"\b\d+ms|\d+(?:\.\d+)?s\b"),
    ("swift_txn_id", r"\btx[0-9a-f]{21}-[0-9a-f]{10}\S*"),
    ("hex", r"\b0[xX][0-9a-fA-F]+\b"
     r"|(?:\b|(?<!\w)-)(?:(?=[a-f]*[0-9])(?=[0-9]*[a-f])[0-9a-f]{4,6}|(?=[A-F]*[0-9])(?=[0-9]*[A-F])[0-9A-F]{4,6}"
     r"|[0-9a-f]{8,128}|[0-9A-F]{8,128})\b"),
    ("git_sha", r"\b(?=[a-f]*[0-9])(?=[0-9]*[a-f])[0-9a-f]{7}\b"),
    ("float", r"-\d+\.\d+\b|\b\d+\.\d+\b"),
    ("int", r"(?:\b|(?<!\w)-)\d{1,7}\b"),
    ("quoted_str", r"'[^']+'|\"[^\"]+\""),
    ("bool", r"True|true|False|false"),
]
# Only the value after ``=`` is replaced; the ``=`` is outside the match.
_AFTER_EQUALS = {"quoted_str", "bool"}


def _valid_ip(text: str) -> bool:
    try:
        if "/" in text:
            ipaddress.ip_network(text, strict=False)
        else:
            ipaddress.ip_address(text.split("%", 1)[0] if text.count(":") >= 2 else text)
    except ValueError:
        return False
    return True


_VALIDATORS: dict[str, Callable[[str], bool]] = {"ip": _valid_ip}


def _wrapped(name: str, pattern: str) -> str:
    group = f"(?P<{name}>{pattern})"
    return f"(?<==){group}" if name in _AFTER_EQUALS else group


_SINGLE = [(name, re.compile(_wrapped(name, pattern))) for name, pattern in _PATTERNS]

# What a text must contain for a pattern to match anywhere in it. Python's regex engine tries every
# alternative at every position; leaving out those that cannot match (most of them, for most texts)
# changes no result and makes the pass several times faster.
_DIGIT = re.compile(r"\d")
_HEX32 = re.compile(r"[0-9a-fA-F]{32}")
_HEXISH = re.compile(r"\d|[a-fA-F]{4}")
_DATE_HINT = re.compile(r"\d:|:\d|\d{4}-?[01]\d|Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec|datetime\.datetime\(")
_IP_HINT = re.compile(r"::|\d\.\d{1,3}\.\d|(?:[0-9a-fA-F]{1,4}:){6}")
_NEEDS: dict[str, Callable[[str, bool], bool]] = {
    "email": lambda t, d: "@" in t,
    "url": lambda t, d: "://" in t,
    "hostname": lambda t, d: "." in t,
    "traceparent": lambda t, d: "00-" in t or "1-" in t,
    "uuid": lambda t, d: t.count("-") >= 4,
    "sha1": lambda t, d: _HEX32.search(t) is not None,
    "md5": lambda t, d: _HEX32.search(t) is not None,
    "date": lambda t, d: _DATE_HINT.search(t) is not None,
    "ip": lambda t, d: _IP_HINT.search(t) is not None,
    "duration": lambda t, d: d,
    "swift_txn_id": lambda t, d: "tx" in t,
    "hex": lambda t, d: _HEXISH.search(t) is not None,
    "git_sha": lambda t, d: d,
    "float": lambda t, d: d and "." in t,
    "int": lambda t, d: d,
    "quoted_str": lambda t, d: "=" in t,
    "bool": lambda t, d: "=" in t,
}


@lru_cache(maxsize=512)
def _combined(names: tuple[str, ...]) -> re.Pattern[str]:
    patterns = dict(_PATTERNS)
    return re.compile("|".join(_wrapped(name, patterns[name]) for name in names))


def _possible(text: str) -> tuple[str, ...]:
    digits = _DIGIT.search(text) is not None
    return tuple(name for name, _ in _PATTERNS if _NEEDS[name](text, digits))


class _Declined(Exception):
    """A validator refused a match: the combined pass cannot be trusted for this text."""


def _replace_combined(match: re.Match[str]) -> str:
    name = match.lastgroup or ""
    validator = _VALIDATORS.get(name)
    if validator is not None and not validator(match.group(name)):
        raise _Declined
    return f"<{name}>"


@lru_cache(maxsize=4096)
def parameterize(text: str) -> str:
    """``text`` with every event-specific value replaced by its ``<placeholder>``."""
    names = _possible(text)
    if not names:
        return text
    try:
        return _combined(names).sub(_replace_combined, text)
    except _Declined:
        pass
    for name, pattern in _SINGLE:
        if name not in names:
            continue
        validator = _VALIDATORS.get(name)

        def replace(match: re.Match[str], name: str = name, validator=validator) -> str:
            if validator is not None and not validator(match.group(name)):
                return match.group(0)
            return f"<{name}>"

        text = pattern.sub(replace, text)
    return text


def trim_message(text: str) -> str:
    """The first two non-blank lines, and ``...`` when anything was cut (Sentry's message trimming)."""
    lines = [line for line in text.splitlines() if line.strip()]
    trimmed = "\n".join(lines[:2])
    return trimmed if trimmed == text else trimmed + "..."


def normalize_message(text: str) -> str:
    """What a message or exception value contributes to grouping: trimmed, then parameterized."""
    return parameterize(trim_message(text))


STRIPPED_HINT = "stripped event-specific values"


class Parameterized:
    """A message or exception value as it groups, worked out only once it counts or is shown.

    An exception value does not count when a stacktrace does (most exceptions): its normalization
    is then never paid for at ingest. ``str()`` is the normalized text.
    """

    __slots__ = ("raw", "_text")

    def __init__(self, raw: str) -> None:
        self.raw = raw
        self._text: str | None = None

    def __str__(self) -> str:
        if self._text is None:
            self._text = normalize_message(self.raw)
        return self._text

    def __eq__(self, other: object) -> bool:
        return str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    @property
    def hint(self) -> str | None:
        """What its component says of it when nothing else was said."""
        return STRIPPED_HINT if str(self) != self.raw else None
