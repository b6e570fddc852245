"""What Sentry reads from an uploaded artifact bundle (``ArtifactBundleArchive``).

The bytes sentry-cli uploads are a source bundle: the 8-byte header ``SYSB`` + a u32 version,
then a zip holding ``manifest.json`` and the files. ``zipfile`` opens it as it is (it finds the
zip by its end record). The manifest maps each file's path in the zip to its ``type``
(``minified_source``, ``source_map``, ...), ``url`` (``~/app.min.js``) and ``headers``
(``sourcemap``, ``debug-id``); its ``debug_id`` names the bundle, and ``release``/``dist`` may
bind it to a release.
"""

from __future__ import annotations

import io
import json
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any

from sentry_daemon.store.debug_files import normalize_debug_id
from sentry_daemon.store.records import BundleFile

# SourceFileType (sentry.models.artifactbundle): the file types a debug id is indexed for
SOURCE_FILE_TYPES = {"source": 1, "minified_source": 2, "source_map": 3, "indexed_ram_bundle": 4}
INVALID = "the bundle is invalid"


class InvalidBundle(ValueError):
    pass


# What reading a zip member can raise besides its bytes: a bad archive or CRC (BadZipFile), broken
# deflate data (zlib.error), a compression or encryption zipfile does not do (NotImplementedError,
# RuntimeError), a truncated file (EOFError, OSError); RecursionError: a manifest nested too deep.
_UNREADABLE = (zipfile.BadZipFile, zlib.error, NotImplementedError, RuntimeError, KeyError, ValueError,
               OSError, EOFError)


@dataclass
class BundleContents:
    manifest: dict[str, Any]
    files: list[BundleFile]

    @property
    def bundle_id(self) -> str | None:
        return normalize_debug_id(self.manifest.get("debug_id"))

    @property
    def debug_ids(self) -> set[tuple[str, int]]:
        """(debug id, source file type) of every file Sentry indexes by debug id."""
        return {(f.debug_id, SOURCE_FILE_TYPES[f.type]) for f in self.files
                if f.url and f.debug_id and f.type in SOURCE_FILE_TYPES}

    def text(self, key: str) -> str | None:
        value = self.manifest.get(key)
        return value if isinstance(value, str) and value else None


def lower_keys(headers: Any) -> dict[str, Any]:
    return {str(k).lower(): v for k, v in headers.items()} if isinstance(headers, dict) else {}


def open_bundle(data: bytes) -> BundleContents:
    """The manifest and files of a bundle; ``InvalidBundle`` when it is no zip with a manifest."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            manifest = json.loads(archive.read("manifest.json").decode("utf-8"))
            if not isinstance(manifest, dict):
                raise InvalidBundle(INVALID)
            entries = manifest.get("files") or {}
            if not isinstance(entries, dict):
                raise InvalidBundle(INVALID)
            sizes = {info.filename: info.file_size for info in archive.infolist()}
    except _UNREADABLE:
        raise InvalidBundle(INVALID) from None
    files = []
    for path, info in entries.items():
        info = info if isinstance(info, dict) else {}
        url, kind = info.get("url"), info.get("type")
        headers = info.get("headers") if isinstance(info.get("headers"), dict) else {}
        files.append(BundleFile(path, url if isinstance(url, str) else None, kind if isinstance(kind, str) else None,
                                headers, normalize_debug_id(lower_keys(headers).get("debug-id")), sizes.get(path)))
    return BundleContents(manifest, files)


def read_file(data: bytes, path: str) -> bytes:
    """One file's bytes out of a stored bundle; ``KeyError`` when it has none by that path or its
    bytes cannot be read back (a bad CRC, broken deflate data, a compression zipfile lacks)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        try:
            return archive.read(path)
        except _UNREADABLE:
            raise KeyError(path) from None
