"""DSN strings for the daemon at a base URL (``http://<key>@host:port/<project_id>``)."""

from __future__ import annotations

from urllib.parse import urlsplit


def dsn_url(base_url: str, project_id: int, public: str, secret: str | None = None) -> str:
    """``http://<public>[:<secret>]@host:port/<project_id>`` for the daemon at ``base_url``."""
    parts = urlsplit(base_url)
    auth = f"{public}:{secret}" if secret else public
    return f"{parts.scheme}://{auth}@{parts.netloc}{parts.path.rstrip('/')}/{project_id}"
