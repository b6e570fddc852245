"""twistd plugin: ``twistd -n sentryfake``. Lazy: nothing is imported until the subcommand runs."""

from twisted.application.service import ServiceMaker

sentryfake = ServiceMaker(
    "sentryfake",
    "sentry_daemon.tap",
    "A local Sentry: SDK ingest and the Sentry web API, in memory",
    "sentryfake",
)
