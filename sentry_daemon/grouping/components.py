"""The grouping component tree: what each part of an event contributes to its hash, and why not.

A component has an ``id`` (``frame``, ``function``, ``stacktrace``, ``exception``, ...), ``values``
(child components, or leaf strings), whether it ``contributes``, and a ``hint`` saying why it does
not (or how its value was changed). The hash of a tree is the md5 of its contributing leaf values,
depth first, as UTF-8 bytes with no separator between them (Sentry's ``hash_from_values``).
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterator

# Components whose name shows in a variant's description ("in-app exception stacktrace").
MAJOR_NAMES = {
    "app": "in-app", "exception": "exception", "stacktrace": "stacktrace", "threads": "thread",
    "hostname": "hostname", "violation": "violation", "uri": "URL", "message": "message",
    "template": "template",
}


class Component:
    __slots__ = ("id", "values", "contributes", "hint", "frozen")

    def __init__(self, id: str, values: list[Any] | None = None, contributes: bool | None = None,
                 hint: str | None = None) -> None:
        self.id = id
        self.values: list[Any] = values if values is not None else []
        self.hint = hint
        self.contributes = self._derived() if contributes is None else contributes
        # The contributing leaf values under this component, for one whose children never change
        # again (a shared stacktrace): collected once, not on every hash.
        self.frozen: list[Any] | None = None

    def freeze(self) -> Component:
        """Promise that this component's children will not change; their values are kept."""
        out: list[Any] = []
        self.frozen = None
        self._collect(out)
        self.frozen = out
        return self

    def _derived(self) -> bool:
        """Contributes iff it holds a leaf value or a contributing child."""
        return any(not isinstance(v, Component) or v.contributes for v in self.values)

    def update(self, *, values: list[Any] | None = None, contributes: bool | None = None,
               hint: str | None = None) -> None:
        if values is not None:
            self.values = values
            if contributes is None:
                self.contributes = self._derived()
        if contributes is not None:
            self.contributes = contributes
        if hint is not None:
            self.hint = hint

    def child(self, id: str) -> Component | None:
        return next((v for v in self.values if isinstance(v, Component) and v.id == id), None)

    def iter_values(self) -> list[Any]:
        """The leaf values that count, depth first through contributing components only."""
        out: list[Any] = []
        if self.contributes:
            self._collect(out)
        return out

    def _collect(self, out: list[Any]) -> None:
        if self.frozen is not None:
            out.extend(self.frozen)
            return
        for value in self.values:
            if type(value) is Component:
                if value.contributes:
                    value._collect(out)
            else:
                out.append(value)

    def hash(self) -> str | None:
        return hash_values(self.iter_values()) if self.contributes else None

    def copy(self) -> Component:
        return Component(
            self.id, [v.copy() if isinstance(v, Component) else v for v in self.values], self.contributes, self.hint
        )

    def find(self, id: str) -> Iterator[Component]:
        """Every component with ``id`` in this tree, this one included."""
        if self.id == id:
            yield self
        for value in self.values:
            if isinstance(value, Component):
                yield from value.find(id)

    def has_contributing(self, id: str) -> bool:
        """Whether a contributing ``id`` component hangs under contributing ancestors."""
        if not self.contributes:
            return False
        if self.id == id:
            return True
        return any(isinstance(v, Component) and v.has_contributing(id) for v in self.values)

    def description(self) -> str:
        """The longest path of contributing named components, e.g. ``in-app exception stacktrace``."""
        path = self._major_path()
        if path:
            return " ".join(path)
        return MAJOR_NAMES.get(self.id, self.id)

    def _major_path(self) -> list[str]:
        best: list[str] = []
        for value in self.values:
            if isinstance(value, Component) and value.contributes:
                candidate = value._major_path()
                if len(candidate) > len(best):
                    best = candidate
        name = MAJOR_NAMES.get(self.id)
        return ([name] if name and self.contributes else []) + best

    def as_dict(self) -> dict[str, Any]:
        hint = self.hint
        if hint is None:  # a leaf may know what was done to it (a parameterized message)
            hint = next((v.hint for v in self.values if not isinstance(v, Component) and getattr(v, "hint", None)),
                        None)
        return {
            "id": self.id,
            "name": MAJOR_NAMES.get(self.id),
            "contributes": self.contributes,
            "hint": hint,
            "values": [v.as_dict() if isinstance(v, Component) else v if isinstance(v, (str, int)) else str(v)
                       for v in self.values],
        }


def hash_values(values: Any) -> str:
    """md5 of the values' UTF-8 bytes one after the other (the same as feeding them one by one)."""
    return hashlib.md5("".join(map(str, values)).encode("utf-8", "replace")).hexdigest()
