"""Run the real daemon inside a test harness's reactor (trial or pytest-twisted).

    from sentry_daemon.testing import start_sentry

    sentry = await start_sentry()            # listens on 127.0.0.1:<free port>
    sentry_sdk.init(dsn=sentry.dsn)          # in a subprocess or thread: the SDK blocks on flush
    ...  treq.get(sentry.url + "/__parlel/events") ...
    await sentry.stop()                      # graceful: in-flight requests finish first

The service is the same object ``twistd sentryfake`` runs; only the port differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred

from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.service import Config, SentryService
from sentry_daemon.store.store import Store


@dataclass
class RunningSentry:
    """A started daemon: where it listens and the credentials its clients need."""

    service: SentryService
    url: str
    dsn: str
    token: str
    port: int

    @property
    def store(self) -> Store:
        return self.service.store

    def dsn_for(self, project_id: int, key: str | None = None) -> str:
        """A DSN for another project id (lenient ingest creates the project on first use)."""
        return dsn_url(self.url, project_id, key or self.service.config.dsn_key)

    def stop(self) -> Deferred:
        return self.service.stopService()


def start_sentry(reactor: Any = None, **config: Any) -> Deferred:
    """Start a daemon on ``tcp:0:interface=127.0.0.1`` (or ``port=``); fires with a RunningSentry.

    Keyword arguments are ``Config`` fields (``tokens``, ``org``, ``ingest_auth``, ...).
    """
    config.setdefault("port", "tcp:0:interface=127.0.0.1")
    service = SentryService(dataclasses.replace(Config(), **config), reactor=reactor)

    async def run() -> RunningSentry:
        service.startService()
        await service.when_listening()
        assert service.base_url is not None, "start_sentry needs a TCP port"
        return RunningSentry(service, service.base_url, service.dsn, service.config.tokens[0],
                             service.address.port)

    return ensureDeferred(run())
