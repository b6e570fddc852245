"""The web API as one resource: the app with every resource family's routes registered."""

from __future__ import annotations

# Importing a family registers its routes on ``app``.
from sentry_daemon.api import events, index, issue_events, issues, monitors, organizations, projects  # noqa: F401
from sentry_daemon.api.app import ApiContext, app


class ApiRoutes(ApiContext):
    app = app
