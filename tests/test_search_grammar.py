"""The issue search grammar, table-driven: what each query parses to, and Sentry's error messages."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from sentry_daemon.search.grammar import BOOLEAN_ERROR, InvalidSearchQuery, parse_search_query
from sentry_daemon.search.issue_search import ISSUE_SEARCH_CONFIG

NOW = datetime(2024, 1, 1, 12, 0, 0, 123456, tzinfo=timezone.utc)


def utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def parsed(query: str) -> list[tuple]:
    return [(f.key, f.operator, f.value.raw) for f in parse_search_query(query, ISSUE_SEARCH_CONFIG, NOW)]


PARSES = [
    ("", []),
    ("   ", []),
    ("is:unresolved", [("status", "=", 0)]),
    ("!is:unresolved", [("status", "!=", 0)]),
    ('is:"resolved"', [("status", "=", 1)]),
    ("is:archived", [("status", "=", 2)]),
    ("is:ignored is:assigned", [("status", "=", 2), ("unassigned", "=", False)]),
    ("is:unassigned", [("unassigned", "=", True)]),
    ("is:for_review", [("for_review", "=", True)]),
    ("is:linked is:unlinked", [("linked", "=", True), ("linked", "=", False)]),
    ("is:new", [("substatus", "=", 7)]),
    ("is:ongoing is:regressed is:escalating", [("substatus", "=", 3), ("substatus", "=", 6), ("substatus", "=", 2)]),
    ("level:error", [("level", "=", "error")]),
    ("level:[error, fatal]", [("level", "IN", ["error", "fatal"])]),
    ("!level:info", [("level", "!=", "info")]),
    ("release:latest", [("release", "=", "latest")]),
    ("environment:production", [("environment", "=", "production")]),
    ('environment:""', [("environment", "=", "")]),
    ("assigned:me", [("assigned_to", "=", "me")]),
    ("assigned:[me, none]", [("assigned_to", "IN", ["me", "none"])]),
    ("assigned:#backend", [("assigned_to", "=", "#backend")]),
    ("assigned_or_suggested:jane@example.com", [("assigned_or_suggested", "=", "jane@example.com")]),
    ("bookmarks:me", [("bookmarked_by", "=", "me")]),
    ("firstRelease:1.0.0 first-release:2.0", [("first_release", "=", "1.0.0"), ("first_release", "=", "2.0")]),
    ("firstSeen:-24h", [("first_seen", ">=", utc(2023, 12, 31, 12, 0, 0, 123456))]),
    ("age:+7d", [("first_seen", "<=", utc(2023, 12, 25, 12, 0, 0, 123456))]),
    ("lastSeen:-30m", [("last_seen", ">=", utc(2024, 1, 1, 11, 30, 0, 123456))]),
    ("lastSeen:-2w", [("last_seen", ">=", utc(2023, 12, 18, 12, 0, 0, 123456))]),
    ("lastSeen:>2023-09-28T00:00:00", [("last_seen", ">", utc(2023, 9, 28))]),
    ("lastSeen:<=2023-09-28T00:00:00+02:00", [("last_seen", "<=", utc(2023, 9, 27, 22))]),
    ("firstSeen:2023-09-28", [("first_seen", ">=", utc(2023, 9, 28)), ("first_seen", "<", utc(2023, 9, 29))]),
    ("lastSeen:2023-09-28T10:00:00Z", [("last_seen", ">=", utc(2023, 9, 28, 9, 55)),
                                       ("last_seen", "<", utc(2023, 9, 28, 10, 6))]),
    ("event.timestamp:>2024-01-01", [("date", ">", utc(2024, 1, 1))]),
    ("times_seen:>10", [("times_seen", ">", 10.0)]),
    ("timesSeen:>=1k", [("times_seen", ">=", 1000.0)]),
    ("times_seen:1.5k", [("times_seen", "=", 1500.0)]),
    ("times_seen:5m", [("times_seen", "=", 5_000_000.0)]),
    ("times_seen:[1, 2]", [("times_seen", "IN", [1.0, 2.0])]),
    ("!times_seen:>10", [("times_seen", "<=", 10.0)]),
    ("error.type:ValueError", [("error.type", "=", "ValueError")]),
    ('error.value:"bad thing"', [("error.value", "=", "bad thing")]),
    ("error.handled:true", [("error.handled", "=", 1)]),
    ("error.handled:0", [("error.handled", "=", 0)]),
    ("!error.unhandled:1", [("error.unhandled", "=", 0)]),
    ("error.mechanism:generic", [("error.mechanism", "=", "generic")]),
    ("stack.filename:app.py stack.function:main", [("stack.filename", "=", "app.py"), ("stack.function", "=", "main")]),
    ("stack.module:app.* stack.abs_path:/srv/*", [("stack.module", "=", "app.*"), ("stack.abs_path", "=", "/srv/*")]),
    ("user.id:42 user.email:a@b.c", [("user.id", "=", "42"), ("user.email", "=", "a@b.c")]),
    ("user.username:jane user.ip:10.0.0.1", [("user.username", "=", "jane"), ("user.ip", "=", "10.0.0.1")]),
    ("issue:HELLO-WORLD-1A", [("issue", "=", "HELLO-WORLD-1A")]),
    ("issue.category:error issue.type:error", [("issue.category", "=", "error"), ("issue.type", "=", "error")]),
    ("issue.priority:[high, medium]", [("issue.priority", "IN", ["high", "medium"])]),
    ("platform:python message:timeout", [("platform", "=", "python"), ("message", "=", "timeout")]),
    ('title:"KeyError: foo" culprit:app.views', [("title", "=", "KeyError: foo"), ("culprit", "=", "app.views")]),
    ("event.type:error http.url:http://x.com/a", [("event.type", "=", "error"), ("http.url", "=", "http://x.com/a")]),
    ("os.name:Linux browser.name:Chrome device.family:Pixel",
     [("os.name", "=", "Linux"), ("browser.name", "=", "Chrome"), ("device.family", "=", "Pixel")]),
    ("server_name:web-1", [("server_name", "=", "web-1")]),
    ("tags[foo]:bar", [("tags[foo]", "=", "bar")]),
    ('tags[sentry:user]:"id:1"', [("tags[sentry:user]", "=", "id:1")]),
    ('"foo:bar":baz', [("foo:bar", "=", "baz")]),
    ("has:browser !has:user", [("browser", "!=", ""), ("user", "=", "")]),
    ("has:tags[foo]", [("tags[foo]", "!=", "")]),
    ("browser:*hrom*", [("browser", "=", "*hrom*")]),
    ("browser:foo\\*bar", [("browser", "=", "foo\\*bar")]),
    ('!browser:[Chrome, "Mobile Safari"]', [("browser", "NOT IN", ["Chrome", "Mobile Safari"])]),
    ('message:"foo \\"bar\\""', [("message", "=", 'foo "bar"')]),
    ("foo:bar\\\"baz", [("foo", "=", 'bar"baz')]),
    ("browser:>5", [("browser", "=", ">5")]),
    ("foo:1k foo:5m foo:2023-01-01", [("foo", "=", "1k"), ("foo", "=", "5m"), ("foo", "=", "2023-01-01")]),
    ("foo:bar:baz", [("foo", "=", "bar:baz")]),
    ("browser:[Chrome,,Firefox]", [("browser", "=", "[Chrome,,Firefox]")]),
    # free text: consecutive words are one phrase; a filter in between splits them
    ("connection refused", [("message", "=", "connection refused")]),
    ("foo bar is:unresolved baz", [("message", "=", "foo bar"), ("status", "=", 0), ("message", "=", "baz")]),
    ('"quoted free text"', [("message", "=", "quoted free text")]),
    ("!foo", [("message", "=", "!foo")]),
    ("(foo bar)", [("message", "=", "(foo bar)")]),
    ("TypeError function(app/x/y)", [("message", "=", "TypeError function(app/x/y)")]),
    ("ORDER by", [("message", "=", "ORDER by")]),
    ("http://example.com", [("http", "=", "//example.com")]),
]


@pytest.mark.parametrize(("query", "expected"), PARSES)
def test_parses(query: str, expected: list[tuple]) -> None:
    assert parsed(query) == expected


IS_VALUES = ("['archived', 'archived_forever', 'archived_until_condition_met', 'archived_until_escalating', "
             "'assigned', 'escalating', 'for_review', 'ignored', 'linked', 'muted', 'new', 'ongoing', 'regressed', "
             "'reprocessing', 'resolved', 'unassigned', 'unlinked', 'unresolved']")
INVALID_DATE = r"Expected \+/-duration \(e\.g\. \+1h\) or ISO 8601-like \(e\.g\. 2024-01-01T12:00:00\.12\)\."

ERRORS = [
    ("is:wrong", f'Invalid value for "is" search, valid values are {IS_VALUES}'),
    ("is:[resolved, unresolved]", '"in" syntax invalid for "is" search'),
    ("error or warning", BOOLEAN_ERROR),
    ("level:error AND level:fatal", BOOLEAN_ERROR),
    ("(is:unresolved OR is:resolved)", BOOLEAN_ERROR),
    ("ORANGE and", BOOLEAN_ERROR),
    ("foo)", "Parse error at 'foo)' (column 4). This is commonly caused by unmatched parentheses. "
             "Enclose any text in double quotes."),
    ("(foo", "Parse error at '(foo' (column 1). This is commonly caused by unmatched parentheses. "
             "Enclose any text in double quotes."),
    ("browser:", "Empty string after 'browser:'"),
    ("times_seen:", "Empty string after 'times_seen:'"),
    ('foo:bar"baz', "Invalid quote at 'bar\"baz': quotes must enclose text or be escaped."),
    ('foo:"bar', "Invalid quote at '\"bar': quotes must enclose text or be escaped."),
    ("browser:[Chrome, ]", "Lists should not have empty values"),
    ('has:"foo bar"', 'Invalid format for "has" search: was expecting a field or tag instead'),
    ("times_seen:hello", "times_seen: Invalid number: hello. Expected number then optional k, m, or b suffix "
                         "(e.g. 500k)."),
    ("timesSeen:>1t", "times_seen: Invalid number: >1t. Expected number then optional k, m, or b suffix (e.g. 500k)."),
    ("times_seen:>3s", "s is not a valid number suffix, must be k, m or b"),
    ("error.handled:yes", "error.handled: Invalid boolean: yes. Expected true, 1, false, or 0."),
    ("lastSeen:2023-13-45", "2023-13-45 is not a valid datetime query"),
    ("lastSeen:>2023-13-45", "2023-13-45 is not a valid ISO8601 date query"),
    ("count():>10", "Aggregate filters (count()) are not supported in issue searches."),
]


@pytest.mark.parametrize(("query", "message"), ERRORS)
def test_refused_with_sentrys_message(query: str, message: str) -> None:
    with pytest.raises(InvalidSearchQuery) as caught:
        parse_search_query(query, ISSUE_SEARCH_CONFIG, NOW)
    assert str(caught.value) == message


@pytest.mark.parametrize("query", ["lastSeen:>-24h", "!lastSeen:-24h", "lastSeen:>1695859200", "age:soon"])
def test_a_date_key_with_a_value_that_is_not_a_date(query: str) -> None:
    import re

    with pytest.raises(InvalidSearchQuery) as caught:
        parse_search_query(query, ISSUE_SEARCH_CONFIG, NOW)
    assert re.fullmatch(r"(last|first)_seen: Invalid date: \S+\. " + INVALID_DATE, str(caught.value)), caught.value
