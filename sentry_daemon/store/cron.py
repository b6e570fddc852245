"""When a cron monitor expects its check-ins: crontab and interval schedules, as Sentry computes
them (``sentry.monitors.schedule.get_next_schedule`` / ``get_prev_schedule``).

Crontabs are evaluated by CronSim, the library Sentry uses (Debian cron's semantics: names,
ranges, steps, lists, ``L``, ``W`` and ``#``; day-of-month and day-of-week match either one when
neither starts with ``*``; its handling of DST transitions). Intervals follow dateutil's rrule,
which Sentry uses for them: wall-clock steps from the reference time, a monthly or yearly step
skipping months without that day. Times are taken in the monitor's timezone and the answers are
clamped to the minute.
"""

from __future__ import annotations

import calendar
import functools
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from cronsim import CronSim, CronSimError

INTERVAL_UNITS = ("year", "month", "week", "day", "hour", "minute")


class InvalidSchedule(ValueError):
    pass


def _crontab(text: str, moment: datetime, reverse: bool = False) -> datetime:
    """The first minute the crontab matches after (or, ``reverse``, before) ``moment``."""
    try:
        return next(CronSim(text, moment, reverse=reverse)).replace(second=0, microsecond=0)
    except CronSimError as exc:
        raise InvalidSchedule(f"{text}: {exc}") from None
    except StopIteration:  # CronSim looks 50 years ahead (``0 0 31 2 mon`` finds Mondays)
        raise InvalidSchedule(f"{text}: the schedule never fires") from None


def parse_crontab(text: str) -> str:
    """A five-field crontab Sentry's validator takes (it walks it forwards and backwards once);
    ``InvalidSchedule`` otherwise."""
    if len(text.split()) != 5:
        raise InvalidSchedule(text)
    now = datetime(2000, 1, 1, tzinfo=timezone.utc)
    _crontab(text, now)
    _crontab(text, now, reverse=True)
    return text


def zone(name: str | None) -> tzinfo:
    if not name:
        return timezone.utc
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return timezone.utc


@functools.cache
def _timezones() -> frozenset[str]:
    return frozenset(available_timezones()) | {"UTC"}


def known_timezone(name: str) -> bool:
    """Whether Sentry's config validator would take ``name`` (a tz database name)."""
    return name in _timezones()


def _months_later(moment: datetime, months: int) -> datetime | None:
    """The same wall-clock time ``months`` later, or None when that month lacks the day."""
    year, month = divmod(moment.year * 12 + moment.month - 1 + months, 12)
    if moment.day > calendar.monthrange(year, month + 1)[1]:
        return None
    return moment.replace(year=year, month=month + 1)


def _interval_after(start: datetime, count: int, unit: str, after: datetime) -> datetime:
    """rrule(freq=unit, interval=count, dtstart=start).after(after): the first occurrence > after."""
    if unit in ("year", "month"):
        step = count * (12 if unit == "year" else 1)
        months = step
        while True:
            moment = _months_later(start, months)
            if moment is not None and moment > after:
                return moment
            months += step
    width = timedelta(**{f"{unit}s": count})
    wall = after.replace(tzinfo=None) - start.replace(tzinfo=None)
    return start + width * (wall // width + 1)


def _interval_before(start: datetime, count: int, unit: str, before: datetime) -> datetime:
    """rrule(..., dtstart=start, until=before).before(before): the last occurrence < before
    (``start`` itself when none is later)."""
    if unit in ("year", "month"):
        step, months, last = count * (12 if unit == "year" else 1), 0, start
        while True:
            months += step
            moment = _months_later(start, months)
            if moment is None:
                continue
            if moment >= before:
                return last
            last = moment
    width = timedelta(**{f"{unit}s": count})
    wall = before.replace(tzinfo=None) - start.replace(tzinfo=None)
    steps = -(-wall // width) - 1
    return start + width * max(steps, 0)


def next_fire(schedule_type: str, schedule: str | list, after: float, tz_name: str | None) -> float:
    """Unix seconds of the schedule's next time after ``after``, in the timezone ``tz_name``;
    ``InvalidSchedule`` when that is past what a datetime holds (``[100000, "year"]``)."""
    try:
        local = datetime.fromtimestamp(after, zone(tz_name))
        if schedule_type == "crontab":
            assert isinstance(schedule, str)
            return _crontab(schedule, local).timestamp()
        count, unit = schedule
        return _interval_after(local, count, unit, local).replace(second=0, microsecond=0).timestamp()
    except InvalidSchedule:
        raise
    except (OverflowError, ValueError) as exc:
        raise InvalidSchedule(f"{schedule}: no time to fire at ({exc})") from None


def prev_fire(schedule_type: str, schedule: str | list, start: float, before: float, tz_name: str | None) -> float:
    """Unix seconds of the schedule's last time before ``before``; an interval counts from
    ``start`` (Sentry's ``get_prev_schedule``: the reference its clock tasks compute from).
    ``InvalidSchedule`` as for :func:`next_fire`."""
    try:
        tz = zone(tz_name)
        until = datetime.fromtimestamp(before, tz)
        if schedule_type == "crontab":
            assert isinstance(schedule, str)
            return _crontab(schedule, until, reverse=True).timestamp()
        count, unit = schedule
        first = datetime.fromtimestamp(start, tz)
        return _interval_before(first, count, unit, until).replace(second=0, microsecond=0).timestamp()
    except InvalidSchedule:
        raise
    except (OverflowError, ValueError) as exc:
        raise InvalidSchedule(f"{schedule}: no time to fire at ({exc})") from None
