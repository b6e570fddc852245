"""When a cron monitor expects its next check-in: crontab and interval schedules, as Sentry
computes them (``sentry.monitors.schedule.get_next_schedule``, CronSim and dateutil's rrule).

A crontab has five fields (minute, hour, day of month, month, day of week) of numbers, names
(``jan``, ``mon``), ``*``, ranges, steps and lists; day-of-month and day-of-week match either one
when both are restricted (neither starts with ``*``), as in Vixie cron and CronSim. Times are
wall-clock times in the monitor's timezone, and the answer is clamped to the minute. CronSim's
``L``, ``W`` and ``#`` forms are not supported: such a schedule is "invalid" here.
"""

from __future__ import annotations

import calendar
import functools
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

_MONTHS = {name.lower(): n for n, name in enumerate(calendar.month_abbr) if name}
_DAYS = {"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
# (low, high, names) of each field
_FIELDS = ((0, 59, {}), (0, 23, {}), (1, 31, {}), (1, 12, _MONTHS), (0, 7, _DAYS))
INTERVAL_UNITS = ("year", "month", "week", "day", "hour", "minute")
_SEARCH_DAYS = 366 * 5  # a schedule that matches no day in five years matches none (``0 0 30 2 *``)


class InvalidSchedule(ValueError):
    pass


@dataclass(frozen=True)
class Crontab:
    minutes: frozenset[int]
    hours: frozenset[int]
    days: frozenset[int]
    months: frozenset[int]
    weekdays: frozenset[int]  # 0 is Sunday
    days_restricted: bool
    weekdays_restricted: bool

    def day_matches(self, day: datetime) -> bool:
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays
        if self.days_restricted and self.weekdays_restricted:
            return in_month or in_week
        return in_month and in_week


def _value(text: str, low: int, high: int, names: dict[str, int]) -> int:
    number = names.get(text.lower()) if names else None
    if number is None:
        if not text.isdigit():
            raise InvalidSchedule(text)
        number = int(text)
    if not low <= number <= high:
        raise InvalidSchedule(text)
    return number


def _field(text: str, low: int, high: int, names: dict[str, int]) -> frozenset[int]:
    values: set[int] = set()
    for part in text.split(","):
        spec, _, step_text = part.partition("/")
        step = 1
        if step_text:
            if not step_text.isdigit() or int(step_text) == 0:
                raise InvalidSchedule(part)
            step = int(step_text)
        if spec == "*":
            start, end = low, high
        elif "-" in spec:
            first, _, last = spec.partition("-")
            start, end = _value(first, low, high, names), _value(last, low, high, names)
            if start > end:
                raise InvalidSchedule(part)
        else:
            start = _value(spec, low, high, names)
            end = high if step_text else start
        values.update(range(start, end + 1, step))
    return frozenset(values)


def parse_crontab(text: str) -> Crontab:
    """A five-field crontab; ``InvalidSchedule`` when it is not one (or matches no date)."""
    parts = text.split()
    if len(parts) != 5:
        raise InvalidSchedule(text)
    minutes, hours, days, months, weekdays = (
        _field(part, low, high, names) for part, (low, high, names) in zip(parts, _FIELDS))
    weekdays = frozenset(d % 7 for d in weekdays)
    crontab = Crontab(minutes, hours, days, months, weekdays, not parts[2].startswith("*"),
                      not parts[4].startswith("*"))
    _next_crontab(crontab, datetime(2000, 1, 1))  # fails for a schedule that never fires
    return crontab


def _next_crontab(crontab: Crontab, after: datetime) -> datetime:
    """The first wall-clock minute after ``after`` (naive) that the crontab matches."""
    day = datetime(after.year, after.month, after.day)
    start = after.replace(second=0, microsecond=0) + timedelta(minutes=1)
    for _ in range(_SEARCH_DAYS):
        if day.month in crontab.months and crontab.day_matches(day):
            for hour in sorted(crontab.hours):
                for minute in sorted(crontab.minutes):
                    candidate = day.replace(hour=hour, minute=minute)
                    if candidate >= start:
                        return candidate
        day += timedelta(days=1)
    raise InvalidSchedule("the schedule never fires")


def _add_months(moment: datetime, months: int, step: int) -> datetime:
    """rrule's MONTHLY/YEARLY: the same day of a later month, skipping months without that day."""
    total = moment.year * 12 + moment.month - 1
    while True:
        total += months
        year, month = divmod(total, 12)
        if moment.day <= calendar.monthrange(year, month + 1)[1]:
            return moment.replace(year=year, month=month + 1)
        months = step


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


def next_fire(schedule_type: str, schedule: str | list, after: float, tz_name: str | None) -> float:
    """Unix seconds of the schedule's next time after ``after`` in the timezone ``tz_name``."""
    tz = zone(tz_name)
    local = datetime.fromtimestamp(after, tz)
    if schedule_type == "crontab":
        assert isinstance(schedule, str)
        naive = _next_crontab(parse_crontab(schedule), local.replace(tzinfo=None))
        return naive.replace(tzinfo=tz).timestamp()
    count, unit = schedule
    if unit in ("year", "month"):
        months = count * (12 if unit == "year" else 1)
        moment = _add_months(local, months, months)
    else:
        moment = local + timedelta(**{f"{unit}s": count})
    return moment.replace(second=0, microsecond=0).timestamp()
