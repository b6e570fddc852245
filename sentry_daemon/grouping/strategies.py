"""Sentry's default grouping strategies (``newstyle:2023-01-11``), one function per interface.

Each strategy turns one part of the event into a component per variant: ``app`` (in-app frames
only) and ``system`` (every frame) for exceptions, threads and stacktraces, ``default`` for messages
and security reports. :func:`event_variants` runs them all, highest score first; the first strategy
with a contributing component wins and the others are marked with why they do not count.

Frames and stacktraces are ``stacks``' business.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import urlsplit

from sentry_daemon import event_data
from sentry_daemon.grouping.components import Component
from sentry_daemon.grouping.parameterization import Parameterized
from sentry_daemon.grouping.stacks import Variants, stack_of


# --- exceptions ---------------------------------------------------------------------------------

def _single_exception(exception: dict[str, Any], event_platform: str | None) -> Variants:
    mechanism = exception.get("mechanism") if isinstance(exception.get("mechanism"), dict) else {}
    exc_type = exception.get("type")
    type_c = Component("type", [exc_type] if isinstance(exc_type, str) and exc_type else [])
    if mechanism.get("synthetic"):
        type_c.update(contributes=False, hint="ignored because exception is synthetic")

    ns_error_c = None
    meta = mechanism.get("meta") if isinstance(mechanism.get("meta"), dict) else {}
    ns_error = meta.get("ns_error") if isinstance(meta.get("ns_error"), dict) else None
    if ns_error is not None:
        ns_error_c = Component("ns-error", [Component("domain", [ns_error["domain"]] if ns_error.get("domain") else []),
                                            Component("code", [ns_error["code"]] if ns_error.get("code") is not None
                                                      else [])])

    value_c = None
    raw_value = exception.get("value")
    if raw_value is not None and raw_value != "":
        # normalized only if it comes to count (see Parameterized); only "" normalizes to nothing
        value_c = Component("value", [Parameterized(str(raw_value))])

    trace = stack_of(exception.get("stacktrace"), event_platform)
    stacks = trace.variants if trace is not None else {"app": Component("stacktrace")}

    # type and ns-error read the same in every variant and are never changed again: shared
    head = [type_c] if ns_error_c is None else [type_c, ns_error_c]
    variants: Variants = {}
    for name, trace in stacks.items():
        children = [trace, *head]
        if value_c is not None:
            if trace.contributes:
                children.append(Component("value", value_c.values, False, "ignored because stacktrace takes precedence"))
            elif ns_error_c is not None and ns_error_c.contributes:
                children.append(Component("value", value_c.values, False,
                                          "ignored because ns-error info takes precedence"))
            else:
                children.append(Component("value", value_c.values, True))
        # the legacy order of this config: stacktrace, type, ns-error, value
        variants[name] = Component("exception", children, trace.contributes or any(c.contributes for c in children))
    return variants


def _exception_id(exception: dict[str, Any], key: str) -> Any:
    """``exception_id`` or ``parent_id`` (integers, as Relay's schema has them; anything else is
    no id) or ``is_exception_group`` of an exception's mechanism."""
    mechanism = exception.get("mechanism")
    value = mechanism.get(key) if isinstance(mechanism, dict) else None
    if key == "is_exception_group":
        return value is True
    return value if type(value) is int else None


def _component_key(variants: Variants) -> tuple[Any, ...]:
    return tuple(sorted((name, repr(c.as_dict())) for name, c in variants.items()))


