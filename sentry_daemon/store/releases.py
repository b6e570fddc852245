"""The releases part of the store: releases, their commits and repositories, deploys and files.

A release is one per organization and version, created by the first event that names it
(``see``) or through the API (``create``), as Sentry keeps them. Its commits come from the
client (``set_commits``: the list replaces the previous one, newest first) or from ``refs``
(``set_refs``). Sentry asks the repository's provider (GitHub, GitLab, ...) for the commits
between the previous release's head and the new one; the fake has no provider to ask, so the
release's commit list becomes the head commit of each ref (the commits the fake knows in the
range). Deploys are kept per release; the deploy list shows the last deploy per project and
environment, as Sentry's ``ReleaseProjectEnvironment`` does.
"""

from __future__ import annotations

import hashlib
import itertools
import re
from typing import TYPE_CHECKING, Any, Callable, Iterable

from sentry_daemon.store import versions
from sentry_daemon.store.records import (
    Commit,
    CommitAuthor,
    Conflict,
    Deploy,
    Organization,
    Project,
    Release,
    ReleaseEnvironment,
    ReleaseFile,
    Repository,
    Resolution,
    User,
)

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

ERR_RELEASE_REFERENCED = "This release is referenced by active issues and cannot be removed."
ERR_RELEASE_HEALTH_DATA = "This release has health data and cannot be removed."
ERR_FILE_EXISTS = "A file matching this name already exists for the given release"
ERR_REPOSITORY_EXISTS = "A repository with that name already exists"
COMMIT_RANGE = ".."
# Sentry's RepositoryProvider.should_ignore_commit
SKIP_MARKER = "#skipsentry"
_AUTHOR_NAME_JUNK = re.compile(r"[^a-zA-Z0-9\-_\.]*")


class InvalidRepository(Exception):
    """A ref names a repository the organization does not have (Sentry's 400 on ``refs``)."""


class UnsafeReleaseDeletion(Exception):
    """The release is still in use (Sentry's ``Release.safe_delete`` refuses)."""


class InvalidProjects(Exception):
    """A deploy names projects that are not the release's."""


def release_date(release: Release) -> float:
    """``COALESCE(date_released, date_added)``: what Sentry sorts project release lists by."""
    return release.date_released if release.date_released is not None else release.date_created


def _truncate(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 3] + "..."


