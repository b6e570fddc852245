"""Frames and stacktraces: their grouping components, and everything else decided by a stack.

Frames contribute their module (else their lowercased file name), their function and, for Python,
JavaScript, Node, PHP and Ruby, their whitespace-collapsed context line; never line numbers. In the
``app`` variant only in-app frames count; the stack rules' ``-group`` takes a frame out of both; a
frame identical to the one before it (a recursion) does not count.

The same stacks recur from event to event (one error thrown from one place, many times): what a
stack's frames decide — their components, which are in-app, the crash frame, the culprit — is
worked out once per distinct stack (:func:`stack`) and shared. Shared components are never changed;
callers wrap them where they need a flag of their own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sentry_daemon.grouping.components import Component
from sentry_daemon.grouping.enhancements import FrameRules, apply_rules, family

CONTEXT_LINE_PLATFORMS = {"javascript", "node", "python", "php", "ruby"}
MAX_CONTEXT_LINE = 120
_BASENAME = re.compile(r"[/\\]")
_JS_UNKNOWN_FUNCTIONS = {"?", "<anonymous function>", "<anonymous>", "Anonymous function"}
_JS_LOW_QUALITY_PATHS = {"[native code]", "native code", "eval code", "<anonymous>"}
_RECURSION_FIELDS = ("abs_path", "package", "module", "filename", "function", "lineno", "colno")

Variants = dict[str, Component]


def has_url_origin(path: Any, files_count_as_urls: bool) -> bool:
    if not isinstance(path, str) or not path:
        return False
    if path.startswith(("http:", "https:", "applewebdata:", "blob:")):
        return True
    if path.startswith("file:"):
        return files_count_as_urls
    return False


def frames_of(stacktrace: Any) -> list[dict[str, Any]] | None:
    """The frames of a stacktrace interface; None when there is no stacktrace at all."""
    if not isinstance(stacktrace, dict):
        return None
    frames = stacktrace.get("frames")
    return [f for f in frames if isinstance(f, dict)] if isinstance(frames, list) else []


def _function_component(frame: dict[str, Any], platform: str | None) -> Component:
    function = frame.get("function") or frame.get("raw_function")
    if not isinstance(function, str) or not function:
        return Component("function")
    if family(platform) == "javascript":
        trimmed = function.rsplit(".", 1)[-1]
        return Component("function", [trimmed], hint="trimmed javascript function" if trimmed != function else None)
    if platform == "ruby":
        if function.startswith("block "):
            return Component("function", ["block"], hint="ruby block")
        cleaned = re.sub(r"__\d{4,}_\d{4,}$", "", function)
        return Component("function", [cleaned], hint="removed generated erb template suffix" if cleaned != function
                         else None)
    if platform == "php":
        if function.startswith(("[Anonymous", "class@anonymous\x00")):
            return Component("function", [function], contributes=False, hint="ignored anonymous function")
        if function.startswith("class@anonymous") and "::" in function:
            return Component("function", [function.rsplit("::", 1)[-1]], hint="anonymous class method")
    if family(platform) == "native" and function in ("<redacted>", "<unknown>"):
        return Component("function", [function], contributes=False, hint="ignored unknown function")
    return Component("function", [function])


_FRAME_KEY_FIELDS = ("platform", "module", "filename", "abs_path", "function", "raw_function", "context_line")


def frame_component(frame: dict[str, Any], event_platform: str | None) -> Component:
    """One frame's component, before the stacktrace-level rules (recursion, in-app, stack rules).

    A frame's component depends only on a few of its fields, and the same frames recur from event
    to event: the component is built once per kind of frame and shared, children included. Callers
    never change a shared frame's children; they wrap it (:func:`_wrap`) to change the frame's own flag.
    """
    data = frame.get("data")
    key = (event_platform, isinstance(data, dict) and data.get("sourcemap") is not None,
           *(frame.get(name) for name in _FRAME_KEY_FIELDS))
    try:
        return _frame_template(key)
    except TypeError:  # an unhashable field: build it afresh
        return _build_frame(frame, event_platform)


@lru_cache(maxsize=16384)
def _frame_template(key: tuple[Any, ...]) -> Component:
    event_platform, sourcemap, *fields = key
    frame = dict(zip(_FRAME_KEY_FIELDS, fields))
    if sourcemap:
        frame["data"] = {"sourcemap": True}
    return _build_frame(frame, event_platform)


def _wrap(frame: Component) -> Component:
    """A frame component of its own (flag and hint) over the shared children."""
    return Component("frame", frame.values, frame.contributes, frame.hint)


def _build_frame(frame: dict[str, Any], event_platform: str | None) -> Component:
    platform = frame.get("platform") or event_platform
    javascript = family(platform) == "javascript"
    abs_path = frame.get("abs_path")

    module = frame.get("module")
    if isinstance(module, str) and module:
        if platform == "javascript" and "/" in module and isinstance(abs_path, str) and abs_path.endswith(module):
            module_c = Component("module", [module], contributes=False, hint="ignored bad javascript module")
        else:
            module_c = Component("module", [module])
    else:
        module_c = Component("module")

    filename = frame.get("filename")
    if isinstance(filename, str) and filename:
        value = _BASENAME.split(filename)[-1].lower()
        if has_url_origin(abs_path, False):
            filename_c = Component("filename", [value], contributes=False, hint="ignored because frame points to a URL")
        elif value == "<anonymous>":
            filename_c = Component("filename", [value], contributes=False, hint="ignored because filename is anonymous")
        elif value == "[native code]":
            filename_c = Component("filename", [value], contributes=False,
                                   hint="ignored because filename suggests native code")
        else:
            filename_c = Component("filename", [value])
        if module_c.contributes and filename_c.contributes:
            filename_c.update(contributes=False, hint="ignored because module takes precedence")
    else:
        filename_c = Component("filename")

    function_c = _function_component(frame, platform)
    children = [module_c, filename_c, function_c]

    context_line = frame.get("context_line")
    context_c = None
    if isinstance(context_line, str) and context_line and platform in CONTEXT_LINE_PLATFORMS:
        collapsed = " ".join(context_line.split())
        if not collapsed:
            context_c = Component("context-line")
        elif len(context_line) > MAX_CONTEXT_LINE:
            context_c = Component("context-line", [collapsed], contributes=False, hint="ignored because line is too long")
        elif javascript and not frame.get("function") and has_url_origin(abs_path, True):
            context_c = Component("context-line", [collapsed], contributes=False,
                                  hint="ignored because file path is a URL and function name is missing")
        else:
            context_c = Component("context-line", [collapsed])
        children.append(context_c)

    if javascript:
        data = frame.get("data")
        if isinstance(data, dict) and data.get("sourcemap") is not None and function_c.values \
                and context_c is not None and context_c.contributes:
            function_c.update(contributes=False, hint="ignored because sourcemap used and context line available")

    component = Component("frame", children)
    if javascript:
        raw = frame.get("raw_function") or frame.get("function") or ""
        name = raw.rsplit(".", 1)[-1] if isinstance(raw, str) else ""
        if not name:
            function_c.update(contributes=False)
        elif name in _JS_UNKNOWN_FUNCTIONS or name.endswith("/<"):
            function_c.update(contributes=False, hint="ignored unknown function name")
        component.update(contributes=function_c.contributes or module_c.contributes or filename_c.contributes
                         or bool(context_c and context_c.contributes))
        if name == "eval" or abs_path in _JS_LOW_QUALITY_PATHS:
            component.update(contributes=False, hint="ignored low quality javascript frame")
    return component


def _out_of_app_hint(frame: dict[str, Any]) -> str:
    return "marked out of app by the client" if frame.get("in_app") is False else "non app frame"


_STACK_KEY_FIELDS = _FRAME_KEY_FIELDS + ("in_app", "package")


@dataclass(frozen=True, eq=False)
class Stack:
    """What one stacktrace's frames decide, worked out once per distinct stack."""

    frames: tuple[dict[str, Any], ...]  # the fields of each frame that anything here reads
    rules: FrameRules
    variants: Variants                  # "app" and "system": shared, never to be changed
    crash_frame: dict[str, Any] | None  # the last in-app frame with a usable function, else the last one
    culprit: str                        # where it happened, from the frames alone ("" if nowhere)