def filter_exception_group(exceptions: list[dict[str, Any]], components: list[Variants],
                           data: dict[str, Any]) -> tuple[list[int], Any]:
    """Which exceptions of an exception group count (RFC 0079), and the main exception id if one does.

    Returns the kept indexes; any exception that does not fit the tree leaves the list unchanged.
    """
    unchanged = (list(range(len(exceptions))), None)
    sdk = data.get("sdk") if isinstance(data.get("sdk"), dict) else {}
    if len(exceptions) < 2 or (data.get("platform") == "python" and str(sdk.get("version") or "").startswith("3")):
        return unchanged
    children: dict[Any, list[int]] = {}
    seen: set[Any] = set()
    for index in reversed(range(len(exceptions))):
        exception_id = _exception_id(exceptions[index], "exception_id")
        parent_id = _exception_id(exceptions[index], "parent_id")
        if exception_id is None or exception_id == parent_id or exception_id in seen:
            return unchanged
        seen.add(exception_id)
        children.setdefault(parent_id, []).append(index)
    by_id = {_exception_id(e, "exception_id"): i for i, e in enumerate(exceptions)}
    root = by_id.get(0)
    if root is None:
        return unchanged

    visited: set[int] = set()

    def top_level(index: int) -> list[int]:
        """The non-group exceptions under ``index``; a parent link that loops back is not followed."""
        if index in visited:
            return []
        visited.add(index)
        if _exception_id(exceptions[index], "is_exception_group"):
            return [t for child in children.get(_exception_id(exceptions[index], "exception_id"), [])
                    for t in top_level(child)]
        return [index]

    tops = top_level(root)
    if not tops:
        return unchanged
    tops.sort(key=lambda i: str(exceptions[i].get("type")), reverse=True)
    distinct: list[int] = []
    for index in tops:
        if not distinct or _component_key(components[index]) != _component_key(components[distinct[-1]]):
            distinct.append(index)
    if len(distinct) == 1:
        path, current = [], distinct[0]
        while current not in path:  # a cycle of parent links ends the chain
            path.append(current)
            kids = children.get(_exception_id(exceptions[current], "exception_id"))
            if not kids:
                break
            current = kids[0]
        return path, _exception_id(exceptions[distinct[0]], "exception_id")
    return distinct + [root], None


@dataclass
class StrategyOutput:
    variants: Variants
    main_exception_id: Any = None


def chained_exception(data: dict[str, Any]) -> StrategyOutput | None:
    exceptions = event_data.exceptions(data)
    if not exceptions:
        return None
    platform = data.get("platform")
    components = [_single_exception(e, platform) for e in exceptions]
    kept, main_id = filter_exception_group(exceptions, components, data)
    if len(kept) == 1:
        return StrategyOutput(components[kept[0]], main_id)
    chained: dict[str, list[Component]] = {}
    for index in kept:
        for name, component in components[index].items():
            chained.setdefault(name, []).append(component)
    return StrategyOutput({name: Component("chained-exception", parts) for name, parts in chained.items()}, main_id)


# --- threads, stacktrace, message, template, security -------------------------------------------

def threads(data: dict[str, Any]) -> StrategyOutput | None:
    values = event_data.interface_values(data.get("threads"))
    if not values:
        return None
    crashed = [t for t in values if t.get("crashed")]
    current = [t for t in values if t.get("current")]
    if len(crashed) == 1:
        thread = crashed[0]
    elif len(current) == 1:
        thread = current[0]
    elif len(values) == 1:
        thread = values[0]
    else:
        return StrategyOutput({"app": Component("threads", [], contributes=False, hint=(
            "ignored because it contains neither a single thread nor multiple threads with exactly one crashing or "
            f"current thread; instead contains {len(crashed)} crashing, {len(current)} current, and {len(values)} "
            "total threads"))})
    trace = stack_of(thread.get("stacktrace"), data.get("platform"))
    if trace is None:
        return StrategyOutput({"app": Component("threads", [], contributes=False,
                                                hint="ignored because thread has no stacktrace")})
    stacks = trace.variants
    return StrategyOutput({name: Component("threads", [trace]) for name, trace in stacks.items()})


def stacktrace(data: dict[str, Any]) -> StrategyOutput | None:
    trace = stack_of(data.get("stacktrace"), data.get("platform"))
    if trace is None:
        return None
    stacks = trace.variants
    return StrategyOutput({name: Component("stacktrace", trace.values, trace.contributes, trace.hint).freeze()
                           for name, trace in stacks.items()})


def template(data: dict[str, Any]) -> StrategyOutput | None:
    info = data.get("template")
    if not isinstance(info, dict):
        return None
    filename = info.get("filename")
    context_line = info.get("context_line")
    return StrategyOutput({"default": Component("template", [
        Component("filename", [filename] if filename else []),
        Component("context-line", [context_line] if context_line else []),
    ])})


_LOCAL_SCRIPT_VIOLATIONS = {"": "'unsafe-inline'", "inline": "'unsafe-inline'", "eval": "'unsafe-eval'",
                            "self": "'self'"}


