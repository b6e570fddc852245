"""Whether a loaded record holds, in every field, what its annotation says (a snapshot's check).

A snapshot file is pickled records; a crafted one can put an ``int`` where a title belongs, which
would load and then fail on the first read that formats it (a 500, long after the ``200`` of the
restore). ``TypedFields`` reads each record class's annotations once, turns them into checks
(plain classes, ``X | None``, ``list``/``set``/``frozenset``/``dict``/``tuple`` of them, other
records), and walks a record and every record it reaches, each once. ``Any`` is not checked; a
``float`` field takes an ``int`` too, as Python itself lets it.
"""

from __future__ import annotations

import dataclasses
import itertools
import operator
import types
import typing
from typing import Any, Callable, Iterable

# ``check(value, walk)`` → the name of what is wrong in ``value`` ('' when nothing)
Check = Callable[[Any, Callable[[Any], str]], str]


def _plain(kind: type) -> Check:
    allowed: tuple[type, ...] = (int, float) if kind is float else (kind,)
    name = kind.__name__

    def check(value: Any, walk: Callable[[Any], str]) -> str:
        return "" if isinstance(value, allowed) else f"not a {name}"

    check.kinds = allowed  # type: ignore[attr-defined]  # what the containers of it test in one C loop
    return check


def _kinds(check: Check | None) -> tuple[type, ...] | None:
    return getattr(check, "kinds", None)


def _record(kind: type) -> Check:
    name = kind.__name__

    def check(value: Any, walk: Callable[[Any], str]) -> str:
        return walk(value) if isinstance(value, kind) else f"not a {name}"

    return check


def _union(checks: list[Check | None]) -> Check | None:
    if any(c is None for c in checks):
        return None

    def check(value: Any, walk: Callable[[Any], str]) -> str:
        wrong = ""
        for each in checks:
            wrong = each(value, walk)  # type: ignore[misc]
            if not wrong:
                return ""
        return wrong

    return check


def _optional(inner: Check) -> Check:
    def check(value: Any, walk: Callable[[Any], str]) -> str:
        return "" if value is None else inner(value, walk)

    return check


def _collection(kind: type, element: Check | None) -> Check:
    """A list, set or tuple of ``element``; an immutable one (tuples are shared between records:
    an issue's events share their tag tuples) is checked once a walk."""
    name, kinds, immutable = kind.__name__, _kinds(element), kind in (tuple, frozenset)

    def check(value: Any, walk: Callable[[Any], str]) -> str:
        if not isinstance(value, kind):
            return f"not a {name}"
        if element is None or (immutable and not walk.first_time(value)):  # type: ignore[attr-defined]
            return ""
        if kinds is not None:
            return "" if all(map(isinstance, value, itertools.repeat(kinds))) else "an element of another type"
        for item in value:
            wrong = element(item, walk)
            if wrong:
                return f"an element {wrong}"
        return ""

    return check


def _mapping(key: Check | None, item: Check | None) -> Check:
    def check(value: Any, walk: Callable[[Any], str]) -> str:
        if not isinstance(value, dict):
            return "not a dict"
        for k, v in value.items():
            wrong = (key(k, walk) if key is not None else "") or (item(v, walk) if item is not None else "")
            if wrong:
                return f"an entry {wrong}"
        return ""

    return check


def _fixed_tuple(checks: list[Check | None]) -> Check:
    size = len(checks)
    kinds = [_kinds(c) for c in checks]
    plain = tuple(kinds) if all(k is not None for k in kinds) else None

    def check(value: Any, walk: Callable[[Any], str]) -> str:
        if not isinstance(value, tuple) or len(value) != size:
            return f"not a tuple of {size}"
        if plain is not None:
            return "" if all(map(isinstance, value, plain)) else "an element of another type"
        for each, item in zip(checks, value):
            wrong = each(item, walk) if each is not None else ""
            if wrong:
                return f"an element {wrong}"
        return ""

    return check


