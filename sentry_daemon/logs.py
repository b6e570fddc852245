"""``--log-format json``: one JSON object a line, for journald and log shippers.

Each line is one ``twisted.logger`` event::

    {"time": "2026-12-02T02:15:30.512Z", "level": "info", "namespace": "sentry_daemon.service.SentryService",
     "message": "sentryfake 0.1.0 listening on …", "version": "0.1.0", "host": "IPv4Address(…)", "dsn": "…"}

``time`` (UTC, milliseconds), ``level`` (debug, info, warn, error, critical), ``namespace`` (the
logger's), ``message`` (the event formatted as the text log shows it), ``system`` when Twisted
names one, ``traceback`` for a logged failure, then the event's own fields (the values its format
names, and any others it carries) as JSON, or as text when they are not JSON. ``text`` (the
default) is twistd's own format.

twistd asks the application for its log observer once the plugin has made its service, so the
service hands the observer over when it joins the application (``SentryService.setServiceParent``).
The lines go where twistd would write its own: stdout with ``--logfile=-`` or ``-n`` and no
``--logfile``, else that file (``twistd.log`` by default; not rotated on ``SIGUSR1``).
"""

from __future__ import annotations

import json
import sys
from typing import IO, Any, Mapping

from twisted.logger import FileLogObserver, ILogObserver, formatEvent
from twisted.python import logfile

from sentry_daemon.timestamps import isoformat

LOG_FORMATS = ("text", "json")
# What a legacy ``twisted.python.log`` event carries besides its text; never copied as fields.
_LEGACY_KEYS = frozenset({"message", "isError", "system", "format", "time", "why", "failure"})


def _json_value(value: Any) -> Any:
    """The value itself when JSON can hold it, else its text."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return str(value)
    return value


def json_line(event: Mapping[str, Any]) -> str:
    """One event as one line of JSON (never raises: a broken event is still a line)."""
    level, stamp = event.get("log_level"), event.get("log_time")
    line: dict[str, Any] = {
        "time": isoformat(stamp)[:23] + "Z" if isinstance(stamp, (int, float)) else None,  # type: ignore[index]
        "level": getattr(level, "name", None),
        "namespace": event.get("log_namespace"),
        "message": formatEvent(event),
    }
    system = event.get("log_system")
    if system not in (None, "-"):
        line["system"] = system
    failure = event.get("log_failure")
    if failure is not None:
        try:
            line["traceback"] = failure.getTraceback()
        except Exception:
            line["traceback"] = repr(failure)
    for key, value in event.items():
        if key.startswith("log_") or key in _LEGACY_KEYS or key in line:
            continue
        line[key] = _json_value(value)
    try:
        return json.dumps(line, ensure_ascii=False) + "\n"
    except (TypeError, ValueError):
        return json.dumps({k: str(v) for k, v in line.items()}, ensure_ascii=False) + "\n"


def json_observer(out: IO[str]) -> ILogObserver:
    """A ``twisted.logger`` observer writing each event to ``out`` as :func:`json_line`."""
    return FileLogObserver(out, json_line)


def twistd_log_file(twistd_options: Mapping[str, Any] | None) -> IO[str]:
    """Where twistd would write its own log, given its options (``Options.parent``)."""
    if twistd_options is None:
        return sys.stdout
    name = twistd_options.get("logfile") or ""
    if name == "-" or (not name and twistd_options.get("nodaemon")):
        return sys.stdout
    return logfile.LogFile.fromFullPath(name or "twistd.log")  # type: ignore[return-value]


def observer_for(log_format: str, twistd_options: Mapping[str, Any] | None = None) -> ILogObserver | None:
    """The observer ``--log-format`` asks for; None for ``text`` (twistd's own)."""
    if log_format == "json":
        return json_observer(twistd_log_file(twistd_options))
    return None
