"""The issue and event endpoints over real HTTP: lookups, events, hashes, tags, merging, deleting,
search, sorting, the organization list, and Sentry's answers to bad input."""

from __future__ import annotations

import re
import time
from urllib.parse import quote

import pytest_twisted

from conftest import request_json
from issue_helpers import ISSUES, ORG_ISSUES, api, error_event, issue_of, send, titles


@pytest_twisted.ensureDeferred
async def test_issue_fields(sentry):
    event = error_event(age=2 * 3600, user={"id": "7", "email": "u@example.com"}, release="app@1.2.3",
                        environment="prod", logger="app.views", tags={"server": "web-1"})
    event["exception"]["values"][0]["mechanism"]["handled"] = False
    issue = await issue_of(sentry, await send(sentry, event))
    assert issue["shortId"] == "HELLO-WORLD-1" and issue["id"].isdigit()
    assert (issue["title"], issue["culprit"], issue["type"], issue["level"]) == (
        "KeyError: 'k'", "app.views in handle", "error", "error")
    assert (issue["logger"], issue["platform"], issue["count"], issue["userCount"]) == ("app.views", "python", "1", 1)
    assert issue["metadata"]["type"] == "KeyError" and issue["metadata"]["function"] == "handle"
    assert issue["metadata"]["filename"] == "app/views.py"
    assert (issue["issueType"], issue["issueCategory"], issue["isUnhandled"]) == ("error", "error", True)
    assert issue["project"] == {"id": "1", "name": "hello-world", "slug": "hello-world", "platform": "python"}
    assert issue["permalink"] == f"{sentry.url}/organizations/parlel/issues/{issue['id']}/"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", issue["firstSeen"])
    assert issue["firstRelease"]["version"] == "app@1.2.3" and issue["firstRelease"]["shortVersion"] == "1.2.3"
    assert issue["lastRelease"]["version"] == "app@1.2.3"
    hours = issue["stats"]["24h"]
    assert len(hours) == 24 and [n for _, n in hours][-3] == 1 and sum(n for _, n in hours) == 1
    assert len(issue["stats"]["30d"]) == 30
    assert {t["key"] for t in issue["tags"]} >= {"level", "environment", "release", "user", "server", "handled"}
    for path in (f"/api/0/issues/{issue['id']}/", f"/api/0/groups/{issue['id']}/",
                 f"/api/0/organizations/parlel/groups/{issue['id']}/",
                 f"/api/0/organizations/parlel/issues/{issue['shortId']}/",
                 f"/api/0/organizations/parlel/issues/{issue['shortId'].lower()}/"):
        assert (await api(sentry, "GET", path))["id"] == issue["id"], path
    lookup = await api(sentry, "GET", f"/api/0/organizations/parlel/shortids/{issue['shortId']}/")
    assert (lookup["groupId"], lookup["projectSlug"], lookup["group"]["id"]) == (issue["id"], "hello-world", issue["id"])


@pytest_twisted.ensureDeferred
async def test_short_ids_count_in_base32(sentry):
    for n in range(42):
        last = await send(sentry, error_event(f"f{n}"))
    issue = await issue_of(sentry, last)
    assert issue["shortId"] == "HELLO-WORLD-1A"  # the 42nd issue of the project
    assert (await api(sentry, "GET", "/api/0/organizations/parlel/issues/hello-world-1a/"))["id"] == issue["id"]


