"""Grouping hashes as Sentry computes them: md5 over the contributing values, no separators.

Each expected hash here is worked out by hand from the rule it tests (which values count, in which
order), not by the code under test.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_daemon.grouping import variants
from sentry_daemon.grouping.titles import describe
from sentry_daemon.ingest.normalize import normalize_event
from sentry_daemon.store.event_tags import event_tags

FALLBACK = hashlib.md5(b"").hexdigest()


def md5(*values: str) -> str:
    return hashlib.md5("".join(values).encode()).hexdigest()


def normalized(event: dict[str, Any]) -> dict[str, Any]:
    return normalize_event({"event_id": "a" * 32, **event}, received=1.7e9, event_id=None, client_ip=None,
                           sdk_client=None, item_type="event")


def grouping(event: dict[str, Any]) -> variants.GroupingResult:
    data = normalized(event)
    return variants.calculate(data, list(event_tags(data)), shared=False)


def frame(module: str, function: str, line: str | None = None, **extra: Any) -> dict[str, Any]:
    found = {"module": module, "function": function, "filename": module.replace(".", "/") + ".py",
             "abs_path": "/srv/" + module.replace(".", "/") + ".py", "lineno": 10, "in_app": True}
    if line is not None:
        found["context_line"] = line
    found.update(extra)
    return found


def python_error(frames: list[dict[str, Any]], type_: str = "KeyError", value: str = "'k'", **extra: Any) -> dict:
    return {"platform": "python", "exception": {"values": [{"type": type_, "value": value,
                                                            "stacktrace": {"frames": frames}}]}, **extra}


def test_in_app_frames_and_type_make_the_hash() -> None:
    result = grouping(python_error([frame("app.views", "handle", "    return lookup(key)"),
                                    frame("app.store", "lookup", "  return   data[key]")]))
    app = md5("app.views", "handle", "return lookup(key)", "app.store", "lookup", "return data[key]", "KeyError")
    assert result.variants["app"].hash == app
    # every frame is in-app: the system variant has the same values and is not counted twice
    assert result.variants["system"].hash is None
    assert result.variants["system"].hint == "exception of app takes precedence"
    exception = result.variants["system"].component.values[0]
    assert exception.hint == "ignored because hash matches app variant"
    assert result.hashes == [app]


def test_library_frames_count_only_in_the_system_variant() -> None:
    library = frame("requests.api", "get", "return request()", abs_path="/venv/lib/site-packages/requests/api.py")
    result = grouping(python_error([frame("app.views", "handle", "fetch()"), library]))
    assert result.variants["app"].hash == md5("app.views", "handle", "fetch()", "KeyError")
    assert result.variants["system"].hash == md5("app.views", "handle", "fetch()", "requests.api", "get",
                                                 "return request()", "KeyError")
    assert result.hashes == [result.variants["app"].hash, result.variants["system"].hash]


def test_without_in_app_frames_the_system_variant_groups() -> None:
    frames = [frame("lib.a", "run", "go()", in_app=False), frame("lib.b", "go", "boom()", in_app=False)]
    result = grouping(python_error(frames))
    assert result.variants["app"].hash is None
    stack = result.variants["app"].component.values[0].values[0]
    assert stack.hint == "ignored because it contains no in-app frames"
    assert result.hashes == [md5("lib.a", "run", "go()", "lib.b", "go", "boom()", "KeyError")]


def test_line_numbers_never_count_and_recursion_is_skipped() -> None:
    one = python_error([frame("app.a", "walk", "walk(n)", lineno=3), frame("app.a", "walk", "walk(n)", lineno=3),
                        frame("app.a", "walk", "walk(n)", lineno=3)])
    other = python_error([frame("app.a", "walk", "walk(n)", lineno=90)])
    assert grouping(one).hashes == grouping(other).hashes == [md5("app.a", "walk", "walk(n)", "KeyError")]


def test_module_wins_over_the_file_name_and_a_long_context_line_is_ignored() -> None:
    no_module = {"filename": "Src/App.PY", "function": "main", "context_line": "x" * 121, "in_app": True}
    result = grouping(python_error([no_module]))
    assert result.hashes == [md5("app.py", "main", "KeyError")]


def test_the_value_counts_only_without_a_stacktrace_and_is_parameterized() -> None:
    without = {"platform": "python", "exception": {"values": [{"type": "Timeout", "value": "after 30 s, try 2"}]}}
    assert grouping(without).hashes == [md5("Timeout", "after <int> s, try <int>")]
    with_stack = grouping(python_error([frame("app.x", "f", "f()")], type_="Timeout", value="after 30 s"))
    assert with_stack.hashes == [md5("app.x", "f", "f()", "Timeout")]


def test_a_synthetic_type_does_not_count() -> None:
    event = python_error([frame("app.x", "f", "f()")], type_="SIGSEGV")
    event["exception"]["values"][0]["mechanism"] = {"type": "signal", "synthetic": True}
    assert grouping(event).hashes == [md5("app.x", "f", "f()")]


def test_chained_exceptions_count_in_order() -> None:
    event = {"platform": "python", "exception": {"values": [
        {"type": "KeyError", "value": "'k'", "stacktrace": {"frames": [frame("app.a", "inner", "d[k]")]}},
        {"type": "RuntimeError", "value": "failed", "stacktrace": {"frames": [frame("app.b", "outer", "inner()")]}},
    ]}}
    assert grouping(event).hashes == [md5("app.a", "inner", "d[k]", "KeyError", "app.b", "outer", "inner()",
                                          "RuntimeError")]


def test_exception_group_links_that_loop_or_are_not_ids_still_group() -> None:
    """Parent links that form a cycle end the chain; ids that are not integers are no ids (the
    exceptions then chain as sent)."""
    def group(first: dict[str, Any], second: dict[str, Any]) -> dict[str, Any]:
        return {"platform": "javascript", "exception": {"values": [
            {"type": "AggregateError", "value": "x", "mechanism": {"type": "generic", **first}},
            {"type": "TypeError", "value": "y", "mechanism": {"type": "generic", **second}},
        ]}}

    looping = group({"exception_id": 0, "parent_id": 1, "is_exception_group": True},
                    {"exception_id": 1, "parent_id": 0})
    assert grouping(looping).hashes == [md5("TypeError", "y", "AggregateError", "x")]
    not_ids = group({"exception_id": [0], "parent_id": {}, "is_exception_group": True},
                    {"exception_id": 1, "parent_id": [0]})
    assert grouping(not_ids).hashes == [md5("AggregateError", "x", "TypeError", "y")]


def test_javascript_function_names_are_trimmed_and_node_modules_are_not_in_app() -> None:
    frames = [
        {"filename": "/app/node_modules/express/router.js", "abs_path": "/app/node_modules/express/router.js",
         "function": "Layer.handle", "context_line": "fn(req, res)", "in_app": True},
        {"filename": "/app/src/server.js", "abs_path": "/app/src/server.js", "function": "Object.handler",
         "context_line": "throw new Error('x')", "in_app": True},
    ]
    event = {"platform": "node", "exception": {"values": [{"type": "Error", "value": "x",
                                                            "stacktrace": {"frames": frames}}]}}
    result = grouping(event)
    assert result.variants["app"].hash == md5("server.js", "handler", "throw new Error('x')", "Error")
    assert result.variants["system"].hash == md5("router.js", "handle", "fn(req, res)", "server.js", "handler",
                                                 "throw new Error('x')", "Error")


def test_messages_group_by_their_template_else_the_formatted_text() -> None:
    template = {"logentry": {"message": "User %s failed", "params": ["7"], "formatted": "User 7 failed"}}
    assert grouping(template).hashes == [md5("User %s failed")]
    formatted = {"message": "job 12 of 40 took 1.25s at 2024-01-01T00:00:00Z for ops@example.com"}
    assert grouping(formatted).hashes == [md5("job <int> of <int> took <duration> at <date> for <email>")]


def test_a_single_crashed_thread_groups_when_there_is_no_exception() -> None:
    event = {"platform": "python", "threads": {"values": [
        {"id": 1, "crashed": True, "stacktrace": {"frames": [frame("app.worker", "run", "loop()")]}},
        {"id": 2, "stacktrace": {"frames": [frame("app.idle", "wait", "sleep()")]}},
    ]}}
    assert grouping(event).hashes == [md5("app.worker", "run", "loop()")]


def test_nothing_to_group_on_is_the_fallback() -> None:
    result = grouping({"platform": "python"})
    assert result.hashes == [FALLBACK] and result.variants["fallback"].type == "fallback"


def test_custom_fingerprint_replaces_grouping_and_resolves_variables() -> None:
    event = python_error([frame("app.pay", "charge", "raise")], type_="CardError", level="warning",
                         tags={"server": "web-1"}, fingerprint=["pay", "{{ type }}", "{{function}}", "{{ tags.server }}",
                                                                "{{ level }}", "{{ transaction }}", "{{ tags.none }}"])
    result = grouping(event)
    expected = ["pay", "CardError", "charge", "web-1", "warning", "<no-transaction>", "<no-value-for-tag-none>"]
    assert result.variants["custom_fingerprint"].values == expected
    assert result.hashes == [md5(*expected)]
    assert result.variants["app"].hint == "custom fingerprint takes precedence"


def test_default_entry_salts_the_default_grouping() -> None:
    plain = grouping(python_error([frame("app.x", "f", "f()")]))
    salted = grouping(python_error([frame("app.x", "f", "f()")], fingerprint=["{{ default }}", "eu"]))
    assert salted.hashes == [md5("app.x", "f", "f()", "KeyError", "eu")] != plain.hashes
    assert grouping(python_error([frame("app.x", "f", "f()")], fingerprint=["{{default}}"])).hashes == plain.hashes


def test_legacy_checksum_is_the_hash() -> None:
    assert grouping({"checksum": "0" * 32, "message": "m"}).hashes == ["0" * 32]
    assert grouping({"checksum": "not hex", "message": "m"}).hashes == [md5("not hex")]


def test_titles_use_the_rules_in_app_too() -> None:
    data = normalized(python_error([frame("app.views", "handle", "x()"),
                                    frame("django.core", "dispatch", "y()", abs_path="/v/site-packages/django/core.py")],
                                   type_="ValueError", value="bad\nsecond line"))
    description = describe(data)
    assert description.title == "ValueError: bad"
    assert description.culprit == "app.views in handle"  # the last in-app frame, not the library one
    assert description.metadata["function"] == "handle" and description.metadata["in_app_frame_mix"] == "mixed"


# --- the structure cache gives every event its own hashes ---------------------------------------

names = st.sampled_from(["app.a", "app.b", "lib.c", "main", "<lambda>", "Object.f"])
frames_st = st.lists(st.fixed_dictionaries({
    "module": names, "function": names, "lineno": st.integers(1, 3),
    "context_line": st.sampled_from(["x()", "  y( )", "z" * 130]),
    "in_app": st.sampled_from([True, False, None]),
}, optional={"abs_path": st.sampled_from(["/srv/a.py", "/v/site-packages/b.py", "/n/node_modules/c.js"])}),
    max_size=4)
exception_st = st.fixed_dictionaries({"type": st.sampled_from(["E", "F"]),
                                      "value": st.sampled_from(["v 1", "v 2", ""])},
                                     optional={"stacktrace": st.fixed_dictionaries({"frames": frames_st}),
                                               "mechanism": st.fixed_dictionaries(
                                                   {"type": st.just("generic"), "synthetic": st.booleans()})})
event_st = st.fixed_dictionaries({"platform": st.sampled_from(["python", "node", "javascript", "other"])}, optional={
    "exception": st.fixed_dictionaries({"values": st.lists(exception_st, min_size=1, max_size=3)}),
    "message": st.sampled_from(["hello 1", "hello 2"]),
    "fingerprint": st.sampled_from([["{{ default }}"], ["x", "{{ type }}"], ["{{ default }}", "y"]]),
})


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(event_st)
def test_grouping_by_structure_matches_grouping_the_event_itself(event: dict[str, Any]) -> None:
    data = normalized(event)
    tags = list(event_tags(data))
    shared = variants.calculate(data, tags)
    own = variants.calculate(data, tags, shared=False)
    assert shared.hashes == own.hashes
    assert shared.main_exception_id == own.main_exception_id


@pytest.mark.parametrize("value", ["v 1", "v 2"])
def test_a_value_that_cannot_count_does_not_split_the_cached_structure(value: str) -> None:
    event = python_error([frame("app.x", "f", "f()")], value=value)
    assert grouping(event).hashes == [md5("app.x", "f", "f()", "KeyError")]
