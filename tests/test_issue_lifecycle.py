"""An issue's lifecycle over the web API: resolve, regress, resolve in (next) release, ignore until a
condition passes, new → ongoing, and the per-user flags, as Sentry runs them."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import pytest_twisted
from treq.testing import StubTreq
from twisted.internet.testing import MemoryReactorClock

from conftest import AUTH
from issue_helpers import ISSUES, api, error_event, issue_of, send, titles
from sentry_daemon.service import Config, SentryService


async def resolve(sentry: Any, issue_id: str, **body: Any) -> dict[str, Any]:
    return await api(sentry, "PUT", f"{ISSUES}?id={issue_id}", json={"status": "resolved", **body})


@pytest_twisted.ensureDeferred
async def test_a_new_event_regresses_a_resolved_issue(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event()))
    assert (issue["status"], issue["substatus"], issue["priority"]) == ("unresolved", "new", "high")
    body = await resolve(sentry, issue["id"])
    assert body == {"status": "resolved", "statusDetails": {}, "inbox": None}
    again = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert (again["status"], again["substatus"], again["statusDetails"]) == ("resolved", None, {})
    assert await titles(sentry, "is:resolved") == ["KeyError: 'k'"]
    await send(sentry, error_event())
    again = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert (again["status"], again["substatus"], again["count"]) == ("unresolved", "regressed", "2")
    assert await titles(sentry, "is:regressed") == ["KeyError: 'k'"]
    assert "set_regression" in [a["type"] for a in again["activity"]]


@pytest_twisted.ensureDeferred
async def test_resolved_in_a_release_regresses_only_from_that_release_on(sentry):
    for release in ("1.0", "2.0", "3.0"):
        last = await send(sentry, error_event(release=release))
    issue = await issue_of(sentry, last)
    body = await resolve(sentry, issue["id"], statusDetails={"inRelease": "2.0"})
    assert body["statusDetails"]["inRelease"] == "2.0" and body["statusDetails"]["actor"]["id"] == "1"
    detail = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert detail["statusDetails"]["inRelease"] == "2.0"
    await send(sentry, error_event(release="1.0"))  # an older release: still resolved
    assert (await api(sentry, "GET", f"/api/0/issues/{issue['id']}/"))["status"] == "resolved"
    await send(sentry, error_event())  # no release at all: still resolved
    assert (await api(sentry, "GET", f"/api/0/issues/{issue['id']}/"))["status"] == "resolved"
    await send(sentry, error_event(release="2.0"))  # the release it was resolved in: regressed
    assert (await api(sentry, "GET", f"/api/0/issues/{issue['id']}/"))["substatus"] == "regressed"
    unknown = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", expect=400,
                        json={"status": "resolved", "statusDetails": {"inRelease": "9.9"}})
    assert unknown == {"statusDetails": {"inRelease": ["Unable to find a release with the given version."]}}


@pytest_twisted.ensureDeferred
async def test_resolved_in_the_next_release(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event(release="1.0")))
    body = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", json={"status": "resolvedInNextRelease"})
    assert body["status"] == "resolved" and body["statusDetails"]["inNextRelease"] is True
    detail = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert detail["statusDetails"]["inNextRelease"] is True
    await send(sentry, error_event(release="1.0"))  # the current release: not a regression
    assert (await api(sentry, "GET", f"/api/0/issues/{issue['id']}/"))["status"] == "resolved"
    await send(sentry, error_event(release="1.1"))  # the next release still throws it
    assert (await api(sentry, "GET", f"/api/0/issues/{issue['id']}/"))["substatus"] == "regressed"


@pytest_twisted.ensureDeferred
async def test_next_release_needs_a_release(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event()))
    body = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", expect=400,
                     json={"status": "resolved", "statusDetails": {"inNextRelease": True}})
    assert body == {"statusDetails": {"inNextRelease": [
        "No release data present in the system to form a basis for 'Next Release'"]}}


@pytest_twisted.ensureDeferred
async def test_ignored_for_a_number_of_events_comes_back_escalating(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event()))
    body = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}",
                     json={"status": "ignored", "statusDetails": {"ignoreCount": 2}})
    assert body["status"] == "ignored" and body["inbox"] is None
    assert body["statusDetails"]["ignoreCount"] == 2 and body["statusDetails"]["ignoreUntil"] is None
    detail = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert (detail["status"], detail["substatus"]) == ("ignored", "archived_until_condition_met")
    assert await titles(sentry, "is:archived") == ["KeyError: 'k'"]
    await send(sentry, error_event())
    detail = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert detail["status"] == "ignored" and detail["statusDetails"]["ignoreCount"] == 1  # one still to go
    await send(sentry, error_event())
    detail = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert (detail["status"], detail["substatus"]) == ("unresolved", "escalating")
    assert await titles(sentry, "is:escalating") == ["KeyError: 'k'"]


@pytest_twisted.ensureDeferred
async def test_ignored_for_a_number_of_users(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event(user={"id": "1"})))
    await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", json={"status": "ignored", "ignoreUserCount": 2})
    for who in ("1", "2"):  # user 1 was seen already
        await send(sentry, error_event(user={"id": who}))
    assert (await api(sentry, "GET", f"/api/0/issues/{issue['id']}/"))["status"] == "ignored"
    await send(sentry, error_event(user={"id": "3"}))
    assert (await api(sentry, "GET", f"/api/0/issues/{issue['id']}/"))["substatus"] == "escalating"


@pytest_twisted.ensureDeferred
async def test_ignored_forever_and_until_escalating(sentry):
    forever = await issue_of(sentry, await send(sentry, error_event("a")))
    body = await api(sentry, "PUT", f"{ISSUES}?id={forever['id']}", json={"status": "ignored"})
    assert body == {"status": "ignored", "statusDetails": {}, "inbox": None}
    await send(sentry, error_event("a"))
    detail = await api(sentry, "GET", f"/api/0/issues/{forever['id']}/")
    assert (detail["status"], detail["substatus"]) == ("ignored", "archived_forever")
    escalating = await issue_of(sentry, await send(sentry, error_event("b")))
    body = await api(sentry, "PUT", f"{ISSUES}?id={escalating['id']}",
                     json={"status": "ignored", "substatus": "archived_until_escalating"})
    assert body["statusDetails"] == {"ignoreUntilEscalating": True}
    for _ in range(11):  # more than ten an hour
        await send(sentry, error_event("b"))
    detail = await api(sentry, "GET", f"/api/0/issues/{escalating['id']}/")
    assert (detail["status"], detail["substatus"]) == ("unresolved", "escalating")


@pytest_twisted.ensureDeferred
async def test_an_issue_first_seen_over_a_week_ago_is_ongoing(sentry):
    old = await issue_of(sentry, await send(sentry, error_event("old", age=8 * 86400)))
    new = await issue_of(sentry, await send(sentry, error_event("fresh", age=6 * 86400)))
    assert (old["substatus"], new["substatus"]) == ("ongoing", "new")
    assert await titles(sentry, "is:ongoing") == [old["title"]]
    assert await titles(sentry, "is:new") == [new["title"]]
    assert await titles(sentry, "is:for_review") == [new["title"]]


@pytest_twisted.ensureDeferred
async def test_unresolving_and_marking_reviewed(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event()))
    await resolve(sentry, issue["id"])
    single = await api(sentry, "PUT", f"/api/0/organizations/parlel/issues/{issue['id']}/", json={"status": "unresolved"})
    assert (single["status"], single["substatus"]) == ("unresolved", "regressed")  # one issue: Sentry says regressed
    body = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", json={"inbox": False})
    assert body == {"inbox": False}
    detail = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert detail["substatus"] == "ongoing"
    assert await titles(sentry, "is:for_review") == []


@pytest_twisted.ensureDeferred
async def test_assignment_to_the_user_or_a_team(sentry):
    first = await issue_of(sentry, await send(sentry, error_event("a")))
    second = await issue_of(sentry, await send(sentry, error_event("b")))
    body = await api(sentry, "PUT", f"{ISSUES}?id={first['id']}", json={"assignedTo": "sentryfake@localhost"})
    assert body == {"assignedTo": {"email": "sentryfake@localhost", "type": "user", "id": "1",
                                   "name": "sentryfake@localhost"}}
    team = (await api(sentry, "GET", "/api/0/organizations/parlel/"))["teams"][0]
    body = await api(sentry, "PUT", f"{ISSUES}?id={second['id']}", json={"assignedTo": f"team:{team['id']}"})
    assert body == {"assignedTo": {"type": "team", "id": team["id"], "name": "parlel"}}
    assert await titles(sentry, "assigned:me") == [first["title"], second["title"]]  # the user is in the team
    assert await titles(sentry, "assigned:#parlel") == [second["title"]]
    assert await titles(sentry, "is:assigned") == [first["title"], second["title"]]
    await api(sentry, "PUT", f"{ISSUES}?id={first['id']}", json={"assignedTo": None})
    assert await titles(sentry, "is:unassigned") == [first["title"]]
    assert await titles(sentry, "assigned:none") == [first["title"]]
    bad = await api(sentry, "PUT", f"{ISSUES}?id={first['id']}", expect=400, json={"assignedTo": "nobody@x"})
    assert bad == {"assignedTo": ["Unknown actor input"]}


@pytest_twisted.ensureDeferred
async def test_bookmarks_seen_subscriptions_sharing_and_priority(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event()))
    assert (issue["isBookmarked"], issue["hasSeen"], issue["isSubscribed"], issue["isPublic"]) == (
        False, False, False, False)
    body = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}",
                     json={"isBookmarked": True, "hasSeen": True, "isPublic": True, "priority": "low"})
    assert body["isBookmarked"] is True and body["hasSeen"] is True and body["priority"] == "low"
    assert body["isPublic"] is True and len(body["shareId"]) == 32
    detail = await api(sentry, "GET", f"/api/0/issues/{issue['id']}/")
    assert (detail["isBookmarked"], detail["hasSeen"], detail["isSubscribed"], detail["isPublic"]) == (
        True, True, True, True)
    assert detail["priority"] == "low" and detail["priorityLockedAt"] is not None
    assert [u["id"] for u in detail["seenBy"]] == ["1"]
    assert await titles(sentry, "bookmarks:me") == [issue["title"]]
    assert await titles(sentry, "issue.priority:low") == [issue["title"]]
    bad = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", expect=400, json={"hasSeen": "maybe"})
    assert bad == {"hasSeen": ["Must be a valid boolean."]}


@pytest.fixture
def clocked():
    """The daemon's resource in memory, on a clock the test moves (``treq.testing.StubTreq``)."""
    clock = MemoryReactorClock()
    clock.advance(time.time())
    service = SentryService(Config(port="tcp:0:interface=127.0.0.1"), reactor=clock)
    return clock, StubTreq(service.site.resource)


def test_ignored_for_a_duration_comes_back_when_it_is_over(clocked):
    clock, client = clocked

    def call(method: str, path: str, body: Any = None) -> Any:
        d = client.request(method, "http://127.0.0.1:4773" + path, headers=AUTH,
                           data=json.dumps(body).encode() if body is not None else None)
        client.flush()
        response = d.result
        content = response.content()
        client.flush()
        return response.code, json.loads(content.result) if content.result else None

    code, body = call("POST", "/api/1/store/", error_event())
    assert code == 200
    code, issues = call("GET", ISSUES)
    issue_id = issues[0]["id"]
    code, body = call("PUT", f"{ISSUES}?id={issue_id}", {"status": "ignored", "statusDetails": {"ignoreDuration": 30}})
    assert code == 200 and body["statusDetails"]["ignoreUntil"] is not None
    clock.advance(29 * 60)
    assert call("GET", f"/api/0/issues/{issue_id}/")[1]["status"] == "ignored"
    clock.advance(2 * 60)
    detail = call("GET", f"/api/0/issues/{issue_id}/")[1]
    assert (detail["status"], detail["substatus"]) == ("unresolved", "ongoing")
