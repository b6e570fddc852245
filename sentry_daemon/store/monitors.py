"""Cron monitors fed by check-ins, kept as Sentry's monitor consumer keeps them
(``sentry.monitors.consumers.monitor_consumer``, ``logic.mark_ok`` / ``mark_failed``).

A check-in names its monitor by slug; one with a ``monitor_config`` creates (upserts) the monitor
or updates its config. A check-in with a known ``check_in_id`` updates that check-in: an
``in_progress`` one is closed by the ``ok``/``error`` that follows, and an ``in_progress`` that
arrives after its close is ignored (SDKs that send both at once). A check-in Sentry's consumer
would refuse (a bad id, status, duration, environment or config; one that reopens a closed
check-in) is dropped, as Sentry drops it with a processing error.

Sentry's clock tasks run here too (``sentry.monitors.clock_tasks.check_missed`` /
``check_timeout``), on the store's clock: ``tick`` runs them for every whole minute up to now,
in order, as Sentry's clock ticks (and backfills the ticks it skipped). An environment whose
``nextCheckInLatest`` (the next expected time plus ``checkin_margin``) has passed gets a ``missed``
check-in dated at its expected time, and an ``in_progress`` check-in still open ``max_runtime``
minutes (default 30) after it began or last beat turns ``timeout``; both count as failures (the
environment turns ``error`` after ``failure_issue_threshold`` of them), and the next expected
time is computed from the most recent one the schedule says should have happened. A late close
of a timed-out check-in sets its duration and leaves it ``timeout``, as in Sentry. The service
calls ``tick`` every minute of the store's clock and whenever a test moves it; reads and check-ins
call it first, so nothing is ever stale. A jump of the clock over more than ``CATCH_UP_LIMIT``
missed slots of one environment records that many and the latest one, skipping those between
(Sentry would record every slot; the bound keeps a jump of years cheap).

Where the fake is lenient: Sentry refuses a check-in for an unknown slug without a config
("monitor not found"); here it creates the monitor without a schedule (``config`` ``None``, no
``nextCheckIn``, never missed), so ``sentry-cli monitors run my-cron -- true`` shows up in the API.
"""

from __future__ import annotations

import heapq
import math
import re
import unicodedata
import uuid
from typing import Any, Callable

from sentry_daemon.store import cron
from sentry_daemon.store.records import CheckIn, Monitor, MonitorEnvironment, Organization, Project

STATUSES = ("ok", "error", "in_progress")
CLOSED = frozenset({"ok", "error"})  # Sentry's USER_TERMINAL_VALUES
DEFAULT_ENVIRONMENT = "production"
MAX_ENVIRONMENT_LENGTH = 64
MAX_MARGIN = 40_320  # minutes (sentry.monitors.constants)
MAX_TIMEOUT = 40_320
MAX_THRESHOLD = 720
MAX_DURATION = 2_147_483_647  # ms, BoundedPositiveIntegerField
DEFAULT_MARGIN = 1  # minute
DEFAULT_TIMEOUT = 30  # minutes (sentry.monitors.constants.TIMEOUT)
CATCH_UP_LIMIT = 1_000
NONSTANDARD_CRONTABS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@hourly": "0 * * * *",
}
_SLUG_DROP = re.compile(r"[^\w\s-]")
_SLUG_DASH = re.compile(r"[-\s]+")


