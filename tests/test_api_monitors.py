"""Cron monitors fed by check-in envelopes, as Sentry's consumer keeps them, and the monitor
endpoints that show them (list, detail, check-ins; under the organization and the project)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone
from typing import Any

import pytest
import pytest_twisted

from conftest import AUTH, request_json
from sentry_daemon.store import cron
from sentry_daemon.store.monitors import InvalidConfig, validate_config
from test_api_schema import ORG as SCHEMA_ORG
from test_api_schema import PROJECT as SCHEMA_PROJECT
from test_api_schema import check, schema  # noqa: F401  (the fixture)
from test_real_clients import _output, needs_cli, run_cli

MONITORS = "/api/0/organizations/parlel/monitors/"
PROJECT_MONITORS = "/api/0/projects/parlel/hello-world/monitors/"
CONFIG = {"schedule": {"type": "crontab", "value": "*/5 * * * *"}, "checkin_margin": 2, "max_runtime": 10,
          "timezone": "UTC"}


async def check_in(sentry: Any, slug: str, status: str, check_in_id: str | None = None, **fields: Any) -> str:
    """One check-in envelope, as the SDKs send it; returns its id."""
    check_in_id = check_in_id or uuid.uuid4().hex
    payload = json.dumps({"check_in_id": check_in_id, "monitor_slug": slug, "status": status, **fields}).encode()
    body = b"{}\n" + json.dumps({"type": "check_in", "length": len(payload)}).encode() + b"\n" + payload
    response, answer = await request_json("POST", f"{sentry.url}/api/1/envelope/", data=body)
    assert response.code == 200, answer
    return check_in_id


async def get(sentry: Any, path: str, expect: int = 200, headers: dict[str, str] | None = None) -> Any:
    response, body = await request_json("GET", sentry.url + path, headers=headers or AUTH)
    assert response.code == expect, (path, response.code, body)
    return body


def as_sentry_answers(schema: dict[str, Any]) -> dict[str, Any]:  # noqa: F811
    """The published schema where Sentry's code answers otherwise: ``alert_rule_id`` is in a
    config only once an alert rule is attached (ConfigValidator), and ``environments`` is a list
    (the serializer's TypedDict names one environment; the code answers all of them), and a
    monitor without an owner says ``"owner": null``, a monitor's first check-in was expected at no
    time (``"expectedTime": null``)."""
    paths = dict(schema["paths"])
    for prefix in (SCHEMA_ORG, SCHEMA_PROJECT):
        for suffix in ("", "checkins/"):
            path = f"{prefix}/monitors/{{monitor_id_or_slug}}/{suffix}"
            paths[path] = operation = json.loads(json.dumps(paths[path]))
            body = operation["get"]["responses"]["200"]["content"]["application/json"]["schema"]
            target = body["items"] if body.get("type") == "array" else body
            props = target["properties"]
            config = props.get("config") or props["monitorConfig"]
            config["required"].remove("alert_rule_id")
            if "environments" in props:
                props["environments"] = {"type": "array", "items": props["environments"]}
                props["owner"]["nullable"] = True
            else:
                props["expectedTime"]["nullable"] = True
    return {**schema, "paths": paths}


def stamp(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


@pytest_twisted.ensureDeferred
async def test_check_ins_make_and_update_a_monitor(sentry, schema):  # noqa: F811
    run = await check_in(sentry, "nightly", "in_progress", monitor_config=CONFIG, environment="prod")
    await check_in(sentry, "nightly", "ok", run, duration=1.5, environment="prod")

    (listed,) = await get(sentry, MONITORS)
    detail = await get(sentry, MONITORS + "nightly/")
    assert listed == detail == await get(sentry, PROJECT_MONITORS + "nightly/")
    assert await get(sentry, MONITORS + detail["id"] + "/") == detail  # by id too
    uuid.UUID(detail["id"])
    assert (detail["slug"], detail["name"], detail["status"], detail["type"]) == ("nightly", "nightly", "active",
                                                                                  "cron_job")
    assert detail["config"] == {"schedule_type": "crontab", "schedule": "*/5 * * * *", "checkin_margin": 2,
                                "max_runtime": 10, "timezone": "UTC", "failure_issue_threshold": None,
                                "recovery_threshold": None}
    assert detail["project"]["slug"] == "hello-world" and detail["project"]["hasMonitors"] is True
    (env,) = detail["environments"]
    assert (env["name"], env["status"], env["isMuted"], env["activeIncident"]) == ("prod", "ok", False, None)
    next_check_in = stamp(env["nextCheckIn"])
    assert next_check_in % 300 == 0 and 0 < next_check_in - stamp(env["lastCheckIn"]) <= 300
    assert stamp(env["nextCheckInLatest"]) - next_check_in == 120

    (closed,) = await get(sentry, MONITORS + "nightly/checkins/")
    assert closed["id"] == str(uuid.UUID(run)) and closed["status"] == "ok" and closed["duration"] == 1500
    assert closed["environment"] == "prod" and closed["monitorConfig"] == detail["config"]
    assert closed["dateInProgress"] is not None and closed["expectedTime"] is None
    sentry_schema = as_sentry_answers(schema)
    check(sentry_schema, f"{SCHEMA_ORG}/monitors/{{monitor_id_or_slug}}/", "get", detail)
    check(sentry_schema, f"{SCHEMA_PROJECT}/monitors/{{monitor_id_or_slug}}/", "get", detail)
    check(sentry_schema, f"{SCHEMA_ORG}/monitors/{{monitor_id_or_slug}}/checkins/", "get", [closed])
    check(sentry_schema, f"{SCHEMA_PROJECT}/monitors/{{monitor_id_or_slug}}/checkins/", "get",
          await get(sentry, PROJECT_MONITORS + "nightly/checkins/"))

    # a failure turns the environment to error; the next run expects the schedule's next slot
    failed = await check_in(sentry, "nightly", "error", environment="prod")
    detail = await get(sentry, MONITORS + "nightly/")
    assert detail["environments"][0]["status"] == "error"
    newest, oldest = await get(sentry, MONITORS + "nightly/checkins/")
    assert (newest["id"], newest["status"], oldest["id"]) == (str(uuid.UUID(failed)), "error", closed["id"])
    assert newest["expectedTime"] == env["nextCheckIn"]
    await check_in(sentry, "nightly", "ok", environment="prod")
    assert (await get(sentry, MONITORS + "nightly/"))["environments"][0]["status"] == "ok"


@pytest_twisted.ensureDeferred
async def test_check_ins_sentry_would_drop(sentry):
    # the close arrives first (SDKs send both at once): the late in_progress is ignored
    run = uuid.uuid4().hex
    await check_in(sentry, "job", "ok", run, duration=0.25)
    await check_in(sentry, "job", "in_progress", run)
    (only,) = await get(sentry, MONITORS + "job/checkins/")
    assert (only["status"], only["duration"]) == ("ok", 250)
    await check_in(sentry, "job", "error", run)  # a second close is refused
    assert [c["status"] for c in await get(sentry, MONITORS + "job/checkins/")] == ["ok"]
    for bad in ({"status": "bogus"}, {"check_in_id": "not-a-uuid"}, {"duration": -1}, {"duration": "long"},
                {"environment": "e" * 65}):
        fields = {"status": "ok", **bad}
        await check_in(sentry, "job", fields.pop("status"), fields.pop("check_in_id", None), **fields)
    assert len(await get(sentry, MONITORS + "job/checkins/")) == 1
    # an unknown slug with a config Sentry refuses makes no monitor
    await check_in(sentry, "broken", "ok", monitor_config={"schedule": {"type": "crontab", "value": "61 * * * *"}})
    await get(sentry, MONITORS + "broken/", 404)
    # the nil id closes the latest open check-in
    opened = await check_in(sentry, "job", "in_progress")
    await check_in(sentry, "job", "ok", "00000000-0000-0000-0000-000000000000")
    newest = (await get(sentry, MONITORS + "job/checkins/"))[0]
    assert (newest["id"], newest["status"]) == (str(uuid.UUID(opened)), "ok")


@pytest_twisted.ensureDeferred
async def test_monitor_without_config_and_filters(sentry):
    """A check-in without a config still makes a monitor (the fake's leniency); it has no schedule."""
    await check_in(sentry, "adhoc", "in_progress")
    detail = await get(sentry, MONITORS + "adhoc/")
    assert detail["config"] == {"schedule_type": None, "schedule": None, "checkin_margin": None,
                                "max_runtime": None, "failure_issue_threshold": None, "recovery_threshold": None}
    (env,) = detail["environments"]
    assert (env["name"], env["status"], env["nextCheckIn"]) == ("production", "active", None)
    for _ in range(3):
        await check_in(sentry, "adhoc", "ok", environment="staging")
    assert len(await get(sentry, MONITORS + "adhoc/checkins/?environment=staging")) == 3
    response, page = await request_json("GET", f"{sentry.url}{MONITORS}adhoc/checkins/?per_page=2", headers=AUTH)
    assert len(page) == 2 and 'rel="next"; results="true"' in response.headers.getRawHeaders("link")[0]
    assert await get(sentry, MONITORS + "adhoc/checkins/?statsPeriod=bad", 400) == {
        "detail": "Invalid statsPeriod: 'bad'"}
    assert [e["name"] for e in (await get(sentry, MONITORS + "adhoc/?environment=staging"))["environments"]] == [
        "staging"]
    assert [m["slug"] for m in await get(sentry, MONITORS + "?query=adh")] == ["adhoc"]
    assert await get(sentry, MONITORS + "?query=zzz") == []
    assert await get(sentry, MONITORS + "nosuch/", 404) == {"detail": "The requested resource does not exist"}
    await get(sentry, MONITORS + "nosuch/checkins/", 404)
    other = sentry.store.create_project(sentry.store.organization("parlel"), "other")
    await get(sentry, f"/api/0/projects/parlel/{other.slug}/monitors/adhoc/", 404)


@pytest_twisted.ensureDeferred
async def test_monitor_scopes(sentry):
    await check_in(sentry, "nightly", "ok")
    sentry.store.add_token("sntrys_events_only", ["event:read"])
    sentry.store.add_token("sntrys_alerts_only", ["alerts:read"])
    denied = {"Authorization": "Bearer sntrys_events_only"}
    for path in (MONITORS, MONITORS + "nightly/", MONITORS + "nightly/checkins/", PROJECT_MONITORS + "nightly/"):
        assert await get(sentry, path, 403, denied) == {"detail": "You do not have permission to perform this action."}
        await get(sentry, path, headers={"Authorization": "Bearer sntrys_alerts_only"})


def test_config_validation_as_sentry():
    assert validate_config({"schedule": {"type": "interval", "value": 2, "unit": "hour"}, "checkin_margin": 0}) == {
        "schedule_type": "interval", "schedule": [2, "hour"], "checkin_margin": 1, "max_runtime": None,
        "failure_issue_threshold": None, "recovery_threshold": None}
    daily = validate_config({"schedule_type": "crontab", "schedule": "@daily", "timezone": ""})
    assert daily["schedule"] == "0 0 * * *" and "timezone" not in daily
    for config, errors in (
        ({"schedule": "* * * * *"}, {"schedule_type": ["Missing or invalid schedule type"]}),
        ({"schedule": {"type": "crontab", "value": "* * * * * *"}},
         {"schedule": ["Only 5 field crontab syntax is supported"]}),
        ({"schedule": {"type": "crontab", "value": "0 0 30 2 *"}}, {"schedule": ["Schedule is invalid"]}),
        ({"schedule": {"type": "interval", "value": 0, "unit": "day"}},
         {"schedule": ["Interval must be greater than zero"]}),
        ({"schedule": {"type": "interval", "value": 1, "unit": "fortnight"}},
         {"schedule": ["Invalid schedule for schedule unit name"]}),
        ({"schedule": {"type": "crontab", "value": "* * * * *"}, "timezone": "Mars/Base"},
         {"timezone": ['"Mars/Base" is not a valid choice.']}),
        ({"schedule": {"type": "crontab", "value": "* * * * *"}, "max_runtime": 50000},
         {"max_runtime": ["Ensure this value is less than or equal to 40320."]}),
        ({}, {"schedule": ["This field is required."]}),
    ):
        with pytest.raises(InvalidConfig) as raised:
            validate_config(config)
        assert raised.value.errors == errors


def _utc(*parts: int) -> float:
    return datetime(*parts, tzinfo=timezone.utc).timestamp()


@pytest.mark.parametrize(("schedule_type", "schedule", "after", "tz", "expected"), [
    ("crontab", "*/5 * * * *", _utc(2024, 1, 1, 10, 2, 30), None, _utc(2024, 1, 1, 10, 5)),
    ("crontab", "*/5 * * * *", _utc(2024, 1, 1, 10, 5), None, _utc(2024, 1, 1, 10, 10)),
    ("crontab", "0 9 * * mon-fri", _utc(2024, 1, 5, 12, 0), None, _utc(2024, 1, 8, 9, 0)),  # Fri -> Mon
    ("crontab", "0 0 1,15 * 0", _utc(2024, 1, 2, 0, 0), None, _utc(2024, 1, 7, 0, 0)),  # dom OR dow
    ("crontab", "30 2 * jan,feb *", _utc(2024, 2, 29, 3, 0), None, _utc(2025, 1, 1, 2, 30)),
    ("crontab", "0 9 * * *", _utc(2024, 7, 1, 0, 0), "Europe/Vienna", _utc(2024, 7, 1, 7, 0)),  # CEST
    ("interval", [2, "hour"], _utc(2024, 1, 1, 10, 17, 45), None, _utc(2024, 1, 1, 12, 17)),
    ("interval", [1, "month"], _utc(2024, 1, 31, 8, 0), None, _utc(2024, 3, 31, 8, 0)),  # rrule skips Feb 31
])
def test_next_fire(schedule_type, schedule, after, tz, expected):
    assert cron.next_fire(schedule_type, schedule, after, tz) == expected


@pytest.mark.parametrize("text", ["* * * *", "60 * * * *", "* 24 * * *", "* * 0 * *", "* * * 13 *", "5-1 * * * *",
                                  "*/0 * * * *", "L * * * *", "* * * * 8"])
def test_invalid_crontabs(text):
    with pytest.raises(cron.InvalidSchedule):
        cron.parse_crontab(text)


# --- the real sentry-cli -------------------------------------------------------------------------


@needs_cli
@pytest_twisted.ensureDeferred
async def test_cli_monitors_run_and_list(sentry, tmp_path):
    done = await run_cli(sentry, tmp_path, "monitors", "run", "my-cron", "--", "true")
    assert done.returncode == 0, _output(done)
    scheduled = await run_cli(sentry, tmp_path, "monitors", "run", "-s", "*/5 * * * *", "--check-in-margin", "2",
                              "--max-runtime", "10", "--timezone", "UTC", "scheduled", "--", "sh", "-c", "exit 3")
    assert scheduled.returncode == 3, _output(scheduled)

    (run,) = await get(sentry, MONITORS + "my-cron/checkins/")
    assert run["status"] == "ok" and isinstance(run["duration"], int) and run["environment"] == "production"
    detail = await get(sentry, MONITORS + "scheduled/")
    assert detail["config"]["schedule"] == "*/5 * * * *" and detail["config"]["checkin_margin"] == 2
    assert detail["environments"][0]["status"] == "error" and detail["environments"][0]["nextCheckIn"]
    assert [c["status"] for c in await get(sentry, MONITORS + "scheduled/checkins/")] == ["error"]

    listed = await run_cli(sentry, tmp_path, "monitors", "list", timeout=30)
    assert listed.returncode == 0, _output(listed)
    assert "my-cron" in listed.stdout.decode() and "scheduled" in listed.stdout.decode()


@pytest_twisted.ensureDeferred
async def test_deleting_a_project_takes_its_monitors(sentry):
    response, created = await request_json("POST", sentry.url + "/api/0/teams/parlel/parlel/projects/",
                                           headers=AUTH, json={"name": "Jobs", "slug": "jobs"})
    assert response.code == 201
    key = sentry.store.project_keys(sentry.store.projects[int(created["id"])])[0].public
    response, _ = await request_json(
        "POST", f"{sentry.url}/api/{created['id']}/envelope/",
        headers={"X-Sentry-Auth": f"Sentry sentry_key={key}, sentry_version=7"},
        data=b'{}\n{"type":"check_in"}\n' + json.dumps({"check_in_id": uuid.uuid4().hex, "monitor_slug": "nightly",
                                                       "status": "ok"}).encode() + b"\n")
    assert response.code == 200
    assert [m["slug"] for m in await get(sentry, "/api/0/organizations/parlel/monitors/")] == ["nightly"]
    response, _ = await request_json("DELETE", sentry.url + "/api/0/projects/parlel/jobs/", headers=AUTH)
    assert response.code == 204
    assert await get(sentry, "/api/0/organizations/parlel/monitors/") == []
    await get(sentry, "/api/0/organizations/parlel/monitors/nightly/", expect=404)