@pytest_twisted.ensureDeferred
async def test_issue_events(sentry):
    ids = [await send(sentry, error_event(age=age, environment=env, user={"id": who}))
           for age, env, who in ((300, "prod", "a"), (200, "staging", "b"), (100, "prod", "a"))]
    issue = await issue_of(sentry, ids[0])
    base = f"/api/0/organizations/parlel/issues/{issue['id']}/events/"
    listed = await api(sentry, "GET", base)
    assert [e["eventID"] for e in listed] == ids[::-1]  # newest first
    first = listed[0]
    assert set(first) == {"id", "event.type", "groupID", "eventID", "projectID", "message", "title", "location",
                          "culprit", "user", "tags", "platform", "dateCreated", "crashFile", "metadata"}
    assert first["groupID"] == issue["id"] and first["event.type"] == "error"
    full = await api(sentry, "GET", base + "?full=true")
    assert full[0]["entries"][0]["type"] == "exception"
    assert [e["eventID"] for e in await api(sentry, "GET", base + "?environment=staging")] == [ids[1]]
    assert [e["eventID"] for e in await api(sentry, "GET", base + "?query=user.id:a")] == [ids[2], ids[0]]
    latest = await api(sentry, "GET", base + "latest/")
    oldest = await api(sentry, "GET", base + "oldest/")
    assert (latest["eventID"], oldest["eventID"]) == (ids[2], ids[0])
    assert (await api(sentry, "GET", base + "recommended/"))["eventID"] == ids[2]
    middle = await api(sentry, "GET", f"{base}{ids[1]}/")
    assert (middle["previousEventID"], middle["nextEventID"]) == (ids[0], ids[2])
    assert (oldest["previousEventID"], latest["nextEventID"]) == (None, None)
    missing = await api(sentry, "GET", base + "0" * 32 + "/", expect=404)
    assert missing == {"detail": "Event not found. The event ID may be incorrect, or it's age exceeded the "
                                 "retention period."}
    none = await api(sentry, "GET", base + "latest/?environment=dev", expect=404)
    assert none == {"detail": "No matching event found, try changing the environments, date range, or query."}


@pytest_twisted.ensureDeferred
async def test_event_detail_rendering(sentry):
    event = error_event(user={"id": "7", "email": "u@example.com"}, release="app@2", tags={"feature": "cart"},
                        request={"url": "http://shop.example.com/cart?id=3", "method": "POST",
                                 "headers": {"Content-Type": "application/json"}},
                        breadcrumbs=[{"message": "clicked", "category": "ui", "timestamp": 1.7e9}],
                        extra={"basket": 3}, contexts={"os": {"name": "Linux", "version": "6.1"}})
    event["exception"]["values"][0]["stacktrace"]["frames"][1].update(
        pre_context=["def handle(key):", "    data = load()"], post_context=["", "# end"], vars={"key": "'k'"})
    event_id = await send(sentry, event)
    body = await api(sentry, "GET", f"/api/0/projects/parlel/hello-world/events/{event_id}/")
    assert (body["eventID"], body["id"], body["projectID"], body["title"]) == (event_id, event_id, "1", "KeyError: 'k'")
    assert (body["culprit"], body["location"], body["type"], body["platform"]) == (
        "app.views in handle", "app/views.py", "error", "python")
    assert [e["type"] for e in body["entries"]] == ["exception", "breadcrumbs", "request"]
    frames = body["entries"][0]["data"]["values"][0]["stacktrace"]["frames"]
    assert frames[1]["context"] == [[7, "def handle(key):"], [8, "    data = load()"], [9, "return data[key]"],
                                    [10, ""], [11, "# end"]]
    assert (frames[1]["lineNo"], frames[1]["inApp"], frames[1]["absPath"], frames[1]["vars"]) == (
        9, True, "/srv/app/views.py", {"key": "'k'"})
    request = body["entries"][2]["data"]
    assert request["url"] == "http://shop.example.com/cart" and request["query"] == [["id", "3"]]
    assert request["method"] == "POST" and ["Content-Type", "application/json"] in request["headers"]
    assert body["entries"][1]["data"]["values"][0]["message"] == "clicked"
    tags = {t["key"]: t for t in body["tags"]}
    assert tags["feature"]["value"] == "cart" and tags["release"]["value"] == "app@2"
    assert tags["user"] == {"key": "user", "value": "id:7", "query": 'user.id:"7"'}
    assert [t["key"] for t in body["tags"]] == sorted(t["key"] for t in body["tags"])
    assert body["user"]["id"] == "7" and body["user"]["email"] == "u@example.com"
    assert body["contexts"]["os"] == {"name": "Linux", "version": "6.1", "type": "os"}
    assert body["context"] == {"basket": 3} and body["release"]["version"] == "app@2"
    assert body["groupingConfig"]["id"] == "newstyle:2023-01-11"
    assert body["fingerprints"] and body["size"] > 0
    assert body["groupID"] == (await issue_of(sentry, event_id))["id"]
    missing = await api(sentry, "GET", "/api/0/projects/parlel/hello-world/events/" + "0" * 32 + "/", expect=404)
    assert missing == {"detail": "Event not found"}
    listed = await api(sentry, "GET", "/api/0/projects/parlel/hello-world/events/")
    assert [e["eventID"] for e in listed] == [event_id]
    lookup = await api(sentry, "GET", f"/api/0/organizations/parlel/eventids/{event_id}/")
    assert (lookup["eventId"], lookup["projectSlug"], lookup["event"]["eventID"]) == (event_id, "hello-world", event_id)
    bad = await api(sentry, "GET", "/api/0/organizations/parlel/eventids/nope/", expect=400)
    assert "Event ID must be a valid UUID hex" in bad["detail"]
    await api(sentry, "GET", "/api/0/organizations/parlel/eventids/" + "0" * 32 + "/", expect=404)


