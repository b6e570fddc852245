"""A tenant as the control API shows it: everything a test needs to talk to it."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.store.tenants import Tenant


def tenant(t: Tenant, base_url: str) -> dict[str, Any]:
    """``base_url``: the daemon's root URL as the client addressed it."""
    return {
        "id": t.id,
        "name": t.name,
        "org": t.organization.slug,
        "project": t.project.slug,
        "project_id": t.project.id,
        "dsn": dsn_url(base_url, t.project.id, t.key.public),
        "token": t.token.value,
        "url": base_url,
    }