class InvalidConfig(ValueError):
    """A ``monitor_config`` Sentry's ConfigValidator refuses; ``errors`` in DRF's shape."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(errors)
        self.errors = errors


def _optional_int(config: dict[str, Any], name: str, low: int, high: int, errors: dict[str, Any]) -> int | None:
    value = config.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors[name] = ["A valid integer is required."]
        return None
    try:
        number = int(value)
    except (ValueError, OverflowError):  # OverflowError: an infinite float
        errors[name] = ["A valid integer is required."]
        return None
    if name == "checkin_margin" and number == 0:
        return 1  # Sentry still takes the 0 older SDKs send, as 1
    if number < low:
        errors[name] = [f"Ensure this value is greater than or equal to {low}."]
    elif number > high:
        errors[name] = [f"Ensure this value is less than or equal to {high}."]
    return number


def _schedule(config: dict[str, Any]) -> tuple[str, str | list]:
    schedule = config.get("schedule")
    schedule_type = config.get("schedule_type")
    if isinstance(schedule, dict) and schedule.get("type"):
        schedule_type = schedule["type"]
    if schedule_type not in ("crontab", "interval"):
        raise InvalidConfig({"schedule_type": ["Missing or invalid schedule type"]})
    if schedule_type == "interval":
        if isinstance(schedule, dict):
            schedule = [schedule.get("value"), schedule.get("unit")]
        if not isinstance(schedule, list) or len(schedule) != 2:
            raise InvalidConfig({"schedule": ["Invalid schedule for for 'interval' type"]})
        if not isinstance(schedule[0], int) or isinstance(schedule[0], bool):
            raise InvalidConfig({"schedule": ["Invalid schedule for schedule unit count"]})
        if schedule[0] <= 0:
            raise InvalidConfig({"schedule": ["Interval must be greater than zero"]})
        if schedule[1] not in cron.INTERVAL_UNITS:
            raise InvalidConfig({"schedule": ["Invalid schedule for schedule unit name"]})
        return "interval", [schedule[0], schedule[1]]
    if isinstance(schedule, dict):
        schedule = schedule.get("value")
    if not isinstance(schedule, str):
        raise InvalidConfig({"schedule": ["Invalid schedule for 'crontab' type"]})
    schedule = " ".join(schedule.split())
    if schedule.startswith("@"):
        if schedule not in NONSTANDARD_CRONTABS:
            raise InvalidConfig({"schedule": ["Schedule was not parseable"]})
        schedule = NONSTANDARD_CRONTABS[schedule]
    if len(schedule.split()) > 5:
        raise InvalidConfig({"schedule": ["Only 5 field crontab syntax is supported"]})
    try:
        cron.parse_crontab(schedule)
    except cron.InvalidSchedule:
        raise InvalidConfig({"schedule": ["Schedule is invalid"]}) from None
    return "crontab", schedule


def validate_config(config: Any, now: float | None = None) -> dict[str, Any]:
    """A check-in's ``monitor_config`` (the SDKs' ``{"schedule": {"type", "value", "unit"?}}`` or
    Sentry's ``schedule_type`` + ``schedule``) as Sentry's ConfigValidator stores it. With ``now``,
    a schedule whose next time from ``now`` no datetime holds (``[100000, "year"]``) is refused
    too: Sentry's consumer fails on it, and stored it would fail every later check-in."""
    if not isinstance(config, dict):
        raise InvalidConfig({"non_field_errors": ["Invalid data. Expected a dictionary."]})
    if not config.get("schedule"):
        raise InvalidConfig({"schedule": ["This field is required."]})
    errors: dict[str, Any] = {}
    cleaned: dict[str, Any] = {}
    for name, high in (("checkin_margin", MAX_MARGIN), ("max_runtime", MAX_TIMEOUT),
                       ("failure_issue_threshold", MAX_THRESHOLD), ("recovery_threshold", MAX_THRESHOLD)):
        cleaned[name] = _optional_int(config, name, 1, high, errors)
    timezone = config.get("timezone")
    if timezone not in (None, ""):
        if not isinstance(timezone, str) or not cron.known_timezone(timezone):
            errors["timezone"] = [f'"{timezone}" is not a valid choice.']
        else:
            cleaned["timezone"] = timezone
    if errors:
        raise InvalidConfig(errors)
    cleaned["schedule_type"], cleaned["schedule"] = _schedule(config)
    if now is not None:
        try:
            cron.next_fire(cleaned["schedule_type"], cleaned["schedule"], now, cleaned.get("timezone"))
        except cron.InvalidSchedule:
            raise InvalidConfig({"schedule": ["Schedule is invalid"]}) from None
    return cleaned


def monitor_slug(text: Any) -> str:
    """Sentry's ``slugify_monitor_slug``: Django's ``slugify``, cut to 50 characters."""
    ascii_text = unicodedata.normalize("NFKD", str(text or "")).encode("ascii", "ignore").decode("ascii")
    slug = _SLUG_DASH.sub("-", _SLUG_DROP.sub("", ascii_text.lower())).strip("-_")
    return slug[:50].strip("-")


def _check_in_id(value: Any) -> uuid.UUID | None:
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _duration_ms(value: Any) -> int | None:
    """Seconds from the SDK, stored as milliseconds; ``ValueError`` when it is no number."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(value)
    milliseconds = value * 1000
    if isinstance(milliseconds, float) and not math.isfinite(milliseconds):  # NaN, or 1e308 seconds
        raise ValueError(value)
    return int(milliseconds)


def _last_fire(config: dict[str, Any], start: float, before: float, fallback: float) -> float:
    """``cron.prev_fire`` for a monitor's config, or ``fallback`` when no datetime holds it."""
    try:
        return cron.prev_fire(config["schedule_type"], config["schedule"], start, before, config.get("timezone"))
    except cron.InvalidSchedule:
        return fallback


