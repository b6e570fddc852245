"""What event-level search reads of an event, computed once when the event is stored.

An event's searchable fields (``error.type``, ``stack.filename``, ``user.email``, ``message``, ...)
are kept as a tuple of ``(key, value)`` pairs next to its tags, so searching never parses a payload.
Array fields (one value per exception or frame) simply repeat their key. Keys that Sentry answers
from a tag (``level``, ``release``, ``environment``, ``os.name``, ...) are read from the tags.
``message`` is Sentry's search message: the formatted message, then the title's parts (exception
type and value, crash file and function) and the culprit where they are not already part of it,
lower-cased for matching.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from sentry_daemon.event_data import exceptions, interface_values, message_text
from sentry_daemon.grouping.stacks import Stack, stack_of

# Search keys read from the event's tags, and the tag that holds them.
TAG_KEYS = {
    "level": "level", "environment": "environment", "release": "sentry:release", "dist": "sentry:dist",
    "transaction": "transaction", "logger": "logger", "user": "sentry:user", "http.url": "url",
    "os.name": "os.name", "browser.name": "browser.name", "runtime.name": "runtime.name",
    "device.family": "device.family", "server_name": "server_name",
}
# Search keys read from the event's fields.
FIELD_KEYS = frozenset({
    "message", "title", "culprit", "location", "platform", "platform.name", "event.type",
    "user.id", "user.email", "user.username", "user.ip", "user.name", "geo.city", "geo.country_code", "geo.region",
    "error.type", "error.value", "error.mechanism", "error.handled", "error.unhandled",
    "stack.filename", "stack.function", "stack.module", "stack.abs_path", "stack.package",
    "http.method", "http.referer", "sdk.name", "sdk.version", "os.version", "browser.version", "runtime.version",
    "device.brand", "device.model", "device.name", "device.arch", "device.class", "device.model_id",
    "device.locale", "device.manufacturer", "device.orientation", "device.simulator",
})
# Fields (nearly) unique to each event: searched per event, not counted per issue.
UNINDEXED_FIELDS = frozenset({"message", "title", "culprit", "location", "error.value"})
_METADATA_KEYS = ("type", "value", "filename", "function")
_USER_FIELDS = (("id", "user.id"), ("email", "user.email"), ("username", "user.username"),
                ("ip_address", "user.ip"), ("name", "user.name"))
_FRAME_FIELDS = (("filename", "stack.filename"), ("function", "stack.function"), ("module", "stack.module"),
                 ("abs_path", "stack.abs_path"), ("package", "stack.package"))
_DEVICE_FIELDS = ("brand", "model", "name", "arch", "class", "model_id", "locale", "manufacturer", "orientation",
                  "simulator")


def search_message(data: dict[str, Any], metadata: dict[str, Any], culprit: str) -> str:
    message = message_text(data)
    for key in _METADATA_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and value and value not in message:
            message = f"{message} {value}" if message else value
    if culprit and culprit not in message:
        message = f"{message} {culprit}" if message else culprit
    return message


def _text(value: Any) -> str | None:
    if value is None or value == "" or isinstance(value, (dict, list)):
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)


@lru_cache(maxsize=8192)
def _stack_fields(trace: Stack) -> tuple[tuple[str, str], ...]:
    """``stack.filename``, ``stack.function``, ... of every frame (once per distinct stack)."""
    return tuple((name, value) for frame in trace.frames for key, name in _FRAME_FIELDS
                 if type(value := frame.get(key)) is str and value)


def event_texts(data: dict[str, Any], title: str, culprit: str, location: str | None,
                metadata: dict[str, Any]) -> tuple[tuple[str, str], ...]:
    """The searchable fields nearly unique to each event (``UNINDEXED_FIELDS``)."""
    texts = [("message", search_message(data, metadata, culprit).lower()), ("title", title)]
    if culprit:
        texts.append(("culprit", culprit))
    if location:
        texts.append(("location", str(location)))
    for exception in exceptions(data):
        value = _text(exception.get("value"))
        if value is not None:
            texts.append(("error.value", value))
    return tuple(texts)


def event_fields(data: dict[str, Any], event_type: str) -> tuple[tuple[str, str], ...]:
    """The searchable ``(key, value)`` pairs of a normalized event but its tags and texts."""
    own, stacks = event_field_parts(data, event_type)
    return own + stacks


def event_field_parts(data: dict[str, Any], event_type: str) -> tuple[tuple[tuple[str, str], ...],
                                                                      tuple[tuple[str, str], ...]]:
    """``event_fields`` in two parts: the pairs but its stacks' and the pairs of its stacks, which
    the events of an issue mostly share (kept apart, each part repeats across events as a whole)."""
    stack_fields: tuple[tuple[str, str], ...] = ()
    fields: list[tuple[str, str]] = [("event.type", event_type)]
    platform = data.get("platform")
    if isinstance(platform, str) and platform:
        fields += (("platform", platform), ("platform.name", platform))
    user = data.get("user")
    if type(user) is dict:
        for key, name in _USER_FIELDS:
            value = _text(user.get(key))
            if value is not None:
                fields.append((name, value))
        geo = user.get("geo")
        if type(geo) is dict:
            for key in ("city", "country_code", "region"):
                value = _text(geo.get(key))
                if value is not None:
                    fields.append((f"geo.{key}", value))
    unhandled = False
    stacks = []
    for exception in exceptions(data):
        value = _text(exception.get("type"))
        if value is not None:
            fields.append(("error.type", value))
        mechanism = exception.get("mechanism")
        if type(mechanism) is dict:
            value = _text(mechanism.get("type"))
            if value is not None:
                fields.append(("error.mechanism", value))
            if mechanism.get("handled") is False:
                unhandled = True
        stacks.append(exception.get("stacktrace"))
    fields += (("error.handled", "0" if unhandled else "1"), ("error.unhandled", "1" if unhandled else "0"))
    stacks.append(data.get("stacktrace"))
    stacks += [t.get("stacktrace") for t in interface_values(data.get("threads"))]
    for holder in stacks:
        trace = stack_of(holder, platform)
        if trace is not None:
            stack_fields += _stack_fields(trace)
    request = data.get("request")
    if type(request) is dict:
        value = _text(request.get("method"))
        if value is not None:
            fields.append(("http.method", value))
        headers = request.get("headers")
        for pair in headers if type(headers) is list else ():
            if len(pair) == 2 and isinstance(pair[0], str) and pair[0].lower() == "referer" and _text(pair[1]):
                fields.append(("http.referer", str(pair[1])))
    sdk = data.get("sdk")
    if type(sdk) is dict:
        for key in ("name", "version"):
            value = _text(sdk.get(key))
            if value is not None:
                fields.append((f"sdk.{key}", value))
    contexts = data.get("contexts")
    if type(contexts) is dict:
        for name in ("os", "browser", "runtime"):
            context = contexts.get(name)
            value = _text(context.get("version")) if type(context) is dict else None
            if value is not None:
                fields.append((f"{name}.version", value))
        device = contexts.get("device")
        if type(device) is dict:
            for key in _DEVICE_FIELDS:
                value = _text(device.get(key))
                if value is not None:
                    fields.append((f"device.{key}", value))
    return tuple(fields), stack_fields
