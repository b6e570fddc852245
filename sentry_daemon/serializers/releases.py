"""Releases as Sentry's web API shows them (SENTRY-PROTOCOL §7.4)."""

from __future__ import annotations

import re
from typing import Any, Iterable

from sentry_daemon.store.records import Project, Release
from sentry_daemon.store.versions import parse_version
from sentry_daemon.timestamps import isoformat

_HASH = re.compile(r"^[0-9a-f]{12,40}$")


def short_version(version: str) -> str:
    """``1.2.3`` for ``app@1.2.3``, seven characters of a commit hash, else the version."""
    if _HASH.match(version):
        return version[:7]
    if "@" in version:
        rest = version.split("@", 1)[1]
        return rest[:7] if _HASH.match(rest) else rest
    return version


def version_info(version: str) -> dict[str, Any]:
    info = parse_version(version)
    package = version.split("@", 1)[0] if "@" in version else None
    parsed = None
    if info is not None:
        parsed = {"raw": version.split("@", 1)[-1], "major": info.major, "minor": info.minor, "patch": info.patch,
                  "pre": info.pre, "buildCode": info.build, "components": 3}
    return {"package": package, "version": parsed or {"raw": version.split("@", 1)[-1]},
            "description": short_version(version), "buildHash": version if _HASH.match(version) else None}


def release(r: Release, projects: Iterable[Project]) -> dict[str, Any]:
    return {
        "id": r.id,
        "version": r.version,
        "shortVersion": short_version(r.version),
        "status": "open",
        "versionInfo": version_info(r.version),
        "ref": None,
        "url": None,
        "dateReleased": None,
        "dateCreated": isoformat(r.date_created),
        "dateStarted": None,
        "data": {},
        "newGroups": r.new_groups,
        "owner": None,
        "commitCount": 0,
        "lastCommit": None,
        "deployCount": 0,
        "lastDeploy": None,
        "authors": [],
        "projects": [{"id": p.id, "slug": p.slug, "name": p.name, "newGroups": r.new_groups, "platform": p.platform,
                      "platforms": [p.platform] if p.platform else [], "hasHealthData": False} for p in projects],
        "firstEvent": isoformat(r.first_event),
        "lastEvent": isoformat(r.last_event),
        "currentProjectMeta": {},
        "userAgent": None,
    }
