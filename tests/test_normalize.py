"""normalize_event: every SDK dialect in, Relay's canonical event shape out."""

from __future__ import annotations

import copy
import json
import math
import re
import uuid
from datetime import datetime, timedelta, timezone
from unittest import mock

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_daemon.grouping import titles, variants
from sentry_daemon.search.event_document import event_fields, event_texts
from sentry_daemon.store.event_tags import event_tags
from sentry_daemon.ingest import normalize
from sentry_daemon.ingest.normalize import normalize_event
from sentry_daemon.timestamps import isoformat, parse_timestamp


RECEIVED = 1795384900.0
HEX32 = re.compile(r"[0-9a-f]{32}")


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def norm(data: dict, **kwargs) -> dict:
    kwargs.setdefault("received", RECEIVED)
    return normalize_event(data, **kwargs)


def error_names(event: dict) -> list[str]:
    return [error["name"] for error in event.get("errors", [])]


# --- real payload shapes (CLIENTS.md §3.2, §4.3, §5.5) ------------------------------------------

PY_MESSAGE = {
    "message": "hello from python sdk",
    "level": "warning",
    "event_id": "a3b4c5d6e7f8091a2b3c4d5e6f708192",
    "timestamp": "2026-11-22T18:41:13.123456Z",
    "contexts": {
        "trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74052", "parent_span_id": None},
        "runtime": {"name": "CPython", "version": "3.11.7", "build": "3.11.7 (main)"},
    },
    "user": {"id": "42", "email": "jane@example.com"},
    "transaction_info": {},
    "tags": {"feature": "checkout"},
    "breadcrumbs": {
        "values": [
            {
                "type": "default",
                "category": "auth",
                "message": "user logged in",
                "level": "info",
                "timestamp": "2026-11-22T18:41:12.500000Z",
                "data": {},
            }
        ]
    },
    "extra": {"sys.argv": ["python_sdk_scenarios.py"]},
    "modules": {"sentry-sdk": "2.75.0", "urllib3": "2.8.0"},
    "release": "myapp@1.0.0",
    "environment": "acceptance",
    "server_name": "buildhost",
    "sdk": {"name": "sentry.python", "version": "2.75.0", "packages": [], "integrations": ["logging"]},
    "platform": "python",
}

PY_EXCEPTION = {
    **{key: value for key, value in PY_MESSAGE.items() if key not in ("message", "level")},
    "level": "error",
    "exception": {
        "values": [
            {
                "mechanism": {"type": "generic", "handled": True},
                "module": None,
                "type": "KeyError",
                "value": "'missing-key'",
                "stacktrace": {
                    "frames": [
                        {"filename": "python_sdk_scenarios.py", "abs_path": "/src/python_sdk_scenarios.py",
                         "function": "<module>", "module": "__main__", "lineno": 80, "in_app": True,
                         "pre_context": [], "context_line": "outer()", "post_context": [], "vars": {}},
                        {"filename": "python_sdk_scenarios.py", "abs_path": "/src/python_sdk_scenarios.py",
                         "function": "outer", "module": "__main__", "lineno": 12, "in_app": True},
                        {"filename": "python_sdk_scenarios.py", "abs_path": "/src/python_sdk_scenarios.py",
                         "function": "inner", "module": "__main__", "lineno": 8, "in_app": True,
                         "vars": {"d": "{}"}},
                    ]
                },
            }
        ]
    },
}

NODE_MESSAGE = {
    "message": "hello from node sdk",
    "level": "warning",
    "event_id": "0f1e2d3c4b5a69788796a5b4c3d2e1f0",
    "timestamp": 1795384873.34,
    "platform": "node",
    "environment": "acceptance",
    "release": "myapp@1.0.0",
    "exception": {
        "values": [
            {
                "value": "hello from node sdk",
                "mechanism": {"type": "generic", "handled": True, "synthetic": True},
                "stacktrace": {
                    "frames": [
                        {"filename": "node:internal/main/run_main_module", "function": "?", "lineno": 28,
                         "colno": 49, "in_app": False},
                        {"filename": "/work/node/node_sdk_scenarios.mjs", "module": "node_sdk_scenarios",
                         "function": "main", "lineno": 40, "colno": 10, "in_app": True},
                    ]
                },
            }
        ]
    },
    "breadcrumbs": [
        {"timestamp": 1795384872.1, "category": "console", "level": "log", "message": "starting"},
    ],
    "contexts": {
        "trace": {"trace_id": "5c79f60c11214eb38604f4ae0781bfb2", "span_id": "aa90fdead5f74052"},
        "app": {"app_start_time": "2026-11-22T18:40:00.000Z"},
        "os": {"name": "Linux"},
        "device": {"arch": "x64"},
        "culture": {"locale": "en-US"},
        "cloud_resource": {},
    },
    "sdk": {"name": "sentry.javascript.node", "version": "11.12.0"},
}

CLI_EVENT = {
    "event_id": "7d5b0efe6ca0424c964fef1c6bac67ef",
    "level": "warning",
    "logentry": {"message": "hello"},
    "platform": "native",
    "timestamp": 1795384880.5,
    "release": "1.2.3",
    "tags": {"k": "v"},
    "user": {"ip_address": "{{auto}}", "username": "root"},
    "contexts": {"device": {"arch": "x86_64"}, "os": {"name": "Linux"}, "rust": {"version": "1.80.0"}},
    "extra": {"environ": {"HOME": "/root"}},
    "sdk": {"name": "sentry-cli"},
}

