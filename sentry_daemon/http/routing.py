"""Klein, telling each request which route it matched: the route's template, for the metrics.

``/metrics`` counts requests by route, and a label must be the template
(``/api/0/projects/{org}/{project}/``), never the raw path, or one label value per project, event
and issue would grow without bound. Klein keeps the matched rule to itself; this subclass sets
``request.route`` to its template just before the route runs. A request no route matched (a 404,
a 405) keeps ``route`` None.
"""

from __future__ import annotations

import re
from typing import Any
from weakref import WeakKeyDictionary

import klein
from werkzeug.routing import Map

# A DSN's path prefix (``ingest.routes._routes``): the prefixed and the bare route count as one.
_DSN_PREFIX = re.compile(r"^/<path:_prefix>(?=/)")
_PLACEHOLDER = re.compile(r"<(?:[a-z_]+(?:\([^)]*\))?:)?([a-z_]+)>")
# per URL map (an app's bound copies share theirs): endpoint name -> template
_TEMPLATES: WeakKeyDictionary[Map, dict[str, str]] = WeakKeyDictionary()


def route_template(rule: str) -> str:
    """``/api/0/projects/<org>/<project>/`` as ``/api/0/projects/{org}/{project}/``."""
    return _PLACEHOLDER.sub(r"{\1}", _DSN_PREFIX.sub("", rule))


class Klein(klein.Klein):
    """``klein.Klein`` that sets ``request.route`` (the matched route's template) before running it."""

    def execute_endpoint(self, endpoint: str, request: Any, *args: Any, **kwargs: Any) -> Any:
        url_map = self._url_map
        templates = _TEMPLATES.get(url_map)
        template = templates.get(endpoint) if templates is not None else None
        if template is None:  # the first request of this endpoint: read every rule once
            templates = _TEMPLATES[url_map] = {rule.endpoint: route_template(rule.rule)
                                               for rule in url_map.iter_rules()}
            template = templates.get(endpoint, endpoint)
        request.route = template
        return super().execute_endpoint(endpoint, request, *args, **kwargs)
