"""The systemd units in systemd/: syntax (``systemd-analyze verify``), required directives, and
a real socket-activation run of the daemon with the unit's own command line.

The hardening directives are asserted one by one so that removing one fails here rather than
silently weakening a shared host. ``systemd-analyze verify`` returns 0 even for unknown keys (it
only prints "Unknown key ..., ignoring"), so its output is checked as well as its exit code.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
UNIT_DIR = REPO / "systemd"
SOCKET_UNIT = "sentryfake.socket"
SERVICE_UNIT = "sentryfake.service"
STANDALONE_UNIT = "sentryfake-standalone.service"
SERVICE_UNITS = (SERVICE_UNIT, STANDALONE_UNIT)

INSTALLED_TWISTD = "/opt/sentryfake/venv/bin/twistd"
FD_NAME = "sentryfake"
SOCKET_PORT_DESCRIPTION = f"systemd:domain=INET:name={FD_NAME}"
STANDALONE_PORT_DESCRIPTION = "tcp:4773:interface=127.0.0.1"
DEFAULT_DRAIN_TIMEOUT = 10.0  # seconds; the daemon's --drain-timeout default
SHUTDOWN_MARGIN = 5.0  # seconds on top of the drain for the reactor to stop

# (section, key, value): the last assignment of key must equal value.
COMMON_SERVICE_DIRECTIVES = [
    ("Service", "Type", "exec"),
    ("Service", "Restart", "on-failure"),
    ("Service", "DynamicUser", "yes"),
    ("Service", "NoNewPrivileges", "yes"),
    ("Service", "ProtectSystem", "strict"),
    ("Service", "ProtectHome", "yes"),
    # Required with ProtectSystem=strict: large and chunked request bodies are spooled to /tmp.
    ("Service", "PrivateTmp", "yes"),
    ("Service", "PrivateDevices", "yes"),
    ("Service", "ProtectKernelTunables", "yes"),
    ("Service", "ProtectKernelModules", "yes"),
    ("Service", "ProtectKernelLogs", "yes"),
    ("Service", "ProtectControlGroups", "yes"),
    ("Service", "RestrictNamespaces", "yes"),
    ("Service", "RestrictRealtime", "yes"),
    ("Service", "RestrictSUIDSGID", "yes"),
    ("Service", "LockPersonality", "yes"),
    ("Service", "SystemCallArchitectures", "native"),
    ("Service", "SystemCallFilter", "@system-service"),
    ("Service", "CapabilityBoundingSet", ""),
    ("Service", "UMask", "0077"),
]

SOCKET_SERVICE_DIRECTIVES = [
    ("Unit", "Requires", SOCKET_UNIT),
    ("Unit", "After", SOCKET_UNIT),
]

STANDALONE_SERVICE_DIRECTIVES = [
    ("Unit", "After", "network.target"),
    ("Install", "WantedBy", "multi-user.target"),
]

SOCKET_DIRECTIVES = [
    ("Socket", "ListenStream", "127.0.0.1:4773"),
    ("Socket", "FileDescriptorName", FD_NAME),
    ("Socket", "NoDelay", "true"),
    ("Install", "WantedBy", "sockets.target"),
]

# Diagnostics that systemd-analyze verify prints but does not turn into a non-zero exit code.
VERIFY_COMPLAINTS = re.compile(
    r"Unknown (key|section|lvalue)|Failed to parse|Invalid|is deprecated|not executable|"
    r"Missing '='|assignment outside of section|ignoring",
    re.IGNORECASE,
)


# --- helpers -------------------------------------------------------------------------------


def parse_unit(text: str) -> dict[str, dict[str, list[str]]]:
    """A unit file as {section: {key: [values in order]}}; comments and continuations handled."""
    sections: dict[str, dict[str, list[str]]] = {}
    current: dict[str, list[str]] | None = None
    pending = ""
    for raw in text.splitlines():
        line = pending + raw.strip() if pending else raw.strip()
        pending = ""
        if not line or line[0] in "#;":
            continue
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"assignment outside of a section: {line!r}"
        key, sep, value = line.partition("=")
        assert sep, f"not a key=value line: {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def load_unit(name: str) -> dict[str, dict[str, list[str]]]:
    return parse_unit((UNIT_DIR / name).read_text(encoding="utf-8"))


def last(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> str | None:
    values = unit.get(section, {}).get(key)
    return values[-1] if values else None


def all_values(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> list[str]:
    """Every whitespace-separated item of every assignment (After=, Requires= are lists)."""
    return [item for value in unit.get(section, {}).get(key, []) for item in value.split()]


def exec_start(unit: dict[str, dict[str, list[str]]]) -> list[str]:
    values = unit["Service"]["ExecStart"]
    assert len(values) == 1, f"expected exactly one ExecStart=, got {values!r}"
    return shlex.split(values[0])


def port_argument(argv: list[str]) -> str:
    assert argv.count("--port") == 1, f"expected one --port in {argv!r}"
    return argv[argv.index("--port") + 1]


_TIMESPAN_UNITS = {
    "us": 1e-6, "usec": 1e-6, "ms": 1e-3, "msec": 1e-3,
    "s": 1.0, "sec": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hour": 3600.0, "hours": 3600.0,
}


def parse_timespan(value: str) -> float:
    """systemd.time(7) spans such as "20", "20s", "1min 30s"; a bare number means seconds."""
    value = value.strip()
    if value == "infinity":
        return float("inf")
    if re.fullmatch(r"\d+(\.\d+)?", value):
        return float(value)
    total = 0.0
    parts = re.findall(r"(\d+(?:\.\d+)?)\s*([a-z]+)", value)
    assert parts and re.sub(r"\s", "", value) == "".join(n + u for n, u in parts), value
    for number, unit in parts:
        assert unit in _TIMESPAN_UNITS, f"unknown time unit {unit!r} in {value!r}"
        total += float(number) * _TIMESPAN_UNITS[unit]
    return total


def local_twistd() -> Path:
    """The twistd of the interpreter running the tests (a venv's bin/, or on PATH)."""
    beside = Path(sys.executable).parent / "twistd"
    if beside.exists():
        return beside
    found = shutil.which("twistd", path=str(Path(sys.executable).parent)) or shutil.which("twistd")
    if found is None:
        pytest.fail(f"no twistd beside {sys.executable} or on PATH: is Twisted installed?")
    return Path(found)


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- the unit text -------------------------------------------------------------------------


@pytest.mark.parametrize("name", [SOCKET_UNIT, *SERVICE_UNITS])
def test_unit_file_parses(name: str) -> None:
    unit = load_unit(name)
    assert unit.get("Unit", {}).get("Description"), f"{name}: no Description="
    assert "Install" in unit, f"{name}: no [Install] section"


@pytest.mark.parametrize(
    ("name", "extra"),
    [(SERVICE_UNIT, SOCKET_SERVICE_DIRECTIVES), (STANDALONE_UNIT, STANDALONE_SERVICE_DIRECTIVES)],
)
def test_service_has_required_directives(name: str, extra: list[tuple[str, str, str]]) -> None:
    unit = load_unit(name)
    missing = []
    for section, key, expected in COMMON_SERVICE_DIRECTIVES + extra:
        if key in ("Requires", "After", "WantedBy"):
            if expected not in all_values(unit, section, key):
                missing.append(f"[{section}] {key}= must include {expected}")
        elif last(unit, section, key) != expected:
            missing.append(f"[{section}] {key}={expected} (found {last(unit, section, key)!r})")
    families = set(all_values(unit, "Service", "RestrictAddressFamilies"))
    if not families or families - {"AF_INET", "AF_INET6", "AF_UNIX"} or "AF_INET" not in families:
        missing.append(f"[Service] RestrictAddressFamilies= must allow AF_INET and at most AF_INET6 "
                       f"AF_UNIX besides (found {sorted(families)})")
    assert not missing, f"{name}:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    ("name", "port"),
    [(SERVICE_UNIT, SOCKET_PORT_DESCRIPTION), (STANDALONE_UNIT, STANDALONE_PORT_DESCRIPTION)],
)
def test_exec_start_runs_twistd_in_the_foreground(name: str, port: str) -> None:
    argv = exec_start(load_unit(name))
    assert argv[0] == INSTALLED_TWISTD
    plugin_at = argv.index("sentryfake")
    twistd_options, plugin_options = argv[1:plugin_at], argv[plugin_at + 1:]
    # Never daemonize under systemd; no pid file (read-only FS); logs to stdout = the journal.
    assert "--nodaemon" in twistd_options or "-n" in twistd_options
    assert "--pidfile=" in twistd_options
    assert "--logfile=-" in twistd_options
    assert port_argument(plugin_options) == port
    # Secrets on the command line are visible to every user via ps: use the environment file.
    assert not any(a.startswith(("--token", "-t")) for a in plugin_options), plugin_options


