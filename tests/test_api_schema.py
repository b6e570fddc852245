"""Every issue and event endpoint's answer validates against Sentry's published OpenAPI schema.

The schema is Sentry's own (``../shared/reference/sentry-api-schema/openapi-derefed.json``, data the
project does not ship); the test skips, saying so, where a checkout lacks it. OpenAPI 3.0's
``nullable`` becomes JSON Schema's ``null`` type. Where the published schema and what Sentry's
code answers disagree, Sentry's code wins, and the relaxation is listed in ``RELAXED`` with why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import pytest_twisted

from issue_helpers import ISSUES, ORG_ISSUES, api, error_event, issue_of, send

jsonschema = pytest.importorskip("jsonschema")

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "shared" / "reference" / "sentry-api-schema" / "openapi-derefed.json"
ORG = "/api/0/organizations/{organization_id_or_slug}"
PROJECT = "/api/0/projects/{organization_id_or_slug}/{project_id_or_slug}"
# (path, method) -> keys the schema requires that Sentry's serializer only adds on request
RELAXED = {
    # StreamGroupSerializer adds these with ?expand= (or a direct hit) only, as do we.
    (f"{ORG}/issues/", "get"): {"inbox", "owners", "sessionCount", "integrationIssues", "sentryAppIssues",
                                "latestEventHasAttachments", "matchingEventId", "matchingEventEnvironment"},
    # The old project-endpoint docs list isPublic; Sentry's bulk update answers only the changed fields.
    (f"{PROJECT}/issues/", "put"): {"isPublic"},
}
# (path, method) -> keys Sentry's code answers as null where the schema types them as never null
NULLABLE = {
    # a status change that takes issues out of the inbox says "inbox": null (Sentry's own tests assert it)
    (f"{ORG}/issues/", "put"): {"inbox"},
}


# Sentry's serializer always lists every ignore condition and the actor, null when unset; the
# schema types them as never null.
NULLABLE_STATUS_DETAILS = ("ignoreCount", "ignoreUntil", "ignoreUserCount", "ignoreUserWindow", "ignoreWindow", "actor")


def _status_details_nullable(node: Any) -> None:
    if isinstance(node, dict):
        details = node.get("properties", {}).get("statusDetails")
        if isinstance(details, dict):
            for key in NULLABLE_STATUS_DETAILS:
                if key in details.get("properties", {}):
                    details["properties"][key]["nullable"] = True
        for value in node.values():
            _status_details_nullable(value)
    elif isinstance(node, list):
        for value in node:
            _status_details_nullable(value)


def _openapi_to_json_schema(node: Any) -> Any:
    if isinstance(node, list):
        return [_openapi_to_json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    converted = {k: _openapi_to_json_schema(v) for k, v in node.items() if k not in ("nullable", "example", "format")}
    if node.get("nullable"):
        return {"anyOf": [converted, {"type": "null"}]}
    return converted


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    if not SCHEMA_FILE.exists():
        pytest.skip(f"Sentry's API schema is not at {SCHEMA_FILE} (it is reference data, not shipped)")
    return json.loads(SCHEMA_FILE.read_text())


def check(schema: dict[str, Any], path: str, method: str, body: Any, status: str = "200") -> None:
    response = schema["paths"][path][method]["responses"][status]["content"]["application/json"]["schema"]
    response = json.loads(json.dumps(response))
    relaxed = RELAXED.get((path, method), set())
    target = response["items"] if response.get("type") == "array" else response
    if relaxed:
        target["required"] = [k for k in target.get("required", []) if k not in relaxed]
    for key in NULLABLE.get((path, method), ()):
        target["properties"][key]["nullable"] = True
    _status_details_nullable(response)
    jsonschema.validate(body, _openapi_to_json_schema(response))


@pytest_twisted.ensureDeferred
async def test_issue_and_event_endpoints_validate(sentry, schema):
    event = error_event(user={"id": "7", "email": "u@example.com"}, release="app@1.0", environment="prod",
                        tags={"browser": "Chrome"},
                        request={"url": "http://x.example.com/a?b=1", "method": "GET", "headers": {"Accept": "*/*"}},
                        breadcrumbs=[{"message": "m", "category": "c", "timestamp": 1.7e9}])
    event_id = await send(sentry, event)
    await send(sentry, {"message": "a message issue", "level": "warning"})
    issue = await issue_of(sentry, event_id)
    issue_path = f"/api/0/organizations/parlel/issues/{issue['id']}"

    check(schema, f"{ORG}/issues/", "get", await api(sentry, "GET", ORG_ISSUES))
    check(schema, f"{ORG}/issues/", "get", await api(sentry, "GET", ORG_ISSUES + "?query=" + quote("browser:Chrome")))
    check(schema, f"{PROJECT}/issues/", "get", await api(sentry, "GET", ISSUES))
    check(schema, f"{ORG}/issues/{{issue_id}}/", "get", await api(sentry, "GET", issue_path + "/"))
    check(schema, f"{ORG}/issues/{{issue_id}}/", "put",
          await api(sentry, "PUT", issue_path + "/", json={"hasSeen": True}))
    check(schema, f"{ORG}/issues/{{issue_id}}/events/", "get", await api(sentry, "GET", issue_path + "/events/"))
    for which in ("latest", "oldest", "recommended", event_id):
        check(schema, f"{ORG}/issues/{{issue_id}}/events/{{event_id}}/", "get",
              await api(sentry, "GET", f"{issue_path}/events/{which}/"))
    check(schema, f"{ORG}/issues/{{issue_id}}/hashes/", "get", await api(sentry, "GET", issue_path + "/hashes/"))
    check(schema, f"{ORG}/issues/{{issue_id}}/tags/{{key}}/", "get", await api(sentry, "GET", issue_path + "/tags/browser/"))
    check(schema, f"{ORG}/issues/{{issue_id}}/tags/{{key}}/values/", "get",
          await api(sentry, "GET", issue_path + "/tags/browser/values/"))
    check(schema, f"{ORG}/shortids/{{issue_id}}/", "get",
          await api(sentry, "GET", f"/api/0/organizations/parlel/shortids/{issue['shortId']}/"))
    check(schema, f"{ORG}/eventids/{{event_id}}/", "get",
          await api(sentry, "GET", f"/api/0/organizations/parlel/eventids/{event_id}/"))
    check(schema, f"{PROJECT}/events/", "get", await api(sentry, "GET", "/api/0/projects/parlel/hello-world/events/"))
    check(schema, f"{PROJECT}/events/{{event_id}}/", "get",
          await api(sentry, "GET", f"/api/0/projects/parlel/hello-world/events/{event_id}/"))
    check(schema, f"{ORG}/issues/", "put",
          await api(sentry, "PUT", f"{ORG_ISSUES}?id={issue['id']}", json={"status": "resolved"}))
    check(schema, f"{PROJECT}/issues/", "put",
          await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", json={"status": "unresolved"}))
    ignored = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}",
                        json={"status": "ignored", "statusDetails": {"ignoreCount": 5}})
    check(schema, f"{PROJECT}/issues/", "put", ignored)
    check(schema, f"{ORG}/issues/{{issue_id}}/", "get", await api(sentry, "GET", issue_path + "/"))


def test_the_check_can_fail(schema):
    with pytest.raises(jsonschema.ValidationError):
        check(schema, f"{ORG}/issues/{{issue_id}}/", "get", {"id": 1})
    with pytest.raises(jsonschema.ValidationError):
        check(schema, f"{PROJECT}/events/", "get", [{"id": "x"}])
