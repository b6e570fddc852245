"""How the control API shows a fault: the flat object it was made from, defaults filled in, and
what it has done since."""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.faults import PARAMETERS, Fault
from sentry_daemon.timestamps import isoformat


def fault(f: Fault) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": f.id,
        "action": f.action,
        "endpoint": f.endpoint,
        "project": f.project,
        "tenant": f.tenant,
        "categories": list(f.categories),
    }
    for name in PARAMETERS[f.action]:
        body[name] = getattr(f, name)
    if f.action != "quota":
        body.update(times=f.times, probability=f.probability, seed=f.seed)
    body.update(created=isoformat(f.created), fired=f.fired, remaining=f.remaining)
    if f.action in ("rate_limit", "quota"):
        body["limited_until"] = isoformat(f.limited_until)
    if f.action == "quota":
        body["used"] = f.used
    return body
