"""Relay's per-item size and count limits (relay-server/src/utils/sizes.rs) and their 413."""

from __future__ import annotations

import dataclasses

import pytest

from sentry_daemon.ingest.envelope import Envelope, Item, parse_envelope, serialize_envelope
from sentry_daemon.http.errors import ApiError
from sentry_daemon.ingest.limits import KIB, MIB, Limits, check_envelope_limits

LOG_CT = "application/vnd.sentry.items.log+json"
METRIC_CT = "application/vnd.sentry.items.trace-metric+json"
SPAN_CT = "application/vnd.sentry.items.span.v2+json"


def item(item_type: str, size: int, **headers: object) -> Item:
    return Item({"type": item_type, **headers}, b"x" * size)


def envelope(*items: Item) -> Envelope:
    return Envelope({}, list(items))


def overflow(env: Envelope, limits: Limits = Limits()) -> ApiError:
    with pytest.raises(ApiError) as info:
        check_envelope_limits(env, limits)
    return info.value


def assert_overflow(env: Envelope, discard_type: str, limits: Limits = Limits()) -> None:
    error = overflow(env, limits)
    assert error.status == 413
    assert error.detail == (
        f"envelope exceeded size limits for type '{discard_type}' "
        "(https://develop.sentry.dev/sdk/envelopes/#size-limits)"
    )
    assert error.causes == []
    assert error.body() == {"detail": error.detail}


def test_defaults_are_relays() -> None:
    limits = Limits()
    assert dataclasses.asdict(limits) == {
        "max_envelope_size": 200 * MIB,
        "max_event_size": 1 * MIB,
        "max_attachment_size": 200 * MIB,
        "max_attachments_size": 200 * MIB,
        "max_attachment_count": 30,
        "max_upload_size": 1024 * MIB,
        "max_client_reports_size": 100 * KIB,
        "max_client_reports_count": 100,
        "max_check_in_size": 100 * KIB,
        "max_sessions_size": 10 * MIB,
        "max_session_count": 100,
        "max_api_payload_size": 20 * MIB,
        "max_api_file_upload_size": 40 * MIB,
        "max_api_chunk_upload_size": 100 * MIB,
        "max_profile_size": 50 * MIB,
        "max_trace_metric_size": 1 * MIB,
        "max_log_size": 2 * MIB,
        "max_span_size": 10 * MIB,
        "max_standalone_span_count": 25,
        "max_container_size": 12 * MIB,
        "max_statsd_size": 1 * MIB,
        "max_metric_buckets_size": 1 * MIB,
        "max_replay_compressed_size": 10 * MIB,
        "max_replay_uncompressed_size": 100 * MIB,
        "max_replay_message_size": 15 * MIB,
    }


def test_empty_envelope_passes() -> None:
    check_envelope_limits(envelope())


# Single-item size limits at their Relay defaults: at the limit passes, one byte more is a 413.
@pytest.mark.parametrize(
    ("item_type", "limit", "discard_type"),
    [
        ("event", 1 * MIB, "event"),
        ("transaction", 1 * MIB, "transaction"),
        ("security", 1 * MIB, "security"),
        ("raw_security", 1 * MIB, "raw_security"),
        ("replay_event", 1 * MIB, "replay_event"),
        ("feedback", 1 * MIB, "user_report_v2"),
        ("form_data", 1 * MIB, "form_data"),
        ("client_report", 100 * KIB, "client_report"),
        ("check_in", 100 * KIB, "check_in"),
        ("statsd", 1 * MIB, "statsd"),
        ("metric_buckets", 1 * MIB, "metric_buckets"),
        ("replay_recording", 10 * MIB, "replay_recording"),
        ("replay_video", 10 * MIB, "replay_video"),
        ("session", 10 * MIB, "session"),
        ("sessions", 10 * MIB, "sessions"),
        ("span", 10 * MIB, "span"),
        ("log", 2 * MIB, "log"),
        ("trace_metric", 1 * MIB, "trace_metric"),
    ],
)
def test_item_size_limit(item_type: str, limit: int, discard_type: str) -> None:
    check_envelope_limits(envelope(item(item_type, limit)))
    assert_overflow(envelope(item(item_type, limit + 1)), discard_type)


