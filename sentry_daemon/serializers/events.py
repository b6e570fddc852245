"""Events as Sentry's web API shows them (SENTRY-PROTOCOL §5.3).

``full``: the whole event with its ``entries`` (exception, message, stacktrace, threads,
breadcrumbs, request, spans, debug meta), camelCase frames with ``context`` as ``[[lineno,
line], ...]`` and ``inApp`` as the stack rules decided it. ``simple``: the list item of issue and
project event lists. ``detail`` adds what the event detail endpoints add: the release, and the
previous and next event of the same issue.
"""

from __future__ import annotations

from typing import Any, Callable

from sentry_daemon.event_data import ERROR_EVENT_TYPES, exceptions, interface_values, message_text
from sentry_daemon.grouping.stacks import stack_of
from sentry_daemon.grouping.titles import describe
from sentry_daemon.grouping.variants import GROUPING_CONFIG
from sentry_daemon.store.event_tags import display_key, event_tags, user_tag_query
from sentry_daemon.store.records import Event
from sentry_daemon.timestamps import isoformat

# Sentry's config blob for ``newstyle:2023-01-11`` with no project rules, as events carry it.
ENHANCEMENTS = "KLUv_SAYwQAAkwKRs25ld3N0eWxlOjIwMjMtMDEtMTGQ"
_ERROR_MESSAGES = {
    "invalid_data": "Discarded invalid value",
    "invalid_attribute": "Discarded unknown attribute",
    "invalid_environment": "Environment cannot contain \"/\" or newlines",
    "future_timestamp": "Invalid timestamp (in future)",
    "past_timestamp": "Invalid timestamp (too old)",
    "clock_drift": "Clock drift detected in SDK",
    "value_too_long": "Discarded value due to exceeding maximum length",
    "missing_attribute": "Missing value for required attribute",
}
_MINIMAL_USER_KEYS = ("id", "email", "username", "ip_address", "name")
SHOWN_TYPES = (*ERROR_EVENT_TYPES, "transaction", "generic", "feedback")


def _prune(value: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in value.items() if v not in (None, "", [], {})}


def frame(f: dict[str, Any], in_app: bool | None) -> dict[str, Any]:
    lineno = f.get("lineno")
    pre, line, post = f.get("pre_context") or [], f.get("context_line"), f.get("post_context") or []
    context: list[list[Any]] = []
    if isinstance(lineno, int) and (pre or line is not None or post):
        start = lineno - len(pre)
        lines = [*pre, *([line] if line is not None else []), *post]
        context = [[start + n, text] for n, text in enumerate(lines)]
    return {
        "filename": f.get("filename"),
        "absPath": f.get("abs_path"),
        "module": f.get("module"),
        "package": f.get("package"),
        "platform": f.get("platform"),
        "instructionAddr": f.get("instruction_addr"),
        "symbolAddr": f.get("symbol_addr"),
        "function": f.get("function"),
        "rawFunction": f.get("raw_function"),
        "symbol": f.get("symbol"),
        "context": context,
        "lineNo": lineno,
        "colNo": f.get("colno"),
        "inApp": in_app,
        "trust": f.get("trust"),
        "errors": None,
        "lock": None,
        "sourceLink": None,
        "vars": f.get("vars"),
    }


def stacktrace(value: Any, platform: str | None) -> dict[str, Any] | None:
    if not isinstance(value, dict):
        return None
    frames = [f for f in value.get("frames") or [] if isinstance(f, dict)]
    trace = stack_of(value, platform)
    in_app = trace.rules.in_app if trace is not None else ()
    rendered = [frame(f, app) for f, app in zip(frames, in_app)]
    return {
        "frames": rendered,
        "framesOmitted": value.get("frames_omitted"),
        "registers": value.get("registers"),
        "hasSystemFrames": any(f["inApp"] for f in rendered),
    }


