"""Sentry's built-in stack-trace rules (``all-platforms@2023-01-11``) for Python and JavaScript.

Two things rules decide: whether a frame is in-app (``-app``: vendored and installed libraries,
``node_modules``, CDNs; it then counts only in the ``system`` variant), and whether it groups at all
(``-group``: transpiler helpers, Node's microtask machinery, telemetry agents). Rules run in order
and later ones override earlier; a range ``^`` also applies to every frame after the match (towards
the crash), ``v`` to every frame before it. Frames no rule and no client marked end up not in-app.

Only the rules that can match Python, Node and browser JavaScript frames are here; the native,
Java, Dart and category rules of the same file do not apply to the platforms this daemon groups.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Sequence

JAVASCRIPT_FAMILY = {"javascript", "node"}
NATIVE_FAMILY = {"objc", "cocoa", "swift", "native", "c"}

DEFAULT_RULES = """
path:**/vendor/** -app
path:**/site-packages/** -app
path:**/dist-packages/** -app
path:**/node_modules/** -app
module:unpkg/** -app
path:**https://unpkg.com/** -app
path:**https://cdnjs.cloudflare.com/** -app
path:**https://cdn.jsdelivr.net/** -app
path:**https://esm.run/** -app
family:javascript function:reportError ^-app -app
module:@babel/** -app -group
module:core-js/** -app -group
module:regenerator-runtime/** -app -group
module:tslib/** -app -group
function:runMicrotasks -app -group
function:queueMicrotask -app -group
function:processTicksAndRejections -app -group
function:runNextTicks -app -group
function:nextTick -app -group
module:newrelic -app -group
path:**/*newrelic*/** -app -group
path:**/*LogRocket*/** -app -group
"""


def family(platform: str | None) -> str:
    if platform in JAVASCRIPT_FAMILY:
        return "javascript"
    if platform in NATIVE_FAMILY:
        return "native"
    return "other"


@lru_cache(maxsize=512)
def _glob(pattern: str, path_like: bool) -> re.Pattern[str]:
    """A rule's glob: for paths ``*`` stays within a segment and ``**`` crosses them, case-insensitively."""
    out, i = [], 0
    while i < len(pattern):
        if pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*" if path_like else ".*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]" if path_like else ".")
            i += 1
        else:
            out.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(out) + r"\Z", re.IGNORECASE if path_like else 0)


def _path_of(frame: dict[str, Any]) -> str:
    return str(frame.get("abs_path") or frame.get("filename") or "").replace("\\", "/").lower()


@dataclass(frozen=True)
class _Matcher:
    field: str
    pattern: str

    def matches(self, frame: dict[str, Any], platform: str | None) -> bool:
        if self.field == "family":
            wanted = set(self.pattern.split(","))
            return "all" in wanted or family(frame.get("platform") or platform) in wanted
        if self.field == "path":
            path = _path_of(frame)
            if not path:
                return False
            glob = _glob(self.pattern.lower(), True)
            return bool(glob.match(path) or (not path.startswith("/") and glob.match("/" + path)))
        value = frame.get(self.field)
        return isinstance(value, str) and bool(_glob(self.pattern, False).match(value))


@dataclass(frozen=True)
class _Action:
    flag: str          # "app" or "group"
    value: bool
    range: str | None  # None: the frame; "^": the frames after it; "v": the frames before it


@dataclass(frozen=True)
class Rule:
    text: str
    matchers: tuple[_Matcher, ...]
    actions: tuple[_Action, ...]

    def matches(self, frame: dict[str, Any], platform: str | None) -> bool:
        return all(m.matches(frame, platform) for m in self.matchers)


_FIELDS = {"path": "path", "stack.abs_path": "path", "module": "module", "stack.module": "module",
           "function": "function", "stack.function": "function", "family": "family"}


def parse_rules(text: str) -> tuple[Rule, ...]:
    rules = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        matchers, actions = [], []
        for token in line.split():
            match = re.fullmatch(r"([v^])?([+-])(app|group)", token)
            if match:
                actions.append(_Action(match.group(3), match.group(2) == "+", match.group(1)))
            else:
                name, _, pattern = token.partition(":")
                matchers.append(_Matcher(_FIELDS[name], pattern))
        rules.append(Rule(line, tuple(matchers), tuple(actions)))
    return tuple(rules)


RULES = parse_rules(DEFAULT_RULES)


def _targets(index: int, count: int, range_: str | None) -> range:
    if range_ == "^":
        return range(index + 1, count)
    if range_ == "v":
        return range(0, index)
    return range(index, index + 1)


@lru_cache(maxsize=16384)
def _hits(path: str, module: Any, function: Any, frame_family: str) -> tuple[int, ...]:
    """Which rules match a frame; frames repeat across events, so this is asked once per kind of frame."""
    frame = {"abs_path": path, "module": module, "function": function}
    platform = {"javascript": "javascript", "native": "native"}.get(frame_family, "other")
    return tuple(n for n, rule in enumerate(RULES) if rule.matches(frame, platform))


@dataclass(frozen=True, slots=True)
class FrameRules:
    """What the rules made of one stacktrace's frames."""

    in_app: tuple[bool, ...]
    in_app_rule: tuple[str | None, ...]  # the rule that decided a frame's in-app flag, if one did
    ungrouped: tuple[str | None, ...]    # the ``-group`` rule that took a frame out of grouping


def apply_rules(frames: Sequence[dict[str, Any]], platform: str | None) -> FrameRules:
    """Apply every rule to a stacktrace's frames (oldest first), in rule order.

    Asked once per distinct stack (``stacks`` keeps the answer); which rules match a frame is kept
    per kind of frame (``_hits``)."""
    count = len(frames)
    in_app: list[bool | None] = [f.get("in_app") if isinstance(f.get("in_app"), bool) else None for f in frames]
    app_rule: list[str | None] = [None] * count
    grouped: list[str | None] = [None] * count
    hits_by_rule: dict[int, list[int]] = {}
    for index, frame in enumerate(frames):
        for rule_index in _hits(_path_of(frame), frame.get("module"), frame.get("function"),
                                family(frame.get("platform") or platform)):
            hits_by_rule.setdefault(rule_index, []).append(index)
    for rule_index in sorted(hits_by_rule):
        rule = RULES[rule_index]
        for action in rule.actions:
            for hit in hits_by_rule[rule_index]:
                for target in _targets(hit, count, action.range):
                    if action.flag == "app":
                        in_app[target] = action.value
                        app_rule[target] = rule.text
                    else:
                        grouped[target] = None if action.value else rule.text
    return FrameRules(tuple(bool(v) for v in in_app), tuple(app_rule), tuple(grouped))
