"""Error events counted by project, environment and time: what the project list's ``stats`` and
the legacy ``generated`` stat show (Sentry's ``TSDBModel.project``, read from the events dataset).

Counting them by walking every stored event of a project cost each such request what the store
held. Here the store adds each error event (not a transaction or feedback: ``UNGROUPED_TYPES``) as
it keeps it and takes it away as it forgets it, in 10-second buckets (the finest resolution the
legacy stats serve) and hourly ones, so a query costs the buckets it spans: memory grows with time
and variety, never with volume, as ``OutcomeStore``'s does.
"""

from __future__ import annotations

FINE = 10
HOUR = 3600

# project id -> environment (None: none) -> bucket start -> events
Buckets = dict[int, dict["str | None", dict[int, int]]]


def _slot(when: float, width: int) -> int:
    return int(when) - int(when) % width


class ErrorCounts:
    """Error events per project, environment and bucket of their event time."""

    def __init__(self) -> None:
        self._fine: Buckets = {}
        self._hourly: Buckets = {}

    def add(self, project_id: int, environment: str | None, when: float, delta: int = 1) -> None:
        """Count one event (``delta`` -1: forget one counted before)."""
        for width, table in ((FINE, self._fine), (HOUR, self._hourly)):
            buckets = table.setdefault(project_id, {}).setdefault(environment, {})
            start = _slot(when, width)
            count = buckets.get(start, 0) + delta
            if count > 0:
                buckets[start] = count
            else:
                buckets.pop(start, None)

    def by_slot(self, project_id: int, start: int, end: int, interval: int,
                environment: str | None = None) -> dict[int, int]:
        """Events in [start, end) per ``interval``-second slot (epoch-aligned), of ``environment``
        when one is given; ``start``, ``end`` and ``interval`` are multiples of 10 seconds (hourly
        buckets serve multiples of an hour)."""
        if start % FINE or end % FINE or interval % FINE:
            raise ValueError("slots are multiples of ten seconds")
        coarse = start % HOUR == 0 and end % HOUR == 0 and interval % HOUR == 0
        environments = (self._hourly if coarse else self._fine).get(project_id, {})
        counts: dict[int, int] = {}
        for name, buckets in environments.items():
            if environment is not None and name != environment:
                continue
            for bucket, count in buckets.items():
                if start <= bucket < end:
                    slot = bucket - bucket % interval
                    counts[slot] = counts.get(slot, 0) + count
        return counts
