"""``*`` wildcards matched without backtracking: the release list's ``release:1.*`` and issue
search's ``message:*timeout*`` / ``tags[x]:a*b``.

A regex built by turning each ``*`` into ``.*`` backtracks polynomially (``*a*a*a*b`` against
200 ``a`` took seconds, six of them never finished). A pattern of literal pieces between stars
needs none: the first piece must start the text, the last must end it, and each piece between
is found, left to right, after the one before (the leftmost place is always the best one to
take). That is one ``str.find`` per piece, linear in the text.
"""

from __future__ import annotations

from dataclasses import dataclass


def pieces(pattern: str, escapes: bool) -> tuple[str, ...]:
    """The literal texts between a pattern's ``*``; with ``escapes``, ``\\x`` is a literal ``x``
    (so ``\\*`` is a star that is no wildcard), as issue search reads its values."""
    if not escapes:
        return tuple(pattern.split("*"))
    out, current, i = [], [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            current.append(pattern[i + 1])
            i += 2
            continue
        if char == "*":
            out.append("".join(current))
            current = []
        else:
            current.append(char)
        i += 1
    out.append("".join(current))
    return tuple(out)


@dataclass(frozen=True)
class Glob:
    """A compiled wildcard: ``anchored`` matches the whole text, otherwise any part of it;
    ``ignore_case`` compares both sides lower-cased."""

    parts: tuple[str, ...]
    anchored: bool = True
    ignore_case: bool = False

    @classmethod
    def compile(cls, pattern: str, *, escapes: bool = False, anchored: bool = True,
                ignore_case: bool = False) -> "Glob":
        parts = pieces(pattern, escapes)
        if ignore_case:
            parts = tuple(part.lower() for part in parts)
        return cls(parts, anchored, ignore_case)

    def matches(self, text: str) -> bool:
        if self.ignore_case:
            text = text.lower()
        parts = self.parts
        if not self.anchored:
            parts = ("", *parts, "")
        if len(parts) == 1:
            return text == parts[0]
        head, *middle, tail = parts
        if len(text) < len(head) + len(tail) or not text.startswith(head) or not text.endswith(tail):
            return False
        position, end = len(head), len(text) - len(tail)
        for part in middle:
            found = text.find(part, position, end)
            if found < 0:
                return False
            position = found + len(part)
        return True