def _minute(stamp: float) -> float:
    return stamp - stamp % 60


def _timeout_at(config: dict[str, Any] | None, since: float) -> float:
    """Sentry's ``get_timeout_at``: the minute the run began (or last beat) plus ``max_runtime``."""
    runtime = min((config or {}).get("max_runtime") or DEFAULT_TIMEOUT, MAX_TIMEOUT)
    return _minute(since) + runtime * 60


class MonitorStore:
    """Every monitor, by (project id, slug), every check-in by its id, and the open ones."""

    def __init__(self, now: Callable[[], float], next_id: Callable[[], int]) -> None:
        self._now = now
        self._next_id = next_id
        self._monitors: dict[tuple[int, str], Monitor] = {}
        self._check_ins: dict[str, CheckIn] = {}
        self._open: dict[str, CheckIn] = {}  # in_progress, by id: what can time out
        # told of each check-in the clock makes (missed) or changes (timeout): the store's record log
        self.clock_made: Callable[[CheckIn], None] = lambda check_in: None

    def values(self) -> list[Monitor]:
        self.tick()
        return list(self._monitors.values())

    def forget_project(self, project: Project) -> None:
        """A deleted project takes its monitors and their check-ins with it."""
        for key in [k for k, m in self._monitors.items() if m.project is project]:
            for check_in in self._monitors.pop(key).check_ins:
                if self._check_ins.get(check_in.id) is check_in:
                    del self._check_ins[check_in.id]
                    self._open.pop(check_in.id, None)

    def of_organization(self, org: Organization) -> list[Monitor]:
        self.tick()
        return [m for m in self._monitors.values() if m.project.organization is org]

    def find(self, org: Organization, id_or_slug: str, project: Project | None = None) -> Monitor | None:
        """A monitor of the organization (and of ``project``, when given) by slug or id."""
        for monitor in self.of_organization(org):
            if project is not None and monitor.project is not project:
                continue
            if id_or_slug in (monitor.slug, monitor.id):
                return monitor
        return None

    # --- check-ins ---------------------------------------------------------------------

    def check_in(self, project: Project, payload: dict[str, Any]) -> CheckIn | None:
        """Process one check-in as Sentry's consumer does; None when Sentry would drop it."""
        now = self._now()
        self.tick(now)  # Sentry's consumer ticks its clock before it processes the check-in
        slug = monitor_slug(payload.get("monitor_slug"))
        guid = _check_in_id(payload.get("check_in_id"))
        status = payload.get("status")
        environment = payload.get("environment") or DEFAULT_ENVIRONMENT
        try:
            duration = _duration_ms(payload.get("duration"))
        except ValueError:
            return None
        if (not slug or guid is None or status not in STATUSES or not isinstance(environment, str)
                or len(environment) > MAX_ENVIRONMENT_LENGTH
                or duration is not None and not 0 <= duration <= MAX_DURATION):
            return None
        monitor = self._ensure_monitor(project, slug, payload.get("monitor_config"), now)
        if monitor is None or monitor.status == "disabled":
            return None
        env = monitor.environments.get(environment)
        if env is None:
            env = monitor.environments[environment] = MonitorEnvironment(environment, now)
        if guid.int == 0:
            existing = next((c for c in reversed(monitor.check_ins)
                             if c.environment == environment and c.status == "in_progress"), None)
            guid = uuid.uuid4()
        else:
            existing = self._check_ins.get(str(guid))
        if existing is not None:
            check_in = self._update(existing, monitor, environment, status, duration, now)
            if check_in is None:
                return None
        else:
            check_in = self._create(monitor, env, str(guid), status, duration, now, payload)
        if check_in.status == "in_progress":
            self._open[check_in.id] = check_in
        else:
            self._open.pop(check_in.id, None)
        if check_in.status == "error":
            self._mark_failed(monitor, env, check_in, now)
        else:
            self._mark_ok(monitor, env, check_in, now)
        return check_in

    def _ensure_monitor(self, project: Project, slug: str, config: Any, now: float) -> Monitor | None:
        monitor = self._monitors.get((project.id, slug))
        validated = None
        if config:
            try:
                validated = validate_config(config, now)
            except InvalidConfig:
                if monitor is None:
                    return None  # Sentry: "monitor invalid config", the check-in is dropped
        if monitor is None:
            monitor = Monitor(self._next_id(), str(uuid.uuid4()), slug, project, validated, now)
            self._monitors[(project.id, slug)] = monitor
        elif validated is not None:
            monitor.config = validated
        return monitor

    def _create(self, monitor: Monitor, env: MonitorEnvironment, guid: str, status: str,
                duration: int | None, now: float, payload: dict[str, Any]) -> CheckIn:
        contexts = payload.get("contexts")
        trace = contexts.get("trace") if isinstance(contexts, dict) else None
        trace_id = trace.get("trace_id") if isinstance(trace, dict) else None
        date_added = now - duration / 1000 if duration is not None else now
        check_in = CheckIn(guid, monitor, env.name, status, duration, date_added, now, now,
                           now if status == "in_progress" else None, env.next_checkin,
                           dict(monitor.config) if monitor.config else None,
                           trace_id if isinstance(trace_id, str) else None,
                           _timeout_at(monitor.config, date_added) if status == "in_progress" else None)
        self._keep(check_in)
        return check_in

    def _keep(self, check_in: CheckIn) -> None:
        check_in.monitor.check_ins.append(check_in)
        self._check_ins[check_in.id] = check_in

    @staticmethod
    def _update(existing: CheckIn, monitor: Monitor, environment: str, status: str,
                duration: int | None, now: float) -> CheckIn | None:
        if existing.monitor is not monitor or existing.environment != environment:
            return None  # Sentry: guid / environment mismatch
        late_close = existing.status == "timeout" and status in CLOSED
        if existing.status in CLOSED:
            return None  # an in_progress after the close is ignored; a second close is refused
        if duration is None:
            duration = abs(int((now - existing.date_added) * 1000))
        if duration > MAX_DURATION:
            return None
        if not late_close:  # a timed-out check-in keeps its status; its duration says it ended
            existing.status = status
        existing.duration = duration
        existing.timeout_at = None
        if status == "in_progress":  # a heartbeat: the run may go on, up to MAX_TIMEOUT in all
            existing.date_updated = now
            existing.timeout_at = min(_timeout_at(monitor.config, now),
                                      _minute(existing.date_added) + MAX_TIMEOUT * 60)
        return existing

    def _expected(self, monitor: Monitor, after: float) -> tuple[float | None, float | None]:
        config = monitor.config
        if not config:
            return None, None
        try:
            next_checkin = cron.next_fire(config["schedule_type"], config["schedule"], after, config.get("timezone"))
        except cron.InvalidSchedule:  # validated at a time it had one; the clock moved past it
            return None, None
        margin = config.get("checkin_margin") or DEFAULT_MARGIN
        return next_checkin, next_checkin + margin * 60

    def _recent(self, env: MonitorEnvironment, check_in: CheckIn, count: int) -> list[CheckIn]:
        """The environment's ``count`` latest check-ins up to ``check_in``, oldest first."""
        ordered = sorted((c for c in check_in.monitor.check_ins
                          if c.environment == env.name and c.date_added <= check_in.date_added),
                         key=lambda c: c.date_added)
        return ordered[-count:]

    def _mark_ok(self, monitor: Monitor, env: MonitorEnvironment, check_in: CheckIn, now: float) -> None:
        env.last_checkin = check_in.date_added
        env.next_checkin, env.next_checkin_latest = self._expected(monitor, now)
        if check_in.status != "ok":
            return
        if env.status == "error":
            threshold = (monitor.config or {}).get("recovery_threshold") or 1
            if not all(c.status == "ok" for c in self._recent(env, check_in, threshold)):
                return
        env.status = "ok"

    def _mark_failed(self, monitor: Monitor, env: MonitorEnvironment, check_in: CheckIn, failed_at: float) -> None:
        """Sentry's ``mark_failed``: the next expected time counts from ``failed_at``; a missed
        check-in leaves ``lastCheckIn`` alone; a check-in older than the latest changes nothing."""
        last_checkin = env.last_checkin if check_in.status == "missed" else check_in.date_added
        if env.last_checkin is not None and last_checkin is not None and env.last_checkin > last_checkin:
            return
        env.last_checkin = last_checkin
        env.next_checkin, env.next_checkin_latest = self._expected(monitor, failed_at)
        if env.status in ("ok", "active"):
            threshold = (monitor.config or {}).get("failure_issue_threshold") or 1
            if any(c.status == "ok" for c in self._recent(env, check_in, threshold)):
                return
            env.status = "error"

    def check_ins(self, monitor: Monitor, start: float, end: float, environments: list[str]) -> list[CheckIn]:
        """The monitor's check-ins in the window, newest first (Sentry's ``-date_added``)."""
        rows = [c for c in monitor.check_ins if start <= c.date_added <= end
                and (not environments or c.environment in environments)]
        return sorted(rows, key=lambda c: c.date_added, reverse=True)

    # --- the clock tasks ---------------------------------------------------------------

    def tick(self, now: float | None = None) -> None:
        """Run Sentry's clock tasks for every minute up to ``now``: missed schedules, then
        timed-out runs, each at the tick its deadline falls on, earliest first."""
        now = self._now() if now is None else now
        due: list[tuple[float, int, int, Any]] = []
        for monitor in self._monitors.values():
            if monitor.status == "disabled" or not monitor.config:
                continue
            for env in monitor.environments.values():
                if env.next_checkin_latest is not None and env.next_checkin_latest <= now:
                    due.append((env.next_checkin_latest, 0, id(env), (monitor, env)))
        for check_in in self._open.values():
            if check_in.timeout_at is not None and check_in.timeout_at <= now:
                due.append((check_in.timeout_at, 1, id(check_in), check_in))
        if not due:
            return
        heapq.heapify(due)
        misses: dict[int, int] = {}
        while due:
            ts, kind, key, item = heapq.heappop(due)
            if kind == 1:
                self._time_out(item, ts)
                env = item.monitor.environments.get(item.environment)
                if env is None:
                    continue
                monitor, key = item.monitor, id(env)
            else:
                monitor, env = item
                if env.next_checkin_latest != ts:
                    continue  # moved since it was queued
                misses[key] = misses.get(key, 0) + 1
                if misses[key] > CATCH_UP_LIMIT:
                    ts = self._skip(monitor, env, now)
                self._miss(monitor, env, ts)
            latest = env.next_checkin_latest
            if latest is not None and latest <= now and monitor.config and monitor.status != "disabled":
                heapq.heappush(due, (latest, 0, key, (monitor, env)))

    def _skip(self, monitor: Monitor, env: MonitorEnvironment, now: float) -> float:
        """Past ``CATCH_UP_LIMIT`` misses in one go: go on from the latest slot whose margin has
        passed by ``now`` (the slots between get no check-in); the tick it is missed at."""
        config = monitor.config
        assert config is not None and env.next_checkin is not None
        margin = (config.get("checkin_margin") or DEFAULT_MARGIN) * 60
        slot = _last_fire(config, env.next_checkin, _minute(now) - margin + 60, env.next_checkin)
        if slot > env.next_checkin:
            env.next_checkin, env.next_checkin_latest = slot, slot + margin
        return env.next_checkin + margin

    def _miss(self, monitor: Monitor, env: MonitorEnvironment, ts: float) -> None:
        """``mark_environment_missing``: a ``missed`` check-in dated when it was expected."""
        config = monitor.config
        assert config is not None and env.next_checkin is not None
        expected = env.next_checkin
        check_in = CheckIn(str(uuid.uuid4()), monitor, env.name, "missed", None, expected, ts, ts, None,
                           expected, dict(config))
        self._keep(check_in)
        self.clock_made(check_in)
        reference = _last_fire(config, expected, ts, ts)
        self._mark_failed(monitor, env, check_in, reference)

    def _time_out(self, check_in: CheckIn, ts: float) -> None:
        """``mark_checkin_timeout``: the run turns ``timeout``; it fails the environment unless a
        newer check-in already closed."""
        self._open.pop(check_in.id, None)
        if check_in.status != "in_progress":
            return
        check_in.status, check_in.timeout_at = "timeout", None
        self.clock_made(check_in)
        monitor = check_in.monitor
        env = monitor.environments.get(check_in.environment)
        if env is None or any(c.environment == env.name and c.date_added > check_in.date_added
                              and c.status in CLOSED for c in monitor.check_ins):
            return
        config = monitor.config
        reference = ts if not config else _last_fire(config, check_in.date_added, ts, ts)
        self._mark_failed(monitor, env, check_in, reference)
