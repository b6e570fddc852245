"""Cron monitors as the web API shows them (``sentry-cli monitors list``)."""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.records import Monitor
from sentry_daemon.timestamps import isoformat


def monitor(m: Monitor) -> dict[str, Any]:
    last = m.check_ins[-1] if m.check_ins else {}
    return {
        "id": str(m.id),
        "slug": m.slug,
        "name": m.slug,
        "status": m.status,
        "isMuted": False,
        "type": "cron_job",
        "config": m.config or {},
        "dateCreated": isoformat(m.date_created),
        "project": {"id": str(m.project.id), "slug": m.project.slug, "name": m.project.name,
                    "platform": m.project.platform},
        "environments": [
            {
                "name": last.get("environment") or "production",
                "status": {"ok": "ok", "error": "error"}.get(last.get("status"), "active"),
                "isMuted": False,
                "dateCreated": isoformat(m.date_created),
                "lastCheckIn": isoformat(m.last_check_in),
            }
        ] if m.check_ins else [],
    }
