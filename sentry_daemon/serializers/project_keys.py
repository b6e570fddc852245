"""Client keys (DSNs) as Sentry's web API shows them, with every derived ingest URL."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.store.records import ProjectKey
from sentry_daemon.timestamps import isoformat

BROWSER_SDK_VERSIONS = ("latest", "7.x")
# the JS loader's defaults for a new key (``get_default_loader_data``)
LOADER_DEFAULTS = {"hasReplay": True, "hasPerformance": True, "hasDebug": False, "hasFeedback": False,
                   "hasLogsAndMetrics": False}


def dsn(key: ProjectKey, base_url: str, secret: bool = False) -> str:
    return dsn_url(base_url, key.project.id, key.public, key.secret if secret else None)


def project_key(key: ProjectKey, base_url: str) -> dict[str, Any]:
    """``base_url`` is the daemon as the client addressed it, so the DSNs work from where it asked."""
    pid = key.project.id
    root = f"{base_url}/api/{pid}"
    name = key.label or key.public[:14]
    return {
        "id": key.public,
        "name": name,
        "label": name,
        "public": key.public,
        "secret": key.secret,
        "projectId": pid,
        "isActive": key.is_active,
        "rateLimit": {"window": key.rate_limit[1], "count": key.rate_limit[0]} if key.rate_limit else None,
        "dsn": {
            "secret": dsn(key, base_url, secret=True),
            "public": dsn(key, base_url),
            "csp": f"{root}/csp-report/?sentry_key={key.public}",
            "security": f"{root}/security/?sentry_key={key.public}",
            "minidump": f"{root}/minidump/?sentry_key={key.public}",
            "nel": f"{root}/nel/?sentry_key={key.public}",
            "unreal": f"{root}/unreal/{key.public}/",
            "crons": f"{root}/cron/___MONITOR_SLUG___/{key.public}/",
            "cdn": f"{base_url}/js-sdk-loader/{key.public}.min.js",
            "playstation": f"{root}/playstation/?sentry_key={key.public}",
            "integration": f"{root}/integration/",
            "otlp_traces": f"{root}/integration/otlp/v1/traces",
            "otlp_logs": f"{root}/integration/otlp/v1/logs",
        },
        "browserSdkVersion": key.browser_sdk_version or BROWSER_SDK_VERSIONS[0],
        "browserSdk": {"choices": [[version, version] for version in BROWSER_SDK_VERSIONS]},
        "dateCreated": isoformat(key.date_created),
        "dynamicSdkLoaderOptions": {**LOADER_DEFAULTS, **key.loader_options},
    }