@pytest.mark.parametrize("name", SERVICE_UNITS)
def test_a_shared_host_guards_the_control_api(name: str) -> None:
    """On a shared host nobody resets anybody else: the control API needs tokens; the admin token
    comes from the environment file, never the command line (ps shows it to every user)."""
    argv = exec_start(load_unit(name))
    plugin_options = argv[argv.index("sentryfake") + 1:]
    assert plugin_options[plugin_options.index("--control-auth") + 1] == "token"
    assert not any(a.startswith("--admin-token") for a in plugin_options), plugin_options


@pytest.mark.parametrize("name", SERVICE_UNITS)
def test_stop_timeout_exceeds_the_drain_window(name: str) -> None:
    unit = load_unit(name)
    plugin_options = exec_start(unit)
    drain = DEFAULT_DRAIN_TIMEOUT
    for i, arg in enumerate(plugin_options):
        if arg == "--drain-timeout":
            drain = float(plugin_options[i + 1])
        elif arg.startswith("--drain-timeout="):
            drain = float(arg.partition("=")[2])
    timeout = last(unit, "Service", "TimeoutStopSec")
    assert timeout is not None, f"{name}: no TimeoutStopSec= (the default 90 s hides hangs)"
    seconds = parse_timespan(timeout)
    assert drain + SHUTDOWN_MARGIN <= seconds < float("inf"), (
        f"{name}: TimeoutStopSec={timeout} must exceed --drain-timeout {drain:g}s by "
        f"{SHUTDOWN_MARGIN:g}s, or systemd SIGKILLs the daemon while it drains"
    )