PY_TRANSACTION = {
    "type": "transaction",
    "transaction": "python-acceptance-txn",
    "transaction_info": {"source": "custom"},
    "event_id": "b3b4c5d6e7f8091a2b3c4d5e6f708192",
    "contexts": {
        "trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74053",
                  "parent_span_id": None, "op": "task", "description": "txn", "origin": "manual", "data": {}}
    },
    "start_timestamp": "2026-11-22T18:41:14.000000Z",
    "timestamp": "2026-11-22T18:41:14.250000Z",
    "spans": [
        {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "1111111111111111",
         "parent_span_id": "fa90fdead5f74053", "same_process_as_parent": True, "op": "db",
         "description": "SELECT 1", "start_timestamp": "2026-11-22T18:41:14.010000Z",
         "timestamp": "2026-11-22T18:41:14.020000Z", "origin": "manual", "data": {}},
    ],
    "measurements": {},
    "platform": "python",
    "sdk": {"name": "sentry.python", "version": "2.75.0"},
}


def test_python_capture_message():
    event = norm(PY_MESSAGE, event_id="a3b4c5d6e7f8091a2b3c4d5e6f708192", client_ip="127.0.0.1")
    assert event["logentry"] == {"formatted": "hello from python sdk"}
    assert "message" not in event
    assert event["timestamp"] == pytest.approx(stamp("2026-11-22T18:41:13.123456Z"))
    assert event["breadcrumbs"]["values"][0]["timestamp"] == pytest.approx(stamp("2026-11-22T18:41:12.5Z"))
    assert (event["type"], event["level"], event["platform"]) == ("default", "warning", "python")
    assert event["tags"] == [["feature", "checkout"], ["server_name", "buildhost"]]
    assert event["contexts"]["runtime"]["type"] == "runtime"
    assert event["contexts"]["trace"]["status"] == "unknown"
    assert event["user"] == {"id": "42", "email": "jane@example.com"}
    assert event["received"] == RECEIVED
    assert "errors" not in event
    assert titles.describe(event).title == "hello from python sdk"


def test_python_exception_event():
    event = norm(PY_EXCEPTION)
    exc = event["exception"]["values"][0]
    assert "module" not in exc
    assert [frame["function"] for frame in exc["stacktrace"]["frames"]] == ["<module>", "outer", "inner"]
    assert (event["type"], event["level"]) == ("error", "error")
    description = titles.describe(event)
    assert description.title == "KeyError: 'missing-key'"
    assert description.culprit == "__main__ in inner"


def test_node_message_event():
    event = norm(NODE_MESSAGE, client_ip="10.0.0.7")
    assert event["logentry"] == {"formatted": "hello from node sdk"}
    assert event["type"] == "error"
    assert event["timestamp"] == 1795384873.34
    crumbs = event["breadcrumbs"]["values"]
    assert crumbs == [{"timestamp": 1795384872.1, "category": "console", "level": "info",
                       "message": "starting", "type": "default"}]
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert frames[1]["abs_path"] == frames[1]["filename"] == "/work/node/node_sdk_scenarios.mjs"
    assert event["contexts"]["cloud_resource"] == {"type": "cloud_resource"}
    assert "user" not in event
    # A synthetic exception has no type in Sentry's metadata: the title is the crash frame's function.
    assert titles.describe(event).title == "main"


def test_sentry_cli_send_event():
    event = norm(CLI_EVENT, event_id="7d5b0efe-6ca0-424c-964f-ef1c6bac67ef", client_ip="192.0.2.10",
                 sdk_client="sentry-cli/3.8.2")
    assert event["event_id"] == "7d5b0efe6ca0424c964fef1c6bac67ef"
    assert event["logentry"] == {"formatted": "hello"}
    assert event["user"] == {"ip_address": "192.0.2.10", "username": "root"}
    assert event["sdk"] == {"name": "sentry-cli"}
    assert (event["platform"], event["level"], event["type"]) == ("native", "warning", "default")
    assert event["contexts"]["rust"] == {"version": "1.80.0", "type": "rust"}
    assert event["tags"] == [["k", "v"]]


def test_sentry_cli_message_with_params():
    event = norm({**CLI_EVENT, "logentry": {"message": "hello %s", "params": ["world"]}})
    assert event["logentry"] == {"message": "hello %s", "formatted": "hello world", "params": ["world"]}


def test_python_transaction():
    event = norm(PY_TRANSACTION, item_type="transaction")
    assert (event["type"], event["level"]) == ("transaction", "info")
    assert event["start_timestamp"] == pytest.approx(stamp("2026-11-22T18:41:14Z"))
    assert event["timestamp"] == pytest.approx(stamp("2026-11-22T18:41:14.25Z"))
    span = event["spans"][0]
    assert span["start_timestamp"] == pytest.approx(stamp("2026-11-22T18:41:14.01Z"))
    assert isinstance(span["timestamp"], float)
    assert event["contexts"]["trace"]["op"] == "task"
    assert event["transaction_info"] == {"source": "custom"}
    assert event["measurements"] == {}


def test_node_feedback_item():
    payload = {"contexts": {"feedback": {"message": "broken", "contact_email": "a@b.c", "name": "Ann"}},
               "timestamp": RECEIVED, "level": "info", "platform": "javascript"}
    event = norm(payload, item_type="feedback")
    assert event["type"] == "feedback"
    assert event["contexts"]["feedback"]["type"] == "feedback"


def test_input_is_not_mutated():
    for payload in (PY_MESSAGE, PY_EXCEPTION, NODE_MESSAGE, CLI_EVENT, PY_TRANSACTION):
        before = copy.deepcopy(payload)
        event = norm(payload, client_ip="127.0.0.1")
        assert payload == before
        assert event is not payload


