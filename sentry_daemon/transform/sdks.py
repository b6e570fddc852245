"""The SDKs the transform API names, and how to start a worker for those installed here.

Two run: ``python`` in the ``sentry_sdk`` of the daemon's own interpreter, ``javascript`` in an
``@sentry/node`` found on disk and run by ``node`` from ``PATH``. The other names are those the
API's users send; they answer "SDK not installed". Nothing is ever downloaded at run time.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

WORKERS = Path(__file__).parent / "workers"
NODE_MODULES_ENV = "SENTRYFAKE_NODE_MODULES"
NODE_INSTALL_HINT = "npm install --prefix ~/.cache/sentryfake/node @sentry/node@11.12.0"


@dataclass(frozen=True)
class SdkSpec:
    key: str
    name: str
    language: str
    default: bool
    package: str


SDKS = (
    SdkSpec("javascript", "JavaScript", "javascript", True, "@sentry/node"),
    SdkSpec("python", "Python", "python", True, "sentry-sdk"),
    SdkSpec("ruby", "Ruby", "ruby", False, "sentry-ruby"),
    SdkSpec("php", "PHP", "php", False, "sentry/sentry"),
    SdkSpec("go", "Go", "go", False, "github.com/getsentry/sentry-go"),
    SdkSpec("dotnet", ".NET", "csharp", False, "Sentry"),
    SdkSpec("java", "Java", "java", False, "io.sentry:sentry"),
    SdkSpec("android", "Android", "kotlin", False, "io.sentry:sentry-android"),
    SdkSpec("react-native", "React Native", "javascript", False, "@sentry/react-native"),
)
SDK_KEYS = tuple(spec.key for spec in SDKS)


@dataclass(frozen=True)
class Runtime:
    """An installed SDK: its version and the command that starts one warm worker for it
    (which writes its replies on ``reply_fd``; any other output is kept as its log)."""

    sdk: str
    version: str
    argv: tuple[str, ...]
    env: tuple[tuple[str, str], ...] = ()
    reply_fd: int = 1


def worker_env(extra: tuple[tuple[str, str], ...] = ()) -> dict[str, str]:
    """The daemon's environment less ``SENTRY_*``: the SDKs read their DSN, release and
    environment from it, and the daemon's own token is no business of the code it runs."""
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("SENTRY_", "SENTRYFAKE_"))}
    env.update(extra)
    return env


def python_runtime(cpu_seconds: int, memory: int) -> Runtime | None:
    """``sentry_sdk`` in this interpreter (the ``test`` extra installs it), or None."""
    if importlib.util.find_spec("sentry_sdk") is None:
        return None
    try:
        version = importlib.metadata.version("sentry-sdk")
    except importlib.metadata.PackageNotFoundError:
        return None
    argv = (sys.executable, str(WORKERS / "python_worker.py"), str(cpu_seconds), str(memory))
    return Runtime("python", version, argv)


def sentry_node_version(node_modules: Path) -> str | None:
    try:
        manifest = json.loads((node_modules / "@sentry" / "node" / "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = manifest.get("version") if isinstance(manifest, dict) else None
    return version if isinstance(version, str) else None


def node_modules_dir(path: str) -> Path | None:
    """``path`` as a ``node_modules`` holding ``@sentry/node``: the directory itself or the
    ``node_modules`` of an npm ``--prefix``; None when neither holds it."""
    base = Path(path).expanduser()
    for candidate in (base, base / "node_modules"):
        if sentry_node_version(candidate) is not None:
            return candidate.resolve()
    return None


def _cache_home() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")


def find_node_modules(explicit: str | None) -> Path | None:
    """Where ``@sentry/node`` is: ``--transform-node-modules``, ``$SENTRYFAKE_NODE_MODULES``,
    ``~/.cache/sentryfake/node`` (the README's install command), then the copy the test suite
    installs (``~/.cache/sentryfake-tests/node-<version>``, newest first)."""
    if explicit:
        return node_modules_dir(explicit)
    candidates = [os.environ.get(NODE_MODULES_ENV, ""), str(_cache_home() / "sentryfake" / "node")]
    tests_cache = sorted((_cache_home() / "sentryfake-tests").glob("node-*"), key=_version_key, reverse=True)
    candidates.extend(str(p) for p in tests_cache)
    for candidate in candidates:
        found = node_modules_dir(candidate) if candidate else None
        if found is not None:
            return found
    return None


def _version_key(path: Path) -> tuple[int, ...]:
    digits = path.name.removeprefix("node-").split(".")
    return tuple(int(d) if d.isdigit() else -1 for d in digits)


def node_runtime(explicit: str | None, cpu_budget: int, memory: int) -> Runtime | None:
    """``@sentry/node`` with ``node`` from ``PATH``, or None. Node has no ``setrlimit``, so the
    worker starts through ``launch.py``, which sets its limits and ``exec``s node."""
    node = shutil.which("node")
    node_modules = find_node_modules(explicit)
    if node is None or node_modules is None:
        return None
    version = sentry_node_version(node_modules)
    if version is None:
        return None
    argv = (sys.executable, str(WORKERS / "launch.py"), str(cpu_budget), str(memory),
            node, str(WORKERS / "node_worker.cjs"), str(cpu_budget))
    return Runtime("javascript", version, argv, (("SENTRY_NODE_MODULES", str(node_modules)),), reply_fd=3)
