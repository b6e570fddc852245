"""``twistd sentryfake``: command-line options and ``makeService`` (wiring only)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

from twisted.application.service import IService
from twisted.internet import endpoints
from twisted.python import usage

from sentry_daemon.http.params import parse_int
from sentry_daemon.ingest.limits import Limits

_SLUG = re.compile(r"^[a-z0-9_][a-z0-9_-]{0,49}$")
_SIZE = re.compile(r"([0-9]+)([KMGT]?)(?:i?B)?", re.IGNORECASE)


def port_description(value: str) -> str:
    """A bare port number means loopback TCP; anything else is a strports description as is."""
    value = value.strip()
    number = parse_int(value)
    if number is not None:
        if not 0 <= number <= 65535:
            raise usage.UsageError(f"--port {value}: not a TCP port number (0-65535)")
        return f"tcp:{number}:interface=127.0.0.1"
    if not value or ":" not in value:
        raise usage.UsageError(
            f"--port {value!r}: give a port number or a strports description such as "
            "tcp:4773:interface=127.0.0.1, unix:/path or systemd:domain=INET:name=sentryfake"
        )
    try:
        # Builds the endpoint only (nothing listens, no reactor is needed), so every mistake the
        # strports parser finds is reported here, as a usage error, with its own message.
        endpoints.serverFromString(None, value)
    except Exception as exc:
        raise usage.UsageError(f"--port {value!r}: {exc}") from None
    return value


def byte_size(option: str, value: str) -> int:
    """``1073741824``, ``512M``, ``1G``, ``1GiB``: bytes, or K, M, G, T as powers of 1024."""
    match = _SIZE.fullmatch(value.strip())
    if match is None:
        raise usage.UsageError(f"{option} {value!r}: a number of bytes, or one with K, M, G or T (512M, 1G)")
    size = int(match.group(1)) * 1024 ** " KMGT".index(match.group(2).upper() or " ")
    if size < 1:
        raise usage.UsageError(f"{option} must be at least 1 byte")
    return size


def positive_number(option: str, value: str, unit: str) -> float:
    """A finite number above 0 (of ``unit``), or the usage error that says why not."""
    try:
        number = float(value)
    except ValueError:
        raise usage.UsageError(f"{option} {value!r}: not a number") from None
    if not 0 < number < float("inf"):
        raise usage.UsageError(f"{option} must be a positive number of {unit}")
    return number


class Options(usage.Options):
    synopsis = "[options]"
    longdesc = (
        "A local Sentry: accepts what Sentry SDKs send (envelopes, the store endpoint) and serves "
        "the Sentry web API (/api/0/). State is kept in memory. Environment: SENTRY_AUTH_TOKEN adds "
        "a bearer token, SENTRY_ORG names the seeded organization."
    )
    optParameters = [
        ["port", "p", "4773",
         "Where to listen: a port number (loopback TCP) or a strports description, e.g. "
         "tcp:0:interface=127.0.0.1, unix:/run/sentryfake.sock, systemd:domain=INET:name=sentryfake."],
        ["org", None, None, "Slug of the seeded organization (default: $SENTRY_ORG or parlel)."],
        ["project", None, "hello-world", "Slug of the seeded project."],
        ["project-id", None, "1", "Numeric id of the seeded project."],
        ["dsn-key", None, "parlel", "Public key of the seeded project's DSN."],
        ["ingest-auth", None, "lenient",
         "lenient: any key is accepted and unknown project ids are created on the fly; "
         "strict: Relay's answers (401 missing auth, 403 unknown or foreign key)."],
        ["max-body", None, str(Limits().max_envelope_size),
         "Largest request body accepted, in bytes; larger ones are answered 413. The web API "
         "(/api/0/) has Relay's own limits instead: 20 MiB, 40 MiB for release file uploads, "
         "100 MiB for chunk uploads."],
        ["drain-timeout", None, "10", "Seconds to let requests in flight finish when stopping."],
        ["idle-timeout", None, "5",
         "Seconds a connection may send nothing, between requests (keep-alive, as Relay's 5 s) or within "
         "one, before it is closed; 0: never. A response being written is never cut."],
        ["max-connections", None, None,
         "Client connections served at once; more are refused (closed when accepted) until some close. "
         "Default: the descriptor limit (ulimit -n) less an eighth of it (at least 32) kept for request "
         "bodies spooled to files, the log and workers; 0: no cap."],
        ["log-format", None, "text",
         "text: twistd's log lines; json: one JSON object a line (time, level, namespace, message and the "
         "event's fields), for journald and log shippers."],
        ["journal-size", None, "1000",
         "Near misses kept in GET /__parlel/journal (ingest requests refused or cut short); 0 keeps none."],
        ["max-events", None, "100000",
         "Events kept (errors, transactions, feedback); past it the oldest go first, with their envelopes, "
         "items and attachments. Issues keep their counts. GET /__parlel/retention shows the figures."],
        ["max-bytes", None, "1G",
         "Stored payload kept (raw envelopes, event payloads, attachments): bytes, or with K, M, G or T "
         "(powers of 1024: 512M, 1G); past it the oldest go first."],
        ["retention-days", None, None,
         "Days an event is kept after it was received (read off the domain clock, checked every minute); "
         "default: no limit by age."],
        ["control-auth", None, "open",
         "open: the control API (/__parlel/) answers anyone; token: it needs a bearer token, a tenant's "
         "or an organization's for its own data, an admin token (--admin-token) for what touches everyone."],
        ["clock", None, "real",
         "real: the domain clock is the system's; manual: it starts at the real time of start-up "
         "and stands still until POST /__parlel/clock moves it."],
        ["transform-timeout", None, "30",
         "Seconds a transform's beforeSend callback may run before its process is killed (400 Timeout)."],
        ["transform-node-modules", None, None,
         "A node_modules directory (or an npm --prefix) holding @sentry/node for javascript transforms "
         "(default: $SENTRYFAKE_NODE_MODULES, then ~/.cache/sentryfake/node)."],
        ["data-dir", None, None,
         "Keep the state in an SQLite database in this directory (made if missing): all of it is there "
         "after a restart. Default: memory only."],
        ["load", None, None,
         "Start from this snapshot file (GET /__parlel/snapshot); with --data-dir, only when the "
         "directory holds no state yet."],
    ]
    optFlags = [
        ["log-requests", None, "Log every request (method, URI, status)."],
        ["transform", None, "Serve the transform API (/api/transform) on this port. It EXECUTES the "
         "beforeSend code it is sent, in the real sentry_sdk and @sentry/node: opt-in."],
    ]

    def __init__(self) -> None:
        super().__init__()
        self["tokens"] = []
        self["token-specs"] = ()
        self["admin-tokens"] = []

    def opt_token(self, token: str) -> None:
        """A bearer token accepted by the web API (repeatable; default sntrys_parlel and $SENTRY_AUTH_TOKEN)."""
        if not token or any(c.isspace() for c in token):
            raise usage.UsageError(f"--token {token!r}: a token is one word without spaces")
        self["tokens"].append(token)

    opt_t = opt_token

    def opt_admin_token(self, token: str) -> None:
        """A control-API admin token for --control-auth token (repeatable; also $SENTRYFAKE_ADMIN_TOKEN)."""
        if not token or any(c.isspace() for c in token):
            raise usage.UsageError(f"--admin-token {token!r}: a token is one word without spaces")
        self["admin-tokens"].append(token)

    def opt_tokens(self, path: str) -> None:
        """A JSON file of more web-API tokens: [{"token": "...", "scopes": ["org:read", ...], "org": "slug"}];
        "scopes" defaults to all (org:ci for an org token); "org" makes an org auth token bound to that
        organization (created if it does not exist)."""
        self["token-specs"] = read_token_file(path)

    def postOptions(self) -> None:
        self["port"] = port_description(self["port"])
        if not self["tokens"]:
            self["tokens"] = ["sntrys_parlel"]
            env_token = os.environ.get("SENTRY_AUTH_TOKEN", "").strip()
            if env_token and env_token not in self["tokens"]:
                self["tokens"].append(env_token)
        if self["org"] is None:
            self["org"] = os.environ.get("SENTRY_ORG", "").strip() or "parlel"
        for name in ("org", "project"):
            if not _SLUG.match(self[name]):
                raise usage.UsageError(
                    f"--{name} {self[name]!r}: a slug is lowercase letters, digits, '-' or '_' (max 50)"
                )
        if not self["dsn-key"] or not re.fullmatch(r"[A-Za-z0-9_-]+", self["dsn-key"]):
            raise usage.UsageError(f"--dsn-key {self['dsn-key']!r}: letters, digits, '-' or '_' only")
        for name, minimum in (("project-id", 1), ("max-body", 1), ("journal-size", 0), ("max-events", 1),
                              *((("max-connections", 0),) if self["max-connections"] is not None else ())):
            try:
                self[name] = int(self[name])
            except ValueError:
                raise usage.UsageError(f"--{name} {self[name]!r}: not a whole number") from None
            if self[name] < minimum:
                raise usage.UsageError(f"--{name} must be at least {minimum}")
        self["max-bytes"] = byte_size("--max-bytes", self["max-bytes"])
        if self["retention-days"] is not None:
            self["retention-days"] = positive_number("--retention-days", self["retention-days"], "days")
        self._check_idle_and_log_options()
        try:
            self["drain-timeout"] = float(self["drain-timeout"])
        except ValueError:
            raise usage.UsageError(f"--drain-timeout {self['drain-timeout']!r}: not a number") from None
        if self["drain-timeout"] < 0:
            raise usage.UsageError("--drain-timeout must not be negative")
        if self["ingest-auth"] not in ("lenient", "strict"):
            raise usage.UsageError(f"--ingest-auth {self['ingest-auth']!r}: choose lenient or strict")
        if self["control-auth"] not in ("open", "token"):
            raise usage.UsageError(f"--control-auth {self['control-auth']!r}: choose open or token")
        env_admin = os.environ.get("SENTRYFAKE_ADMIN_TOKEN", "").strip()
        if env_admin and env_admin not in self["admin-tokens"]:
            self.opt_admin_token(env_admin)
        from sentry_daemon.clock import CLOCK_KINDS

        if self["clock"] not in CLOCK_KINDS:
            raise usage.UsageError(f"--clock {self['clock']!r}: choose {' or '.join(CLOCK_KINDS)}")
        self._check_transform_options()
        self._check_persistence_options()

    def _check_idle_and_log_options(self) -> None:
        from sentry_daemon.logs import LOG_FORMATS

        idle = self["idle-timeout"]
        self["idle-timeout"] = 0.0 if idle.strip() == "0" else positive_number("--idle-timeout", idle,
                                                                              "seconds (0: never)")
        if self["log-format"] not in LOG_FORMATS:
            raise usage.UsageError(f"--log-format {self['log-format']!r}: choose {' or '.join(LOG_FORMATS)}")

    def _check_persistence_options(self) -> None:
        from sentry_daemon.store.snapshot import SnapshotError, check_file

        directory = self["data-dir"]
        if directory is not None:
            if os.path.exists(directory) and not os.path.isdir(directory):
                raise usage.UsageError(f"--data-dir {directory}: not a directory")
            self["data-dir"] = os.path.abspath(directory)  # twistd may change directory
        path = self["load"]
        if path is not None:
            if not os.path.isfile(path):
                raise usage.UsageError(f"--load {path}: no such file")
            try:
                check_file(path)
            except SnapshotError as exc:
                raise usage.UsageError(f"--load {path}: {exc}") from None
            self["load"] = os.path.abspath(path)

    def _check_transform_options(self) -> None:
        from sentry_daemon.transform.sdks import NODE_INSTALL_HINT, node_modules_dir

        self["transform-timeout"] = positive_number("--transform-timeout", self["transform-timeout"], "seconds")
        path = self["transform-node-modules"]
        if path is not None:
            found = node_modules_dir(path)
            if found is None:
                raise usage.UsageError(f"--transform-node-modules {path}: no @sentry/node there "
                                       f"(install it with: {NODE_INSTALL_HINT})")
            self["transform-node-modules"] = str(found)


def read_token_file(path: str) -> tuple[tuple[str, tuple[str, ...] | None, str | None], ...]:
    """``--tokens FILE``: (token, scopes or None, organization slug or None) for each entry."""
    from sentry_daemon.store.tokens import SCOPES

    try:
        with open(path, encoding="utf-8") as f:
            entries = json.load(f)
    except OSError as exc:
        raise usage.UsageError(f"--tokens {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise usage.UsageError(f"--tokens {path}: not JSON ({exc})") from None
    if not isinstance(entries, list):
        raise usage.UsageError(f"--tokens {path}: expected a JSON list of {{token, scopes, org}}")
    specs = []
    for n, entry in enumerate(entries):
        where = f"--tokens {path}: entry {n}"
        if not isinstance(entry, dict) or not isinstance(entry.get("token"), str) or not entry["token"].strip() \
                or any(c.isspace() for c in entry["token"]):
            raise usage.UsageError(f"{where}: needs a \"token\" (one word without spaces)")
        scopes = entry.get("scopes")
        if scopes is not None:
            if not isinstance(scopes, list) or not all(isinstance(x, str) for x in scopes):
                raise usage.UsageError(f"{where}: \"scopes\" is a list of scope names")
            unknown = sorted(set(scopes) - set(SCOPES))
            if unknown:
                raise usage.UsageError(f"{where}: unknown scopes {', '.join(unknown)}")
            scopes = tuple(scopes)
        org = entry.get("org")
        if org is not None and (not isinstance(org, str) or not _SLUG.match(org)):
            raise usage.UsageError(f"{where}: \"org\" is an organization slug")
        specs.append((entry["token"], scopes, org))
    return tuple(specs)


def config_from_options(options: Options) -> Any:
    from sentry_daemon.service import Config

    return Config(
        port=options["port"],
        tokens=tuple(options["tokens"]),
        token_specs=options["token-specs"],
        org=options["org"],
        project=options["project"],
        project_id=options["project-id"],
        dsn_key=options["dsn-key"],
        ingest_auth=options["ingest-auth"],
        max_body=options["max-body"],
        drain_timeout=options["drain-timeout"],
        idle_timeout=options["idle-timeout"] or None,
        max_connections=options["max-connections"],
        journal_size=options["journal-size"],
        max_events=options["max-events"],
        max_bytes=options["max-bytes"],
        retention_days=options["retention-days"],
        log_requests=bool(options["log-requests"]),
        control_auth=options["control-auth"],
        admin_tokens=tuple(options["admin-tokens"]),
        clock=options["clock"],
        transform=bool(options["transform"]),
        transform_timeout=options["transform-timeout"],
        transform_node_modules=options["transform-node-modules"],
        data_dir=options["data-dir"],
        load=options["load"],
    )


def makeService(options: Options, reactor: Any = None) -> IService:
    from sentry_daemon.logs import observer_for
    from sentry_daemon.service import SentryService

    service = SentryService(config_from_options(options), reactor=reactor, standalone=True)
    # twistd's own options (--logfile, --nodaemon) say where a --log-format json log goes
    service.log_observer = observer_for(options["log-format"], getattr(options, "parent", None))
    return service