def entries(data: dict[str, Any]) -> list[dict[str, Any]]:
    """The interfaces of the event, in Sentry's display order."""
    platform = data.get("platform")
    found: list[dict[str, Any]] = []
    logentry = data.get("logentry")
    if isinstance(logentry, dict):
        message = _prune({"formatted": logentry.get("formatted"), "message": logentry.get("message"),
                          "params": logentry.get("params")})
        if message:
            found.append({"type": "message", "data": message})
    exception_values = exceptions(data)
    if exception_values:
        values = []
        for exc in exception_values:
            values.append({
                "type": exc.get("type"),
                "value": exc.get("value"),
                "mechanism": exc.get("mechanism"),
                "threadId": exc.get("thread_id"),
                "module": exc.get("module"),
                "stacktrace": stacktrace(exc.get("stacktrace"), platform),
                "rawStacktrace": stacktrace(exc.get("raw_stacktrace"), platform),
            })
        found.append({"type": "exception", "data": {
            "values": values,
            "excOmitted": data["exception"].get("exc_omitted"),
            "hasSystemFrames": any(v["stacktrace"] and v["stacktrace"]["hasSystemFrames"] for v in values),
        }})
    top = stacktrace(data.get("stacktrace"), platform)
    if top is not None:
        found.append({"type": "stacktrace", "data": top})
    if data.get("type") == "transaction":
        found.append({"type": "spans", "data": [s for s in data.get("spans") or [] if isinstance(s, dict)]})
    threads = interface_values(data.get("threads"))
    if threads:
        found.append({"type": "threads", "data": {"values": [{
            "id": t.get("id"), "current": bool(t.get("current")), "crashed": bool(t.get("crashed")),
            "name": t.get("name"), "stacktrace": stacktrace(t.get("stacktrace"), platform),
            "rawStacktrace": stacktrace(t.get("raw_stacktrace"), platform),
        } for t in threads]}})
    crumbs = interface_values(data.get("breadcrumbs"))
    if crumbs:
        found.append({"type": "breadcrumbs", "data": {"values": [{
            "type": c.get("type") or "default", "timestamp": isoformat(c.get("timestamp")),
            "level": c.get("level") or "info", "message": c.get("message"), "category": c.get("category"),
            "data": c.get("data"), "event_id": c.get("event_id"),
        } for c in crumbs]}})
    request = data.get("request")
    if isinstance(request, dict) and request:
        found.append({"type": "request", "data": {
            "apiTarget": request.get("api_target"),
            "method": request.get("method"),
            "url": request.get("url"),
            "query": request.get("query_string") or [],
            "fragment": request.get("fragment"),
            "data": request.get("data"),
            "headers": request.get("headers") or [],
            "cookies": request.get("cookies") or [],
            "env": request.get("env"),
            "inferredContentType": request.get("inferred_content_type"),
        }})
    debug_meta = data.get("debug_meta")
    if isinstance(debug_meta, dict):
        meta = _prune({"images": debug_meta.get("images"), "sdk_info": debug_meta.get("sdk_info"),
                       "is_debug_build": debug_meta.get("is_debug_build")})
        if meta:
            found.append({"type": "debugmeta", "data": meta})
    return found


def tags(event: Event, data: dict[str, Any], sort_by_display_key: bool = True) -> list[dict[str, Any]]:
    """``[{key, value}]``; the user tag also says how to search for it (``query``). Events that
    open no issue (transactions, feedback) keep no tag index, so theirs are derived from ``data``
    as Sentry derives every event's."""
    rows = []
    for key, value in event.tags or event_tags(data):
        row: dict[str, Any] = {"key": display_key(key), "value": value}
        if key == "sentry:user" and (query := user_tag_query(value)) is not None:
            row["query"] = query
        rows.append(row)
    if sort_by_display_key:
        rows.sort(key=lambda r: r["key"])
    return rows


def _user(data: dict[str, Any], minimal: bool = False) -> dict[str, Any] | None:
    user = data.get("user")
    if not isinstance(user, dict) or not user:
        return None
    body = {key: user.get(key) for key in _MINIMAL_USER_KEYS}
    if not minimal:
        body["data"] = user.get("data")
        if isinstance(user.get("geo"), dict):
            body["geo"] = user["geo"]
    elif user.get("data"):
        body["data"] = user["data"]
    return body