# --- event_id ---------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "raw",
    ["7D5B0EFE6CA0424C964FEF1C6BAC67EF", "7d5b0efe-6ca0-424c-964f-ef1c6bac67ef",
     "{7d5b0efe-6ca0-424c-964f-ef1c6bac67ef}", "urn:uuid:7d5b0efe-6ca0-424c-964f-ef1c6bac67ef"],
)
def test_event_id_spellings(raw):
    assert norm({"event_id": raw})["event_id"] == "7d5b0efe6ca0424c964fef1c6bac67ef"


def test_envelope_event_id_wins():
    event = norm({"event_id": "7d5b0efe6ca0424c964fef1c6bac67ef"}, event_id="00000000000000000000000000000001")
    assert event["event_id"] == "00000000000000000000000000000001"


@pytest.mark.parametrize("raw", ["not-an-id", 42, ["x"], "7d5b0efe-6ca0424c964fef1c6bac67ef"])
def test_invalid_event_id_gets_a_fresh_one(raw):
    event = norm({"event_id": raw})
    assert HEX32.fullmatch(event["event_id"])
    assert event["errors"] == [{"type": "invalid_data", "name": "event_id", "value": raw}]


def test_missing_event_id_is_generated():
    first, second = norm({}), norm({})
    assert HEX32.fullmatch(first["event_id"]) and first["event_id"] != second["event_id"]


# --- message / logentry -----------------------------------------------------------------------

@pytest.mark.parametrize(
    ("logentry", "expected"),
    [
        ({"message": "a %s b %d", "params": ["x", 3]}, "a x b 3"),
        ({"message": "%(who)s said %%", "params": {"who": "ann"}}, "ann said %"),
        ({"message": "{0} and {1}", "params": ["x", "y"]}, "x and y"),
        ({"message": "{} then {}", "params": [1, True]}, "1 then true"),
        ({"message": "hi {name}", "params": {"name": "bob"}}, "hi bob"),
        ({"message": "n=%.2f", "params": [1.5]}, "n=1.50"),
    ],
)
def test_logentry_params_are_formatted(logentry, expected):
    event = norm({"logentry": logentry})
    assert event["logentry"]["formatted"] == expected
    assert event["logentry"]["message"] == logentry["message"]


@pytest.mark.parametrize(
    "logentry",
    [{"message": "a %s %s", "params": ["x"]}, {"message": "{0}", "params": {"a": 1}}, {"message": "%d", "params": ["x"]}],
)
def test_unformattable_template_becomes_formatted(logentry):
    assert norm({"logentry": logentry})["logentry"] == {"formatted": logentry["message"], "params": logentry["params"]}


def test_logentry_message_only_moves_to_formatted():
    assert norm({"logentry": {"message": "plain"}})["logentry"] == {"formatted": "plain"}


def test_logentry_equal_message_is_dropped():
    assert norm({"logentry": {"message": "same", "formatted": "same"}})["logentry"] == {"formatted": "same"}


def test_logentry_keeps_distinct_message_and_formatted():
    entry = {"message": "user %s", "formatted": "user 42"}
    assert norm({"logentry": entry})["logentry"] == entry


def test_logentry_wins_over_legacy_message():
    event = norm({"message": "legacy", "logentry": {"formatted": "modern"}})
    assert event["logentry"] == {"formatted": "modern"}
    assert "message" not in event


@pytest.mark.parametrize(("raw", "formatted"), [(42, "42"), (True, "true"), (["a", 1], '["a",1]')])
def test_non_string_legacy_message_is_json(raw, formatted):
    assert norm({"message": raw})["logentry"] == {"formatted": formatted}


@pytest.mark.parametrize("raw", [False, None, "", {}, {"params": []}])
def test_empty_message_gives_no_logentry(raw):
    assert "logentry" not in norm({"message": raw})


def test_legacy_message_object_and_interface_alias():
    assert norm({"message": {"message": "m %s", "params": ["x"]}})["logentry"]["formatted"] == "m x"
    assert norm({"sentry.interfaces.Message": {"formatted": "old"}})["logentry"] == {"formatted": "old"}


def test_logentry_without_text_is_dropped():
    event = norm({"logentry": {"params": ["x"]}})
    assert "logentry" not in event
    assert error_names(event) == ["logentry"]


def test_logentry_wrong_types_are_dropped():
    event = norm({"logentry": {"message": 5, "formatted": "ok", "params": "nope"}})
    assert event["logentry"] == {"formatted": "ok"}
    assert error_names(event) == ["logentry.message", "logentry.params"]


# --- exception, threads, breadcrumbs ----------------------------------------------------------

EXC = {"type": "ValueError", "value": "bad"}


@pytest.mark.parametrize(
    "raw",
    [[EXC], {"values": [EXC]}, EXC, {"values": [EXC, None]}],
)
def test_exception_shapes(raw):
    event = norm({"exception": raw})
    assert event["exception"] == {"values": [EXC]}
    assert event["type"] == "error"


@pytest.mark.parametrize("raw", [{}, None, [], {"values": []}, {"values": None}])
def test_empty_exception_is_omitted(raw):
    event = norm({"exception": raw, "message": "m"})
    assert "exception" not in event
    assert event["type"] == "default"


def test_exception_values_wrapper_keeps_other_keys():
    assert norm({"exception": {"values": [EXC], "exc_omitted": None}})["exception"] == {
        "exc_omitted": None, "values": [EXC]}