class ReleaseStore:
    """Every release of every organization, and the repositories, commits and authors they name."""

    def __init__(self, store: "Store") -> None:
        self._store = store
        self._release_ids = itertools.count(1)
        self._object_ids = itertools.count(1)
        self._by_version: dict[tuple[int, str], Release] = {}
        # per project id: its releases by id, and (once asked) its latest, kept as releases join
        self._of_project: dict[int, dict[int, Release]] = {}
        self._latest: dict[int, Release | None] = {}
        self._top_id: dict[int, int] = {}  # the highest release id a project ever had
        self.repositories: dict[int, Repository] = {}
        self._repositories_by_name: dict[tuple[int, str], Repository] = {}  # (org id, name)
        self._authors: dict[tuple[int, str], CommitAuthor] = {}
        self._commits: dict[tuple[int, str], Commit] = {}

    # --- releases --------------------------------------------------------------------------

    def get(self, org: Organization, version: str) -> Release | None:
        return self._by_version.get((org.id, version))

    def of_organization(self, org: Organization) -> list[Release]:
        return [r for r in self._by_version.values() if r.organization is org]

    def of_projects(self, project_ids: set[int]) -> list[Release]:
        """The projects' releases, oldest first (by id: the order they were created in)."""
        found: dict[int, Release] = {}
        for project_id in project_ids:
            found.update(self._of_project.get(project_id, {}))
        return [found[i] for i in sorted(found)]

    def latest(self, project_ids: set[int]) -> Release | None:
        """``versions.latest`` of the projects' releases; one project's is kept between calls
        (a project list asks it of every project)."""
        if len(project_ids) != 1:
            return versions.latest(self.of_projects(project_ids))
        (project_id,) = project_ids
        if project_id not in self._latest:
            self._latest[project_id] = versions.latest(self.of_projects(project_ids))
        return self._latest[project_id]

    def _join(self, release: Release, project: Project) -> None:
        """The release is now one of the project's. Its latest stays known when the release is
        the project's newest by id (``versions.latest`` compares in that order, and its answer
        then is the old one or this release); otherwise it is worked out again when asked."""
        release.project_ids.add(project.id)
        self._of_project.setdefault(project.id, {})[release.id] = release
        newest = release.id > self._top_id.get(project.id, 0)
        if newest:
            self._top_id[project.id] = release.id
        if project.id in self._latest:
            latest = self._latest[project.id]
            if not newest:
                del self._latest[project.id]
            elif latest is None or versions.is_newer(release, latest):
                self._latest[project.id] = release

    def _leave(self, release: Release, project_id: int) -> None:
        self._of_project.get(project_id, {}).pop(release.id, None)
        self._latest.pop(project_id, None)

    def forget_project(self, project: Project) -> None:
        """A deleted project leaves its releases (Sentry deletes its ``ReleaseProject`` rows): one
        that was only the project's is no release of any project (404)."""
        for release in self._of_project.pop(project.id, {}).values():
            release.project_ids.discard(project.id)
            for key in [k for k in release.environments if k[0] == project.id]:
                del release.environments[key]
        self._latest.pop(project.id, None)

    def _new(self, org: Organization, version: str, **fields: Any) -> Release:
        release = Release(next(self._release_ids), org, version, self._store.now(), **fields)
        self._by_version[(org.id, version)] = release
        return release

    def _created(self, release: Release, projects: Iterable[Project]) -> None:
        """Issues resolved "in the next release" are now resolved in this one (Sentry's
        ``clear_expired_resolutions``, run when a release is created)."""
        for project in projects:
            for issue in self._store.issues.of_projects({project.id}):
                resolution = issue.resolution
                if resolution is not None and resolution.kind == "in_next_release":
                    issue.resolution = Resolution("in_release", release.version, resolution.actor_id)

    def see(self, project: Project, version: str, when: float, environment: str | None = None) -> Release:
        """The release an event names, created the first time it is seen (as Sentry does)."""
        release = self.get(project.organization, version)
        if release is None:
            release = self._new(project.organization, version)
            self._created(release, [project])
        if project.id not in release.project_ids:
            self._join(release, project)
        release.first_event = when if release.first_event is None else min(release.first_event, when)
        release.last_event = when if release.last_event is None else max(release.last_event, when)
        if environment:
            seen = release.environments.setdefault((project.id, environment), ReleaseEnvironment())
            seen.first_seen = when if seen.first_seen is None else min(seen.first_seen, when)
            seen.last_seen = when if seen.last_seen is None else max(seen.last_seen, when)
        return release

    def create(self, org: Organization, version: str, projects: list[Project], *, ref: str | None = None,
               url: str | None = None, date_released: float | None = None, status: str | None = None,
               owner: User | None = None, user_agent: str | None = None) -> tuple[Release, bool, list[Project]]:
        """Create the release, or find it (creating is idempotent, as in Sentry), and add the
        projects: the release, whether it was created, and the projects that were new to it."""
        release = self.get(org, version)
        created = release is None
        if release is None:
            release = self._new(org, version, ref=ref, url=url, date_released=date_released,
                                status=status or "open", owner=owner, user_agent=user_agent)
        elif status is not None:
            release.status = status
        added = []
        for project in projects:
            if project.id not in release.project_ids:
                self._join(release, project)
                added.append(project)
        if created:
            self._created(release, added)
        return release, created, added

    def update(self, release: Release, *, ref: str | None = None, url: str | None = None,
               date_released: float | None = None, status: str | None = None) -> None:
        """A ``PUT``: what is given and not empty replaces what the release had."""
        if date_released:
            release.date_released = date_released
        if ref:
            release.ref = ref
        if url:
            release.url = url
        if status:
            release.status = status

    def delete(self, release: Release) -> None:
        """Forget the release and its files, unless an issue was first seen in it or it has
        sessions (Sentry's ``safe_delete``)."""
        store, org = self._store, release.organization
        org_projects = {p.id for p in store.org_projects(org)}
        if any(i.first_release == release.version for i in store.issues.of_projects(org_projects)):
            raise UnsafeReleaseDeletion(ERR_RELEASE_REFERENCED)
        if any(project_id in release.project_ids and version == release.version
               for project_id, version, _environment in store.release_health()):
            raise UnsafeReleaseDeletion(ERR_RELEASE_HEALTH_DATA)
        self.clear_commits(release)
        release.files.clear()
        self._by_version.pop((org.id, release.version), None)
        for project_id in release.project_ids:
            self._leave(release, project_id)

    def forget_organization(self, org: Organization) -> None:
        """An organization removed with its data (``store.tenants``): its releases, repositories,
        commits and authors go too."""
        for key in [k for k in self._by_version if k[0] == org.id]:
            release = self._by_version.pop(key)
            for project_id in release.project_ids:
                self._leave(release, project_id)
        repos = {repo_id for repo_id, repo in self.repositories.items() if repo.organization is org}
        for repo_id in repos:
            repo = self.repositories.pop(repo_id)
            self._repositories_by_name.pop((org.id, repo.name), None)
        if repos:
            for key in [k for k in self._commits if k[0] in repos]:
                del self._commits[key]
        for key in [k for k in self._authors if k[0] == org.id]:
            del self._authors[key]

    # --- commits and repositories ----------------------------------------------------------

    def repository(self, org: Organization, name: str) -> Repository | None:
        return self._repositories_by_name.get((org.id, name))

    def organization_repositories(self, org: Organization) -> list[Repository]:
        return sorted((r for r in self.repositories.values() if r.organization is org), key=lambda r: (r.name, r.id))

    def create_repository(self, org: Organization, name: str, url: str | None = None,
                          provider: str | None = None) -> Repository:
        if self.repository(org, name) is not None:
            raise Conflict(ERR_REPOSITORY_EXISTS)
        repo = Repository(next(self._object_ids), org, name, self._store.now(), url, provider)
        self.repositories[repo.id] = repo
        self._repositories_by_name[(org.id, name)] = repo
        return repo

    def _commit(self, repo: Repository, key: str) -> Commit:
        commit = self._commits.get((repo.id, key))
        if commit is None:
            commit = Commit(next(self._object_ids), repo, key, self._store.now())
            self._commits[(repo.id, key)] = commit
        return commit

    def _author(self, org: Organization, name: str | None, email: str | None) -> CommitAuthor | None:
        """The commit's author by email (made up from the name when only that is given, as Sentry
        does), one per organization; its name is the latest one given."""
        if email is None and name:
            email = _AUTHOR_NAME_JUNK.sub("", name).lower() + "@localhost"
        if not email:
            return None
        email = _truncate(email, 75)
        author = self._authors.get((org.id, email))
        if author is None:
            author = CommitAuthor(next(self._object_ids), email, name)
            self._authors[(org.id, email)] = author
        author.name = name
        return author

    def _replace_commits(self, release: Release, commits: list[Commit]) -> None:
        for old in release.commits:
            old.releases = [r for r in old.releases if r is not release]
        release.commits = list({id(c): c for c in commits}.values())
        for commit in release.commits:
            commit.releases.append(release)

    def set_commits(self, release: Release, commit_list: list[dict[str, Any]]) -> None:
        """The release's commits are these (validated ``commits[]`` of a request), newest first;
        repositories and authors they name are created on first use (Sentry's ``set_commits``)."""
        org = release.organization
        ordered = sorted(commit_list, key=lambda c: c.get("timestamp") or 0.0, reverse=True)
        ordered = [c for c in ordered if SKIP_MARKER not in (c.get("message") or "")]
        commits = []
        for data in ordered:
            name = data.get("repository") or f"organization-{org.id}"
            repo = self.repository(org, name) or self.create_repository(org, name)
            commit = self._commit(repo, data["id"])
            author = self._author(org, data.get("author_name"), data.get("author_email"))
            if author is not None:
                commit.author = author
            if "message" in data:
                commit.message = data["message"]
            if data.get("timestamp") is not None:
                commit.date_created = data["timestamp"]
            for change in data.get("patch_set") or ():
                commit.files.setdefault(change["path"], change["type"])
            commits.append(commit)
        self._replace_commits(release, commits)
        for commit in release.commits:
            release.head_commits.setdefault(commit.repository.id, commit)

    def set_refs(self, release: Release, refs: list[dict[str, Any]], fetch: bool) -> None:
        """Head commits per repository (``commit`` may be a range ``previous..head``); with
        ``fetch`` (no commit list was sent) they become the release's commits."""
        org = release.organization
        repos = {name: self.repository(org, name) for name in {r["repository"] for r in refs}}
        invalid = sorted(name for name, repo in repos.items() if repo is None)
        if invalid:
            raise InvalidRepository("Invalid repository names: %s" % ",".join(invalid))
        heads = []
        for ref in refs:
            head = ref["commit"]
            if COMMIT_RANGE in head:
                ref["previousCommit"], head = head.split(COMMIT_RANGE, 1)
                ref["commit"] = head
            repo = repos[ref["repository"]]
            assert repo is not None
            commit = self._commit(repo, head)
            release.head_commits[repo.id] = commit
            heads.append(commit)
        if fetch:
            self._replace_commits(release, heads)

    def clear_commits(self, release: Release) -> None:
        """``refs: []``: the release has no commits and no head commits any more."""
        self._replace_commits(release, [])
        release.head_commits.clear()

    def previous_with_commits(self, release: Release) -> Release | None:
        """The latest release of one of its projects that has commits and is not newer than it
        (Sentry's query, which does not leave the release itself out)."""
        start = release_date(release)
        candidates = [r for r in self.of_organization(release.organization)
                      if r.commits and r.project_ids & release.project_ids and release_date(r) <= start]
        return max(candidates, key=lambda r: (release_date(r), r.id), default=None)

    # --- deploys ---------------------------------------------------------------------------

    def add_deploy(self, release: Release, projects: list[Project] | None, environment: str, *,
                   name: str | None = None, url: str | None = None, date_started: float | None = None,
                   date_finished: float | None = None) -> Deploy:
        """A deploy of the release to ``environment``, in ``projects`` (default: all of the
        release's); it is the projects' last deploy there."""
        if projects is None:
            projects = [p for p in self._store.org_projects(release.organization) if p.id in release.project_ids]
        unique = list({p.id: p for p in projects}.values())
        invalid = sorted(p.slug for p in unique if p.id not in release.project_ids)
        if invalid:
            raise InvalidProjects(f"Invalid projects ({', '.join(invalid)}) for release {release.version}")
        deploy = Deploy(next(self._object_ids), environment,
                        date_finished if date_finished is not None else self._store.now(), date_started, name, url)
        for project in unique:
            project.environments.add(environment)
            release.environments.setdefault((project.id, environment), ReleaseEnvironment()).last_deploy = deploy
        release.total_deploys += 1
        release.last_deploy = deploy
        return deploy

    def deploys(self, release: Release, project_ids: set[int] | None = None) -> list[Deploy]:
        """The last deploy per project and environment, latest finished first."""
        found = {seen.last_deploy.id: seen.last_deploy for (project_id, _env), seen in release.environments.items()
                 if seen.last_deploy is not None and (project_ids is None or project_id in project_ids)}
        return sorted(found.values(), key=lambda d: (d.date_finished, d.id), reverse=True)

    # --- files -----------------------------------------------------------------------------

    def add_file(self, release: Release, name: str, dist: str | None, headers: dict[str, str],
                 data: bytes) -> ReleaseFile:
        if any(f.name == name and f.dist == dist for f in release.files.values()):
            raise Conflict(ERR_FILE_EXISTS)
        found = ReleaseFile(next(self._object_ids), name, dist, headers, data, hashlib.sha1(data).hexdigest(),
                            self._store.now())
        release.files[found.id] = found
        return found

    def rename_file(self, found: ReleaseFile, name: str) -> None:
        found.name = name

    def delete_file(self, release: Release, found: ReleaseFile) -> None:
        release.files.pop(found.id, None)

    def files(self, release: Release, match: Callable[[ReleaseFile], bool] | None = None) -> list[ReleaseFile]:
        return sorted((f for f in release.files.values() if match is None or match(f)), key=lambda f: (f.name, f.id))
