"""The tags Sentry shows on an event: the SDK's own, and those Sentry derives when it saves the event.

Derived, in Sentry's order (later ones overwrite): ``level`` (always), ``logger``, ``environment``,
``transaction``, ``server_name`` and ``site``; the release as ``sentry:release`` and ``sentry:dist``;
the user as ``sentry:user`` (``id:…``, else ``username:…``, ``email:…``, ``ip:…``); the request URL
as ``url``; the first exception's ``mechanism`` and ``handled`` (``yes``/``no``); and from contexts
``browser``/``browser.name``, ``os``/``os.name``/``os.rooted``, ``runtime``/``runtime.name``,
``device``/``device.family``, ``app.device``, ``gpu.name``/``gpu.vendor`` and ``monitor.id``.
Tags are kept sorted by key, with Sentry's internal ``sentry:`` keys; the API shows them without it.
"""

from __future__ import annotations

from typing import Any

from sentry_daemon.event_data import exceptions

INTERNAL_KEYS = {"release": "sentry:release", "dist": "sentry:dist", "user": "sentry:user"}

# context type -> (tag suffix, the fields its value is made of); "" is the context's own alias. A tag
# whose fields are not all present is not set (Sentry formats "{name} {version}" and skips on a gap).
_CONTEXT_TAGS: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "app": (("device", ("device_app_hash",)),),
    "device": (("", ("model",)), ("family", ("family",))),
    "runtime": (("", ("name", "version")), ("name", ("name",))),
    "browser": (("", ("name", "version")), ("name", ("name",))),
    "os": (("", ("name", "version")), ("name", ("name",)), ("rooted", ("rooted",))),
    "gpu": (("name", ("name",)), ("vendor", ("vendor_name",))),
    "monitor": (("id", ("id",)),),
}


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def _context_tags(contexts: Any) -> list[tuple[str, str]]:
    tags = []
    for alias, context in (contexts.items() if isinstance(contexts, dict) else ()):
        if not isinstance(context, dict):
            continue
        fields = _CONTEXT_TAGS.get(str(context.get("type") or alias))
        if not fields:
            continue
        for suffix, names in fields:
            parts = [context.get(name) for name in names]
            if None in parts or "" in parts:
                continue
            value = " ".join([_text(part) for part in parts]).strip()
            if value:
                tags.append((f"{alias}.{suffix}" if suffix else alias, value))
    return tags


def user_tag(user: Any) -> str | None:
    """``sentry:user``: the first of the user's id, username, email and IP address."""
    if not isinstance(user, dict):
        return None
    for key, prefix in (("id", "id"), ("username", "username"), ("email", "email"), ("ip_address", "ip")):
        value = user.get(key)
        if value not in (None, ""):
            return f"{prefix}:{value}"
    return None


def user_tag_query(value: str) -> str | None:
    """The search that finds a ``sentry:user`` value (``id:7`` → ``user.id:"7"``), if it is one."""
    kind, sep, ident = value.partition(":")
    if not sep or kind not in ("id", "username", "email", "ip"):
        return None
    return 'user.%s:"%s"' % (kind, ident.replace('"', '\\"'))


def event_tags(data: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The event's tags as Sentry stores them: a sorted tuple of ``(key, value)``."""
    tags: dict[str, str] = {}
    raw = data.get("tags")
    for pair in raw if isinstance(raw, list) else ():
        if isinstance(pair, (list, tuple)) and len(pair) == 2 and pair[0] is not None and pair[1] is not None:
            key = str(pair[0])
            if key in ("user", "sentry:user", "release", "dist"):
                continue  # Sentry's own values win for these
            tags[key] = str(pair[1])
    tags["level"] = str(data.get("level") or "error")
    for key in ("logger", "environment", "transaction", "server_name", "site"):
        value = data.get(key)
        if value:
            tags[key] = str(value)
    release = data.get("release")
    if release:
        tags["sentry:release"] = str(release)
        if data.get("dist"):
            tags["sentry:dist"] = str(data["dist"])
    user = user_tag(data.get("user"))
    if user:
        tags["sentry:user"] = user
    request = data.get("request")
    if isinstance(request, dict) and request.get("url") and "url" not in tags:
        tags["url"] = str(request["url"])
    values = exceptions(data)
    if values:
        mechanism = values[0].get("mechanism")
        if isinstance(mechanism, dict):
            if mechanism.get("type"):
                tags["mechanism"] = str(mechanism["type"])
            if isinstance(mechanism.get("handled"), bool):
                tags["handled"] = "yes" if mechanism["handled"] else "no"
    for key, value in _context_tags(data.get("contexts")):
        tags[key] = value
    return tuple(sorted(tags.items()))


def display_key(key: str) -> str:
    """``sentry:release`` → ``release``: how the API names an internal tag."""
    return key[len("sentry:"):] if key.startswith("sentry:") else key


def lookup_key(key: str) -> str:
    """The stored key an API or search key names (``release`` → ``sentry:release``)."""
    return INTERNAL_KEYS.get(key, key)