def compile_annotation(annotation: Any) -> Check | None:
    """The check for one annotation; None where it says nothing checkable (``Any``, callables)."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType):
        checks = [compile_annotation(a) for a in args if a is not type(None)]
        inner = checks[0] if len(checks) == 1 else _union(checks)
        if inner is None:
            return None
        return _optional(inner) if type(None) in args else inner
    if origin in (list, set, frozenset):
        return _collection(origin, compile_annotation(args[0]) if args else None)
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return _collection(tuple, compile_annotation(args[0]))
        return _fixed_tuple([compile_annotation(a) for a in args]) if args else _plain(tuple)
    if origin is dict:
        return _mapping(*(compile_annotation(a) for a in args)) if args else _plain(dict)
    if origin is not None or not isinstance(annotation, type) or annotation in (object, Any):
        return None
    return _record(annotation) if dataclasses.is_dataclass(annotation) else _plain(annotation)


@dataclasses.dataclass(frozen=True)
class _ClassCheck:
    """One record class's checks: its fields of plain types tested in one C loop, then the rest."""

    name: str
    plain_names: tuple[str, ...]
    plain_kinds: tuple[tuple[type, ...], ...]
    plain_values: Callable[[Any], tuple[Any, ...]]
    other: tuple[tuple[str, Check], ...]


def _class_check(kind: type) -> _ClassCheck:
    hints = typing.get_type_hints(kind)
    checks = [(f.name, c) for f in dataclasses.fields(kind) if (c := compile_annotation(hints.get(f.name, Any)))]
    plain = [(name, kinds) for name, c in checks if (kinds := _kinds(c)) is not None]
    names = tuple(name for name, _ in plain)
    getter = operator.attrgetter(*names) if names else (lambda record: ())
    values = getter if len(names) != 1 else (lambda record: (getter(record),))
    return _ClassCheck(kind.__name__, names, tuple(k for _, k in plain), values,
                       tuple((name, c) for name, c in checks if _kinds(c) is None))


class TypedFields:
    """Checks records against their classes' annotations, each reachable record once a walk."""

    def __init__(self) -> None:
        self._checks: dict[type, _ClassCheck] = {}

    def _of(self, kind: type) -> _ClassCheck:
        found = self._checks.get(kind)
        if found is None:
            found = self._checks[kind] = _class_check(kind)
        return found

    def first_wrong(self, records: Iterable[Any]) -> str:
        """``'Issue.title: not a str'`` for the first record (or one it reaches) with a field that
        does not hold what its annotation says; '' when every one does."""
        walk = _Walk(self._of)
        for record in records:
            wrong = walk(record)
            if wrong:
                return wrong
        return ""


class _Walk:
    """One walk: what it has checked (records, and the tuples records share), by identity."""

    def __init__(self, of: Callable[[type], _ClassCheck]) -> None:
        self._of = of
        self._seen: set[int] = set()

    def first_time(self, value: Any) -> bool:
        seen, key = self._seen, id(value)
        if key in seen:
            return False
        seen.add(key)
        return True

    def __call__(self, record: Any) -> str:
        if isinstance(record, type) or not dataclasses.is_dataclass(record) or not self.first_time(record):
            return ""
        check = self._of(type(record))
        try:
            values = check.plain_values(record)
        except AttributeError:
            values = None
        if values is None or not all(map(isinstance, values, check.plain_kinds)):
            for name, kinds in zip(check.plain_names, check.plain_kinds):
                if not hasattr(record, name):
                    return f"{check.name}.{name}: missing"
                if not isinstance(getattr(record, name), kinds):
                    return f"{check.name}.{name}: not a {' or '.join(k.__name__ for k in kinds)}"
        for name, field_check in check.other:
            try:
                value = getattr(record, name)
            except AttributeError:
                return f"{check.name}.{name}: missing"
            wrong = field_check(value, self)
            if wrong:
                return f"{check.name}.{name}: {wrong}"
        return ""
