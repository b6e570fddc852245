"""Relay's per-envelope size and count limits, answered with Relay's 413.

Source: getsentry/relay ``relay-config/src/config.rs`` (``Limits::default()``) for the numbers and
``relay-server/src/utils/sizes.rs`` (``check_envelope_size_limits``) for how items are counted:
every known item type belongs to one limit bucket with a per-item size, a per-envelope count and
a per-envelope total size; items are checked in envelope order and the first item that breaks
its bucket decides the answer.  The 413 text comes from ``BadStoreRequest::Overflow`` in
``relay-server/src/endpoints/common.rs`` and names the ``DiscardItemType``
(``relay-server/src/services/outcome.rs``), e.g. ``attachment:minidump`` or ``user_report_v2``.

Two things are deliberately not here: the whole-body limit (``max_envelope_size``) is enforced
by the HTTP layer before parsing, like Relay's body limit, and unknown item types are never
counted, as in Relay.  Guesses: an ``integration`` item (Relay-internal, refused earlier by
:func:`~sentry_daemon.envelope.parse_envelope`) is bucketed by its content type, anything else
internal gets a zero limit as Relay's defensive ``empty`` bucket does.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cached_property

from sentry_daemon.http.errors import ApiError
from sentry_daemon.ingest.envelope import Envelope, Item

__all__ = ["Limits", "Overflow", "check_envelope_limits", "overflow_error", "web_api_body_limits"]

KIB = 1024
MIB = 1024 * KIB


@dataclass(frozen=True)
class Limits:
    """Relay's ``Limits::default()``; sizes in bytes, counts in items."""

    max_envelope_size: int = 200 * MIB
    max_event_size: int = 1 * MIB
    max_attachment_size: int = 200 * MIB
    max_attachments_size: int = 200 * MIB
    max_attachment_count: int = 30
    max_upload_size: int = 1024 * MIB
    max_client_reports_size: int = 100 * KIB
    max_client_reports_count: int = 100
    max_check_in_size: int = 100 * KIB
    max_sessions_size: int = 10 * MIB
    max_session_count: int = 100
    max_api_payload_size: int = 20 * MIB
    max_api_file_upload_size: int = 40 * MIB
    max_api_chunk_upload_size: int = 100 * MIB
    max_profile_size: int = 50 * MIB
    max_trace_metric_size: int = 1 * MIB
    max_log_size: int = 2 * MIB
    max_span_size: int = 10 * MIB
    max_standalone_span_count: int = 25
    max_container_size: int = 12 * MIB
    max_statsd_size: int = 1 * MIB
    max_metric_buckets_size: int = 1 * MIB
    max_replay_compressed_size: int = 10 * MIB
    max_replay_uncompressed_size: int = 100 * MIB
    max_replay_message_size: int = 15 * MIB

    @cached_property
    def buckets(self) -> dict[str, tuple[int, int, int]]:
        """:func:`_bucket_limits`, built once: every envelope is checked against the same table."""
        return _bucket_limits(self)


# Relay's forward endpoint (``relay-server/src/endpoints/forward.rs``, ``get_limit_for_path``): the
# web API's bodies are limited by path, whatever the envelope limit is.
CHUNK_UPLOAD_PATH = re.compile(rb"^/api/0/organizations/[^/]+/chunk-upload/?$")
FILE_UPLOAD_PATH = re.compile(rb"^/api/0/projects/[^/]+/[^/]+/releases/[^/]+/(?:files|dsyms)/?$")
WEB_API_PATH = re.compile(rb"^/api/0/")


def web_api_body_limits(limits: Limits) -> list[tuple[re.Pattern[bytes], int]]:
    """(path pattern, body limit), first match wins: chunk uploads ``max_api_chunk_upload_size``,
    a project's release file (and legacy dSYM) uploads ``max_api_file_upload_size``, every other
    ``/api/0/`` body ``max_api_payload_size``."""
    return [(CHUNK_UPLOAD_PATH, limits.max_api_chunk_upload_size),
            (FILE_UPLOAD_PATH, limits.max_api_file_upload_size),
            (WEB_API_PATH, limits.max_api_payload_size)]


_EVENT_TYPES = frozenset(
    {"event", "transaction", "security", "replay_event", "raw_security", "feedback", "form_data"}
)
_ATTACHMENT_LIKE = frozenset({"attachment", "unreal_report", "user_report"})
_SESSION_TYPES = frozenset({"session", "sessions"})
_PROFILE_TYPES = frozenset({"profile", "profile_chunk", "profile_chunk_ui"})

# ItemType::can_support_container: only these report an item_count (Item::item_count).
_CAN_BE_CONTAINER = frozenset(
    {
        "session",
        "sessions",
        "statsd",
        "metric_buckets",
        "client_report",
        "profile",
        "check_in",
        "log",
        "trace_metric",
        "span",
        "profile_chunk",
        "profile_chunk_ui",
    }
)
_KNOWN_TYPES = frozenset(
    _EVENT_TYPES
    | _ATTACHMENT_LIKE
    | _SESSION_TYPES
    | _PROFILE_TYPES
    | {
        "replay_recording",
        "replay_video",
        "client_report",
        "check_in",
        "statsd",
        "metric_buckets",
        "log",
        "trace_metric",
        "span",
        "integration",
    }
)