@pytest_twisted.ensureDeferred
async def test_hashes_merge_and_delete(sentry):
    a = await issue_of(sentry, await send(sentry, error_event("a")))
    b = await issue_of(sentry, await send(sentry, error_event("b")))
    await send(sentry, error_event("b"))
    hashes_a = await api(sentry, "GET", f"/api/0/organizations/parlel/issues/{a['id']}/hashes/")
    assert len(hashes_a) == 1 and set(hashes_a[0]) == {"id", "latestEvent", "mergedBySeer", "seerMatchDistance"}
    body = await api(sentry, "PUT", f"{ISSUES}?id={a['id']}&id={b['id']}", json={"merge": 1})
    assert body == {"merge": {"parent": b["id"], "children": [a["id"]]}}  # the one with more events
    merged = await api(sentry, "GET", f"/api/0/issues/{b['id']}/")
    assert merged["count"] == "3"
    hashes = await api(sentry, "GET", f"/api/0/issues/{b['id']}/hashes/")
    assert hashes_a[0]["id"] in [h["id"] for h in hashes] and len(hashes) == 2
    assert (await api(sentry, "GET", f"/api/0/issues/{a['id']}/"))["id"] == b["id"]  # the old id answers
    assert len(await api(sentry, "GET", f"/api/0/issues/{b['id']}/events/")) == 3
    # a new event of the merged issue joins the parent
    event_id = await send(sentry, error_event("a"))
    assert (await issue_of(sentry, event_id))["id"] == b["id"]
    response, _ = await request_json("DELETE", f"{sentry.url}/api/0/organizations/parlel/issues/{b['id']}/",
                                     headers={"Authorization": "Bearer sntrys_parlel"})
    assert response.code == 202
    await api(sentry, "GET", f"/api/0/issues/{b['id']}/", expect=404)
    c = await issue_of(sentry, await send(sentry, error_event("c")))
    await api(sentry, "DELETE", f"{ISSUES}?id={c['id']}", expect=204)
    await api(sentry, "GET", f"/api/0/issues/{c['id']}/", expect=404)
    assert await api(sentry, "GET", ISSUES + "?query=") == []


