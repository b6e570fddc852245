"""Release versions: which of two releases is newer, as Sentry decides it.

``pkg@1.2.3``, ``1.2.3-rc.1+build``: versions that parse as semver (an optional ``package@`` in
front) are ordered by semver when both sides do; otherwise the release first seen later is the
newer one (Sentry orders by ``date_released`` or ``date_added``; here: when the release was created).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

from sentry_daemon.store.records import Release

_SEMVER = re.compile(
    r"^(?:(?P<package>[^@]+)@)?(?P<major>\d+)(?:\.(?P<minor>\d+))?(?:\.(?P<patch>\d+))?(?:\.(?P<revision>\d+))?"
    r"(?:-(?P<pre>[0-9A-Za-z.-]+))?(?:\+(?P<build>[0-9A-Za-z.-]+))?$"
)


@dataclass(frozen=True)
class VersionInfo:
    package: str | None
    major: int
    minor: int
    patch: int
    revision: int
    pre: str | None
    build: str | None
    components: int = 3  # how many of major.minor.patch.revision the version spells out

    def sort_key(self) -> tuple[Any, ...]:
        # a pre-release sorts before its release; pre-release parts compare numerically where they can
        pre_key: tuple[Any, ...] = (1,) if self.pre is None else (0, *(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.pre.split(".")))
        return self.major, self.minor, self.patch, self.revision, pre_key


@functools.lru_cache(maxsize=4096)
def parse_version(version: str) -> VersionInfo | None:
    """The version's semver parts, or None; remembered, as lists compare each version many times."""
    match = _SEMVER.match(version)
    if match is None:
        return None
    number = lambda name: int(match.group(name) or 0)  # noqa: E731
    components = sum(match.group(name) is not None for name in ("major", "minor", "patch", "revision"))
    return VersionInfo(match.group("package"), number("major"), number("minor"), number("patch"),
                       number("revision"), match.group("pre"), match.group("build"), components)


def is_newer(candidate: Release, than: Release) -> bool:
    """Whether ``candidate`` is a later release than ``than`` (same release: no)."""
    if candidate is than or candidate.version == than.version:
        return False
    a, b = parse_version(candidate.version), parse_version(than.version)
    if a is not None and b is not None and a.package == b.package and a.sort_key() != b.sort_key():
        return a.sort_key() > b.sort_key()
    return (candidate.date_created, candidate.id) > (than.date_created, than.id)


def latest(releases: list[Release]) -> Release | None:
    best: Release | None = None
    for release in releases:
        if best is None or is_newer(release, best):
            best = release
    return best
