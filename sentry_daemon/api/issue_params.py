"""Reading the issue endpoints' requests: list parameters and the ``PUT`` body, with Sentry's 400s.

List parameters: the time window (``statsPeriod`` or ``start``/``end``), the stats buckets
(``groupStatsPeriod``, or the project list's ``statsPeriod``), ``environment``, ``project``,
``sort``, ``limit`` and ``query``. The ``PUT`` body becomes :class:`IssueChanges`, validated as
Sentry's ``GroupValidator`` does, field errors answered as ``{"field": ["message"]}``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from twisted.web.server import Request

from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int, query_arg, query_args
from sentry_daemon.http.validation import ValidationError
from sentry_daemon.store.issue_updates import IGNORE_FIELDS, IssueChanges
from sentry_daemon.store.lifecycle import IGNORED_SUBSTATUSES, PRIORITY_VALUES, UNRESOLVED_SUBSTATUSES
from sentry_daemon.store.records import Release, User

SORTS = ("date", "new", "freq", "user", "trends", "inbox", "recommended", "priority")
_PERIOD = re.compile(r"^(\d+)([hdmsw]?)$")
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
DEFAULT_WINDOW = 90 * 86400  # Sentry searches the last 90 days when no period is given
MAX_LIMIT = 100
STATUS_CHOICES = {"resolved": "resolved", "unresolved": "unresolved", "ignored": "ignored", "muted": "ignored",
                  "resolvedInNextRelease": "resolved"}
MAX_WINDOW_MINUTES = 10080
# The longest period or snooze that is still a date (Python's ``timedelta``, as Sentry's own parsing
# uses): beyond it Sentry fails inside the request; here it is a 400.
MAX_PERIOD_SECONDS = timedelta.max // timedelta(seconds=1)


def parse_period(text: str) -> int:
    match = _PERIOD.match(text)
    seconds = int(match.group(1)) * _UNITS[match.group(2)] if match is not None else None
    if seconds is None or seconds > MAX_PERIOD_SECONDS:
        raise ApiError(400, f"Invalid statsPeriod: {text!r}")
    return seconds


def _date(text: str) -> float:
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00") if text.endswith("Z") else text)
    except ValueError:
        raise ApiError(400, f"{text} is not a valid ISO8601 date query") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


@dataclass
class Window:
    start: float
    end: float


def window(request: Request, now: float, period_param: str | None = "statsPeriod") -> Window:
    """The time window searched: ``statsPeriod`` wins over ``start``/``end``; default the last 90 days."""
    period = query_arg(request, period_param) if period_param else None
    if period:
        return Window(now - parse_period(period), now + 1)
    start, end = query_arg(request, "start"), query_arg(request, "end")
    if start or end:
        if not (start and end):
            raise ApiError(400, "start and end are both required")
        window_ = Window(_date(start), _date(end))
        if window_.start >= window_.end:
            raise ApiError(400, "start must be before end")
        return window_
    return Window(now - DEFAULT_WINDOW, now + 1)


def stats_period(request: Request, name: str, choices: tuple[str, ...], message: str, default: str = "24h") -> str:
    value = query_arg(request, name, default)
    if value not in choices:
        raise ApiError(400, message)
    return value


def sort(request: Request) -> str:
    value = query_arg(request, "sort", "date") or "date"
    if value not in SORTS:
        raise ApiError(400, f"Sort key '{value}' not supported.")
    return value


def limit(request: Request) -> int:
    raw = query_arg(request, "limit")
    if raw is None or raw == "":
        return MAX_LIMIT
    value = parse_int(raw, signed=True)
    if value is None or value < 1:
        raise ApiError(400, "invalid limit")
    return min(value, MAX_LIMIT)


def issue_ids(request: Request) -> list[int]:
    ids = [parse_int(i.strip()) for i in query_args(request, "id")]
    if any(i is None for i in ids):
        raise ApiError(400, "Group ids must be integers")
    return ids  # type: ignore[return-value]


# --- the PUT body -------------------------------------------------------------------------------

def _bool(errors: dict[str, Any], name: str, value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if value in ("true", "True", "1", 1):
        return True
    if value in ("false", "False", "0", 0):
        return False
    errors[name] = ["Must be a valid boolean."]
    return None


def _minutes(errors: dict[str, Any], name: str, value: Any, holder: str | None) -> int | None:
    if value is None:
        return None
    number = value if isinstance(value, int) and not isinstance(value, bool) else (
        parse_int(value, signed=True) if isinstance(value, str) else None)
    if number is None:
        message = ["A valid integer is required."]
    elif name in ("ignoreWindow", "ignoreUserWindow") and number > MAX_WINDOW_MINUTES:
        message = [f"Ensure this value is less than or equal to {MAX_WINDOW_MINUTES}."]
    elif abs(number) * 60 > MAX_PERIOD_SECONDS:
        message = [f"Ensure this value is less than or equal to {MAX_PERIOD_SECONDS // 60}."]
    else:
        return number
    if holder:
        errors.setdefault(holder, {})[name] = message
    else:
        errors[name] = message
    return None


@dataclass
class ChangeContext:
    """What validating a ``PUT`` needs to look up: releases of the issues' projects, actors."""

    user: User
    latest_release: Callable[[], Release | None]
    release: Callable[[str], Release | None]
    actor: Callable[[str], Any]  # "user:1" / "team:2" / email / username → actor, or raise LookupError