def csp(data: dict[str, Any]) -> StrategyOutput | None:
    """CSP reports group by directive and by the blocked origin (or the kind of local script)."""
    report = data.get("csp")
    if not isinstance(report, dict):
        return None
    directive = str(report.get("effective-directive") or report.get("effectiveDirective")
                    or report.get("violated-directive") or "").split(" ")[0]
    blocked = str(report.get("blocked-uri") or report.get("blockedURL") or "")
    local = directive in ("script-src", "script-src-elem", "script-src-attr") and blocked in _LOCAL_SCRIPT_VIOLATIONS
    violation = Component("violation", [_LOCAL_SCRIPT_VIOLATIONS[blocked]] if local else [],
                          contributes=local, hint=None if local else "ignored because it's not a local script violation")
    origin = urlsplit(blocked).netloc if "://" in blocked else blocked
    uri = Component("uri", [origin], contributes=not local,
                    hint="ignored because violation takes precedence" if local else None)
    return StrategyOutput({"default": Component("csp", [Component("salt", [directive]), violation, uri])})


def message(data: dict[str, Any]) -> StrategyOutput | None:
    logentry = data.get("logentry")
    if not isinstance(logentry, dict):
        return None
    raw = logentry.get("message") or logentry.get("formatted") or ""
    raw = raw if isinstance(raw, str) else str(raw)
    return StrategyOutput({"default": Component("message", [Parameterized(raw)])})


@dataclass(frozen=True)
class Strategy:
    name: str
    run: Callable[[dict[str, Any]], StrategyOutput | None]
    # exception, threads and stacktrace dedupe system against app and drop variants without a stack
    stack_based: bool = False


STRATEGIES = (
    Strategy("exception", chained_exception, True),
    Strategy("threads", threads, True),
    Strategy("stacktrace", stacktrace, True),
    Strategy("template", template),
    Strategy("csp", csp),
    Strategy("message", message),
)


def _process_stack_variants(variants: Variants) -> None:
    """A variant without a contributing stacktrace does not count when another variant has one, and
    ``system`` is not counted when its hash equals ``app``'s.

    Sentry dedupes first; the two steps decide independently (the stacktrace test reads each
    stacktrace's own flag), and this order spares comparing a value that is about to stop counting.
    """
    with_stack = [name for name, c in variants.items() if any(s.contributes for s in c.find("stacktrace"))]
    if len(variants) > 1 and with_stack:
        suffix = f"but the {with_stack[0]} variant does" if len(with_stack) == 1 else "but others do"
        for name, component in variants.items():
            if name not in with_stack:
                component.update(contributes=False, hint=(
                    f"ignored because this variant does not have a contributing stacktrace, {suffix}"))
    app = variants.get("app")
    if app is not None and app.contributes:
        app_values = app.iter_values()
        for name, component in variants.items():
            if name != "app" and component.contributes and component.iter_values() == app_values:
                component.update(contributes=False, hint="ignored because hash matches app variant")


@dataclass
class StrategyResult:
    roots: Variants  # "app", "system", "default": the root of each variant's tree
    winner: str | None
    main_exception_id: Any


def event_variants(data: dict[str, Any]) -> StrategyResult:
    """Every strategy's components, the winner's counting, the others marked with why not."""
    collected: dict[str, list[Component]] = {}
    winner: str | None = None
    hint: str | None = None
    main_exception_id = None
    for strategy in STRATEGIES:
        output = strategy.run(data)
        if output is None:
            continue
        if strategy.stack_based:
            _process_stack_variants(output.variants)
        if strategy.name == "exception":
            main_exception_id = output.main_exception_id
        for variant_name, component in output.variants.items():
            collected.setdefault(variant_name, []).append(component)
            if not component.contributes:
                continue
            if winner is None:
                winner = strategy.name
                names = "/".join(sorted(n for n, c in output.variants.items() if c.contributes))
                verb = "take precedence" if strategy.name.endswith("s") else "takes precedence"
                hint = f"{strategy.name} of {names} {verb}" if variant_name != "default" else f"{strategy.name} {verb}"
            elif strategy.name != winner:
                component.update(contributes=False, hint=hint)
    roots: Variants = {}
    for variant_name, components in collected.items():
        root = Component(variant_name, components)
        if not root.contributes and hint:
            root.update(hint=hint)
        roots[variant_name] = root
    return StrategyResult(roots, winner, main_exception_id)
