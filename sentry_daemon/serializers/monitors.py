"""Cron monitors and check-ins as the web API shows them (Sentry's ``MonitorSerializer``,
``MonitorEnvironmentSerializer``, ``MonitorCheckInSerializer``).

A monitor no check-in gave a config (the fake's lenient creation, see ``store.monitors``) lists
every config key as ``null``: Sentry has no such monitor, and clients reading a key find one.
"""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.records import CheckIn, Monitor, MonitorEnvironment
from sentry_daemon.timestamps import isoformat

_EMPTY_CONFIG = {"schedule_type": None, "schedule": None, "checkin_margin": None, "max_runtime": None,
                 "failure_issue_threshold": None, "recovery_threshold": None}
# MONITOR_ENVIRONMENT_ORDERING: failing environments first, muted ones last
_STATUS_ORDER = ("error", "ok", "active", "disabled")


def environment(m: Monitor, env: MonitorEnvironment) -> dict[str, Any]:
    return {
        "name": env.name,
        "status": env.status,
        "isMuted": env.is_muted,
        "dateCreated": isoformat(m.date_created),
        "lastCheckIn": isoformat(env.last_checkin),
        "nextCheckIn": isoformat(env.next_checkin),
        "nextCheckInLatest": isoformat(env.next_checkin_latest),
        "activeIncident": None,
    }


def _ordered(m: Monitor, names: list[str] | None) -> list[MonitorEnvironment]:
    envs = [e for e in m.environments.values() if not names or e.name in names]

    def key(env: MonitorEnvironment) -> tuple[int, float]:
        rank = len(_STATUS_ORDER) + 1 if env.is_muted else (
            _STATUS_ORDER.index(env.status) if env.status in _STATUS_ORDER else len(_STATUS_ORDER))
        return rank, -(env.last_checkin or 0.0)

    return sorted(envs, key=key)


def monitor(m: Monitor, project: dict[str, Any], environments: list[str] | None = None) -> dict[str, Any]:
    """``project``: the monitor's project in Sentry's base shape; ``environments``: only these
    (the ``?environment=`` filter)."""
    envs = _ordered(m, environments)
    return {
        "id": m.id,
        "status": m.status,
        "isMuted": bool(m.environments) and all(e.is_muted for e in m.environments.values()),
        "isUpserting": False,
        "type": "cron_job",
        "name": m.slug,
        "slug": m.slug,
        "config": dict(m.config) if m.config else dict(_EMPTY_CONFIG),
        "dateCreated": isoformat(m.date_created),
        "project": project,
        "environments": [environment(m, e) for e in envs],
        "owner": None,
    }


def check_in(c: CheckIn, expand_groups: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": c.id,
        "environment": c.environment,
        "status": c.status,
        "duration": c.duration,
        "dateCreated": isoformat(c.date_added),
        "dateAdded": isoformat(c.date_added),
        "dateUpdated": isoformat(c.date_updated),
        "dateInProgress": isoformat(c.date_in_progress),
        "dateClock": isoformat(c.date_clock),
        "expectedTime": isoformat(c.expected_time),
        "monitorConfig": dict(c.monitor_config) if c.monitor_config else {},
    }
    if expand_groups:
        body["groups"] = []
    return body
