"""Run the real daemon inside a test harness's reactor (trial or pytest-twisted).

    from sentry_daemon.testing import start_sentry

    sentry = await start_sentry()            # listens on 127.0.0.1:<free port>
    sentry_sdk.init(dsn=sentry.dsn)          # in a subprocess or thread: the SDK blocks on flush
    ...  treq.get(sentry.url + "/__parlel/events") ...
    await sentry.stop()                      # graceful: in-flight requests finish first

    tenant = await sentry.create_tenant()    # its own organization, project, DSN and token
    events = await sentry.wait_for("events", count=2, query="level:error", tenant=tenant)

The service is the same object ``twistd sentryfake`` runs; only the port differs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, ensureDeferred, succeed

from sentry_daemon.clock import DomainClock
from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.control_faults import read_fault
from sentry_daemon.control_lists import LISTINGS
from sentry_daemon.control_wait import read_wait
from sentry_daemon.serializers.faults import fault as fault_body
from sentry_daemon.serializers.tenants import tenant as tenant_body
from sentry_daemon.service import Config, SentryService
from sentry_daemon.store.store import Store


@dataclass(frozen=True)
class TenantInfo:
    """A tenant as ``POST /__parlel/tenants`` answers it."""

    id: str
    name: str | None
    org: str
    project: str
    project_id: int
    dsn: str
    token: str
    url: str


class WaitTimeout(Exception):
    """``wait_for`` gave up: ``count`` rows matched (``rows``), fewer than it waited for."""

    def __init__(self, detail: str, count: int, rows: list[dict[str, Any]]) -> None:
        super().__init__(detail)
        self.count = count
        self.rows = rows


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

    @property
    def clock(self) -> DomainClock:
        """The domain clock (``/__parlel/clock``): ``clock.advance(3600)``, ``clock.set(stamp)``,
        ``clock.state()``; with ``clock="manual"`` or a clock of the test's own."""
        return self.service.clock

    def dsn_for(self, project_id: int, key: str | None = None) -> str:
        """A DSN for another project id (lenient ingest creates the project on first use)."""
        return dsn_url(self.url, project_id, key or self.service.config.dsn_key)

    def stop(self) -> Deferred:
        return self.service.stopService()

    # --- tenants and waiting (the control API's, without HTTP) -------------------------------

    def create_tenant(self, name: str | None = None) -> Deferred:
        """Fires with a fresh :class:`TenantInfo` (``POST /__parlel/tenants``)."""
        made = self.store.tenants.create(name, self.url)
        return succeed(TenantInfo(**tenant_body(made, self.url)))

    def delete_tenant(self, tenant: TenantInfo | str) -> Deferred:
        """Removes the tenant and all its data (``DELETE /__parlel/tenants/{id}``)."""
        self.store.tenants.delete(self._tenant(tenant))
        return succeed(None)

    def reset_tenant(self, tenant: TenantInfo | str) -> Deferred:
        """Empties the tenant, keeping its DSN and token (``POST /__parlel/tenants/{id}/reset``)."""
        made = self.store.tenants.reset(self._tenant(tenant))
        return succeed(TenantInfo(**tenant_body(made, self.url)))

    def _tenant(self, tenant: TenantInfo | str) -> Any:
        tenant_id = tenant.id if isinstance(tenant, TenantInfo) else tenant
        found = self.store.tenants.get(tenant_id)
        if found is None:
            raise KeyError(f"no tenant {tenant_id!r}")
        return found

    def wait_for(self, what: str, count: int = 1, timeout: float = 5.0, **filters: Any) -> Deferred:
        """``GET /__parlel/wait?for=<what>&…``: fires with the matching rows (the list's, as the
        control API shows them) once ``count`` match; fails with :class:`WaitTimeout` at ``timeout``.
        ``filters`` are the list's (``project=``, ``query=``, ``tenant=`` a TenantInfo or its id, …);
        a bad one raises ``ApiError`` at once."""
        args = {"for": [what], "count": [str(count)], "timeout": [str(timeout)], **_filter_args(filters)}
        listing, wanted, seconds, rest = read_wait(args)
        selection = listing.select(self.store, rest, strict=True, base_url=self.url)

        def done(answer: tuple[int, dict[str, Any]]) -> list[dict[str, Any]]:
            status, body = answer
            if status != 200:
                raise WaitTimeout(body.get("detail", ""), body["count"], body[listing.plural])
            return body[listing.plural]

        return self.service.control.waiters.wait(listing, selection, wanted, seconds).addCallback(done)

    # --- faults and the journal of near misses (``/__parlel/faults``, ``/__parlel/journal``) ---

    def add_fault(self, **fields: Any) -> Deferred:
        """``POST /__parlel/faults``: fires with the fault as stored (``tenant=`` takes a
        TenantInfo too); a bad one raises ``ValidationError`` (its ``errors``) at once."""
        if isinstance(fields.get("tenant"), TenantInfo):
            fields["tenant"] = fields["tenant"].id
        return succeed(fault_body(self.store.faults.add(**read_fault(self.store, fields))))

    def faults(self) -> Deferred:
        """``GET /__parlel/faults``: fires with every fault, as the control API shows them."""
        return succeed([fault_body(f) for f in self.store.faults.of()])

    def delete_fault(self, fault_id: int) -> Deferred:
        """``DELETE /__parlel/faults/{id}`` (nothing happens for an unknown id)."""
        found = self.store.faults.get(fault_id)
        if found is not None:
            self.store.faults.remove(found)
        return succeed(None)

    def clear_faults(self) -> Deferred:
        """``DELETE /__parlel/faults``."""
        self.store.faults.clear()
        return succeed(None)

    def journal(self, **filters: Any) -> Deferred:
        """``GET /__parlel/journal``: fires with the near misses, newest last (``project=``,
        ``tenant=`` a TenantInfo or its id, ``org=``)."""
        listing = LISTINGS["journal"]
        selection = listing.select(self.store, _filter_args(filters), base_url=self.url)
        return succeed(listing.shown(self.store, selection))


def _filter_args(filters: dict[str, Any]) -> dict[str, list[str]]:
    """Keyword filters as a query string's arguments (a TenantInfo stands for its id)."""
    args: dict[str, list[str]] = {}
    for name, value in filters.items():
        values = value if isinstance(value, (list, tuple, set)) else [value]
        args[name] = [v.id if isinstance(v, TenantInfo) else str(v) for v in values]
    return args


def start_sentry(reactor: Any = None, clock: Any = "real", **config: Any) -> Deferred:
    """Start a daemon on ``tcp:0:interface=127.0.0.1`` (or ``port=``); fires with a RunningSentry.

    Keyword arguments are ``Config`` fields (``tokens``, ``org``, ``ingest_auth``, ...). ``clock``
    is ``"real"``, ``"manual"`` (``--clock manual``) or the test's own ``IReactorTime``, such as a
    ``twisted.internet.task.Clock`` (which starts at 0, 1970-01-01: set it first).
    """
    config.setdefault("port", "tcp:0:interface=127.0.0.1")
    given = None
    if isinstance(clock, str):
        config["clock"] = clock
    else:
        given = clock
    service = SentryService(dataclasses.replace(Config(), **config), reactor=reactor, clock=given)

    async def run() -> RunningSentry:
        service.startService()
        await service.when_listening()
        assert service.base_url is not None, "start_sentry needs a TCP port"
        return RunningSentry(service, service.base_url, service.dsn, service.config.tokens[0],
                             service.address.port)

    return ensureDeferred(run())