def test_exception_without_type_or_value_is_dropped():
    event = norm({"exception": [{"module": "x"}, EXC]})
    assert event["exception"]["values"] == [EXC]
    assert event["errors"] == [{"type": "missing_attribute", "name": "exception.values.0",
                                "attribute": "type or value"}]


def test_exception_type_is_split_from_value():
    event = norm({"exception": [{"value": "ZeroDivisionError: division by zero"}]})
    assert event["exception"]["values"][0] == {"type": "ZeroDivisionError", "value": "division by zero"}


def test_exception_value_object_becomes_json():
    event = norm({"exception": [{"type": "E", "value": {"b": 1, "a": True}}]})
    assert event["exception"]["values"][0]["value"] == '{"a":true,"b":1}'


def test_exception_bad_fields_are_dropped():
    event = norm({"exception": [{"type": 5, "value": "v", "mechanism": "m", "stacktrace": {"frames": "x"}}]})
    assert event["exception"]["values"] == [{"value": "v"}]
    assert error_names(event) == ["exception.values.0.type", "exception.values.0.mechanism",
                                  "exception.values.0.stacktrace.frames"]


def test_top_level_stacktrace_moves_into_single_exception():
    frames = [{"function": "a", "filename": "a.py"}, {"function": "b", "filename": "b.py"}]
    event = norm({"exception": [EXC], "stacktrace": {"frames": frames}})
    assert "stacktrace" not in event
    assert [f["function"] for f in event["exception"]["values"][0]["stacktrace"]["frames"]] == ["a", "b"]


def test_frames_keep_order_and_get_paths():
    frames = [
        {"function": "f1", "abs_path": "http://example.com/static/app.js"},
        {"function": "f2", "filename": "lib.py"},
        None,
        {"function": "f3", "filename": "x.js", "abs_path": "https://cdn/x.js"},
    ]
    event = norm({"exception": [{**EXC, "stacktrace": {"frames": frames}}]})
    out = event["exception"]["values"][0]["stacktrace"]["frames"]
    assert [f["function"] for f in out] == ["f1", "f2", "f3"]
    assert out[0]["filename"] == "/static/app.js"
    assert out[1] == {"function": "f2", "abs_path": "lib.py", "filename": "lib.py"}
    assert out[2]["filename"] == "x.js"


def test_frame_string_fields_that_are_not_strings_are_dropped():
    """Relay types a frame's module, function, platform, context line, ... as strings: anything else
    is removed with an ``invalid_data`` error, even on a frame whose paths need nothing."""
    frame = {"filename": "a.py", "abs_path": "/srv/a.py", "module": ["m"], "function": {"f": 1}, "platform": 3,
             "context_line": False, "lineno": 4}
    event = norm({"exception": [{**EXC, "stacktrace": {"frames": [frame]}}]})
    assert event["exception"]["values"][0]["stacktrace"]["frames"] == [
        {"filename": "a.py", "abs_path": "/srv/a.py", "lineno": 4}]
    prefix = "exception.values.0.stacktrace.frames.0."
    assert [(e["name"], e["type"], e["value"]) for e in event["errors"]] == [
        (prefix + "module", "invalid_data", ["m"]), (prefix + "function", "invalid_data", {"f": 1}),
        (prefix + "platform", "invalid_data", 3), (prefix + "context_line", "invalid_data", False)]


def test_threads_shapes():
    thread = {"id": 1, "name": "main", "crashed": True, "stacktrace": {"frames": [{"function": "run"}]}}
    assert norm({"threads": [thread]})["threads"] == {"values": [thread]}
    assert norm({"threads": {"values": [thread]}})["threads"] == {"values": [thread]}
    assert "threads" not in norm({"threads": {}})


def test_breadcrumbs_shapes_and_defaults():
    crumb = {"timestamp": "2026-11-22T18:41:12Z", "message": "m"}
    for raw in ([crumb], {"values": [crumb]}, crumb):
        event = norm({"breadcrumbs": raw})
        assert event["breadcrumbs"]["values"] == [
            {"timestamp": stamp("2026-11-22T18:41:12Z"), "message": "m", "type": "default", "level": "info"}]
    assert "breadcrumbs" not in norm({"breadcrumbs": {}})
    assert "breadcrumbs" not in norm({"breadcrumbs": None})


def test_breadcrumb_legacy_ty_and_bad_values():
    event = norm({"breadcrumbs": [{"ty": "http", "level": "nope", "timestamp": "yesterday", "data": 3}]})
    assert event["breadcrumbs"]["values"] == [{"type": "http", "level": "info"}]
    assert error_names(event) == ["breadcrumbs.values.0.timestamp", "breadcrumbs.values.0.data",
                                  "breadcrumbs.values.0.level"]


def test_interface_of_wrong_type_is_dropped():
    event = norm({"exception": "boom", "breadcrumbs": 5, "threads": True})
    assert not {"exception", "breadcrumbs", "threads"} & event.keys()
    assert error_names(event) == ["exception", "threads", "breadcrumbs"]


# --- tags ------------------------------------------------------------------------------------

def test_tags_object_becomes_sorted_pairs_of_strings():
    event = norm({"tags": {"b": "x", "a": 1, "c": True, "d": 1.9, "foo bar": " padded "}})
    assert event["tags"] == [["a", "1"], ["b", "x"], ["c", "True"], ["d", "1"], ["foo-bar", "padded"]]


def test_tags_pair_list_keeps_order():
    assert norm({"tags": [["z", "1"], ["a", "2"], [23, 42]]})["tags"] == [["z", "1"], ["a", "2"], ["23", "42"]]


