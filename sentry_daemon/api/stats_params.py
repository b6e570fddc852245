"""Reading the usage-stats endpoints' parameters, with Sentry's 400s.

stats_v2 is read as Sentry's ``QueryDefinition`` (``sentry/snuba/outcomes.py``) and
``get_constrained_date_range`` (``sentry/snuba/sessions_v2.py``) read it: the interval (default
``1h``, a multiple of one minute that divides a day; a value that is no period at all is the
default, as Sentry's parser gives up silently), the range rounded out to whole intervals (whole
hours for hourly-or-coarser intervals), at most 1000 intervals, one-minute intervals only over six
hours of the last 30 days, and an ``end`` in the future cut to the next whole minute.

The legacy endpoints are read as ``StatsMixin._parse_args`` reads them: ``since``/``until`` in
Unix seconds (default: the day up to now), ``resolution`` one of Sentry's TSDB rollups (10 s, 1 h,
1 d; default the finest that covers the range), and the series of buckets Sentry's TSDB answers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from twisted.web.server import Request

from sentry_daemon.api.issue_params import DEFAULT_WINDOW, parse_period, window
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int, query_arg, query_args
from sentry_daemon.store.outcomes import CATEGORIES, ERROR_CATEGORIES, OUTCOMES, OutcomeQuery
from sentry_daemon.store.records import Project

FIELDS = ("sum(quantity)", "sum(times_seen)")
GROUP_BY = ("outcome", "category", "reason", "project")
MINUTE, HOUR, DAY = 60, 3600, 86400
MAX_POINTS = 1000
# Sentry's default ``SENTRY_TSDB_ROLLUPS``: (seconds, samples kept)
ROLLUPS = ((10, 360), (HOUR, 24 * 7), (DAY, 60))
# Snuba's row limit: a longer legacy series is refused (Sentry would try to build it and fail)
MAX_BUCKETS = 10000


def _interval(request: Request) -> int:
    """Sentry's ``parse_stats_period`` answers None for what it cannot read, and None is 1h."""
    text = query_arg(request, "interval", "1h") or "1h"
    try:
        return parse_period(text)
    except ApiError:
        return HOUR


def _range(request: Request, now: float) -> tuple[float, float]:
    """``get_date_range_from_params``: ``statsPeriod`` wins, else ``start`` and ``end``, else 90 days."""
    period = query_arg(request, "statsPeriod")
    if period:
        start, end = now - parse_period(period), now
    elif query_arg(request, "start") or query_arg(request, "end"):
        explicit = window(request, now, period_param=None)
        start, end = explicit.start, explicit.end
    else:
        start, end = now - DEFAULT_WINDOW, now
    if start >= end:
        raise ApiError(400, "start must be before end")
    return start, end


def constrained_range(request: Request, now: float) -> tuple[float, float, int]:
    """(start, end, interval) of a stats_v2 query, as ``get_constrained_date_range`` with
    one-minute resolution allowed (the outcomes query allows it)."""
    interval = _interval(request)
    if interval % MINUTE != 0 or interval < MINUTE:
        raise ApiError(400, "The interval has to be a multiple of the minimum interval of one minute.")
    if interval > DAY:
        raise ApiError(400, "The interval has to be less than one day.")
    if DAY % interval != 0:
        raise ApiError(400, "The interval should divide one day without a remainder.")
    start, end = _range(request, now)
    if query_arg(request, "end"):
        end += 1  # an explicit end is inclusive (Sentry adds the second even when statsPeriod wins)
    rounding = math.ceil(interval / HOUR) * HOUR
    span = rounding * math.ceil((end - start) / rounding)
    if interval % HOUR != 0:
        if span > 6 * HOUR:
            raise ApiError(400, "The time-range when using one-minute resolution intervals is restricted to 6 hours.")
        if now - start > 30 * DAY:
            raise ApiError(400, "The time-range when using one-minute resolution intervals is restricted to the "
                                "last 30 days.")
    if span / interval > MAX_POINTS:
        raise ApiError(400, "Your interval and date range would create too many results. "
                            "Use a larger interval, or a smaller date range.")
    rounded_end = rounding * math.ceil(end / rounding)
    if rounding > interval and rounded_end - span > start:
        span += rounding
    start = rounded_end - span
    end = rounded_end
    if end > now:
        end = MINUTE * (math.floor(now / MINUTE) + 1)
    return start, end, interval


