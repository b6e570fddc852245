"""Custom fingerprints: the event's ``fingerprint`` and Sentry's built-in fingerprint rules.

``["{{ default }}"]`` (or none) is default grouping. A fingerprint without ``{{ default }}`` replaces
grouping: its entries, variables resolved, are hashed. A fingerprint with ``{{ default }}`` and other
entries *salts* every default variant: the variant's contributing values stand in for the
``{{ default }}`` entry. Variables (``{{ type }}``, ``{{ tags.server }}``, ...) that have no value
become Sentry's placeholders (``<no-type>``, ``<no-value-for-tag-server>``); an unknown variable is
kept as written, as this grouping config does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sentry_daemon.event_data import exceptions, interface_values
from sentry_daemon.grouping.enhancements import family
from sentry_daemon.grouping.stacks import stack_of

_VARIABLE = re.compile(r"\{\{\s*(\S+)\s*\}\}")
DEFAULT = "{{ default }}"


def is_default_entry(entry: str) -> bool:
    if entry == DEFAULT:  # as the SDKs and ``_fingerprint`` write it: no need to match
        return True
    match = _VARIABLE.fullmatch(entry)
    return match is not None and match.group(1) == "default"


def kind(fingerprint: list[str]) -> str:
    """``default``, ``hybrid`` (``{{ default }}`` and more) or ``custom``."""
    if not fingerprint or (len(fingerprint) == 1 and is_default_entry(fingerprint[0])):
        return "default"
    return "hybrid" if any(is_default_entry(e) for e in fingerprint) else "custom"


def _crash_frame(data: dict[str, Any]) -> dict[str, Any] | None:
    """The last in-app frame (after the stack rules) of the main stacktrace, else its last frame."""
    candidates: list[Any] = [e.get("stacktrace") for e in exceptions(data)[-1:]] + [data.get("stacktrace")]
    threads = interface_values(data.get("threads"))
    if len(threads) == 1:
        candidates.append(threads[0].get("stacktrace"))
    for candidate in candidates:
        trace = stack_of(candidate, data.get("platform"))
        if trace is not None and trace.frames:
            return next((f for f, app in zip(reversed(trace.frames), reversed(trace.rules.in_app)) if app),
                        trace.frames[-1])
    return None


def _tag(tags: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in tags if key == name), None)


def resolve_variable(name: str, data: dict[str, Any], tags: list[tuple[str, str]]) -> str:
    """One variable's value; ``tags`` are the event's tags as Sentry derives them (``store.event_tags``)."""
    values = exceptions(data)
    last = values[-1] if values else {}
    if name == "transaction":
        return str(data.get("transaction") or "<no-transaction>")
    if name == "message":
        logentry = data.get("logentry") if isinstance(data.get("logentry"), dict) else {}
        return str(logentry.get("formatted") or logentry.get("message") or last.get("value") or "<no-message>")
    if name in ("type", "error.type"):
        return str(last.get("type") or "<no-type>")
    if name in ("value", "error.value"):
        return str(last.get("value") or "<no-value>")
    if name in ("level", "logger"):
        return str(data.get(name) or f"<no-{name}>")
    if name.startswith("tags."):
        tag = name[len("tags."):]
        value = _tag(tags, tag)
        return value if value is not None else f"<no-value-for-tag-{tag}>"
    if name in _FRAME_VARIABLES:
        fields, placeholder = _FRAME_VARIABLES[name]
        frame = _crash_frame(data) or {}
        value = next((frame[f] for f in fields if frame.get(f)), None)
        if value and placeholder == "package":
            value = str(value).split("/")[-1].split("\\")[-1]
        return str(value) if value else f"<no-{placeholder}>"
    return "{{ %s }}" % name


# Variables read off the crash frame: the frame fields tried in order, and the placeholder's name.
_FRAME_VARIABLES = {
    "function": (("function",), "function"), "stack.function": (("function",), "function"),
    "path": (("abs_path", "filename"), "abs-path"), "stack.abs_path": (("abs_path", "filename"), "abs-path"),
    "stack.filename": (("filename", "abs_path"), "filename"),
    "module": (("module",), "module"), "stack.module": (("module",), "module"),
    "package": (("package",), "package"), "stack.package": (("package",), "package"),
}


def resolve(fingerprint: list[str], data: dict[str, Any], tags: list[tuple[str, str]]) -> list[str]:
    """The entries as hashed: variables replaced, ``{{ default }}`` normalized."""
    resolved = []
    for entry in fingerprint:
        match = _VARIABLE.fullmatch(entry)
        if match is None:
            resolved.append(entry)
        elif match.group(1) == "default":
            resolved.append(DEFAULT)
        else:
            resolved.append(resolve_variable(match.group(1), data, tags))
    return resolved


@dataclass(frozen=True)
class BuiltInRule:
    text: str
    error_type: str | None = None
    error_value_prefix: str | None = None
    message: str | None = None
    fingerprint: tuple[str, ...] = ()


_HYDRATION_MESSAGES = (
    "Hydration failed because the initial UI does not match what was rendered on the server.",
    "The server could not finish this Suspense boundary, likely due to an error during server rendering. "
    "Switched to client rendering.",
    "There was an error while hydrating this Suspense boundary. Switched to client rendering.",
    "There was an error while hydrating. Because the error happened outside of a Suspense boundary, the entire "
    "root will switch to client rendering.",
    "Text content does not match server-rendered HTML.",
)

# Sentry's built-in rules for JavaScript (``javascript@2024-02-02``).
BUILT_IN_RULES = (
    BuiltInRule('family:javascript error.type:"ChunkLoadError" -> chunkloaderror', error_type="ChunkLoadError",
                fingerprint=("chunkloaderror",)),
    BuiltInRule('family:javascript error.value:"ChunkLoadError*" -> chunkloaderror', error_value_prefix="ChunkLoadError",
                fingerprint=("chunkloaderror",)),
    *(BuiltInRule(f'family:javascript tags.transaction:"*" message:"{text}" -> hydrationerror, {{{{tags.transaction}}}}',
                  message=text, fingerprint=("hydrationerror", "{{tags.transaction}}")) for text in _HYDRATION_MESSAGES),
)


def built_in_rule(data: dict[str, Any], tags: list[tuple[str, str]]) -> BuiltInRule | None:
    if family(data.get("platform")) != "javascript":
        return None
    values = exceptions(data)
    logentry = data.get("logentry") if isinstance(data.get("logentry"), dict) else {}
    messages = {logentry.get("formatted"), logentry.get("message"), *(e.get("value") for e in values)}
    for rule in BUILT_IN_RULES:
        if rule.error_type is not None and any(e.get("type") == rule.error_type for e in values):
            return rule
        if rule.error_value_prefix is not None and any(
                isinstance(e.get("value"), str) and e["value"].startswith(rule.error_value_prefix) for e in values):
            return rule
        if rule.message is not None and rule.message in messages and _tag(tags, "transaction") is not None:
            return rule
    return None