@pytest.mark.parametrize(
    ("item_type", "discard_type"),
    [("profile", "profile"), ("profile_chunk", "profile_chunk"), ("profile_chunk_ui", "profile_chunk")],
)
def test_profile_size_limit(item_type: str, discard_type: str) -> None:
    limits = Limits(max_profile_size=1000)
    check_envelope_limits(envelope(item(item_type, 1000)), limits)
    assert_overflow(envelope(item(item_type, 1001)), discard_type, limits)


def test_profile_default_size_is_50_mib() -> None:
    check_envelope_limits(envelope(item("profile", 50 * MIB)))
    assert_overflow(envelope(item("profile", 50 * MIB + 1)), "profile")


@pytest.mark.parametrize(
    ("first", "second", "discard_type"),
    [
        ("event", "transaction", "transaction"),
        ("feedback", "event", "event"),
        ("transaction", "feedback", "user_report_v2"),
        ("check_in", "check_in", "check_in"),
        ("statsd", "statsd", "statsd"),
        ("metric_buckets", "metric_buckets", "metric_buckets"),
        ("replay_recording", "replay_recording", "replay_recording"),
        ("replay_video", "replay_video", "replay_video"),
        ("profile", "profile_chunk", "profile_chunk"),
        ("trace_metric", "trace_metric", "trace_metric"),
    ],
)
def test_one_per_envelope(first: str, second: str, discard_type: str) -> None:
    check_envelope_limits(envelope(item(first, 10)))
    assert_overflow(envelope(item(first, 10), item(second, 10)), discard_type)


def test_event_and_transaction_share_the_event_bucket() -> None:
    assert_overflow(envelope(item("event", 1), item("transaction", 1)), "transaction")


def test_attachment_count_limit() -> None:
    check_envelope_limits(envelope(*[item("attachment", 1) for _ in range(30)]))
    assert_overflow(envelope(*[item("attachment", 1) for _ in range(31)]), "attachment:attachment")


def test_attachment_size_limits() -> None:
    limits = Limits(max_attachment_size=100, max_attachments_size=150)
    check_envelope_limits(envelope(item("attachment", 100)), limits)
    assert_overflow(envelope(item("attachment", 101)), "attachment:attachment", limits)
    check_envelope_limits(envelope(item("attachment", 100), item("attachment", 50)), limits)
    assert_overflow(envelope(item("attachment", 100), item("attachment", 51)), "attachment:attachment", limits)


def test_attachment_default_size_is_200_mib() -> None:
    assert_overflow(envelope(item("attachment", 200 * MIB + 1)), "attachment:attachment")


@pytest.mark.parametrize(
    ("attachment_type", "discard_type"),
    [
        ("event.attachment", "attachment:attachment"),
        ("event.minidump", "attachment:minidump"),
        ("event.applecrashreport", "attachment:apple_crash_report"),
        ("event.payload", "attachment:event_payload"),
        ("event.breadcrumbs", "attachment:breadcrumbs"),
        ("event.view_hierarchy", "attachment:view_hierarchy"),
        ("playstation.prosperodump", "attachment:prosperodump"),
        ("nswitch.dying_message", "attachment:nnswitch_dying_message"),
        ("unreal.context", "attachment:unreal_context"),
        ("unreal.logs", "attachment:unreal_logs"),
    ],
)
def test_attachment_discard_type_names_the_attachment_type(attachment_type: str, discard_type: str) -> None:
    limits = Limits(max_attachment_size=10)
    assert_overflow(envelope(item("attachment", 11, attachment_type=attachment_type)), discard_type, limits)


def test_unreal_report_and_user_report_count_as_attachments() -> None:
    limits = Limits(max_attachment_size=10)
    assert_overflow(envelope(item("unreal_report", 11)), "unreal_report", limits)
    assert_overflow(envelope(item("user_report", 11)), "user_report", limits)
    many = [item("attachment", 1) for _ in range(29)]
    assert_overflow(envelope(*many, item("user_report", 1), item("unreal_report", 1)), "unreal_report")


def test_any_item_with_attachment_type_reports_it() -> None:
    assert_overflow(envelope(item("event", MIB + 1, attachment_type="event.minidump")), "attachment:minidump")


def test_session_count_limit() -> None:
    check_envelope_limits(envelope(*[item("session", 1) for _ in range(100)]))
    assert_overflow(envelope(*[item("session", 1) for _ in range(101)]), "session")
    assert_overflow(envelope(*[item("session", 1) for _ in range(100)], item("sessions", 1)), "sessions")


