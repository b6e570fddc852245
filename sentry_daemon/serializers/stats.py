"""Usage stats as Sentry's web API shows them: stats_v2's groups and the legacy ``[[ts, n], ...]``."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from sentry_daemon.store.outcomes import OutcomeQuery, Rollup

_COLUMN = {"sum(quantity)": 0, "sum(times_seen)": 1}


def _second(stamp: float) -> str:
    """``2022-02-14T19:00:00Z``: stats_v2 writes its dates to the second."""
    return datetime.fromtimestamp(int(stamp), tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def stats_v2(query: OutcomeQuery, totals: Rollup, series: Rollup | None) -> dict[str, Any]:
    """Sentry's ``massage_outcomes_result``: one group per combination of the ``groupBy`` values
    that has data (one group ``{"by": {}}`` without ``groupBy``, zero or not), each with its totals
    and, unless grouped by project, a value per interval; ``intervals`` only when there are series."""
    intervals = list(range(int(query.start), int(query.end), query.interval))
    keys = set(totals) | set(series or {})
    if not query.group_by:
        keys.add(())
    groups = []
    for key in sorted(keys, key=lambda k: [str(value) for _, value in k]):
        total = totals.get(key, {}).get(0, (0, 0))
        group: dict[str, Any] = {"by": dict(key),
                                 "totals": {field: total[_COLUMN[field]] for field in query.fields}}
        if series is not None:
            slots = series.get(key, {})
            group["series"] = {field: [slots.get(ts, (0, 0))[_COLUMN[field]] for ts in intervals]
                               for field in query.fields}
        groups.append(group)
    result: dict[str, Any] = {"start": _second(query.start), "end": _second(query.end),
                              "intervals": [_second(ts) for ts in intervals], "groups": groups}
    if series is None:
        del result["intervals"]
    return result


def points(starts: tuple[int, ...], counts: dict[int, int]) -> list[list[int]]:
    """A legacy stats series: ``[[bucket start, count], ...]``, every bucket listed."""
    return [[start, counts.get(start, 0)] for start in starts]