def stack(frames: list[dict[str, Any]], event_platform: str | None) -> Stack:
    """The facts of a stacktrace's frames (oldest first), from the cache when the stack was seen."""
    # One pass over each frame's fields; line numbers only decide which frames are recursions,
    # so the cache keys on that, not on them.
    keys, flags, previous = [event_platform, None], [], None
    for frame in frames:
        every = tuple(map(frame.get, _ALL_FIELDS))
        repeat = _RECURSION_OF(every)
        flags.append(repeat == previous)
        previous = repeat
        data = frame.get("data")
        keys.append((type(data) is dict and data.get("sourcemap") is not None, *_KEYED_OF(every)))
    keys[1] = recursive = tuple(flags)
    try:
        return _cached_stack(tuple(keys))
    except TypeError:  # an unhashable field: work it out afresh
        return _build_stack(tuple(frames), event_platform, recursive)


# Several readers of one event (grouping, title, search fields) ask for the same stacktraces in a
# row: the last few answers are kept by the identity of the stacktrace they were asked of (held,
# so the identity cannot be reused meanwhile).
_RECENT: list[tuple[Any, str | None, Stack | None]] = []
_RECENT_SIZE = 8


def stack_of(stacktrace: Any, event_platform: str | None) -> Stack | None:
    """The facts of a stacktrace interface (``{"frames": [...]}``); None without one."""
    for held, platform, found in _RECENT:
        if held is stacktrace and platform == event_platform:
            return found
    frames = frames_of(stacktrace)
    found = stack(frames, event_platform) if frames is not None else None
    _RECENT.append((stacktrace, event_platform, found))
    if len(_RECENT) > _RECENT_SIZE:
        del _RECENT[0]
    return found


