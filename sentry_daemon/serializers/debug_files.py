"""Debug information files as the web API shows them (Sentry's ``DebugFileSerializer``)."""

from __future__ import annotations

from typing import Any

from sentry_daemon.store.records import DebugFile
from sentry_daemon.timestamps import isoformat


def debug_file(d: DebugFile) -> dict[str, Any]:
    return {
        "id": str(d.id),
        "uuid": d.debug_id[:36],
        "debugId": d.debug_id,
        "codeId": d.code_id,
        "cpuName": d.cpu_name,
        "objectName": d.object_name,
        "symbolType": d.file_format,
        "headers": dict(d.headers),
        "size": len(d.data),
        "sha1": d.checksum,
        "dateCreated": isoformat(d.date_created),
        "data": dict(d.details),
    }
