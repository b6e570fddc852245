"""An event's grouping explained: every variant, whether it counted, its hash, and its components
with why those that do not count do not (Sentry's grouping info)."""

from __future__ import annotations

from typing import Any

from sentry_daemon.grouping import variants as grouping
from sentry_daemon.store.records import Event


def variant(v: grouping.Variant) -> dict[str, Any]:
    body: dict[str, Any] = {
        "key": v.key,
        "type": v.type,
        "description": v.description,
        "hash": v.hash,
        "hashMismatch": False,
        "contributes": v.contributes,
        "hint": v.hint,
    }
    if v.component is not None:
        body["component"] = v.component.as_dict()
    for name, value in (("values", v.values), ("client_values", v.client_values), ("matched_rule", v.matched_rule),
                        ("checksum", v.checksum), ("raw_checksum", v.raw_checksum)):
        if value is not None:
            body[name] = value
    return body


def grouping_info(event: Event) -> dict[str, Any]:
    """Worked out again from the stored event (the grouping config has no per-project rules, so the
    answer is what it was when the event was grouped)."""
    result = grouping.calculate(event.data, list(event.tags), shared=False)
    return {
        "grouping_config": grouping.GROUPING_CONFIG,
        "event_id": event.event_id,
        "group_id": str(event.group_id) if event.group_id is not None else None,
        "hashes": list(event.hashes),
        "primary_hash": event.hashes[0] if event.hashes else None,
        "variants": {key: variant(v) for key, v in result.variants.items()},
    }
