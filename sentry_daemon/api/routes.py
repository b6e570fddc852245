"""The web API as one resource: the app with every resource family's routes registered."""

from __future__ import annotations

# Importing a family registers its routes on ``app``.
from sentry_daemon.api import events, index, issue_events, issues, monitors, organizations, projects  # noqa: F401
from sentry_daemon.api import project_keys, teams  # noqa: F401
from sentry_daemon.api import stats, tokens  # noqa: F401
from sentry_daemon.api import release_files, releases  # noqa: F401
from sentry_daemon.api import artifact_bundles, debug_files, uploads  # noqa: F401
from sentry_daemon.api.app import ApiContext, app


class ApiRoutes(ApiContext):
    app = app
