"""An event's grouping variants and hashes: what decides which issue it joins.

``calculate`` runs Sentry's strategies, applies the event's fingerprint (custom, salted with
``{{ default }}``, or a built-in rule), adds the fallback when nothing contributes, and lists the
hashes: every contributing variant's, ``system`` last. An event joins the issue that already owns
any of its hashes; an issue keeps every hash that led an event to it.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Any

from sentry_daemon.grouping import fingerprint as fingerprints
from sentry_daemon.grouping.components import Component, hash_values
from sentry_daemon.grouping.stacks import stack_of
from sentry_daemon.grouping.strategies import event_variants

GROUPING_CONFIG = "newstyle:2023-01-11"
FALLBACK_HASH = hashlib.md5(b"").hexdigest()
_CHECKSUM = re.compile(r"^[0-9a-f]{32}$")


@dataclass
class Variant:
    key: str
    type: str
    label: str | None
    hash: str | None
    hint: str | None = None
    component: Component | None = None
    values: list[str] | None = None
    client_values: list[str] | None = None
    matched_rule: str | None = None
    checksum: str | None = None
    raw_checksum: str | None = None

    @property
    def contributes(self) -> bool:
        return self.hash is not None

    @property
    def description(self) -> str:
        """``in-app exception stacktrace`` for a component variant (worked out only when asked)."""
        if self.label is not None:
            return self.label
        assert self.component is not None
        described = self.component.description()
        return f"modified {described}" if self.type == "salted_component" else described


@dataclass
class GroupingResult:
    variants: dict[str, Variant]
    hashes: list[str]
    main_exception_id: Any = None


def _fingerprint(data: dict[str, Any]) -> list[str]:
    value = data.get("fingerprint")
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return value
    return [fingerprints.DEFAULT]


def _checksum_variant(checksum: str) -> Variant:
    if _CHECKSUM.match(checksum):
        return Variant("checksum", "checksum", "legacy checksum", checksum, checksum=checksum)
    hashed = hashlib.md5(checksum.encode("utf-8", "replace")).hexdigest()
    return Variant("hashed_checksum", "hashed_checksum", "hashed legacy checksum", hashed, checksum=hashed,
                   raw_checksum=checksum)


# The same errors recur: what decides an event's grouping is, for default grouping, a handful of
# fields per exception and its (shared) stack. Results are kept by that structure, so a repeated
# error is grouped by one lookup. An exception value is part of the structure only when it can
# count (when its stack does not contribute in both variants).
_BY_STRUCTURE: dict[tuple[Any, ...], GroupingResult] = {}
_BY_STRUCTURE_LIMIT = 20_000


def _structure(data: dict[str, Any]) -> tuple[Any, ...] | None:
    """The fields default grouping reads, or None when the event is not one to look up this way."""
    platform = data.get("platform")
    parts: list[Any] = [platform]
    exception = data.get("exception")
    values = exception.get("values") if type(exception) is dict else None
    for value in values if type(values) is list else ():
        if type(value) is not dict:
            return None
        mechanism = value.get("mechanism")
        mechanism = mechanism if type(mechanism) is dict else {}
        trace = stack_of(value.get("stacktrace"), platform)
        decided = trace is not None and trace.variants["app"].contributes and trace.variants["system"].contributes
        parts.append((value.get("type"), bool(mechanism.get("synthetic")), repr(mechanism.get("meta") or None),
                      mechanism.get("exception_id"), mechanism.get("parent_id"), mechanism.get("is_exception_group"),
                      trace, None if decided else value.get("value")))
    if platform == "python" and len(parts) > 2:  # two or more exceptions: the group rules read the SDK version
        sdk = data.get("sdk")
        parts.append(str(sdk.get("version") or "")[:1] if type(sdk) is dict else "")
    for name in ("threads", "stacktrace", "template", "csp"):
        if data.get(name) is not None:
            return None
    logentry = data.get("logentry")
    if logentry is not None:
        if type(logentry) is not dict:
            return None
        parts.append((logentry.get("message"), logentry.get("formatted")))
    try:
        hash(tuple(parts))
    except TypeError:
        return None
    return tuple(parts)


def calculate(data: dict[str, Any], tags: list[tuple[str, str]], shared: bool = True) -> GroupingResult:
    """The grouping of a normalized error or default event; ``tags`` as ``store.event_tags`` derives them.

    ``shared``: the result may be one already worked out for an event of the same structure (its
    hashes are this event's; its component tree shows that other event's values). The explanation
    of an event asks for its own (``shared=False``).
    """
    checksum = data.get("checksum")
    if isinstance(checksum, str) and checksum:
        variant = _checksum_variant(checksum)
        return GroupingResult({variant.key: variant}, [variant.hash or ""])

    client = _fingerprint(data)
    used, rule = client, None
    default = fingerprints.kind(client) == "default"
    if default:
        rule = fingerprints.built_in_rule(data, tags)
        if rule is not None:
            used = list(rule.fingerprint)
    structure = _structure(data) if shared and used is client and default else None
    if structure is not None:
        found = _BY_STRUCTURE.get(structure)
        if found is None:
            if len(_BY_STRUCTURE) >= _BY_STRUCTURE_LIMIT:
                _BY_STRUCTURE.clear()
            found = _BY_STRUCTURE[structure] = _calculate(data, tags, client, used, rule)
        return found
    return _calculate(data, tags, client, used, rule)


def _calculate(data: dict[str, Any], tags: list[tuple[str, str]], client: list[str], used: list[str],
               rule: fingerprints.BuiltInRule | None) -> GroupingResult:
    strategies = event_variants(data)
    variants: dict[str, Variant] = {
        name: Variant(name, "component", None, root.hash(), root.hint, root)
        for name, root in strategies.roots.items()
    }

    kind = fingerprints.kind(used)
    if kind == "custom":
        resolved = fingerprints.resolve(used, data, tags)
        for variant in variants.values():
            assert variant.component is not None
            variant.component.update(contributes=False, hint="custom fingerprint takes precedence")
            variant.hash, variant.hint = None, "custom fingerprint takes precedence"
        key = "built_in_fingerprint" if rule is not None else "custom_fingerprint"
        variants[key] = Variant(
            key, key, "Sentry defined fingerprint" if rule is not None else "custom fingerprint",
            hash_values(resolved), values=resolved,
            client_values=client if fingerprints.kind(client) != "default" else None,
            matched_rule=rule.text if rule is not None else None,
        )
    elif kind == "hybrid":
        resolved = fingerprints.resolve(used, data, tags)
        for name, variant in list(variants.items()):
            root = variant.component
            assert root is not None
            salted_hash = None
            if root.contributes:
                own = list(root.iter_values())
                salted_hash = hash_values(
                    value for entry in resolved for value in (own if entry == fingerprints.DEFAULT else [entry])
                )
            variants[name] = Variant(name, "salted_component", None, salted_hash,
                                     variant.hint, root, values=resolved, client_values=client)

    if not any(v.contributes for v in variants.values()):
        variants["fallback"] = Variant("fallback", "fallback", "fallback", FALLBACK_HASH)

    hashes: list[str] = []
    for name, variant in sorted(variants.items(), key=lambda item: item[0] == "system"):
        if variant.hash is not None and variant.hash not in hashes:
            hashes.append(variant.hash)
    return GroupingResult(variants, hashes, strategies.main_exception_id)
