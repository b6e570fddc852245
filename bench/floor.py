"""The floor for ``bench/ingest.py``: a bare ``twisted.web`` server that reads the body and answers an id.

    python bench/floor.py --port 8080

No routing, no decoding, no parsing, no storage, no request log: ``POST`` anything → ``200
{"id": "<32 hex>"}``; ``GET`` anything → ``200 {"status": "ok", "events": [], "count": 0}`` (enough
for a readiness poll and for the read-your-write GETs the benchmark mirrors onto it). It runs on the
default reactor, as twistd does, so the daemon and the floor pay for the same stack. The ``Site``
keeps twisted.web's defaults otherwise: like any stock twisted.web server it parses the
``Content-Type`` of every POST (``parsePOSTFormSubmission=True``, ~0.1 ms a request with the
``email`` package), which the daemon means to switch off.
"""

from __future__ import annotations

import argparse
import json
import uuid

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

GET_BODY = json.dumps({"status": "ok", "events": [], "count": 0}).encode()


class Floor(Resource):
    isLeaf = True

    def render_POST(self, request: Request) -> bytes:
        request.content.read()
        request.setHeader(b"Content-Type", b"application/json")
        return json.dumps({"id": uuid.uuid4().hex}).encode()

    def render_GET(self, request: Request) -> bytes:
        request.setHeader(b"Content-Type", b"application/json")
        return GET_BODY


class QuietSite(Site):
    """A ``Site`` that keeps no access log (the daemon keeps none by default either)."""

    def log(self, request: Request) -> None:
        pass


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    reactor.listenTCP(args.port, QuietSite(Floor()), interface="127.0.0.1")
    reactor.run()


if __name__ == "__main__":
    main()