def test_sessions_total_size_limit() -> None:
    limits = Limits(max_sessions_size=100)
    check_envelope_limits(envelope(item("session", 60), item("sessions", 40)), limits)
    assert_overflow(envelope(item("session", 60), item("sessions", 41)), "sessions", limits)


def test_client_report_count_and_total_size() -> None:
    check_envelope_limits(envelope(*[item("client_report", 1) for _ in range(100)]))
    assert_overflow(envelope(*[item("client_report", 1) for _ in range(101)]), "client_report")
    check_envelope_limits(envelope(item("client_report", 60 * KIB), item("client_report", 40 * KIB)))
    assert_overflow(envelope(item("client_report", 60 * KIB), item("client_report", 40 * KIB + 1)), "client_report")


def test_log_container_is_checked_on_average_entry_size() -> None:
    check_envelope_limits(envelope(item("log", 4 * MIB, content_type=LOG_CT, item_count=2)))
    assert_overflow(envelope(item("log", 4 * MIB + 2, content_type=LOG_CT, item_count=2)), "log")
    assert_overflow(envelope(item("log", 4 * MIB, content_type=LOG_CT)), "log")
    assert_overflow(envelope(item("log", 4 * MIB, content_type=LOG_CT, item_count=0)), "log")
    assert_overflow(envelope(item("log", 4 * MIB, item_count=2)), "log")


def test_log_container_total_size_and_count() -> None:
    check_envelope_limits(envelope(item("log", 12 * MIB, content_type=LOG_CT, item_count=6)))
    assert_overflow(envelope(item("log", 12 * MIB + 1, content_type=LOG_CT, item_count=7)), "log")
    assert_overflow(envelope(item("log", 1, content_type=LOG_CT, item_count=1), item("log", 1)), "log")


def test_trace_metric_container_limits() -> None:
    check_envelope_limits(envelope(item("trace_metric", 3 * MIB, content_type=METRIC_CT, item_count=3)))
    assert_overflow(envelope(item("trace_metric", 3 * MIB + 3, content_type=METRIC_CT, item_count=3)), "trace_metric")
    assert_overflow(
        envelope(item("trace_metric", 12 * MIB + 1, content_type=METRIC_CT, item_count=100)), "trace_metric"
    )


def test_span_v2_container_limits() -> None:
    check_envelope_limits(envelope(item("span", 12 * MIB, content_type=SPAN_CT, item_count=2)))
    assert_overflow(envelope(item("span", 12 * MIB + 1, content_type=SPAN_CT, item_count=2)), "span")
    assert_overflow(envelope(item("span", 1, content_type=SPAN_CT, item_count=1),
                             item("span", 1, content_type=SPAN_CT, item_count=1)), "span")


def test_legacy_standalone_span_count_limit() -> None:
    check_envelope_limits(envelope(*[item("span", 1) for _ in range(25)]))
    assert_overflow(envelope(*[item("span", 1) for _ in range(26)]), "span")


def test_legacy_span_total_size_shares_container_limit() -> None:
    limits = Limits(max_container_size=100)
    check_envelope_limits(envelope(item("span", 50), item("span", 50)), limits)
    assert_overflow(envelope(item("span", 50), item("span", 51)), "span", limits)


def test_unknown_item_types_are_never_limited() -> None:
    check_envelope_limits(envelope(*[item("something_new", 2 * MIB) for _ in range(40)], item("nel", 2 * MIB)))


def test_first_violation_wins() -> None:
    env = envelope(item("check_in", 100 * KIB + 1), item("event", MIB + 1))
    assert_overflow(env, "check_in")
    env = envelope(item("event", MIB + 1), item("check_in", 100 * KIB + 1))
    assert_overflow(env, "event")


def test_limits_object_is_not_consumed_between_calls() -> None:
    env = envelope(item("event", 10))
    check_envelope_limits(env)
    check_envelope_limits(env)


def test_parsed_python_sdk_envelope_passes() -> None:
    body = serialize_envelope(
        {"event_id": "9ec79c33ec9942ab8353589fcb2e04dc"},
        [({"type": "event"}, b"{}"), ({"type": "attachment", "filename": "a.txt"}, b"hi")],
    )
    check_envelope_limits(parse_envelope(body))