def test_drain_default_matches_the_daemon() -> None:
    from sentry_daemon.tap import Options

    options = Options()
    options.parseOptions([])
    assert options["drain-timeout"] == DEFAULT_DRAIN_TIMEOUT, (
        "the daemon's --drain-timeout default changed: update DEFAULT_DRAIN_TIMEOUT here and "
        "TimeoutStopSec= in systemd/*.service"
    )


def test_socket_has_required_directives() -> None:
    unit = load_unit(SOCKET_UNIT)
    for section, key, expected in SOCKET_DIRECTIVES:
        if key == "WantedBy":
            assert expected in all_values(unit, section, key)
        else:
            assert last(unit, section, key) == expected, f"[{section}] {key}={expected}"
    assert unit["Socket"]["ListenStream"] == ["127.0.0.1:4773"], "one loopback listener only"


def test_socket_and_service_agree() -> None:
    """The fd name, the address family and the service name must line up across the two units."""
    sock, service = load_unit(SOCKET_UNIT), load_unit(SERVICE_UNIT)
    port = port_argument(exec_start(service))
    fields = dict(part.split("=", 1) for part in port.split(":")[1:])
    assert port.startswith("systemd:")
    assert fields["name"] == last(sock, "Socket", "FileDescriptorName")
    assert "index" not in fields, "use name= (index= breaks when sockets are added)"
    # 127.0.0.1:PORT is an AF_INET socket; a bare port or [::] would need domain=INET6.
    listen = last(sock, "Socket", "ListenStream")
    assert listen is not None and re.fullmatch(r"127(\.\d{1,3}){3}:\d+", listen)
    assert fields["domain"] == "INET"
    # The socket activates sentryfake.service (its default Service=), and enabling the service
    # enables the socket.
    assert last(sock, "Socket", "Service") in (None, SERVICE_UNIT)
    assert SOCKET_UNIT in all_values(service, "Install", "Also")


def test_standalone_conflicts_with_the_socket_activated_pair() -> None:
    unit = load_unit(STANDALONE_UNIT)
    conflicts = all_values(unit, "Unit", "Conflicts")
    assert SOCKET_UNIT in conflicts and SERVICE_UNIT in conflicts
    assert "Requires" not in unit["Unit"]


# --- systemd-analyze verify ----------------------------------------------------------------


def copy_units_for_verify(tmp_path: Path) -> Path:
    """Copies of the units whose ExecStart= points at an executable that exists here.

    verify checks that the ExecStart binary exists; /opt/sentryfake/venv is not installed on a
    developer machine or in CI.
    """
    executable = Path(sys.executable).parent / "twistd"
    if not executable.exists():
        executable = Path(sys.executable)
    target = tmp_path / "units"
    target.mkdir()
    for unit in UNIT_DIR.iterdir():
        if unit.suffix in (".service", ".socket"):
            text = unit.read_text(encoding="utf-8")
            if unit.suffix == ".service":
                assert INSTALLED_TWISTD in text
                text = text.replace(INSTALLED_TWISTD, str(executable))
            (target / unit.name).write_text(text, encoding="utf-8")
    return target


