"""Chunk uploads and what is assembled from them: artifact bundles and debug files.

sentry-cli uploads a file as sha1-named chunks (kept per organization, as Sentry's FileBlobs
are), then asks an assemble endpoint to build the file from its chunks. Sentry assembles in a
background task and answers ``created`` at first; the fake assembles at once, so the call that
finds every chunk already answers ``ok`` (or ``error``). An assemble state is remembered for ten
minutes, as Sentry caches it: asking again within that time answers the same, even for an error.
"""

from __future__ import annotations

import hashlib
import itertools
import uuid
from dataclasses import dataclass
from typing import Callable, Iterable, Sequence

from sentry_daemon.store import bundles, debug_files
from sentry_daemon.store.records import ArtifactBundle, DebugFile, Organization, Project

STATE_TTL = 600.0
MAX_FILE_SIZE = 2 ** 31  # sentry.models.files.utils.MAX_FILE_SIZE
BUNDLE_TASK, DIF_TASK = "organization.artifact_bundle", "project.dsym"
CHECKSUM_MISMATCH = "Reported checksum mismatch"
NO_INDEX = "uploading a bundle without debug ids or release is prohibited"


class ChecksumMismatch(ValueError):
    """A chunk whose sha1 is not the name it was uploaded under."""


@dataclass
class Assembled:
    """An assemble endpoint's answer for one file: ``state``, ``detail``, the missing chunks,
    and (for a debug file that is ``ok``) the file."""

    state: str
    detail: str | None = None
    missing: Sequence[str] = ()
    debug_file: DebugFile | None = None


