"""Releases, and their commits, repositories, deploys and files, as Sentry's web API shows them."""

from __future__ import annotations

import re
from typing import Any, Iterable

from sentry_daemon.serializers import users
from sentry_daemon.store.records import Commit, CommitAuthor, Deploy, Project, Release, ReleaseFile, Repository, User
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
    """What sentry-release-parser makes of the version: ``app@1.2.3+45`` is package ``app``,
    version 1.2.3 with build code 45, described as ``1.2.3 (45)``; a commit hash is described by
    its first twelve characters; anything else by the whole version."""
    info = parse_version(version)
    package = version.split("@", 1)[0] if "@" in version else None
    raw = version.split("@", 1)[-1]
    build_hash = raw if _HASH.match(raw) else None
    if info is not None:
        short = raw.split("+", 1)[0]
        parsed = {"raw": raw, "major": info.major, "minor": info.minor, "patch": info.patch, "pre": info.pre,
                  "buildCode": info.build, "components": info.components}
        description = f"{short} ({info.build})" if info.build else short
    else:
        parsed = {"raw": raw}
        description = build_hash[:12] if build_hash else version
    return {"package": package, "version": parsed, "description": description, "buildHash": build_hash}


PROVIDERS = {
    "integrations:github": "GitHub", "integrations:github_enterprise": "GitHub Enterprise",
    "integrations:gitlab": "GitLab", "integrations:bitbucket": "Bitbucket",
    "integrations:bitbucket_server": "Bitbucket Server", "integrations:vsts": "Azure DevOps",
    "integrations:perforce": "Perforce", "github": "GitHub", "gitlab": "GitLab", "bitbucket": "Bitbucket",
    "visualstudio": "Visual Studio",
}


def release(r: Release, projects: Iterable[Project], user: User | None = None,
            for_project: Project | None = None) -> dict[str, Any]:
    """Sentry's ``ReleaseSerializer``; ``projects`` are the release's, ``user`` the one a commit
    author's email names (shown as that user), ``for_project`` the project a project-scoped list
    counts ``newGroups`` in."""
    new_groups = r.new_groups_by_project.get(for_project.id, 0) if for_project is not None else r.new_groups
    return {
        "id": r.id,
        "version": r.version,
        "shortVersion": short_version(r.version),
        "status": r.status,
        "versionInfo": version_info(r.version),
        "ref": r.ref,
        "url": r.url,
        "dateReleased": isoformat(r.date_released),
        "dateCreated": isoformat(r.date_created),
        "dateStarted": None,
        "data": {},
        "newGroups": new_groups,
        "owner": users.user(r.owner) if r.owner is not None else None,
        "commitCount": len(r.commits),
        "lastCommit": commit(r.commits[0], user) if r.commits else None,
        "deployCount": r.total_deploys,
        "lastDeploy": deploy(r.last_deploy) if r.last_deploy is not None else None,
        "authors": authors(r.commits, user),
        "projects": [{"id": p.id, "slug": p.slug, "name": p.name, "newGroups": r.new_groups_by_project.get(p.id, 0),
                      "platform": p.platform, "platforms": [p.platform] if p.platform else [],
                      "hasHealthData": False} for p in projects],
        "firstEvent": isoformat(r.first_event),
        "lastEvent": isoformat(r.last_event),
        "currentProjectMeta": {},
        "userAgent": r.user_agent,
    }


def author(a: CommitAuthor | None, user: User | None) -> dict[str, Any]:
    """The Sentry user whose email the author has, else ``{name, email}``; ``{}`` for no author."""
    if a is None:
        return {}
    if user is not None and a.email.lower() == user.email.lower():
        return users.user(user)
    return {"name": a.name, "email": a.email}


def authors(commits: Iterable[Commit], user: User | None) -> list[dict[str, Any]]:
    """The commits' authors, each once (by email)."""
    seen: dict[str, dict[str, Any]] = {}
    for c in commits:
        if c.author is not None:
            shown = author(c.author, user)
            seen.setdefault(shown["email"], shown)
    return list(seen.values())


def repository(r: Repository) -> dict[str, Any]:
    return {
        "id": str(r.id),
        "name": r.name,
        "url": r.url,
        "provider": {"id": r.provider, "name": PROVIDERS.get(r.provider, r.provider)} if r.provider
        else {"id": "unknown", "name": "Unknown Provider"},
        "status": "active",
        "dateCreated": isoformat(r.date_created),
        "integrationId": None,
        "externalSlug": None,
        "externalId": None,
    }


def commit(c: Commit, user: User | None = None) -> dict[str, Any]:
    """Sentry's ``CommitWithReleaseSerializer``: the commit, its repository, author and releases."""
    return {
        "id": c.key,
        "message": c.message,
        "dateCreated": isoformat(c.date_created),
        "pullRequest": None,
        "suspectCommitType": "",
        "repository": repository(c.repository),
        "author": author(c.author, user),
        "releases": [{"version": r.version, "shortVersion": short_version(r.version), "ref": r.ref, "url": r.url,
                      "dateReleased": isoformat(r.date_released), "dateCreated": isoformat(r.date_created)}
                     for r in c.releases],
    }


def deploy(d: Deploy) -> dict[str, Any]:
    return {"id": str(d.id), "environment": d.environment, "dateStarted": isoformat(d.date_started),
            "dateFinished": isoformat(d.date_finished), "name": d.name, "url": d.url}


def release_file(f: ReleaseFile) -> dict[str, Any]:
    return {"id": str(f.id), "name": f.name, "dist": f.dist, "headers": dict(f.headers), "size": len(f.data),
            "sha1": f.sha1, "dateCreated": isoformat(f.date_created)}