_ALL_FIELDS = _STACK_KEY_FIELDS + ("lineno", "colno")
_KEYED_OF = itemgetter(*range(len(_STACK_KEY_FIELDS)))
_RECURSION_OF = itemgetter(*(_ALL_FIELDS.index(name) for name in _RECURSION_FIELDS))


@lru_cache(maxsize=8192)
def _cached_stack(key: tuple[Any, ...]) -> Stack:
    event_platform, recursive, *frame_keys = key
    frames = []
    for sourcemap, *fields in frame_keys:
        frame = {name: value for name, value in zip(_STACK_KEY_FIELDS, fields) if value is not None}
        if sourcemap:
            frame["data"] = {"sourcemap": True}
        frames.append(frame)
    return _build_stack(tuple(frames), event_platform, recursive)


def _build_stack(frames: tuple[dict[str, Any], ...], event_platform: str | None,
                 recursive: tuple[bool, ...]) -> Stack:
    variants, rules = _build_stacktrace_variants(list(frames), event_platform, recursive)
    return Stack(frames, rules, variants, _crash_frame(frames, rules.in_app),
                 _frames_culprit(frames, rules.in_app, event_platform))


_UNUSABLE_FUNCTIONS = (None, "", "<redacted>", "<unknown>")


def _crash_frame(frames: tuple[dict[str, Any], ...], in_app: tuple[bool, ...]) -> dict[str, Any] | None:
    last_usable = None
    for frame, app in zip(reversed(frames), reversed(in_app)):
        if frame.get("function") in _UNUSABLE_FUNCTIONS:
            continue
        if app:
            return frame
        if last_usable is None:
            last_usable = frame
    return last_usable


def _frame_culprit(frame: dict[str, Any], platform: str | None) -> str:
    platform = frame.get("platform") or platform
    if platform in ("objc", "cocoa", "native"):
        return str(frame.get("function") or "?")
    where = frame.get("module") or frame.get("filename")
    if not where:
        return ""
    if platform in ("javascript", "node"):
        return f"{frame.get('function') or '?'}({where})"
    where = str(where)
    return f"{where if len(where) <= 100 else where[:97] + '...'} in {frame.get('function') or '?'}"


def _frames_culprit(frames: tuple[dict[str, Any], ...], in_app: tuple[bool, ...], platform: str | None) -> str:
    """The culprit of the last in-app frame that has one, else of the last frame."""
    fallback = None
    for frame, app in zip(reversed(frames), reversed(in_app)):
        if app:
            found = _frame_culprit(frame, platform)
            if found:
                return found
        elif fallback is None:
            fallback = _frame_culprit(frame, platform)
    return fallback or ""


def _build_stacktrace_variants(frames: list[dict[str, Any]], event_platform: str | None,
                               recursive: tuple[bool, ...]) -> tuple[Variants, FrameRules]:
    rules = apply_rules(frames, event_platform)
    system_frames = [_wrap(frame_component(frame, event_platform)) for frame in frames]
    for component, repeated in zip(system_frames, recursive):
        if repeated:
            component.update(contributes=False, hint="ignored due to recursion")
    app_frames = [_wrap(component) for component in system_frames]
    for frame, component, in_app in zip(frames, app_frames, rules.in_app):
        if not in_app:
            component.update(contributes=False, hint=_out_of_app_hint(frame))

    only = frames[0] if len(frames) == 1 else None
    single_url_frame = only is not None and not only.get("function") \
        and family(only.get("platform") or event_platform) == "javascript" \
        and has_url_origin(only.get("abs_path"), True)
    variants: Variants = {}
    for name, components in (("app", app_frames), ("system", system_frames)):
        if single_url_frame and components[0].contributes:
            components[0].update(contributes=False, hint="ignored single non-URL JavaScript frame")
        for component, ungrouped, in_app, app_rule in zip(components, rules.ungrouped, rules.in_app,
                                                          rules.in_app_rule):
            if ungrouped is not None and component.contributes:
                component.update(contributes=False, hint=f"ignored by stack trace rule ({ungrouped})")
            if name == "app" and app_rule is not None:
                verb = "marked in-app" if in_app else "marked out of app"
                component.update(hint=f"{verb} by stack trace rule ({app_rule})")
        stack = Component("stacktrace", components)
        if not frames:
            stack.update(contributes=False, hint="ignored because it contains no frames")
        elif name == "app" and not any(rules.in_app):
            stack.update(contributes=False, hint="ignored because it contains no in-app frames")
        elif not stack.contributes:
            stack.update(contributes=False, hint="ignored because it contains no contributing frames")
        variants[name] = stack.freeze()
    return variants, rules