@pytest_twisted.ensureDeferred
async def test_tags_of_an_issue(sentry):
    for who, browser in (("1", "Chrome"), ("2", "Chrome"), ("3", "Firefox")):
        last = await send(sentry, error_event(user={"id": who}, tags={"browser": browser}))
    issue = await issue_of(sentry, last)
    base = f"/api/0/organizations/parlel/issues/{issue['id']}/tags/"
    keys = {t["key"]: t for t in await api(sentry, "GET", base)}
    browser = keys["browser"]
    assert (browser["name"], browser["uniqueValues"], browser["totalValues"]) == ("Browser", 2, 3)
    assert [(v["value"], v["count"]) for v in browser["topValues"]] == [("Chrome", 2), ("Firefox", 1)]
    user = await api(sentry, "GET", base + "user/")
    assert user["name"] == "User" and user["uniqueValues"] == 3
    values = await api(sentry, "GET", base + "browser/values/?sort=count")
    assert [(v["value"], v["count"], v["key"]) for v in values] == [("Chrome", 2, "browser"), ("Firefox", 1, "browser")]
    assert all(v["firstSeen"] and v["lastSeen"] for v in values)
    users = await api(sentry, "GET", base + "user/values/")
    assert {v["name"] for v in users} == {"1", "2", "3"} and users[0]["query"].startswith("user.id:")
    await api(sentry, "GET", base + "nosuchtag/", expect=404)
    await api(sentry, "GET", base + "nosuchtag/values/", expect=404)


@pytest_twisted.ensureDeferred
async def test_search_by_event_fields(sentry):
    await send(sentry, error_event("pay", "CardError", "declined", user={"email": "jo@example.com"},
                                   release="1.0", environment="prod", tags={"server_name": "web-1"}))
    await send(sentry, error_event("ship", "ValueError", "bad zip", environment="staging",
                                   tags={"server_name": "web-2"}, release="2.0"))
    await send(sentry, {"message": "disk almost full", "level": "warning", "environment": "prod"})
    cases = {
        "error.type:CardError": ["CardError: declined"],
        "error.value:*zip": ["ValueError: bad zip"],
        "stack.function:ship": ["ValueError: bad zip"],
        "stack.module:app.views": ["CardError: declined", "ValueError: bad zip"],
        "user.email:jo@example.com": ["CardError: declined"],
        "server_name:web-2": ["ValueError: bad zip"],
        "!server_name:web-2": ["CardError: declined", "disk almost full"],
        "has:server_name": ["CardError: declined", "ValueError: bad zip"],
        "!has:server_name": ["disk almost full"],
        "level:warning": ["disk almost full"],
        "level:[warning, fatal]": ["disk almost full"],
        "environment:prod": ["CardError: declined", "disk almost full"],
        "release:latest": ["ValueError: bad zip"],
        "release:1.0": ["CardError: declined"],
        "firstRelease:1.0": ["CardError: declined"],
        "times_seen:>1": [],
        "times_seen:1": ["CardError: declined", "ValueError: bad zip", "disk almost full"],
        "lastSeen:-1h": ["CardError: declined", "ValueError: bad zip", "disk almost full"],
        "lastSeen:+1h": [],
        "age:-1d": ["CardError: declined", "ValueError: bad zip", "disk almost full"],
        "disk full": [],
        "almost": ["disk almost full"],
        "DECLINED": ["CardError: declined"],
        "app.views": ["CardError: declined", "ValueError: bad zip"],
        "message:zip": ["ValueError: bad zip"],
        "title:\"CardError: declined\"": ["CardError: declined"],
        "issue.category:error event.type:default": ["disk almost full"],
        "error.handled:1 error.type:CardError": ["CardError: declined"],
        "error.unhandled:true": [],
        "platform:python !event.type:default": ["CardError: declined", "ValueError: bad zip"],
        "tags[server_name]:web-1": ["CardError: declined"],
        "is:unresolved issue:HELLO-WORLD-2": ["ValueError: bad zip"],
    }
    for query, expected in cases.items():
        assert await titles(sentry, query) == expected, query
    both = await api(sentry, "GET", f"{ISSUES}?query=&environment=staging")
    assert [i["title"] for i in both] == ["ValueError: bad zip"]
    await api(sentry, "GET", f"{ISSUES}?environment=nowhere", expect=404)


