"""Drive the real sentry-python SDK into a rate limit and out of it; print what happened as one line.

    python python_backoff.py DSN BACKOFF_SECONDS

Sends ``first`` and flushes (the daemon's fault answers 429 for it); captures ``second`` and
``third`` while the SDK holds off (it drops them itself, recording ``ratelimit_backoff``) and
flushes (the SDK sends its client report); waits ``BACKOFF_SECONDS``, then captures ``fourth``.

Output: ``{"ids": {name: event id}, "requests": [{"types": [item types], "status",
"rate_limits"}...]}``, one entry per envelope the transport sent, with the answer's status and
``X-Sentry-Rate-Limits``. The SDK is closed before the line is printed.
"""

from __future__ import annotations

import json
import sys
import time

import sentry_sdk


def main() -> None:
    dsn, backoff = sys.argv[1], float(sys.argv[2])
    sentry_sdk.init(dsn=dsn, release="myapp@1.0.0", auto_session_tracking=False)
    transport = sentry_sdk.get_client().transport
    requests: list[dict] = []
    original = transport._handle_response

    def recording(response, envelope):  # every answer, with the envelope it was for
        requests.append({"types": [item.type for item in envelope.items] if envelope else [],
                         "status": response.status, "rate_limits": response.headers.get("x-sentry-rate-limits")})
        return original(response=response, envelope=envelope)

    transport._handle_response = recording
    ids = {"first": sentry_sdk.capture_message("first")}
    sentry_sdk.flush(timeout=10)
    ids["second"] = sentry_sdk.capture_message("second")
    ids["third"] = sentry_sdk.capture_message("third")
    sentry_sdk.flush(timeout=10)
    time.sleep(backoff)
    ids["fourth"] = sentry_sdk.capture_message("fourth")
    sentry_sdk.get_client().close(timeout=10)
    print(json.dumps({"ids": ids, "requests": requests}))


if __name__ == "__main__":
    main()
