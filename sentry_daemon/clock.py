"""The one clock of the domain (DESIGN.md: time comes from one clock), and how a test moves it.

Everything that dates, buckets or expires reads the store's clock (``Store.now``): received times,
an issue's first and last seen and its stats, ``statsPeriod`` windows, ignore durations and
windows, ``new`` → ``ongoing``, outcome buckets, rate-limit windows, cron monitors. That clock is
one ``IReactorTime``:

- ``--clock real`` (the default): the reactor.
- ``--clock manual``: a ``twisted.internet.task.Clock`` set to the real time of start-up, standing
  still until ``POST /__parlel/clock`` moves it.
- embedded: ``start_sentry(clock=task.Clock())``, the test's own clock, moved by the test.

Network timers (draining requests at stop, fault delays, waiter timeouts) stay on the reactor, so
a test that stops time still gets its answers. Domain timers use this clock: once a minute of it
the store runs what Sentry's clock tasks run (missed and timed-out cron check-ins).

Moving backwards is allowed, because a test that wants fixed dates sets the clock first and a
clock that refuses that is in the way: what was recorded keeps its time, and what falls due later
(an ignore's end, a monitor's next check-in) waits until the clock passes it again.
"""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Callable

from twisted.internet import task
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from zope.interface import implementer

from sentry_daemon.timestamps import isoformat, parse_timestamp

CLOCK_KINDS = ("real", "manual")
TICK_SECONDS = 60  # Sentry's monitor clock ticks once a minute
EARLIEST = 0.0
LATEST = datetime(9000, 1, 1, tzinfo=timezone.utc).timestamp()
REAL_CLOCK = "the clock is real: start the daemon with --clock manual to move it"


class ClockError(ValueError):
    """Why the clock was not moved (the control API answers 400 with it)."""


@implementer(IReactorTime)
class DomainClock:
    """The store's clock: an ``IReactorTime`` that a test may move (``manual``)."""

    def __init__(self, clock: IReactorTime, manual: bool) -> None:
        self._clock = clock
        self.manual = manual
        self._on_tick: Callable[[], None] | None = None
        self._tick_call: IDelayedCall | None = None

    @classmethod
    def for_option(cls, kind: str, reactor: IReactorTime) -> "DomainClock":
        """``--clock real``: the reactor; ``manual``: a ``task.Clock`` at the reactor's time now."""
        if kind == "manual":
            clock = task.Clock()
            clock.advance(reactor.seconds())
            return cls(clock, manual=True)
        return cls(reactor, manual=False)

    @classmethod
    def given(cls, clock: IReactorTime) -> "DomainClock":
        """A test's own clock; it can be moved through the control API when it can ``advance``."""
        return cls(clock, manual=callable(getattr(clock, "advance", None)))

    # --- IReactorTime ------------------------------------------------------------------

    def seconds(self) -> float:
        return self._clock.seconds()

    def callLater(self, delay: float, callable: Callable[..., Any], *args: Any, **kw: Any) -> IDelayedCall:
        return self._clock.callLater(delay, callable, *args, **kw)

    def getDelayedCalls(self) -> list[IDelayedCall]:
        return self._clock.getDelayedCalls()

    # --- what the control API shows and does -------------------------------------------

    def state(self) -> dict[str, Any]:
        """``{"now": "<ISO 8601>", "manual": bool}``: ``GET /__parlel/clock``."""
        return {"now": isoformat(self.seconds()), "manual": self.manual}

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds`` (negative: back), running the domain timers due."""
        if not self.manual:
            raise ClockError(REAL_CLOCK)
        if not math.isfinite(seconds):
            raise ClockError("advance is a finite number of seconds")
        self.set(self.seconds() + seconds)

    def set(self, when: float) -> None:
        """Move the clock to ``when`` (Unix seconds), running the domain timers that fall due."""
        if not self.manual:
            raise ClockError(REAL_CLOCK)
        if not (EARLIEST <= when <= LATEST):
            raise ClockError(f"the clock goes from {isoformat(EARLIEST)} to {isoformat(LATEST)}")
        self._clock.advance(when - self.seconds())  # type: ignore[attr-defined]
        self._arm()

    # --- the minute tick ---------------------------------------------------------------

    def start_ticking(self, on_tick: Callable[[], None]) -> None:
        """Call ``on_tick`` at every whole minute of this clock (the service's domain timer)."""
        self._on_tick = on_tick
        self._arm()

    def stop_ticking(self) -> None:
        self._on_tick = None
        self._arm()

    def _arm(self) -> None:
        if self._tick_call is not None and self._tick_call.active():
            self._tick_call.cancel()
        self._tick_call = None
        if self._on_tick is not None:
            self._tick_call = self._clock.callLater(TICK_SECONDS - self.seconds() % TICK_SECONDS, self._tick)

    def _tick(self) -> None:
        self._tick_call = None
        on_tick = self._on_tick
        self._arm()
        if on_tick is not None:
            on_tick()


def move(clock: DomainClock, body: dict[str, Any]) -> None:
    """``POST /__parlel/clock``: ``{"advance": <seconds>}`` or ``{"set": "<ISO 8601>"}``."""
    if not clock.manual:
        raise ClockError(REAL_CLOCK)
    given = [name for name in ("advance", "set") if name in body]
    if len(given) != 1:
        raise ClockError('give one of "advance" (seconds) or "set" (an ISO 8601 time)')
    if given == ["advance"]:
        value = body["advance"]
        try:
            seconds = float(value) if not isinstance(value, (bool, str)) else None
        except (TypeError, OverflowError):
            seconds = None
        if seconds is None or not math.isfinite(seconds):
            raise ClockError('"advance" is a number of seconds (negative goes back)')
        clock.advance(seconds)
        return
    value = body["set"]
    when = parse_timestamp(value) if isinstance(value, str) else None
    if when is None:
        raise ClockError('"set" is an ISO 8601 time such as "2024-01-01T00:00:00Z"')
    clock.set(when)