@pytest_twisted.ensureDeferred
async def test_an_issue_matches_when_one_event_matches_every_condition(sentry):
    await send(sentry, error_event(tags={"region": "eu"}, user={"id": "1"}))
    await send(sentry, error_event(tags={"region": "us"}, user={"id": "2"}))
    assert await titles(sentry, "region:eu user.id:1") == ["KeyError: 'k'"]
    assert await titles(sentry, "region:eu user.id:2") == []  # no single event has both
    body = await api(sentry, "GET", f"{ORG_ISSUES}?query={quote('region:eu')}")
    assert body[0]["count"] == "1" and body[0]["filtered"]["count"] == "1" and body[0]["lifetime"]["count"] == "2"


@pytest_twisted.ensureDeferred
async def test_sorting(sentry):
    await send(sentry, error_event("old", age=3600))
    for _ in range(3):
        await send(sentry, error_event("busy", age=1800, user={"id": "x"}))
    await send(sentry, error_event("recent", user={"id": "a"}))
    await send(sentry, error_event("recent", user={"id": "b"}))

    async def order(sort: str) -> list[str]:
        return [i["culprit"].split()[-1] for i in await api(sentry, "GET", f"{ISSUES}?sort={sort}")]

    assert await order("date") == ["recent", "busy", "old"]
    assert await order("new") == ["recent", "busy", "old"]
    assert await order("freq") == ["busy", "recent", "old"]
    assert await order("user") == ["recent", "busy", "old"]
    assert await order("trends") == ["busy", "recent", "old"]  # events in the last day, then recency
    bad = await api(sentry, "GET", f"{ISSUES}?sort=meow", expect=400)
    assert bad == {"detail": "Sort key 'meow' not supported."}


@pytest_twisted.ensureDeferred
async def test_organization_issue_list(sentry):
    await send(sentry, error_event("one"))
    await send(sentry, error_event("two"), project=5)
    body = await api(sentry, "GET", ORG_ISSUES)
    assert sorted(i["project"]["id"] for i in body) == ["1", "5"]
    first = body[0]
    assert first["filtered"] is None and first["lifetime"]["count"] == "1" and len(first["stats"]["24h"]) == 24
    assert "derivedData" in first and "inbox" not in first
    assert [i["project"]["id"] for i in await api(sentry, "GET", ORG_ISSUES + "?project=5")] == ["5"]
    assert len(await api(sentry, "GET", ORG_ISSUES + "?project=-1")) == 2
    await api(sentry, "GET", ORG_ISSUES + "?project=999", expect=403)
    expanded = await api(sentry, "GET", ORG_ISSUES + "?expand=inbox&groupStatsPeriod=14d&collapse=lifetime")
    assert expanded[0]["inbox"]["reason"] == 0 and len(expanded[0]["stats"]["14d"]) == 14
    assert "lifetime" not in expanded[0]
    assert "stats" not in (await api(sentry, "GET", ORG_ISSUES + "?groupStatsPeriod="))[0]
    short = first["shortId"]
    response, hit = await request_json("GET", f"{sentry.url}{ORG_ISSUES}?shortIdLookup=1&query={short}",
                                       headers={"Authorization": "Bearer sntrys_parlel"})
    assert response.headers.getRawHeaders("x-sentry-direct-hit") == ["1"] and [i["id"] for i in hit] == [first["id"]]
    event_id = (await api(sentry, "GET", f"/api/0/organizations/parlel/issues/{first['id']}/events/latest/"))["eventID"]
    hit = await api(sentry, "GET", f"{ORG_ISSUES}?query={event_id}")
    assert hit[0]["matchingEventId"] == event_id
    bad = await api(sentry, "GET", ORG_ISSUES + "?groupStatsPeriod=48h", expect=400)
    assert bad == {"detail": "Invalid stats_period. Valid choices are '', '24h', '14d' and 'auto'"}
    assert len(await api(sentry, "GET", ORG_ISSUES + "?statsPeriod=1h")) == 2
    assert await api(sentry, "GET", ORG_ISSUES + "?start=2000-01-01T00:00:00&end=2000-01-02T00:00:00") == []


