"""Messages and exception values are grouped with their event-specific values replaced, as Sentry's
parameterization replaces them (grouping/parameterization.py)."""

from __future__ import annotations

import pytest

from sentry_daemon.grouping.parameterization import Parameterized, normalize_message, parameterize, trim_message

CASES = [
    ("mail ops@example.org now", "mail <email> now"),
    ("GET https://api.example.com/v1/users?id=7 failed", "GET <url> failed"),
    ("connect to db.internal.example.net timed out", "connect to <hostname> timed out"),
    ("from 192.168.0.17 port 5432", "from <ip> port <int>"),
    ("peer 2001:db8:0:0:8:800:200c:417a reset", "peer <ip> reset"),
    ("loopback ::1 refused", "loopback <ip> refused"),
    ("job 3f2504e0-4f89-11d3-9a0c-0305e82c3301 lost", "job <uuid> lost"),
    ("commit da39a3ee5e6b4b0d3255bfef95601890afd80709", "commit <sha1>"),
    ("etag d41d8cd98f00b204e9800998ecf8427e", "etag <md5>"),
    ("at 2024-03-05T10:11:12Z exactly", "at <date> exactly"),
    ("at 2024-03-05 10:11:12.123456+01:00 exactly", "at <date> exactly"),
    ("on Tue, 05 Mar 2024 10:11:12 GMT", "on <date>"),
    ("stamp datetime.datetime(2024, 3, 5, 10, 11) end", "stamp <date> end"),
    ("at 10:11 on the dot", "at <date> on the dot"),
    ("pointer 0xDEADBEEF freed", "pointer <hex> freed"),
    ("buffer deadbeef42 overflowed", "buffer <hex> overflowed"),
    ("took 1.5 seconds", "took <float> seconds"),
    ("took 250ms", "took <duration>"),
    ("retry 3 of 5", "retry <int> of <int>"),
    ("offset -17 is bad", "offset <int> is bad"),
    ("where name='Jane Doe'", "where name=<quoted_str>"),
    ('where name="Jane"', "where name=<quoted_str>"),
    ("flag=true and other=False", "flag=<bool> and other=<bool>"),
    ("traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "traceparent <traceparent>"),
    ("build a93c7d2 broken", "build <git_sha> broken"),
    # what is not a value stays
    ("Option::unwrap() on a None value", "Option::unwrap() on a None value"),
    ("utf8 and user_123 and v2", "utf8 and user_123 and v2"),
    ("KeyError: 'missing-key'", "KeyError: 'missing-key'"),
    ("no values here at all", "no values here at all"),
    # a match that starts first wins; at one position the more specific pattern wins
    ("http://10.0.0.1:8080/health", "<url>"),
    ("0.0.0.0:80", "<ip>:<int>"),
    ("12345678 rows", "<hex> rows"),
    # looks like a time and an address, is neither: every pattern gets its turn
    ("12:31:99 done", "<int>:<int>:<int> done"),
]


@pytest.mark.parametrize(("raw", "expected"), CASES)
def test_parameterize(raw: str, expected: str) -> None:
    assert parameterize(raw) == expected


def test_trimming_keeps_two_non_blank_lines_and_says_so() -> None:
    assert trim_message("one\n\ntwo\nthree") == "one\ntwo..."
    assert trim_message("one\ntwo") == "one\ntwo"
    assert trim_message("only\n") == "only..."
    assert normalize_message("failed 3 times\n\n  at line 4\nmore") == "failed <int> times\n  at line <int>..."


def test_a_parameterized_value_is_normalized_only_when_read() -> None:
    value = Parameterized("took 42 ms")
    assert value._text is None
    assert str(value) == "took <int> ms" and value.hint == "stripped event-specific values"
    assert Parameterized("plain words").hint is None
    assert value == "took <int> ms"