def _categories(request: Request) -> frozenset[str]:
    resolved: set[str] = set()
    for name in query_args(request, "category"):
        if name not in CATEGORIES:
            raise ApiError(400, f'Invalid category: "{name}"')
        if name in ERROR_CATEGORIES:
            resolved |= ERROR_CATEGORIES
        else:
            resolved |= {"feedback", "user_report_v2"} if name in ("feedback", "user_report_v2") else {name}
    if "attachment" in resolved and len(resolved) > 1:
        raise ApiError(400, "if filtering by attachment no other category may be present")
    return frozenset(resolved)


def _outcomes(request: Request) -> frozenset[str]:
    resolved = set()
    for name in query_args(request, "outcome"):
        if name.lower() not in OUTCOMES:
            raise ApiError(400, f'Invalid outcome: "{name}"')
        resolved.add(name.lower())
    return frozenset(resolved)


def outcome_query(request: Request, projects: list[Project], project_ids: frozenset[int] | None,
                  now: float) -> OutcomeQuery:
    """A stats_v2 request as a validated :class:`OutcomeQuery`, checked in Sentry's order;
    ``project_ids`` are the projects asked for (None: the organization's total)."""
    fields = query_args(request, "field")
    group_by = query_args(request, "groupBy")
    if not fields:
        raise ApiError(400, 'At least one "field" is required.')
    start, end, interval = constrained_range(request, now)
    for name in fields:
        if name not in FIELDS:
            raise ApiError(400, f'Invalid field: "{name}"')
    for name in group_by:
        if name not in GROUP_BY:
            raise ApiError(400, f'Invalid groupBy: "{name}"')
    if not query_args(request, "category") and "category" not in group_by:
        raise ApiError(400, "Query must have category as groupby or filter")
    reasons = frozenset("smart_rate_limit" if r == "spike_protection" else r for r in query_args(request, "reason"))
    return OutcomeQuery(
        fields=tuple(dict.fromkeys(fields)), group_by=tuple(dict.fromkeys(group_by)), start=start, end=end,
        interval=interval, organization_projects=frozenset(p.id for p in projects), project_ids=project_ids,
        categories=_categories(request), outcomes=_outcomes(request), reasons=reasons,
    )


# --- the legacy endpoints ----------------------------------------------------------------------

@dataclass(frozen=True)
class Series:
    """The buckets a legacy stats answer lists: their starts, ``rollup`` seconds each."""

    rollup: int
    starts: tuple[int, ...]

    @property
    def start(self) -> int:
        return self.starts[0]

    @property
    def end(self) -> int:
        return self.starts[-1] + self.rollup


def _resolution(text: str) -> int:
    units = {"h": HOUR, "d": DAY, "m": MINUTE, "s": 1}
    if not text or text[-1] not in units:
        raise ValueError(text)
    number = parse_int(text[:-1])
    if number is None:
        raise ValueError(text)
    return number * units[text[-1]]


def _timestamp(request: Request, name: str, message: str) -> float | None:
    raw = query_arg(request, name)
    if not raw:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ApiError(400, message) from None
    if not math.isfinite(value) or abs(value) > 253402300799:  # beyond a datetime (year 9999)
        raise ApiError(400, message)
    return value


def legacy_series(request: Request, now: float) -> Series:
    """``since``, ``until`` and ``resolution`` as Sentry's ``StatsMixin`` reads them, and the
    buckets its TSDB answers (``get_optimal_rollup_series``: back from ``until`` while not
    before ``since``)."""
    rollup = None
    resolution = query_arg(request, "resolution")
    if resolution:
        try:
            rollup = _resolution(resolution)
        except ValueError:
            rollup = None
        if rollup not in {seconds for seconds, _ in ROLLUPS}:
            raise ApiError(400, "Invalid resolution")
    end = _timestamp(request, "until", "until must be a numeric timestamp.")
    end = now if end is None else end
    start = _timestamp(request, "since", "since must be a numeric timestamp")
    if start is None:
        start = end - DAY + 1
    elif start > end:
        raise ApiError(400, "start must be before or equal to end")
    if rollup is None:
        span = int(end) - int(start)
        rollup = next((seconds for seconds, samples in ROLLUPS if seconds * samples >= span), ROLLUPS[-1][0])
    if (end - start) / rollup >= MAX_BUCKETS:
        raise ApiError(400, "Your interval and date range would create too many results. "
                            "Use a larger interval, or a smaller date range.")
    starts = []
    stamp = end
    while stamp >= start:
        starts.append(int(stamp) - int(stamp) % rollup)
        stamp -= rollup
    return Series(rollup, tuple(sorted(starts)))