def test_invalid_tags_are_dropped():
    event = norm({"tags": [
        ["ok", "v"],
        ["k" * 201, "v"],
        ["long", "v" * 201],
        ["bad key!", "v"],
        ["nl", "a\nb"],
        ["empty", ""],
        ["null", None],
        {"key": "k", "value": "v"},
        ["one"],
        ["obj", {"x": 1}],
    ]})
    assert event["tags"] == [["ok", "v"]]
    assert [error["type"] for error in event["errors"]] == [
        "invalid_data", "invalid_data", "invalid_data", "invalid_data", "invalid_data",
        "value_too_long", "value_too_long", "invalid_data"]


def test_tag_limits_are_inclusive():
    assert norm({"tags": {"k" * 200: "v" * 200}})["tags"] == [["k" * 200, "v" * 200]]


def test_reserved_and_duplicate_tags():
    event = norm({"tags": [["release", "1"], ["user", "u"], ["a", "first"], ["a", "second"],
                           ["environment", "prod"], ["dist", "7"]]})
    assert event["tags"] == [["a", "first"]]
    assert event["environment"] == "prod"


def test_environment_tag_does_not_override_attribute():
    event = norm({"environment": "staging", "tags": {"environment": "prod"}})
    assert event["environment"] == "staging"
    assert "tags" not in event


def test_server_name_and_site_become_tags():
    event = norm({"server_name": "web-1", "site": "eu", "tags": {"server_name": "old"}})
    assert event["tags"] == [["server_name", "web-1"], ["site", "eu"]]
    assert event["server_name"] == "web-1"


def test_tags_of_wrong_type():
    event = norm({"tags": "a:b"})
    assert "tags" not in event
    assert error_names(event) == ["tags"]


# --- request ---------------------------------------------------------------------------------

def test_request_headers_object_and_list():
    event = norm({"request": {"headers": {"x-b": "2", "accept": ["a", "b"], "content-type": "text/html"}}})
    assert event["request"]["headers"] == [["Accept", "a,b"], ["Content-Type", "text/html"], ["X-B", "2"]]
    event = norm({"request": {"headers": [["x-z", "1"], ["x-a", 2], "junk"]}})
    assert event["request"]["headers"] == [["X-Z", "1"], ["X-A", "2"]]
    assert error_names(event) == ["request.headers.2"]


def test_request_cookies_forms():
    assert norm({"request": {"cookies": "a=1; b=x%20y;"}})["request"]["cookies"] == [["a", "1"], ["b", "x y"]]
    assert norm({"request": {"cookies": {"b": "2", "a": "1"}}})["request"]["cookies"] == [["a", "1"], ["b", "2"]]
    assert norm({"request": {"cookies": [["s", "v"]]}})["request"]["cookies"] == [["s", "v"]]


def test_cookie_header_becomes_cookies():
    request = norm({"request": {"headers": {"Cookie": "a=b;c=d", "Host": "h"}}})["request"]
    assert request["cookies"] == [["a", "b"], ["c", "d"]]
    assert request["headers"] == [["Host", "h"]]


def test_request_url_method_and_query():
    request = norm({"request": {"url": "http://example.com/p?a=1&b=#frag", "method": "post"}})["request"]
    assert request == {"url": "http://example.com/p", "method": "POST", "fragment": "frag",
                       "query_string": [["a", "1"], ["b", ""]]}
    request = norm({"request": {"url": "/p?x=1", "query_string": {"q": 2}, "method": "!!"}})["request"]
    assert request == {"url": "/p", "query_string": [["q", "2"]]}


def test_request_of_wrong_type():
    event = norm({"request": ["GET", "/"]})
    assert "request" not in event
    assert error_names(event) == ["request"]


# --- timestamps ------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-22T18:41:13.123456Z", stamp("2026-11-22T18:41:13.123456Z")),
        ("2026-11-22T18:41:13", stamp("2026-11-22T18:41:13Z")),
        ("2026-11-22T19:41:13+01:00", stamp("2026-11-22T18:41:13Z")),
        (1795384873.34, 1795384873.34),
        (1795384873, 1795384873.0),
    ],
)
def test_timestamp_forms(raw, expected):
    event = norm({"timestamp": raw, "start_timestamp": raw})
    assert event["timestamp"] == pytest.approx(expected)
    assert event["start_timestamp"] == pytest.approx(expected)
    assert type(event["timestamp"]) is float and type(event["start_timestamp"]) is float


def generic_timestamp(value: object) -> float | None:
    """What ``normalize._timestamp`` computed before its string shortcut: the reference."""
    try:
        stamp = parse_timestamp(value)
    except (OverflowError, ValueError):
        return None
    if stamp is None or not math.isfinite(stamp) or not -62135596800.0 <= stamp <= 253402300799.0:
        return None
    return round(stamp, 6)


