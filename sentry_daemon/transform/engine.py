"""The transform API's engine: one pool of warm workers per SDK installed here."""

from __future__ import annotations

import ipaddress
import math
import shutil
import tempfile
from typing import Any

from twisted.internet.defer import Deferred, DeferredList, fail, succeed
from twisted.logger import Logger

from sentry_daemon.transform.pool import WorkerFault, WorkerPool
from sentry_daemon.transform.sdks import SDKS, Runtime, node_runtime, python_runtime, worker_env

log = Logger()

POOL_SIZE = 2  # warm workers per SDK: the machine this is sized for has two cores
MEMORY_LIMIT = 512 * 1024 * 1024  # RLIMIT_DATA of each process that runs a callback
NODE_CPU_BUDGET = 600  # RLIMIT_CPU of a javascript worker over its life (it retires at half)


class TransformEngine:
    """Runs ``beforeSend`` callbacks in child processes; never touches the daemon's store."""

    def __init__(self, reactor: Any, timeout: float = 30.0, node_modules: str | None = None,
                 pool_size: int = POOL_SIZE, memory: int = MEMORY_LIMIT) -> None:
        self.reactor = reactor
        self.timeout = timeout
        cpu_seconds = max(1, math.ceil(timeout))
        found = (python_runtime(cpu_seconds, memory),
                 node_runtime(node_modules, max(NODE_CPU_BUDGET, 20 * cpu_seconds), memory))
        self.runtimes: dict[str, Runtime] = {r.sdk: r for r in found if r is not None}
        self.pool_size = pool_size
        self.pools: dict[str, WorkerPool] = {}
        self._cwd: str | None = None

    def start(self) -> None:
        """Start the warm workers (the first transform then pays no SDK import)."""
        if self._cwd is None:
            self._cwd = tempfile.mkdtemp(prefix="sentryfake-transform-")
        for sdk, runtime in self.runtimes.items():
            pool = WorkerPool(self.reactor, runtime, self.pool_size, self.timeout, self._cwd,
                              worker_env(runtime.env))
            self.pools[sdk] = pool
            pool.start()
        missing = [spec.key for spec in SDKS[:2] if spec.key not in self.runtimes]
        log.info("transform API on: runs beforeSend code in {sdks}{missing}",
                 sdks=", ".join(f"{r.sdk} ({r.version})" for r in self.runtimes.values()) or "no SDK",
                 missing=f"; not installed: {', '.join(missing)}" if missing else "")

    def warn_if_exposed(self, address: Any) -> None:
        """Anyone who can reach the port can run code: say so when it is not loopback only."""
        host = getattr(address, "host", None)
        if host is None:
            return  # a UNIX socket: reachable only through the file system
        try:
            loopback = ipaddress.ip_address(host).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            log.warn("transform API on {host}: anyone who can reach this port can run code here", host=host)

    def stop(self) -> Deferred:
        pools, self.pools = list(self.pools.values()), {}
        d = DeferredList([pool.stop() for pool in pools]) if pools else succeed(None)

        def cleanup(result: object) -> object:
            if self._cwd is not None:
                shutil.rmtree(self._cwd, ignore_errors=True)
                self._cwd = None
            return result

        return d.addBoth(cleanup)

    def installed(self, sdk: str) -> bool:
        return sdk in self.runtimes

    def sdks(self) -> list[dict[str, Any]]:
        """Every SDK the API names, with whether it runs here and the version installed."""
        rows = []
        for spec in SDKS:
            runtime = self.runtimes.get(spec.key)
            rows.append({
                "key": spec.key,
                "name": spec.name,
                "language": spec.language,
                "default": spec.default,
                "status": "available" if runtime else "not-installed",
                "package": spec.package,
                "version": runtime.version if runtime else None,
            })
        return rows

    def transform(self, sdk: str, event: dict[str, Any], code: str) -> Deferred:
        """The worker's reply for this job (see ``pool.WorkerPool.submit``)."""
        pool = self.pools.get(sdk)
        if pool is None:
            return fail(WorkerFault(f"no {sdk} workers are running"))
        return pool.submit(event, code)
