"""Drive the real sentry-python SDK against a DSN; print what happened as one JSON line.

    python python_sdk.py DSN SCENARIO [SCENARIO ...]

Scenarios: message, exception, transaction, attachments, checkin, session, logs, metrics
(``attachments`` sends ``$SDK_ATTACHMENTS/note.txt`` and ``$SDK_ATTACHMENTS/data.bin``).
``SDK_COMPRESSION`` picks the body encoding: ``default`` (brotli, as the SDK does when it can
import it), ``gzip`` (``_experiments={"transport_compression_algo": "gzip"}``), ``nobrotli``
(brotli made unimportable: the SDK falls back to gzip), ``none`` (compression level 0).

Output: ``{"ids": {scenario: event id or check-in ids}, "requests": [{"url", "content_encoding",
"content_type", "status"}...], "compression": <transport's algorithm>}``.
The SDK is flushed and closed before the line is printed, so everything was answered by then.
"""

from __future__ import annotations

import json
import os
import sys

COMPRESSION = os.environ.get("SDK_COMPRESSION", "default")
if COMPRESSION == "nobrotli":
    sys.modules["brotli"] = None  # type: ignore[assignment]  # import brotli -> ImportError

import sentry_sdk  # noqa: E402
from sentry_sdk.crons import capture_checkin  # noqa: E402


def lookup(mapping: dict, key: str) -> str:
    return mapping[key]


def middle(mapping: dict) -> str:
    return lookup(mapping, "missing-key")


def outer() -> str:
    return middle({"present": 1})


def run(name: str) -> object:
    if name == "message":
        sentry_sdk.set_tag("scenario", "message")
        sentry_sdk.set_user({"id": "42", "email": "dev@example.com"})
        return sentry_sdk.capture_message("hello from python sdk", level="warning")
    if name == "exception":
        try:
            outer()
        except KeyError:
            return sentry_sdk.capture_exception()
        raise AssertionError("no KeyError")
    if name == "transaction":
        with sentry_sdk.start_transaction(op="task", name="python-acceptance-txn") as txn:
            with sentry_sdk.start_span(op="db.query", name="SELECT 1"):
                pass
            with sentry_sdk.start_span(op="http.client", name="GET /thing"):
                pass
        return {"trace_id": txn.trace_id, "span_id": txn.span_id}
    if name == "attachments":
        folder = os.environ["SDK_ATTACHMENTS"]
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(path=os.path.join(folder, "note.txt"), content_type="text/plain")
            scope.add_attachment(path=os.path.join(folder, "data.bin"), content_type="application/octet-stream")
            return sentry_sdk.capture_message("event with attachments")
    if name == "checkin":
        config = {
            "schedule": {"type": "crontab", "value": "*/5 * * * *"},
            "checkin_margin": 1, "max_runtime": 10, "timezone": "UTC",
        }
        check_in_id = capture_checkin(monitor_slug="my-cron", status="in_progress", monitor_config=config)
        capture_checkin(monitor_slug="my-cron", check_in_id=check_in_id, status="ok", duration=0.01)
        return check_in_id
    if name == "session":
        sentry_sdk.start_session()
        sentry_sdk.end_session()
        return None
    if name == "logs":
        sentry_sdk.logger.info("user {user_id} logged in", user_id=42)
        sentry_sdk.logger.warning("disk at {percent}%", percent=91.5)
        sentry_sdk.logger.error("payment failed for order {order}", order="A-1")
        return None
    if name == "metrics":
        sentry_sdk.metrics.count("button_click", 1, attributes={"browser": "firefox"})
        sentry_sdk.metrics.gauge("queue_depth", 7, unit="item")
        sentry_sdk.metrics.distribution("page_load", 123.5, unit="millisecond")
        return None
    raise SystemExit(f"unknown scenario {name!r}")


def main() -> None:
    dsn, scenarios = sys.argv[1], sys.argv[2:]
    experiments: dict = {}
    if COMPRESSION == "gzip":
        experiments["transport_compression_algo"] = "gzip"
    elif COMPRESSION == "none":
        experiments["transport_compression_level"] = 0
    sentry_sdk.init(
        dsn=dsn,
        release="myapp@1.0.0",
        environment="acceptance",
        traces_sample_rate=1.0,
        enable_logs=True,
        _experiments=experiments,
    )
    transport = sentry_sdk.get_client().transport
    requests: list[dict] = []
    original = transport._request

    def recording_request(method, endpoint_type, body, headers):  # what went on the wire
        response = original(method, endpoint_type, body, headers)
        requests.append({
            "url": transport._auth.get_api_url(endpoint_type),
            "content_encoding": headers.get("Content-Encoding"),
            "content_type": headers.get("Content-Type"),
            "status": response.status,
        })
        return response

    transport._request = recording_request
    ids = {name: run(name) for name in scenarios}
    sentry_sdk.flush(timeout=10)
    compression = transport._compression_algo if transport._compression_level else None
    sentry_sdk.get_client().close(timeout=10)
    print(json.dumps({"ids": ids, "requests": requests, "compression": compression}))


if __name__ == "__main__":
    main()