def issue_changes(body: dict[str, Any], context: ChangeContext) -> IssueChanges:
    """The validated changes of a ``PUT`` body, or a 400 with Sentry's field errors."""
    errors: dict[str, Any] = {}
    changes = IssueChanges()
    status = body.get("status")
    details = body.get("statusDetails")
    if details is not None and not isinstance(details, dict):
        errors["statusDetails"] = {"non_field_errors": ["Invalid data. Expected a dictionary, but got "
                                                        f"{type(details).__name__}."]}
        details = None
    details = details or {}
    if status is not None:
        if not isinstance(status, str) or status not in STATUS_CHOICES:
            errors["status"] = [f'"{status}" is not a valid choice.']
        else:
            changes.status = STATUS_CHOICES[status]
            changes.status_details_given = bool(details)
    substatus = body.get("substatus")
    if substatus is not None:
        if substatus not in UNRESOLVED_SUBSTATUSES + IGNORED_SUBSTATUSES:
            errors["substatus"] = [f'"{substatus}" is not a valid choice.']
        else:
            changes.substatus = substatus
    if changes.status == "resolved":
        if status == "resolvedInNextRelease":
            latest = context.latest_release()
            changes.resolution = "in_next_release"
            changes.resolve_version = latest.version if latest is not None else None
            if latest is None:
                changes.resolution = None
                changes.echo["statusDetails"] = {"inNextRelease": True}
        elif "inNextRelease" in details:
            latest = context.latest_release()
            if latest is None:
                errors.setdefault("statusDetails", {})["inNextRelease"] = [
                    "No release data present in the system to form a basis for 'Next Release'"]
            else:
                changes.resolution, changes.resolve_version = "in_next_release", latest.version
        elif "inRelease" in details:
            version = details.get("inRelease")
            found = context.latest_release() if version == "latest" else (
                context.release(version) if isinstance(version, str) else None)
            if found is None:
                message = ("No release data present in the system to form a basis for 'Next Release'"
                           if version == "latest" else "Unable to find a release with the given version.")
                errors.setdefault("statusDetails", {})["inRelease"] = [message]
            else:
                changes.resolution, changes.resolve_version = "in_release", found.version
    if changes.status == "ignored":
        source = details if details else body
        ignore = {name: _minutes(errors, name, source.get(name), "statusDetails" if details else None)
                  for name in IGNORE_FIELDS}
        snooze = body.get("snoozeDuration")
        if ignore["ignoreDuration"] is None and snooze is not None:
            ignore["ignoreDuration"] = _minutes(errors, "snoozeDuration", snooze, None)
        changes.ignore = ignore
    for name, attr in (("hasSeen", "has_seen"), ("isBookmarked", "is_bookmarked"), ("isSubscribed", "is_subscribed"),
                       ("isPublic", "is_public"), ("merge", "merge"), ("inbox", "inbox")):
        if name in body:
            value = _bool(errors, name, body[name])
            if value is not None:
                setattr(changes, attr, value)
    if "discard" in body:
        errors["discard"] = ["You do not have that feature enabled"]
    if "assignedTo" in body:
        value = body["assignedTo"]
        if value in (None, ""):
            changes.assigned_to = None
        elif not isinstance(value, (str, int)) or isinstance(value, bool):
            errors["assignedTo"] = ["Unknown actor input"]
        else:
            try:
                changes.assigned_to = context.actor(str(value))
            except LookupError as exc:
                errors["assignedTo"] = [str(exc) or "Unknown actor input"]
    if "priority" in body:
        value = body["priority"]
        if not isinstance(value, str) or value not in (*PRIORITY_VALUES, "ok"):
            errors["priority"] = [f'"{value}" is not a valid choice.']
        else:
            changes.priority = value
    if errors:
        raise ValidationError(errors)
    return changes
