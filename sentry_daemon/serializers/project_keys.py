"""Client keys (DSNs) as Sentry's web API shows them, with every derived ingest URL."""

from __future__ import annotations

from typing import Any

from sentry_daemon.serializers.dsn import dsn_url
from sentry_daemon.store.records import ProjectKey
from sentry_daemon.timestamps import isoformat


def dsn(key: ProjectKey, base_url: str, secret: bool = False) -> str:
    return dsn_url(base_url, key.project.id, key.public, key.secret if secret else None)


def project_key(key: ProjectKey, base_url: str) -> dict[str, Any]:
    pid = key.project.id
    root = f"{base_url}/api/{pid}"
    return {
        "id": key.public,
        "name": key.label,
        "label": key.label,
        "public": key.public,
        "secret": key.secret,
        "projectId": pid,
        "isActive": key.is_active,
        "rateLimit": None,
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
        "browserSdkVersion": "latest",
        "browserSdk": {"choices": [["latest", "latest"]]},
        "dateCreated": isoformat(key.date_created),
        "dynamicSdkLoaderOptions": {
            "hasReplay": True,
            "hasPerformance": True,
            "hasDebug": False,
            "hasFeedback": False,
            "hasLogsAndMetrics": False,
        },
        "useCase": "user",
    }