@pytest_twisted.ensureDeferred
async def test_bulk_changes_by_query(sentry):
    await send(sentry, error_event("one"))
    await send(sentry, error_event("two", level="warning"))
    body = await api(sentry, "PUT", ORG_ISSUES + "?query=" + quote("level:warning"), json={"status": "resolved"})
    assert body["status"] == "resolved"
    assert await titles(sentry, "is:resolved") == ["KeyError: 'k'"]
    await api(sentry, "PUT", ORG_ISSUES + "?query=" + quote("level:fatal"), json={"status": "resolved"}, expect=204)
    await api(sentry, "DELETE", ORG_ISSUES + "?query=is:resolved", expect=204)
    assert len(await api(sentry, "GET", ISSUES + "?query=")) == 1


@pytest_twisted.ensureDeferred
async def test_issue_pagination_with_limit(sentry):
    for n in range(5):
        await send(sentry, error_event(f"f{n}"))
    url, seen = f"{sentry.url}{ISSUES}?limit=2", []
    while url:
        response, page = await request_json("GET", url, headers={"Authorization": "Bearer sntrys_parlel"})
        assert response.code == 200 and len(page) <= 2
        seen += [i["id"] for i in page]
        link = response.headers.getRawHeaders("link")[0]
        previous, following = link.split(", ")
        assert re.fullmatch(r'<[^>]+&cursor=2:-?\d+:1>; rel="previous"; results="(true|false)"; cursor="2:-?\d+:1"',
                            previous)
        match = re.fullmatch(r'<([^>]+)>; rel="next"; results="(true|false)"; cursor="2:\d+:0"', following)
        assert match
        url = match.group(1) if match.group(2) == "true" else None
    assert len(seen) == len(set(seen)) == 5


@pytest_twisted.ensureDeferred
async def test_bad_requests_get_sentrys_answers(sentry):
    issue = await issue_of(sentry, await send(sentry, error_event()))
    detail = f"/api/0/organizations/parlel/issues/{issue['id']}/"
    await api(sentry, "GET", "/api/0/organizations/parlel/issues/999999/", expect=404)
    await api(sentry, "GET", "/api/0/organizations/parlel/issues/NOPE-99/", expect=404)
    await api(sentry, "GET", "/api/0/organizations/nosuchorg/issues/", expect=404)
    await api(sentry, "GET", "/api/0/organizations/parlel/shortids/NOPE-1/", expect=404)
    body = await api(sentry, "GET", ISSUES + "?query=" + quote("level:error OR level:fatal"), expect=400)
    assert body == {"detail": 'Error parsing search query: Boolean statements containing "OR" or "AND" are not '
                              'supported in this search'}
    assert (await api(sentry, "GET", ISSUES + "?query=" + quote("times_seen:lots"), expect=400))["detail"].startswith(
        "Error parsing search query: times_seen: Invalid number: lots.")
    body = await api(sentry, "GET", ISSUES + "?statsPeriod=3d", expect=400)
    assert body == {"detail": "Invalid stats_period. Valid choices are '', '24h', and '14d'"}
    assert await api(sentry, "GET", ORG_ISSUES + "?statsPeriod=soon", expect=400) == {
        "detail": "Invalid statsPeriod: 'soon'"}
    huge = "9" * 400
    assert await api(sentry, "GET", ORG_ISSUES + f"?statsPeriod={huge}d", expect=400) == {
        "detail": f"Invalid statsPeriod: '{huge}d'"}
    assert (await api(sentry, "GET", ISSUES + "?query=" + quote(f"firstSeen:-{huge}d"), expect=400))["detail"] \
        .startswith(f"Error parsing search query: first_seen: Invalid date: -{huge}d.")
    body = await api(sentry, "PUT", detail, expect=400,
                     json={"status": "ignored", "statusDetails": {"ignoreDuration": int(huge)}})
    assert body == {"statusDetails": {"ignoreDuration": ["Ensure this value is less than or equal to 1439999999999."]}}
    assert await api(sentry, "GET", ORG_ISSUES + "?start=2024-01-01T00:00:00", expect=400) == {
        "detail": "start and end are both required"}
    assert await api(sentry, "GET", ORG_ISSUES + "?start=x&end=y", expect=400) == {
        "detail": "x is not a valid ISO8601 date query"}
    assert (await api(sentry, "GET", ISSUES + "?cursor=bad", expect=400)) == {"detail": "Invalid cursor parameter."}
    assert (await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", expect=400, json={"status": "sleeping"})) == {
        "status": ['"sleeping" is not a valid choice.']}
    body = await api(sentry, "PUT", f"{ISSUES}?id={issue['id']}", expect=400,
                     json={"status": "ignored", "statusDetails": {"ignoreWindow": 99999, "ignoreCount": 1}})
    assert body == {"statusDetails": {"ignoreWindow": ["Ensure this value is less than or equal to 10080."]}}
    assert "detail" in await api(sentry, "PUT", detail, expect=400, data=b"{not json")
    assert (await api(sentry, "PUT", f"{ISSUES}?id=abc", expect=400, json={})) == {"detail": "Group ids must be integers"}
    body = await api(sentry, "PATCH", detail, expect=405)
    assert body == {"detail": 'Method "PATCH" not allowed.'}
    await api(sentry, "POST", ISSUES, expect=405)
    await api(sentry, "GET", f"/api/0/issues/{issue['id']}/events/nonsense/", expect=404)
    response, body = await request_json("GET", sentry.url + detail)
    assert response.code == 401 and body == {"detail": "Authentication credentials were not provided."}


