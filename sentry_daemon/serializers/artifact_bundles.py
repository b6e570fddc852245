"""Artifact bundles and their files as the web API shows them (Sentry's
``ArtifactBundlesSerializer``, ``ArtifactBundleFilesSerializer``, the bundle files endpoint and
``artifact-lookup``). Bundle dates are written to the second, as Sentry writes them."""

from __future__ import annotations

import base64
from datetime import datetime, timezone
from typing import Any

from sentry_daemon.store.bundles import SOURCE_FILE_TYPES, lower_keys
from sentry_daemon.store.records import ArtifactBundle, BundleFile

INVALID_SOURCE_FILE_TYPE = 0


def _second(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return datetime.fromtimestamp(stamp, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def file_id(f: BundleFile) -> str:
    return base64.urlsafe_b64encode(f.path.encode()).decode()


def associations(b: ArtifactBundle) -> list[dict[str, Any]]:
    return [{"release": release or None, "dist": dist or None} for release, dist in b.releases]


def bundle(b: ArtifactBundle) -> dict[str, Any]:
    return {
        "bundleId": b.bundle_id,
        "associations": associations(b),
        "fileCount": len(b.files),
        "dateModified": _second(b.date_last_modified),
        "date": _second(b.date_uploaded),
    }


def bundle_file(f: BundleFile) -> dict[str, Any]:
    return {
        "id": file_id(f),
        "fileType": SOURCE_FILE_TYPES.get(f.type or "", INVALID_SOURCE_FILE_TYPE),
        "filePath": f.url,
        "fileSize": f.size,
        "debugId": f.debug_id,
        "sourcemap": lower_keys(f.headers).get("sourcemap"),
    }


def bundle_files(b: ArtifactBundle, page: list[BundleFile]) -> dict[str, Any]:
    return {**bundle(b), "files": [bundle_file(f) for f in page]}


def lookup(b: ArtifactBundle, resolved_with: str, url: str) -> dict[str, Any]:
    """One ``artifact-lookup`` answer; ``url`` is the lookup endpoint's own absolute URL."""
    download = f"artifact_bundle/{b.id}"
    return {"id": download, "type": "bundle", "url": f"{url}?download={download}", "resolved_with": resolved_with}