@pytest.mark.parametrize(
    "names", [(SOCKET_UNIT, SERVICE_UNIT), (STANDALONE_UNIT,)], ids=["socket+service", "standalone"]
)
def test_systemd_analyze_verify(tmp_path: Path, names: tuple[str, ...]) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    units = copy_units_for_verify(tmp_path)
    result = subprocess.run(
        [analyze, "verify", "--man=no", *(str(units / name) for name in names)],
        cwd=units,
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    ours = [line for line in output.splitlines()
            if any(name.split(".")[0] in line for name in names) or str(units) in line]
    assert not ours, "systemd-analyze verify complained about our units:\n" + "\n".join(ours)
    assert not VERIFY_COMPLAINTS.search(output), output


# --- socket activation, for real -----------------------------------------------------------


def wait_for_health(url: str, proc: subprocess.Popen, log: Path, deadline: float) -> tuple[int, bytes]:
    last_error: Exception | None = None
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"daemon exited with {proc.returncode} before answering:\n"
                        f"{log.read_text(errors='replace')}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as exc:  # a 503 while starting: keep polling
            last_error = exc
        except (urllib.error.URLError, ConnectionError, TimeoutError, socket.timeout) as exc:
            last_error = exc
        time.sleep(0.05)
    pytest.fail(f"no answer from {url} in time (last error: {last_error!r}):\n"
                f"{log.read_text(errors='replace')}")


def run_daemon_and_check(
    argv: list[str], port: int, tmp_path: Path, env: dict[str, str] | None = None
) -> None:
    """Start argv, expect GET /health to answer 200 {"status": "ok"}, SIGTERM, expect a clean stop."""
    log = tmp_path / "daemon.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            env=env, start_new_session=True,
        )
    try:
        status, body = wait_for_health(
            f"http://127.0.0.1:{port}/health", proc, log, time.monotonic() + 60
        )
        assert status == 200, body
        assert json.loads(body) == {"status": "ok"}
        proc.send_signal(signal.SIGTERM)
        try:
            returncode = proc.wait(timeout=DEFAULT_DRAIN_TIMEOUT + SHUTDOWN_MARGIN + 15)
        except subprocess.TimeoutExpired:
            pytest.fail(f"daemon did not exit after SIGTERM:\n{log.read_text(errors='replace')}")
        output = log.read_text(errors="replace")
        # A drained stop is a success: sentryfake makes twistd exit 0 instead of re-raising SIGTERM.
        assert returncode == 0, output
        assert "Server Shut Down." in output, f"no graceful twistd shutdown:\n{output}"
        assert not (tmp_path / "twistd.pid").exists(), "--pidfile= should suppress twistd.pid"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def daemon_env() -> dict[str, str]:
    """The test's environment, with this checkout first on sys.path (tests the working tree,
    installed or not) and none of the daemon's configuration variables."""
    env = {k: v for k, v in os.environ.items() if k not in ("SENTRY_AUTH_TOKEN", "SENTRY_ORG")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def test_socket_activation_smoke(tmp_path: Path) -> None:
    """Runs the service's own ExecStart under systemd-socket-activate with the socket's fd name."""
    activate = shutil.which("systemd-socket-activate")
    if activate is None:
        pytest.skip("systemd-socket-activate is not installed")
    twistd = local_twistd()
    sock, service = load_unit(SOCKET_UNIT), load_unit(SERVICE_UNIT)
    argv = exec_start(service)
    argv[0] = str(twistd)
    port = free_loopback_port()
    env = daemon_env()
    # systemd-socket-activate passes on only a few variables (PATH, HOME, ...): forward ours.
    setenv = [f"--setenv={name}={env[name]}" for name in ("PYTHONPATH", "PYTHONDONTWRITEBYTECODE")]
    # Without --fdname there is no LISTEN_FDNAMES and Twisted ignores the inherited fd.
    fdname = last(sock, "Socket", "FileDescriptorName")
    run_daemon_and_check(
        [activate, "--listen", f"127.0.0.1:{port}", f"--fdname={fdname}", *setenv, *argv],
        port, tmp_path, env,
    )


def test_standalone_smoke(tmp_path: Path) -> None:
    """Runs the standalone unit's ExecStart, moved to a free port."""
    twistd = local_twistd()
    argv = exec_start(load_unit(STANDALONE_UNIT))
    argv[0] = str(twistd)
    port = free_loopback_port()
    at = argv.index("--port") + 1
    assert argv[at] == STANDALONE_PORT_DESCRIPTION
    argv[at] = f"tcp:{port}:interface=127.0.0.1"
    run_daemon_and_check(argv, port, tmp_path, daemon_env())