def _contexts(data: dict[str, Any]) -> dict[str, Any]:
    contexts = data.get("contexts")
    if not isinstance(contexts, dict):
        return {}
    rendered = {}
    for alias, context in contexts.items():
        if isinstance(context, dict):
            body = _prune(dict(context))
            body["type"] = context.get("type") or "default"
            rendered[alias] = body
    return rendered


def _errors(data: dict[str, Any]) -> list[dict[str, Any]]:
    rows = []
    for error in data.get("errors") or []:
        if not isinstance(error, dict):
            continue
        name = str(error.get("name") or "")
        if name.startswith(("breadcrumbs.", "extra.", "tags.")) or ".frames." in name:
            continue
        kind = str(error.get("type") or "unknown_error")
        rows.append({"type": kind, "message": _ERROR_MESSAGES.get(kind, kind.replace("_", " ").capitalize()),
                     "data": {k: v for k, v in error.items() if k != "type"}})
    return rows


def full(event: Event) -> dict[str, Any]:
    """Sentry's ``EventSerializer``."""
    data = event.data
    description = describe(data)
    sdk = data.get("sdk") if isinstance(data.get("sdk"), dict) else None
    body: dict[str, Any] = {
        "id": event.event_id,
        "groupID": str(event.group_id) if event.group_id is not None else None,
        "eventID": event.event_id,
        "projectID": str(event.project.id),
        "size": event.size,
        "entries": entries(data),
        "dist": data.get("dist"),
        "message": message_text(data),
        "title": description.title if event.type != "transaction" else str(data.get("transaction") or ""),
        "location": description.location if event.type != "transaction" else data.get("transaction"),
        "user": _user(data),
        "contexts": _contexts(data),
        "sdk": {"name": sdk.get("name"), "version": sdk.get("version")} if sdk else None,
        "context": data.get("extra") if isinstance(data.get("extra"), dict) else {},
        "packages": data.get("modules") if isinstance(data.get("modules"), dict) else {},
        "type": event.type if event.type in SHOWN_TYPES else "default",
        "metadata": description.metadata if event.type != "transaction" else {"title": data.get("transaction")},
        "tags": tags(event, data),
        "platform": data.get("platform") or "other",
        "dateReceived": isoformat(data.get("received") or event.received),
        "errors": _errors(data),
        "occurrence": None,
        "_meta": {"entries": {}, "message": None, "user": None, "contexts": None, "sdk": None, "context": None,
                  "packages": None, "tags": {}},
    }
    if event.type == "transaction":
        body.update({
            "startTimestamp": data.get("start_timestamp"),
            "endTimestamp": data.get("timestamp"),
            "measurements": data.get("measurements"),
            "breakdowns": data.get("breakdowns"),
        })
    else:
        body.update({
            "crashFile": None,
            "culprit": description.culprit,
            "dateCreated": isoformat(event.time),
            "fingerprints": list(event.hashes),
            "groupingConfig": {"id": GROUPING_CONFIG, "enhancements": ENHANCEMENTS},
        })
    return body


def simple(event: Event) -> dict[str, Any]:
    """Sentry's ``SimpleEventSerializer``: an item of an issue's or a project's event list."""
    data = event.data
    description = describe(data)
    return {
        "id": event.event_id,
        "event.type": event.type,
        "groupID": str(event.group_id) if event.group_id is not None else None,
        "eventID": event.event_id,
        "projectID": str(event.project.id),
        "message": message_text(data),
        "title": description.title,
        "location": description.location,
        "culprit": description.culprit,
        "user": _user(data, minimal=True),
        "tags": tags(event, data, sort_by_display_key=False),
        "platform": data.get("platform"),
        "dateCreated": isoformat(event.time),
        "crashFile": None,
        "metadata": description.metadata,
    }


def detail(event: Event, release: dict[str, Any] | None, neighbours: Callable[[Event], tuple[Any, Any]]) -> dict[str, Any]:
    """The event detail endpoints' answer: the full event, its release, and its neighbours in its issue."""
    body = full(event)
    previous, following = neighbours(event)
    body.update({
        "release": release,
        "userReport": None,
        "sdkUpdates": [],
        "resolvedWith": [],
        "nextEventID": following.event_id if following is not None else None,
        "previousEventID": previous.event_id if previous is not None else None,
    })
    return body