@pytest_twisted.ensureDeferred
async def test_stored_payload_round_trips_exactly(sentry):
    """Events are kept as compact JSON: what orjson cannot write (huge integers, lone surrogates)
    comes back unchanged, and a reader changing what it got changes nothing stored."""
    body = ('{"event_id": "%s", "message": "x\\ud800y", "extra": {"big": 1180591620717411303424, "f": 0.1}}'
            % ("ab" * 16)).encode()
    response, answer = await request_json("POST", f"{sentry.url}/api/1/store/", data=body,
                                          headers={"Content-Type": "application/json"})
    assert response.code == 200, answer
    found = await api(sentry, "GET", f"/api/0/projects/parlel/hello-world/events/{'ab' * 16}/")
    assert found["context"]["big"] == 1180591620717411303424 and found["context"]["f"] == 0.1
    assert found["message"] == "x\ud800y"
    stored = sentry.store.events_by_id["ab" * 16]
    stored.data["extra"]["big"] = 0
    assert stored.data["extra"]["big"] == 1180591620717411303424


@pytest_twisted.ensureDeferred
async def test_a_transactions_detail_shows_its_tags(sentry):
    """Transactions open no issue and keep no tag index; their detail shows the tags Sentry derives."""
    event_id = await send(sentry, {
        "type": "transaction", "transaction": "/checkout", "start_timestamp": time.time() - 1,
        "timestamp": time.time(), "environment": "staging", "release": "shop@2.0", "tags": {"region": "eu"},
        "contexts": {"trace": {"trace_id": "c" * 32, "span_id": "d" * 16, "op": "http.server"}}, "spans": []})
    body = await api(sentry, "GET", f"/api/0/projects/parlel/hello-world/events/{event_id}/")
    tags = {t["key"]: t["value"] for t in body["tags"]}
    assert tags["transaction"] == "/checkout" and tags["environment"] == "staging"
    assert tags["release"] == "shop@2.0" and tags["region"] == "eu"
    assert tags["level"] == "info"