class _AssembleFailed(Exception):
    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class UploadStore:
    """Chunks by (organization id, sha1); bundles and debug files; assemble states."""

    def __init__(self, now: Callable[[], float]) -> None:
        self._now = now
        self._ids = itertools.count(1)
        self._chunks: dict[tuple[int, str], bytes] = {}
        self._states: dict[tuple[str, int, str], tuple[str, str | None, DebugFile | None, float]] = {}
        self.bundles: list[ArtifactBundle] = []
        self.debug_files: list[DebugFile] = []

    def forget_organization(self, org: Organization, project_ids: set[int]) -> None:
        """An organization removed with its data (``store.tenants``): its chunks, bundles, debug
        files (those of ``project_ids``) and assemble states go too."""
        for key in [k for k in self._chunks if k[0] == org.id]:
            del self._chunks[key]
        for key in [k for k in self._states
                    if (k[0] == BUNDLE_TASK and k[1] == org.id) or (k[0] == DIF_TASK and k[1] in project_ids)]:
            del self._states[key]
        if any(b.organization is org for b in self.bundles):
            self.bundles = [b for b in self.bundles if b.organization is not org]
        if any(d.project.id in project_ids for d in self.debug_files):
            self.debug_files = [d for d in self.debug_files if d.project.id not in project_ids]

    def forget_project(self, project: Project) -> None:
        """A deleted project's debug files go, and its bundles are unbound from it (a bundle no
        project is left bound to goes too, as ``delete_bundle`` does)."""
        if any(d.project is project for d in self.debug_files):
            self.debug_files = [d for d in self.debug_files if d.project is not project]
        for key in [k for k in self._states if k[0] == DIF_TASK and k[1] == project.id]:
            del self._states[key]
        for bundle in [b for b in self.bundles if project.id in b.project_ids]:
            self._unbind(bundle, project)

    def _unbind(self, bundle: ArtifactBundle, project: Project) -> None:
        bundle.project_ids.discard(project.id)
        if not bundle.project_ids:
            self.bundles.remove(bundle)
            self._states.pop((BUNDLE_TASK, bundle.organization.id, bundle.checksum), None)

    # --- chunks ------------------------------------------------------------------------

    def save_chunks(self, org: Organization, chunks: Iterable[tuple[str, bytes]]) -> None:
        """Keep uploaded chunks; ``ChecksumMismatch`` (and none kept) if any is misnamed."""
        named = list(chunks)
        for name, data in named:
            if hashlib.sha1(data).hexdigest() != name:
                raise ChecksumMismatch(name)
        for name, data in named:
            self._chunks[(org.id, name)] = data

    def missing_chunks(self, org: Organization, checksums: Iterable[str]) -> list[str]:
        return list(dict.fromkeys(c for c in checksums if (org.id, c) not in self._chunks))

    def _assemble(self, org: Organization, name: str, checksum: str, chunks: Sequence[str]) -> bytes:
        """Sentry's ``assemble_file``: the chunks in order, their size and whole checksum checked."""
        parts = [self._chunks[(org.id, c)] for c in chunks]
        size = sum(len(p) for p in parts)
        if size > MAX_FILE_SIZE:
            raise _AssembleFailed(f"File {name} exceeds maximum size ({size} > {MAX_FILE_SIZE})")
        data = b"".join(parts)
        if hashlib.sha1(data).hexdigest() != checksum:
            raise _AssembleFailed(CHECKSUM_MISMATCH)
        return data

    # --- assemble states ---------------------------------------------------------------

    def _state(self, task: str, scope: int, checksum: str) -> tuple[str, str | None, DebugFile | None] | None:
        found = self._states.get((task, scope, checksum))
        if found is None or found[3] <= self._now():
            return None
        return found[:3]

    def _set_state(self, task: str, scope: int, checksum: str, state: str, detail: str | None = None,
                   debug_file: DebugFile | None = None) -> None:
        self._states[(task, scope, checksum)] = (state, detail, debug_file, self._now() + STATE_TTL)

    # --- artifact bundles --------------------------------------------------------------

    def assemble_bundle(self, org: Organization, projects: list[Project], checksum: str, chunks: list[str],
                        version: str | None, dist: str | None) -> Assembled:
        """Sentry's artifact bundle assemble endpoint and task, in one go. ``ValueError`` for a
        ``dist`` without a ``version`` (the endpoint's 400)."""
        missing = self.missing_chunks(org, chunks)
        if missing:
            return Assembled("not_found", missing=missing)
        known = self._state(BUNDLE_TASK, org.id, checksum)
        if known is not None:
            return Assembled(known[0], known[1])
        if not chunks:
            return Assembled("not_found")
        if dist and not version:
            raise ValueError("You need to specify a release together with a dist")
        try:
            name = f"bundle-artifacts-{uuid.uuid4().hex}.zip"
            self._store_bundle(org, projects, checksum, name, self._assemble(org, name, checksum, chunks),
                               version, dist)
        except _AssembleFailed as failed:
            self._set_state(BUNDLE_TASK, org.id, checksum, "error", failed.detail)
            return Assembled("error", failed.detail)
        self._set_state(BUNDLE_TASK, org.id, checksum, "ok")
        return Assembled("ok")

    def _store_bundle(self, org: Organization, projects: list[Project], checksum: str, name: str, data: bytes,
                      version: str | None, dist: str | None) -> None:
        """Sentry's ``ArtifactBundlePostAssembler``: the request's release and dist win over the
        manifest's; a bundle id seen before replaces that bundle's file (a re-upload)."""
        try:
            contents = bundles.open_bundle(data)
        except bundles.InvalidBundle as invalid:
            raise _AssembleFailed(str(invalid)) from None
        if not contents.files:
            return  # Sentry discards an empty bundle and answers ok
        release = version or contents.text("release")
        dist = dist or contents.text("dist")
        if not contents.debug_ids and not release:
            raise _AssembleFailed(NO_INDEX)
        bundle_id = (contents.bundle_id or debug_files.normalize_debug_id(checksum) or str(uuid.uuid4()))[:36]
        now = self._now()
        bundle = next((b for b in self.bundles if b.organization is org and b.bundle_id == bundle_id), None)
        if bundle is None:
            bundle = ArtifactBundle(next(self._ids), org, bundle_id, checksum, name, data, contents.files,
                                    now, now, now)
            self.bundles.append(bundle)
        else:
            bundle.checksum, bundle.name, bundle.data, bundle.files = checksum, name, data, contents.files
            bundle.date_added = bundle.date_last_modified = now
        bundle.project_ids.update(p.id for p in projects)
        if release:
            pair = (release, dist or "")
            bundle.releases = [pair] + [r for r in bundle.releases if r != pair]

    def project_bundles(self, project: Project, query: str | None = None) -> list[ArtifactBundle]:
        """A project's bundles; ``query`` matches the bundle id, a release or a dist (substring)."""
        found = [b for b in self.bundles if b.organization is project.organization and project.id in b.project_ids]
        if query:
            needle = query.lower()
            found = [b for b in found if needle in b.bundle_id
                     or any(needle in release.lower() or needle in dist.lower() for release, dist in b.releases)]
        return found

    def bundle(self, project: Project, bundle_id: str) -> ArtifactBundle | None:
        return next((b for b in self.project_bundles(project) if b.bundle_id == bundle_id), None)

    def delete_bundle(self, project: Project, bundle_id: str) -> bool | None:
        """Sentry's ``DELETE …/files/artifact-bundles/?bundleId=``: unbind the bundle from the
        project, deleting it when no project is left. None when the organization has no such
        bundle (Sentry answers 204 then too), False when it is not bound to this project."""
        bundle = next((b for b in self.bundles if b.organization is project.organization
                       and b.bundle_id == bundle_id), None)
        if bundle is None:
            return None
        if project.id not in bundle.project_ids:
            return False
        self._unbind(bundle, project)
        return True

    def lookup(self, project: Project, debug_id: str | None, url: str, release: str,
               dist: str) -> list[tuple[ArtifactBundle, str]]:
        """Sentry's ``query_artifact_bundles_containing_file``: the project's bundles holding a
        file with ``debug_id`` (resolved with ``debug-id``), else bound to ``release``/``dist``
        and holding a file whose url contains ``url`` (``release``); newest first."""
        found: list[tuple[ArtifactBundle, str]] = []
        candidates = sorted(self.project_bundles(project), key=lambda b: b.date_added, reverse=True)
        if debug_id:
            found = [(b, "debug-id") for b in candidates if any(f.debug_id == debug_id for f in b.files)]
        if not found and release:
            found = [(b, "release") for b in candidates if (release, dist) in b.releases
                     and any(url in (f.url or "") for f in b.files)]
        return found

    # --- debug files -------------------------------------------------------------------

    def assemble_debug_file(self, project: Project, checksum: str, name: str | None, debug_id: str | None,
                            chunks: list[str]) -> Assembled:
        """Sentry's DIF assemble endpoint for one file, and its ``assemble_dif`` task."""
        org = project.organization
        known = self._state(DIF_TASK, project.id, checksum)
        if known is not None:
            return Assembled(known[0], known[1], debug_file=known[2])
        existing = next((d for d in reversed(self.debug_files)
                         if d.project is project and d.checksum == checksum), None)
        if existing is not None:
            return Assembled("ok", debug_file=existing)
        if not chunks:
            return Assembled("not_found")
        missing = self.missing_chunks(org, chunks)
        if missing:
            return Assembled("not_found", missing=missing)
        try:
            data = self._assemble(org, name or checksum, checksum, chunks)
            info = debug_files.detect(data, debug_id)
        except _AssembleFailed as failed:
            self._set_state(DIF_TASK, project.id, checksum, "error", failed.detail)
            return Assembled("error", failed.detail)
        except debug_files.BadDif as bad:
            self._set_state(DIF_TASK, project.id, checksum, "error", str(bad))
            return Assembled("error", str(bad))
        stored = self._store_debug_file(project, checksum, data, name or "", info)
        self._set_state(DIF_TASK, project.id, checksum, "ok", debug_file=stored)
        return Assembled("ok", debug_file=stored)

    def _store_debug_file(self, project: Project, checksum: str, data: bytes, name: str,
                          info: debug_files.DifInfo) -> DebugFile:
        """Sentry's ``create_dif_from_id`` and ``clean_redundant_difs``: a file with the same
        debug id whose features the newer ones already cover is dropped."""
        stored = DebugFile(next(self._ids), project, checksum, data, name.rsplit("/", 1)[-1], info.arch,
                           info.debug_id, info.code_id, info.file_format,
                           {"Content-Type": debug_files.CONTENT_TYPES[info.file_format]}, info.details, self._now())
        self.debug_files.append(stored)
        covered: set[str] = set()
        for index, dif in enumerate(self.project_debug_files(project, debug_id=info.debug_id)):
            if index > 0 and not dif.features - covered:
                self.debug_files.remove(dif)
            covered |= dif.features
        return stored

    def project_debug_files(self, project: Project, debug_id: str | None = None, code_id: str | None = None,
                            query: str | None = None, file_formats: Sequence[str] = ()) -> list[DebugFile]:
        """A project's debug files, newest first, filtered as Sentry's list filters them: a query
        that is a debug id finds that id exactly, another matches names, ids, CPU and headers."""
        if query and len(query) <= 45 and not debug_id:
            debug_id = debug_files.normalize_debug_id(query)
        found = [d for d in reversed(self.debug_files) if d.project is project]
        if debug_id:
            found = [d for d in found if d.debug_id == debug_id]
        elif code_id:
            found = [d for d in found if d.code_id == code_id]
        elif query:
            needle = query.lower()
            content_type = debug_files.CONTENT_TYPES.get(query)
            found = [d for d in found if any(needle in (text or "").lower() for text in (
                d.object_name, d.debug_id, d.code_id, d.cpu_name, repr(d.headers)))
                or content_type is not None and content_type in d.headers.values()]
        wanted = {debug_files.CONTENT_TYPES[f] for f in file_formats if f in debug_files.CONTENT_TYPES}
        if file_formats:
            found = [d for d in found if d.headers.get("Content-Type") in wanted]
        return found

    def debug_file(self, project: Project, file_id: str) -> DebugFile | None:
        return next((d for d in self.debug_files if d.project is project and str(d.id) == file_id), None)

    def delete_debug_file(self, dif: DebugFile) -> None:
        self.debug_files.remove(dif)
        self._states.pop((DIF_TASK, dif.project.id, dif.checksum), None)
