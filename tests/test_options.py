"""The twistd plugin and its options."""

from __future__ import annotations

import subprocess

import pytest
from twisted.application.service import IServiceMaker
from twisted.internet.testing import MemoryReactorClock
from twisted.plugin import getPlugins
from twisted.python import usage

from conftest import TWISTD
from sentry_daemon.http.site import default_max_connections
from sentry_daemon.service import SentryService
from sentry_daemon.tap import Options, makeService


def parse(*args: str) -> Options:
    options = Options()
    options.parseOptions(list(args))
    return options


def test_plugin_is_discoverable():
    makers = {p.tapname: p for p in getPlugins(IServiceMaker)}
    options = makers["sentryfake"].options()
    options.parseOptions(["--port", "4773"])
    assert options["port"] == "tcp:4773:interface=127.0.0.1"


def test_defaults(monkeypatch):
    monkeypatch.delenv("SENTRY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("SENTRY_ORG", raising=False)
    options = parse()
    assert options["port"] == "tcp:4773:interface=127.0.0.1"
    assert options["tokens"] == ["sntrys_parlel"]
    assert (options["org"], options["project"], options["project-id"], options["dsn-key"]) == (
        "parlel", "hello-world", 1, "parlel"
    )
    assert options["ingest-auth"] == "lenient"


def test_strports_and_tokens(monkeypatch):
    monkeypatch.delenv("SENTRY_AUTH_TOKEN", raising=False)
    for port in ("tcp:0:interface=127.0.0.1", "unix:/tmp/s.sock", "tcp6:0:interface=\\:\\:1"):
        assert parse("--port", port)["port"] == port
    # A systemd description is checked against what systemd handed over (nothing, here):
    # tests/test_systemd_units.py starts the daemon with the socket really inherited.
    with pytest.raises(usage.UsageError, match="sentryfake"):
        parse("--port", "systemd:domain=INET:name=sentryfake")
    assert parse("--token", "a", "--token", "b")["tokens"] == ["a", "b"]


def test_environment_defaults(monkeypatch):
    monkeypatch.setenv("SENTRY_AUTH_TOKEN", "sntrys_from_env")
    monkeypatch.setenv("SENTRY_ORG", "acme")
    options = parse()
    assert options["tokens"] == ["sntrys_parlel", "sntrys_from_env"]
    assert options["org"] == "acme"
    assert parse("--org", "other")["org"] == "other"


@pytest.mark.parametrize(
    "args",
    [
        ("--port", "99999"),
        ("--port", "nonsense"),
        ("--port", ""),
        ("--org", "Not A Slug"),
        ("--project", "UPPER"),
        ("--project-id", "zero"),
        ("--project-id", "0"),
        ("--dsn-key", "bad key"),
        ("--ingest-auth", "maybe"),
        ("--max-body", "-1"),
        ("--drain-timeout", "soon"),
        ("--journal-size", "-1"),
        ("--journal-size", "many"),
        ("--token", "has space"),
        ("--clock", "fast"),
        ("--transform-timeout", "0"),
        ("--transform-timeout", "soon"),
        ("--transform-node-modules", "/nonexistent/node_modules"),
    ],
)
def test_bad_values_are_usage_errors(args):
    with pytest.raises(usage.UsageError):
        parse(*args)


@pytest.mark.parametrize(
    ("port", "message"),
    [
        ("nosuchendpoint:x=y", "Unknown endpoint type: 'nosuchendpoint'"),
        ("tcp:notaport", "invalid literal for int()"),
        ("tcp:4773:bogus=1", "unexpected keyword argument 'bogus'"),
        ("systemd:domain=INET", "Specify exactly one of descriptor index or name"),
    ],
)
def test_bad_strports_description_is_a_usage_error_with_the_parsers_message(port, message):
    with pytest.raises(usage.UsageError) as caught:
        parse("--port", port)
    assert str(caught.value).startswith(f"--port {port!r}: ")
    assert message in str(caught.value)


def test_make_service_only_wires():
    options = parse("--port", "tcp:0:interface=127.0.0.1", "--org", "acme", "--project", "web")
    service = makeService(options, reactor=MemoryReactorClock())
    assert isinstance(service, SentryService)
    assert service.store.organization("acme") is not None
    assert service.store.projects[1].slug == "web"


def test_journal_size_bounds_the_journal():
    assert parse()["journal-size"] == 1000
    service = makeService(parse("--port", "tcp:0:interface=127.0.0.1", "--journal-size", "2"),
                          reactor=MemoryReactorClock())
    assert service.config.journal_size == 2 and service.store.journal.entries.maxlen == 2
    service.store.reset()
    assert service.store.journal.entries.maxlen == 2  # a reset keeps the size


def test_clock_option_makes_the_domain_clock():
    reactor = MemoryReactorClock()
    reactor.advance(1_700_000_000)
    real = makeService(parse("--port", "tcp:0:interface=127.0.0.1"), reactor=reactor)
    manual = makeService(parse("--port", "tcp:0:interface=127.0.0.1", "--clock", "manual"), reactor=reactor)
    assert (real.clock.manual, manual.clock.manual) == (False, True)
    reactor.advance(60)
    assert (real.store.now(), manual.store.now()) == (1_700_000_060, 1_700_000_000)  # manual stands still


def test_transform_options(tmp_path):
    defaults = parse()
    assert (defaults["transform"], defaults["transform-timeout"], defaults["transform-node-modules"]) == (0, 30.0, None)
    prefix = tmp_path / "prefix"
    (prefix / "node_modules" / "@sentry" / "node").mkdir(parents=True)
    (prefix / "node_modules" / "@sentry" / "node" / "package.json").write_text('{"version": "11.12.0"}')
    options = parse("--transform", "--transform-timeout", "2.5", "--transform-node-modules", str(prefix))
    assert (options["transform"], options["transform-timeout"]) == (1, 2.5)
    assert options["transform-node-modules"] == str(prefix / "node_modules")  # an npm --prefix is taken too
    service = makeService(options, reactor=MemoryReactorClock())
    assert (service.config.transform, service.config.transform_timeout) == (True, 2.5)
    assert makeService(parse(), reactor=MemoryReactorClock()).transform is None
    with pytest.raises(usage.UsageError, match="npm install --prefix"):
        parse("--transform-node-modules", str(tmp_path))


def test_twistd_help_lists_and_documents_the_plugin():
    listing = subprocess.run([TWISTD, "--help"], capture_output=True, text=True, timeout=60)
    assert "sentryfake" in listing.stdout
    help_text = subprocess.run([TWISTD, "-n", "sentryfake", "--help"], capture_output=True, text=True, timeout=60)
    assert help_text.returncode == 0
    for option in ("--port", "--token", "--org", "--project", "--project-id", "--dsn-key", "--ingest-auth",
                   "--max-body", "--drain-timeout", "--journal-size", "--log-requests", "--clock", "--transform",
                   "--transform-timeout", "--transform-node-modules"):
        assert option in help_text.stdout, option
    for port in ("nonsense", "nosuchendpoint:x=y"):
        bad = subprocess.run([TWISTD, "-n", "sentryfake", "--port", port], capture_output=True, text=True,
                             timeout=60)
        assert bad.returncode != 0
        output = bad.stdout + bad.stderr
        assert "--port" in output and "Traceback" not in output, output


def test_tokens_file(tmp_path):
    path = tmp_path / "tokens.json"
    path.write_text('[{"token": "sntrys_ro", "scopes": ["org:read", "event:read"]}, {"token": "sntrys_ci", "org": "acme"}]')
    assert parse("--tokens", str(path))["token-specs"] == (
        ("sntrys_ro", ("org:read", "event:read"), None), ("sntrys_ci", None, "acme"))
    bad = {
        "not json": "not JSON",
        '{"token": "x"}': "expected a JSON list",
        '[{"scopes": []}]': 'needs a "token"',
        '[{"token": "two words"}]': 'needs a "token"',
        '[{"token": "x", "scopes": "org:read"}]': '"scopes" is a list',
        '[{"token": "x", "scopes": ["org:reed"]}]': "unknown scopes org:reed",
        '[{"token": "x", "org": "Not A Slug"}]': '"org" is an organization slug',
    }
    for text, message in bad.items():
        path.write_text(text)
        with pytest.raises(usage.UsageError, match=message):
            parse("--tokens", str(path))
    with pytest.raises(usage.UsageError, match="No such file"):
        parse("--tokens", str(tmp_path / "missing.json"))


def test_connection_and_log_options():
    service = makeService(parse("--port", "tcp:0:interface=127.0.0.1"), reactor=MemoryReactorClock())
    assert service.site.timeOut == 5.0  # Relay's keep-alive
    assert service.connections.max_connections == default_max_connections()
    assert service.log_observer is None  # twistd's own text log
    service = makeService(parse("--port", "tcp:0:interface=127.0.0.1", "--idle-timeout", "0", "--max-connections",
                                "0", "--log-format", "json"), reactor=MemoryReactorClock())
    assert service.site.timeOut is None and service.connections.max_connections is None
    assert service.log_observer is not None
    assert makeService(parse("--max-connections", "7"), reactor=MemoryReactorClock()).connections.max_connections == 7
    for args, message in ((("--idle-timeout", "soon"), "not a number"), (("--idle-timeout", "-1"), "positive number of seconds"),
                          (("--max-connections", "many"), "not a whole number"),
                          (("--max-connections", "-1"), "must be at least 0"),
                          (("--log-format", "xml"), "choose text or json")):
        with pytest.raises(usage.UsageError, match=message):
            parse(*args)