ISO_TEXTS = st.builds(
    lambda moment, offset, spec, suffix, pad: pad + moment.replace(tzinfo=offset).isoformat(timespec=spec)
    + suffix + pad,
    st.datetimes(),
    st.none() | st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23)).map(
        lambda delta: timezone(timedelta(minutes=delta // timedelta(minutes=1)))),
    st.sampled_from(["auto", "seconds", "milliseconds", "microseconds"]),
    st.sampled_from(["", "Z", "z"]),
    st.sampled_from(["", " "]),
)


@given(text=ISO_TEXTS | st.text(alphabet="0123456789:-+.TZ ", max_size=32))
def test_iso_timestamps_match_the_generic_parse(text):
    assert normalize._timestamp(text) == generic_timestamp(text)


def test_missing_or_invalid_timestamp_is_received():
    assert norm({})["timestamp"] == RECEIVED
    event = norm({"timestamp": "whenever", "start_timestamp": [1]})
    assert event["timestamp"] == RECEIVED
    assert "start_timestamp" not in event
    assert error_names(event) == ["timestamp", "start_timestamp"]


def test_received_is_set():
    assert norm({"received": 5}, received=1234.5)["received"] == 1234.5


@pytest.mark.parametrize(("offset", "kind"), [(3600, "future_timestamp"), (-31 * 86400, "past_timestamp")])
def test_clock_drift_moves_every_timestamp(offset, kind):
    sent = RECEIVED + offset
    event = norm({
        "timestamp": sent,
        "start_timestamp": sent - 2,
        "breadcrumbs": [{"timestamp": sent - 5}],
        "spans": [{"start_timestamp": sent - 1, "timestamp": sent - 0.5}],
    }, item_type="transaction")
    assert event["timestamp"] == RECEIVED
    assert event["start_timestamp"] == pytest.approx(RECEIVED - 2)
    assert event["breadcrumbs"]["values"][0]["timestamp"] == pytest.approx(RECEIVED - 5)
    assert event["spans"][0]["timestamp"] == pytest.approx(RECEIVED - 0.5)
    assert event["errors"] == [{"type": kind, "name": "timestamp", "sdk_time": isoformat(sent),
                                "server_time": isoformat(RECEIVED)}]


def test_small_clock_skew_is_kept():
    assert norm({"timestamp": RECEIVED + 30})["timestamp"] == RECEIVED + 30
    assert norm({"timestamp": RECEIVED - 29 * 86400})["timestamp"] == RECEIVED - 29 * 86400


# --- level, platform, type -------------------------------------------------------------------

@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("warning", "warning"), ("WARNING", "warning"), ("critical", "fatal"), ("log", "info"),
        ("warn", "warning"), (10, "debug"), (20, "info"), (30, "warning"), (40, "error"), (50, "fatal"),
        ("40", "error"), ("fatal", "fatal"), ("debug", "debug"),
    ],
)
def test_level_values(raw, expected):
    assert norm({"level": raw})["level"] == expected


@pytest.mark.parametrize("raw", ["loud", 35, 40.0, True, None, ["error"], "²³"])
def test_invalid_level_defaults(raw):
    assert norm({"level": raw})["level"] == "error"
    assert norm({"level": raw}, item_type="transaction")["level"] == "info"


def test_platform_defaults_to_other():
    assert norm({})["platform"] == "other"
    assert norm({"platform": "cobol"})["platform"] == "other"
    assert norm({"platform": ["python"]})["platform"] == "other"
    assert norm({"platform": "javascript"})["platform"] == "javascript"


@pytest.mark.parametrize(
    ("payload", "item_type", "expected"),
    [
        ({}, "event", "default"),
        ({"message": "m"}, "event", "default"),
        ({"exception": [EXC]}, "event", "error"),
        ({"type": "error"}, "event", "default"),
        ({"type": "default", "exception": [EXC]}, "event", "error"),
        ({"type": "transaction"}, "event", "transaction"),
        ({"type": "feedback"}, "event", "feedback"),
        ({"type": "error", "exception": [EXC]}, "transaction", "transaction"),
        ({}, "feedback", "feedback"),
        ({"csp": {"effective_directive": "img-src"}}, "security", "csp"),
        ({"contexts": {"nel": {}}}, "event", "nel"),
    ],
)
def test_type_inference(payload, item_type, expected):
    assert norm(payload, item_type=item_type)["type"] == expected


def test_unknown_type_is_an_error():
    event = norm({"type": "bogus"})
    assert event["type"] == "default"
    assert error_names(event) == ["type"]


def test_transaction_defaults():
    event = norm({"contexts": {"trace": {"trace_id": "a" * 32}}, "spans": [{}], "measurements": {"lcp": {}}},
                 item_type="transaction")
    assert event["transaction"] == "<unlabeled transaction>"
    assert event["transaction_info"] == {"source": "unknown"}
    assert event["contexts"]["trace"]["op"] == "default"
    assert event["spans"] == [{"op": "default"}]
    assert event["measurements"] == {"lcp": {}}


def test_measurements_only_on_transactions():
    assert "measurements" not in norm({"measurements": {"lcp": {"value": 1}}})


# --- user ------------------------------------------------------------------------------------

def test_user_auto_ip():
    assert norm({"user": {"ip_address": "{{auto}}"}}, client_ip="203.0.113.5")["user"] == {"ip_address": "203.0.113.5"}
    assert norm({"user": {"ip_address": "{{auto}}"}})["user"] == {"ip_address": "{{auto}}"}


def test_user_unknown_keys_move_to_data():
    user = norm({"user": {"id": 7, "plan": "pro", "data": {"a": 1}, "username": 12.0}})["user"]
    assert user == {"id": "7", "username": "12", "data": {"a": 1, "plan": "pro"}}


def test_user_invalid_fields_are_dropped():
    event = norm({"user": {"id": [], "email": 5, "ip_address": "not-an-ip", "name": "ok"}})
    assert event["user"] == {"name": "ok"}
    assert error_names(event) == ["user.id", "user.email", "user.ip_address"]


def test_user_of_wrong_type():
    assert "user" not in norm({"user": "bob"})


