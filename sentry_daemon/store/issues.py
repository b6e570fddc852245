"""The issues part of the store: grouping events into issues, and everything kept per issue.

An event joins the issue that already owns one of its grouping hashes (the first that does, in
hash order), and every other hash it had then belongs to that issue too; with no owner a new issue
opens. Per issue the store keeps counts, users, hourly buckets, every (key, value) its events had
(tags and search fields, for the tags endpoints and to narrow searches) and its events, so lists,
searches and stats never need an event's payload.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING, Any, Iterable

from sentry_daemon.grouping import titles, variants
from sentry_daemon.search.event_document import event_field_parts, event_texts
from sentry_daemon.store import lifecycle
from sentry_daemon.store.event_tags import event_tags
from sentry_daemon.store.records import (
    Activity,
    Event,
    Inbox,
    Issue,
    Organization,
    Project,
    Release,
    TagValueStats,
)

if TYPE_CHECKING:
    from sentry_daemon.store.store import Store

BASE32 = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_SHORT_ID = re.compile(r"^(?:issue+:)?(.*?)(?:[\s_-])([A-Za-z0-9]+)$")
_INTERN_LIMIT = 200_000
_SHARED_TEXTS = frozenset({"title", "culprit", "location"})


def base32(number: int) -> str:
    digits = ""
    while True:
        number, rest = divmod(number, 32)
        digits = BASE32[rest] + digits
        if number == 0:
            return digits


def base32_decode(text: str) -> int | None:
    value = 0
    for char in text.upper().replace("O", "0").replace("I", "1").replace("L", "1"):
        index = BASE32.find(char)
        if index < 0:
            return None
        value = value * 32 + index
    return value


def short_id(issue: Issue) -> str:
    """``HELLO-WORLD-1A``: the project slug upper-cased and the per-project counter in base32."""
    return f"{issue.project.slug.upper()}-{base32(issue.short_id)}"


class IssueStore:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.by_id: dict[int, Issue] = {}
        self._by_hash: dict[tuple[int, str], Issue] = {}
        self._by_short_id: dict[tuple[int, int], Issue] = {}
        self._redirects: dict[int, int] = {}
        self._ids = itertools.count(1)
        self._activity_ids = itertools.count(1)
        self._interned: dict[tuple[str, ...], tuple[str, ...]] = {}  # pairs, and hash tuples

    # --- saving events ---------------------------------------------------------------------

    def _intern(self, pairs: Iterable[tuple[str, str]], whole: bool = False) -> tuple[tuple[str, str], ...]:
        """Equal pairs are one object across events (a tag or field value repeats in many events);
        with ``whole``, equal tuples of them too (an event's tags mostly repeat another's)."""
        cache = self._interned
        if len(cache) > _INTERN_LIMIT:
            cache.clear()
        if whole:  # a tuple seen before is made of interned pairs already: one lookup instead of one a pair
            pairs = tuple(pairs)
            found = cache.get(pairs)  # type: ignore[call-overload]
            if found is not None:
                return found  # type: ignore[return-value]
        interned = tuple([cache.setdefault(pair, pair) for pair in pairs])
        return cache.setdefault(interned, interned) if whole else interned  # type: ignore[arg-type]

    def _intern_texts(self, texts: tuple[tuple[str, str], ...]) -> tuple[tuple[str, str], ...]:
        """``_intern`` for the text pairs an issue's events share (its title, culprit, location);
        the message and error values are each event's own and stay out of the cache."""
        cache = self._interned
        return tuple([cache.setdefault(pair, pair) if pair[0] in _SHARED_TEXTS else pair for pair in texts])

    def save(self, event: Event, data: dict[str, Any]) -> Issue:
        """Group an error or default event (``data``: its normalized payload): tags, grouping, the
        issue it joins, the issue's counts."""
        store, project = self._store, event.project
        event.tags = self._intern(event_tags(data), whole=True)
        grouping = variants.calculate(data, list(event.tags))
        hashes = tuple(grouping.hashes)
        event.hashes = self._interned.setdefault(hashes, hashes)  # type: ignore[arg-type]  # an issue's events share them
        description = titles.describe(data, grouping.main_exception_id)
        own_fields, stack_fields = event_field_parts(data, event.type)
        event.fields = self._intern(own_fields, whole=True)
        event.stack_fields = self._intern(stack_fields, whole=True)
        event.texts = self._intern_texts(event_texts(data, description.title, description.culprit,
                                                     description.location, description.metadata))
        release = (store.see_release(project, data.get("release"), event.time, event.environment)
                   if data.get("release") else None)

        by_hash = self._by_hash
        issue = next((found for h in event.hashes if (found := by_hash.get((project.id, h))) is not None), None)
        if issue is None:
            issue = self._open(project, event, data, description, release)
        for hash_ in event.hashes:
            if (project.id, hash_) not in by_hash:
                by_hash[(project.id, hash_)] = issue
                issue.hashes.append(hash_)
        event.group_id = issue.id
        self._count(issue, event, data, description)
        lifecycle.after_event(issue, event, release, lambda v: store.release(project.organization, v),
                              store.now(), self.log)
        return issue

    def _open(self, project: Project, event: Event, data: dict[str, Any], description: titles.Description,
              release: Release | None) -> Issue:
        level = str(data.get("level") or "error")
        priority = lifecycle.initial_priority(level)
        sdk = data.get("sdk")
        issue = Issue(
            id=next(self._ids), project=project, short_id=project.next_short_id, title=description.title,
            culprit=description.culprit, metadata={}, type=description.type, level=level,
            logger=data.get("logger"), platform=str(data.get("platform") or "other"),
            first_seen=event.time, last_seen=event.time, active_at=event.time, substatus_since=event.time,
            priority=priority, first_release=release.version if release else None,
            initial_priority=lifecycle.PRIORITY_VALUES[priority],
            sdk_name=sdk.get("name") if isinstance(sdk, dict) and isinstance(sdk.get("name"), str) else None,
        )
        issue.inbox = Inbox(lifecycle.NEW, event.time)
        project.next_short_id += 1
        self.by_id[issue.id] = issue
        self._by_short_id[(project.id, issue.short_id)] = issue
        if release is not None:
            release.count_new_group(project.id)
        self.log(issue, "first_seen", {}, None, when=event.time)
        return issue

    def _count(self, issue: Issue, event: Event, data: dict[str, Any], description: titles.Description) -> None:
        issue.times_seen += 1
        issue.events.append(event)
        issue.first_seen = min(issue.first_seen, event.time)
        issue.last_seen = max(issue.last_seen, event.time)
        issue.title, issue.culprit, issue.type = description.title, description.culprit, description.type
        issue.metadata = description.metadata
        issue.level = str(data.get("level") or issue.level)
        issue.logger = data.get("logger") or issue.logger
        if event.time >= issue.latest_event_time:
            issue.latest_event_time = event.time
            issue.is_unhandled = ("handled", "no") in event.tags
        hour = int(event.time // 3600)
        issue.hourly[hour] = issue.hourly.get(hour, 0) + 1
        values, when = issue.values, float(event.time)
        for pair in event.tags:
            stats = values.get(pair)
            if stats is None:
                values[pair] = when  # seen once: just when (``Issue.tag_stats``)
                if pair[0] == "sentry:user":
                    issue.user_count += 1
            elif type(stats) is float:
                values[pair] = TagValueStats(2, min(stats, when), max(stats, when))
            else:
                stats.count += 1
                if when < stats.first_seen:
                    stats.first_seen = when
                elif when > stats.last_seen:
                    stats.last_seen = when
        issue.fields.update(event.fields)
        issue.fields.update(event.stack_fields)

    # --- reading ---------------------------------------------------------------------------

    def log(self, issue: Issue, kind: str, data: dict[str, Any], user_id: int | None,
            when: float | None = None) -> None:
        issue.activity.append(Activity(next(self._activity_ids), kind, data, user_id,
                                       self._store.now() if when is None else when))

    def settle(self, issue: Issue) -> Issue:
        """Bring the issue's status up to ``now`` (what Sentry's periodic tasks would have done)."""
        lifecycle.settle(issue, self._store.now(), self.log)
        return issue

    def get(self, issue_id: int) -> Issue | None:
        issue_id = self._redirects.get(issue_id, issue_id)
        issue = self.by_id.get(issue_id)
        return self.settle(issue) if issue is not None else None

    def by_short_id(self, org: Organization, text: str) -> Issue | None:
        match = _SHORT_ID.match(text.strip())
        if match is None:
            return None
        slug, number = match.group(1).lower(), base32_decode(match.group(2))
        project = self._store.project(org, slug) if slug else None
        if project is None or number is None:
            return None
        issue = self._by_short_id.get((project.id, number))
        return self.get(issue.id) if issue is not None else None

    def of_projects(self, project_ids: set[int]) -> list[Issue]:
        now, settle, log = self._store.now(), lifecycle.settle, self.log
        found = [i for i in self.by_id.values() if i.project.id in project_ids]
        for issue in found:
            if issue.substatus in lifecycle.SETTLING or issue.snooze is not None:
                settle(issue, now, log)
        return found

    def of_project(self, project: Project) -> list[Issue]:
        """A project's issues, oldest first, unsettled: through its short ids, which outlive its
        events (retention may have evicted them all); a merged issue's id answers with its parent."""
        by_id, by_short_id, pid = self.by_id, self._by_short_id, project.id
        found = (by_short_id.get((pid, n)) for n in range(1, project.next_short_id))
        own = {i.id: i for i in found if i is not None and i.project is project and by_id.get(i.id) is i}
        return list(own.values())

    def stats(self, issue: Issue, buckets: int, width: int) -> list[list[int]]:
        """``[[bucket_start, count], ...]`` over the last ``buckets`` periods of ``width`` seconds."""
        end = (int(self._store.now()) // width + 1) * width
        start = end - buckets * width
        counts = [0] * buckets
        for hour, count in issue.hourly.items():
            stamp = hour * 3600
            if start <= stamp < end:
                counts[(stamp - start) // width] += count
        return [[start + n * width, count] for n, count in enumerate(counts)]

    def last_release(self, issue: Issue) -> str | None:
        best = None
        for (key, value), stats in issue.tag_stats():
            if key == "sentry:release" and (best is None or stats.last_seen >= best[1]):
                best = (value, stats.last_seen)
        return best[0] if best else None

    # --- merging and deleting --------------------------------------------------------------

    def merge(self, issues: list[Issue]) -> tuple[Issue, list[Issue]]:
        """Merge into the issue with the most events (ties: the higher id); the others' events and
        hashes move to it, and their ids and short ids keep answering with it."""
        ordered = sorted(issues, key=lambda i: (i.times_seen, i.id), reverse=True)
        parent, children = ordered[0], ordered[1:]
        for child in children:
            for event in child.events:
                event.group_id = parent.id
            parent.events.extend(child.events)
            parent.times_seen += child.times_seen
            parent.first_seen = min(parent.first_seen, child.first_seen)
            parent.last_seen = max(parent.last_seen, child.last_seen)
            for hour, count in child.hourly.items():
                parent.hourly[hour] = parent.hourly.get(hour, 0) + count
            parent.fields |= child.fields
            for pair, stats in child.tag_stats():
                mine = parent.values.get(pair)
                if type(mine) is float:
                    mine = parent.values[pair] = TagValueStats(1, mine, mine)
                if mine is None:
                    parent.values[pair] = TagValueStats(stats.count, stats.first_seen, stats.last_seen)
                else:
                    mine.count += stats.count
                    mine.first_seen = min(mine.first_seen, stats.first_seen)
                    mine.last_seen = max(mine.last_seen, stats.last_seen)
            parent.user_count = sum(1 for key, _ in parent.values if key == "sentry:user")
            for hash_ in child.hashes:
                self._by_hash[(child.project.id, hash_)] = parent
                parent.hashes.append(hash_)
            if child.latest_event_time > parent.latest_event_time:
                parent.latest_event_time, parent.is_unhandled = child.latest_event_time, child.is_unhandled
            self._forget(child)
            self._redirects[child.id] = parent.id
            self._by_short_id[(child.project.id, child.short_id)] = parent
        parent.events.sort(key=lambda e: e.seq)
        self.log(parent, "merge", {"issues": [{"id": c.id} for c in children]}, None)
        return parent, children

    def delete(self, issues: list[Issue]) -> None:
        """Delete issues and their events (the ids answer 404 afterwards)."""
        gone: list[Event] = []
        for issue in issues:
            for hash_ in issue.hashes:
                self._by_hash.pop((issue.project.id, hash_), None)
            self._by_short_id.pop((issue.project.id, issue.short_id), None)
            self._forget(issue)
            gone.extend(issue.events)
        for issue_id, target in list(self._redirects.items()):
            if target not in self.by_id:
                del self._redirects[issue_id]
        self._store.forget_events(gone)

    def _forget(self, issue: Issue) -> None:
        self.by_id.pop(issue.id, None)
