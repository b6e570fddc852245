"""Raise and report errors with the real sentry-python SDK, the ways grouping tells apart.

    python python_grouping.py DSN LIBRARY_DIR

``LIBRARY_DIR`` is a folder named ``site-packages`` holding ``vendor_a.py`` and ``vendor_b.py``:
the SDK marks their frames as not in-app, as it does for any installed library. Prints one JSON
line: ``{scenario: [event ids]}``. The SDK is flushed and closed before the line is printed.
"""

from __future__ import annotations

import json
import sys

import sentry_sdk

sys.path.insert(0, sys.argv[2])
import vendor_a  # noqa: E402
import vendor_b  # noqa: E402


class PaymentError(Exception):
    pass


def charge(amount: int) -> None:
    raise PaymentError(f"card declined for {amount} cents")


def refund(amount: int) -> None:
    raise PaymentError(f"refund refused for {amount} cents")


def checkout(amount: int) -> None:
    charge(amount)


def fail_through(library: object) -> None:
    library.call(lambda: charge(99))  # type: ignore[attr-defined]


def captured(fn: object, *args: object, fingerprint: list[str] | None = None) -> str:
    try:
        fn(*args)  # type: ignore[operator]
    except Exception:
        if fingerprint is None:
            return sentry_sdk.capture_exception()
        with sentry_sdk.new_scope() as scope:
            scope.fingerprint = fingerprint
            return sentry_sdk.capture_exception()
    raise AssertionError("no exception")


def chained() -> None:
    try:
        charge(5)
    except PaymentError as exc:
        raise RuntimeError("checkout failed") from exc


def main() -> None:
    sentry_sdk.init(dsn=sys.argv[1], release="shop@1.0.0", environment="test", default_integrations=False)
    ids: dict[str, list[str | None]] = {
        "same_place": [captured(checkout, 100), captured(checkout, 250)],
        "other_function": [captured(refund, 100)],
        "custom_fingerprint": [captured(checkout, 1, fingerprint=["payments"]),
                               captured(refund, 2, fingerprint=["payments"])],
        "salted": [captured(checkout, 3, fingerprint=["{{ default }}", "eu"])],
        "messages": [sentry_sdk.capture_message(f"user {n} ({n}@example.com) failed job 9f8c6d2e-1a2b-4c3d-8e9f-"
                                                f"0123456789a{n} after {n * 1.5}s")
                     for n in (1, 2)],
        "library": [captured(fail_through, vendor_a), captured(fail_through, vendor_b)],
        "chained": [captured(chained), captured(chained)],
    }
    sentry_sdk.flush()
    sentry_sdk.get_client().close()
    print(json.dumps(ids))


if __name__ == "__main__":
    main()