# DiscardItemType::as_str for item types whose name differs from the wire name.
_DISCARD_NAMES = {
    "feedback": "user_report_v2",
    "attachment": "attachment:attachment",
    "profile_chunk_ui": "profile_chunk",
}
_DISCARD_ATTACHMENT_NAMES = {
    "event.attachment": "attachment:attachment",
    "event.minidump": "attachment:minidump",
    "event.applecrashreport": "attachment:apple_crash_report",
    "event.payload": "attachment:event_payload",
    "event.breadcrumbs": "attachment:breadcrumbs",
    "playstation.prosperodump": "attachment:prosperodump",
    "nswitch.dying_message": "attachment:nnswitch_dying_message",
    "unreal.context": "attachment:unreal_context",
    "unreal.logs": "attachment:unreal_logs",
    "event.view_hierarchy": "attachment:view_hierarchy",
}


class _Bucket:
    """One ``Limit`` of sizes.rs: remaining count and size, decremented per item."""

    __slots__ = ("item_size", "count", "size")

    def __init__(self, item_size: int, count: int, size: int) -> None:
        self.item_size = item_size
        self.count = count
        self.size = size

    def admits(self, item: Item) -> bool:
        length = len(item.payload)
        per_item = length
        if item.is_container:
            # Containers are checked on the average entry size; entries are re-checked later.
            per_item = length // max(_item_count(item) or 1, 1)
        if per_item > self.item_size or self.count < 1 or self.size < length:
            return False
        self.count -= 1
        self.size -= length
        return True


def _item_count(item: Item) -> int | None:
    if item.type not in _CAN_BE_CONTAINER:
        return None
    value = item.headers.get("item_count")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Overflow(ApiError):
    """Relay's 413 for an item that broke its limit; ``discard_type`` names it, as the envelope's
    ``invalid`` outcomes do (reason ``too_large:<discard_type>``)."""

    def __init__(self, discard_type: str) -> None:
        super().__init__(413, f"envelope exceeded size limits for type '{discard_type}' "
                              "(https://develop.sentry.dev/sdk/envelopes/#size-limits)")
        self.discard_type = discard_type


def overflow_error(discard_type: str) -> Overflow:
    """Relay's 413 body for an item that broke its limit."""
    return Overflow(discard_type)


def _discard_type(item: Item) -> str:
    attachment_type = item.headers.get("attachment_type")
    if isinstance(attachment_type, str) and attachment_type in _DISCARD_ATTACHMENT_NAMES:
        return _DISCARD_ATTACHMENT_NAMES[attachment_type]
    return _DISCARD_NAMES.get(item.type, item.type)


def _bucket_limits(limits: Limits) -> dict[str, tuple[int, int, int]]:
    """(per-item size, count, total size) of each limit group of sizes.rs."""
    container = limits.max_container_size
    return {
        "event": (limits.max_event_size, 1, limits.max_event_size),
        "attachment": (limits.max_attachment_size, limits.max_attachment_count, limits.max_attachments_size),
        "replay_recording": (limits.max_replay_compressed_size, 1, limits.max_replay_compressed_size),
        "replay_video": (limits.max_replay_compressed_size, 1, limits.max_replay_compressed_size),
        "session": (limits.max_sessions_size, limits.max_session_count, limits.max_sessions_size),
        "client_report": (limits.max_client_reports_size, limits.max_client_reports_count,
                          limits.max_client_reports_size),
        "profile": (limits.max_profile_size, 1, limits.max_profile_size),
        "check_in": (limits.max_check_in_size, 1, limits.max_check_in_size),
        "statsd": (limits.max_statsd_size, 1, limits.max_statsd_size),
        "metric_buckets": (limits.max_metric_buckets_size, 1, limits.max_metric_buckets_size),
        "log": (limits.max_log_size, 1, container),
        "log_integration": (container, 1, container),
        "trace_metric": (limits.max_trace_metric_size, 1, container),
        "span": (limits.max_span_size, 1, container),
        "span_integration": (container, 1, container),
        "span_legacy": (limits.max_span_size, limits.max_standalone_span_count, container),
        "empty": (0, 0, 0),
    }


def _group(item: Item) -> str | None:
    """Which limit group an item counts against (None: not limited)."""
    item_type = item.type
    if item_type not in _KNOWN_TYPES:
        return None
    if item_type in _EVENT_TYPES:
        return "event"
    if item_type in _ATTACHMENT_LIKE:
        return "attachment"
    if item_type in _SESSION_TYPES:
        return "session"
    if item_type in _PROFILE_TYPES:
        return "profile"
    if item_type == "span":
        return "span" if item.is_container else "span_legacy"
    if item_type == "integration":
        content_type = (item.content_type or "").lower()
        if ".logs" in content_type:
            return "log_integration"
        if ".traces" in content_type or ".spans" in content_type:
            return "span_integration"
        return "empty"
    return item_type


def check_envelope_limits(envelope: Envelope, limits: Limits = Limits()) -> None:
    """Raise Relay's 413 for the first item over its per-item, count or total-size limit."""
    buckets: dict[str, _Bucket] = {}
    for item in envelope.items:
        group = _group(item)
        if group is None:
            continue
        bucket = buckets.get(group)
        if bucket is None:
            bucket = buckets[group] = _Bucket(*limits.buckets[group])
        if not bucket.admits(item):
            raise overflow_error(_discard_type(item))
