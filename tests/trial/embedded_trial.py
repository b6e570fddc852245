"""The README's trial recipe, run by trial itself (``tests/test_embedding.py`` starts it).

Not collected by pytest: trial's dirty-reactor check must own the reactor it runs on.
"""

from __future__ import annotations

import json

from treq.client import HTTPClient
from twisted.internet.defer import ensureDeferred
from twisted.trial.unittest import TestCase
from twisted.web.client import Agent, HTTPConnectionPool

from sentry_daemon.testing import start_sentry


class EmbeddedSentryTest(TestCase):
    def setUp(self):
        async def start() -> None:
            self.sentry = await start_sentry()
            self.addCleanup(self.sentry.stop)

        from twisted.internet import reactor

        self.http = HTTPClient(Agent(reactor, pool=HTTPConnectionPool(reactor, persistent=False)))
        return ensureDeferred(start())

    def test_store_then_inspect(self):
        async def run() -> None:
            assert self.sentry.url.startswith("http://127.0.0.1:")
            self.assertEqual(self.sentry.token, "sntrys_parlel")
            response = await self.http.post(f"{self.sentry.url}/api/1/store/", json={"message": "from trial"})
            self.assertEqual(response.code, 200)
            await response.content()
            response = await self.http.get(f"{self.sentry.url}/__parlel/events")
            events = json.loads(await response.content())
            self.assertEqual(events["count"], 1)
            self.assertEqual(events["events"][0]["logentry"]["formatted"], "from trial")

        return ensureDeferred(run())