def test_ip_backfill_for_browser_platforms_only():
    assert norm({"platform": "javascript"}, client_ip="198.51.100.1")["user"] == {"ip_address": "198.51.100.1"}
    assert norm({"platform": "cocoa", "user": {"id": "1"}}, client_ip="::1")["user"]["ip_address"] == "::1"
    assert "user" not in norm({"platform": "python"}, client_ip="198.51.100.1")
    assert norm({"platform": "javascript", "user": {"ip_address": "10.1.1.1"}},
                client_ip="198.51.100.1")["user"]["ip_address"] == "10.1.1.1"


def test_remote_addr_fills_user_ip():
    event = norm({"request": {"env": {"REMOTE_ADDR": "{{auto}}"}}}, client_ip="198.51.100.2")
    assert event["request"]["env"]["REMOTE_ADDR"] == "198.51.100.2"
    assert event["user"] == {"ip_address": "198.51.100.2"}
    assert norm({"request": {"env": {"REMOTE_ADDR": "10.0.0.1"}}, "user": {"id": "1"}})["user"] == {
        "id": "1", "ip_address": "10.0.0.1"}


# --- sdk, strings, fingerprint, contexts ------------------------------------------------------

def test_sdk_from_auth_header():
    assert norm({}, sdk_client="sentry.python/2.75.0")["sdk"] == {"name": "sentry.python", "version": "2.75.0"}
    assert norm({"sdk": {"name": "x", "version": "1"}}, sdk_client="sentry.python/2.75.0")["sdk"] == {
        "name": "x", "version": "1"}
    assert norm({"sdk": "bad"}, sdk_client="raven-js 3.0")["sdk"] == {"name": "raven-js", "version": "3.0"}
    assert "sdk" not in norm({}, sdk_client="sentry-cli")


def test_environment_is_kept_not_defaulted():
    assert "environment" not in norm({})
    assert norm({"environment": " production "})["environment"] == "production"
    for bad in ("none", "a/b", "x" * 65, 3):
        event = norm({"environment": bad})
        assert "environment" not in event and error_names(event) == ["environment"]


def test_release_and_dist():
    assert norm({"release": 1.0})["release"] == "1"
    assert norm({"release": " myapp@1.0.0 "})["release"] == "myapp@1.0.0"
    for bad in ("latest", "a\nb", "..", "x" * 201, {}):
        event = norm({"release": bad})
        assert "release" not in event and error_names(event) == ["release"]
    assert norm({"dist": " 42 "})["dist"] == "42"
    assert "dist" not in norm({"dist": "has space"})


def test_plain_strings_kept_or_dropped():
    payload = {"server_name": "h", "logger": "app.views", "transaction": " /users ", "culprit": "c"}
    event = norm(payload)
    assert {key: event[key] for key in payload} == {**payload, "transaction": "/users"}
    event = norm({"server_name": 1, "logger": "a\nb", "transaction": {}, "culprit": None})
    assert not {"server_name", "transaction", "culprit"} & event.keys()
    assert event["logger"] == ""
    assert error_names(event) == ["server_name", "transaction", "logger"]


def test_fingerprint_values_are_stringified():
    event = norm({"fingerprint": ["a", 1, 2.5, True, None, {"x": 1}]})
    assert event["fingerprint"] == ["a", "1", "2", "True"]
    assert event["errors"] == [{"type": "invalid_data", "name": "fingerprint", "value": [{"x": 1}]}]
    assert "fingerprint" not in norm({"fingerprint": "abc"})
    assert "fingerprint" not in norm({"fingerprint": []})


def test_contexts_get_their_type():
    event = norm({"contexts": {"os": {"name": "Linux"}, "gpu": {"type": ""}, "x": {"type": "custom"},
                               "bad": "str", "reprocessing": {"original_issue_id": 1}, "none": None}})
    assert event["contexts"] == {"os": {"name": "Linux", "type": "os"}, "gpu": {"type": "gpu"},
                                 "x": {"type": "custom"}}
    assert error_names(event) == ["contexts.bad"]


def test_unknown_keys_are_kept():
    event = norm({"my_key": {"nested": [1, 2]}, "extra": {"a": 1}, "modules": {"x": "1", "y": 2}})
    assert event["my_key"] == {"nested": [1, 2]}
    assert event["extra"] == {"a": 1}
    assert event["modules"] == {"x": "1"}


def test_existing_errors_are_kept():
    event = norm({"errors": [{"type": "js_no_source", "url": "x"}, "junk"], "level": "nope"})
    assert event["errors"] == [{"type": "js_no_source", "url": "x"}, {"type": "invalid_data", "name": "level",
                                                                       "value": "nope"}]


# --- never raise -----------------------------------------------------------------------------

KNOWN_KEYS = [
    "event_id", "timestamp", "start_timestamp", "received", "type", "level", "platform", "logger",
    "server_name", "release", "dist", "environment", "transaction", "culprit", "message", "logentry",
    "exception", "threads", "breadcrumbs", "stacktrace", "tags", "user", "request", "contexts", "extra",
    "fingerprint", "modules", "sdk", "spans", "transaction_info", "measurements", "errors", "site", "csp",
    "sentry.interfaces.Message", "sentry.interfaces.Exception", "title", "main_exception_id",
]
INNER_KEYS = [
    "values", "type", "value", "module", "mechanism", "stacktrace", "frames", "filename", "abs_path",
    "function", "in_app", "lineno", "synthetic", "exception_id", "message", "formatted", "params",
    "timestamp", "level", "category", "data", "ty", "id", "username", "email", "ip_address", "geo",
    "headers", "cookies", "env", "REMOTE_ADDR", "url", "method", "query_string", "fragment", "name",
    "version", "status", "op", "trace", "source", "start_timestamp",
]
WEIRD_STRINGS = st.sampled_from([
    "", " ", "{{auto}}", "2026-11-22T18:41:13Z", "0001-01-01T00:00:00+01:00", "nan", "inf", "1e400",
    "40", "warn", "%s %(x)s %", "{0} {} {x}", "%999d", "a=b; c", "Foo: bar", "javascript", "transaction",
    "http://h/p?q=1#f", "7d5b0efe-6ca0-424c-964f-ef1c6bac67ef", "latest", "a\nb", "²³", "{" + "1" * 30 + "}",
])
SCALARS = (
    st.none() | st.booleans() | st.integers() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats() | st.text(max_size=12) | WEIRD_STRINGS
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.sampled_from(INNER_KEYS) | st.text(max_size=6), inner, max_size=5),
    max_leaves=25,
)
EVENTS = st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=6), JSON, max_size=12)


# Any JSON object, with any of the options ingest passes.
ANY_EVENT = given(
    data=EVENTS,
    item_type=st.sampled_from(["event", "transaction", "feedback", "security"]),
    envelope_id=st.none() | WEIRD_STRINGS,
    client_ip=st.none() | st.sampled_from(["127.0.0.1", "::1"]),
    sdk_client=st.none() | st.text(max_size=20),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@ANY_EVENT
def test_any_json_object_normalizes(data, item_type, envelope_id, client_ip, sdk_client):
    before = repr(data)
    event = normalize_event(data, received=RECEIVED, event_id=envelope_id, client_ip=client_ip,
                            sdk_client=sdk_client, item_type=item_type)
    assert repr(data) == before
    assert HEX32.fullmatch(event["event_id"])
    assert type(event["timestamp"]) is float and type(event["received"]) is float
    assert isinstance(event["level"], str) and isinstance(event["platform"], str)
    assert isinstance(event["type"], str)
    isoformat(event["timestamp"])
    for key in ("exception", "threads", "breadcrumbs"):
        if key in event:
            assert all(isinstance(value, dict) for value in event[key]["values"])
    for crumb in event.get("breadcrumbs", {}).get("values", ()):
        assert type(crumb.get("timestamp", 0.0)) is float
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in event.get("tags", ()))
    # Everything the store derives from an event copes with whatever normalization lets through,
    # and grouping by structure (the cache the store uses) gives the event's own hashes.
    tags = list(event_tags(event))
    own = variants.calculate(event, tags, shared=False)
    assert variants.calculate(event, tags).hashes == own.hashes
    assert own.hashes and all(HEX32.fullmatch(h) for h in own.hashes)
    description = titles.describe(event, own.main_exception_id)
    event_fields(event, event["type"])
    event_texts(event, description.title, description.culprit, description.location, description.metadata)
    json.dumps(event)


@pytest.mark.parametrize("in_place", [False, True])
def test_deep_nesting_does_not_raise(in_place):
    deep: object = "leaf"
    for _ in range(5000):
        deep = [deep]
    event = norm({"extra": {"deep": deep}, "exception": [{"type": "E", "value": deep}]}, in_place=in_place)
    assert event["exception"]["values"] == [{"type": "E"}]


# --- in_place: the ingest path's copy-free mode gives the very same event ----------------------

PY_REQUEST = {
    **PY_EXCEPTION,
    "request": {
        "url": "http://localhost:5000/orders?page=2#top", "method": "get", "query_string": "page=2",
        "headers": {"host": "localhost:5000", "user-agent": "curl/8.5.0", "accept": "*/*",
                    "x-forwarded-for": "203.0.113.9", "cookie": "session=abc; theme=dark"},
        "env": {"REMOTE_ADDR": "{{auto}}", "SERVER_NAME": "localhost", "SERVER_PORT": "5000"},
        "data": {"qty": 2},
    },
}
FIXTURES = [PY_MESSAGE, PY_EXCEPTION, NODE_MESSAGE, CLI_EVENT, PY_TRANSACTION, PY_REQUEST]
FIXED_UUID = uuid.UUID("0123456789abcdef0123456789abcdef")


def normalized_both_ways(data: dict, **kwargs) -> tuple[str, str]:
    """``repr`` of the copying and the in-place result, so key order and value types count too."""
    kwargs.setdefault("received", RECEIVED)
    with mock.patch("uuid.uuid4", return_value=FIXED_UUID):
        copied = normalize_event(copy.deepcopy(data), **kwargs)
        in_place = normalize_event(copy.deepcopy(data), in_place=True, **kwargs)
    return repr(copied), repr(in_place)


@pytest.mark.parametrize("payload", FIXTURES)
@pytest.mark.parametrize("options", [{}, {"client_ip": "198.51.100.4", "sdk_client": "sentry.python/2.75.0"},
                                     {"item_type": "transaction"}, {"received": RECEIVED + 40 * 86400}])
def test_in_place_matches_copy_on_real_payloads(payload, options):
    copied, in_place = normalized_both_ways(payload, **options)
    assert copied == in_place


def test_in_place_reuses_the_input():
    payload = copy.deepcopy(PY_EXCEPTION)
    frames = payload["exception"]["values"][0]["stacktrace"]["frames"]
    event = norm(payload, in_place=True)
    assert event is payload
    assert event["exception"]["values"][0]["stacktrace"]["frames"][0] is frames[0]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@ANY_EVENT
def test_in_place_matches_copy_on_any_json(data, item_type, envelope_id, client_ip, sdk_client):
    copied, in_place = normalized_both_ways(data, event_id=envelope_id, client_ip=client_ip,
                                            sdk_client=sdk_client, item_type=item_type)
    assert copied == in_place
