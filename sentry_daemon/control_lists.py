"""The control API's lists, each described once: where its records come from, the filters it
takes, how a record is shown, and which records of the store's record log may change it.

``GET /__parlel/<list>`` and ``GET /__parlel/wait?for=<list>`` (``control_wait``) read the same
description, so a waiter answers exactly what the list would show. Every list takes ``org`` (slug
or id) and ``tenant`` (a tenant id), and ``project`` (numeric id) where its records belong to one;
the rest are the list's own:

=============== =================================================================================
events          ``type`` (repeatable), ``event_id``, ``release``, ``environment``, ``query``, ``batch``
transactions    the events of type ``transaction``: ``event_id``, ``release``, ``environment``, ``query``,
                ``batch``
issues          ``type``, ``release``, ``environment``, ``query``
items           ``type`` (repeatable), ``batch``
envelopes       ``batch``
check_ins       ``environment``, ``status`` (repeatable), ``monitor`` (its slug)
outcomes        ``category``, ``outcome``, ``reason`` (each repeatable)
attachments     ``event_id``
release-health  ``release``, ``environment``
batches         (``project`` only)
journal         (``project`` only): the near misses of ``store.journal``, newest last
=============== =================================================================================

``query`` is Sentry's issue search (``search.issue_search``): for issues as the issue list reads
it (without its default ``is:unresolved``); for events its event-level terms are checked against
each event and its issue-level terms (``is:``, ``assigned:``, …) against the event's issue, so
only error and default events (the ones grouped into issues) match a query with terms. Filtering
transactions by ``release`` reads their payloads (only grouped events index their release).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Iterable

from sentry_daemon.api.app import issue_view, search_context
from sentry_daemon.control_auth import FOREIGN
from sentry_daemon.http.errors import ApiError
from sentry_daemon.http.params import parse_int
from sentry_daemon.search.grammar import InvalidSearchQuery
from sentry_daemon.search.issue_search import IssueQuery, compile_query, event_matches, match_issue, search_error
from sentry_daemon.serializers import captured
from sentry_daemon.serializers.batches import captured_batch
from sentry_daemon.serializers.issues import issue as issue_body
from sentry_daemon.serializers.journal import near_miss
from sentry_daemon.store.records import Attachment, CheckIn, EnvelopeRecord, Event, Issue, ItemRecord, Organization, Project
from sentry_daemon.store.store import Store

Row = Any
Check = Callable[[Row], bool]
COMMON_FILTERS = ("org", "tenant", "project")


@dataclass
class Selection:
    """A list's filters, read and resolved: the organization (from ``org``, ``tenant`` or the
    caller's scope), the project id, and the list's own arguments as given."""

    args: dict[str, list[str]]
    org: Organization | None = None
    project_id: int | None = None
    nothing: bool = False  # ``org`` and ``tenant`` name different organizations
    base_url: str = ""
    checks: list[Check] = field(default_factory=list)

    def one(self, name: str) -> str | None:
        values = self.args.get(name)
        return values[0] if values else None

    def many(self, name: str) -> set[str]:
        return set(self.args.get(name) or ())


# (repeatable, make): ``make(store, selection, wanted)`` is the check for the value (or, when
# repeatable, the set of values) a filter was given
Filter = tuple[bool, Callable[[Store, Selection, Any], Check]]


@dataclass(frozen=True)
class Listing:
    """One control-API list (see the module docstring for what each takes)."""

    plural: str
    filters: dict[str, Filter]  # the list's own, beyond ``COMMON_FILTERS``
    rows: Callable[[Store], Iterable[Row]]
    project: Callable[[Store, Row], Project | None]
    show: Callable[[Store, Selection, list[Row]], list[dict[str, Any]]]
    alive: Callable[[Store, Row], bool]
    kinds: frozenset[str] = frozenset()  # the record-log kinds that bring or change its rows
    from_record: Callable[[Any], Row | None] = lambda record: record
    key: Callable[[Row], Hashable] = id
    changing: bool = False  # a row may stop matching after it matched (issues, check-ins)
    # the project id a row names, for rows whose project may not exist (a near miss's)
    project_id: Callable[[Row], int | None] | None = None
    # a project's rows, from the store's per-project index, and the order they merge in: a list
    # narrowed to a project or an organization reads only theirs
    of_project: Callable[[Store, int], Iterable[Row]] | None = None
    order: Callable[[Row], Any] | None = None
    # which of ``rows`` belong to the list at all (the transactions of the stored events)
    belongs: Callable[[Row], bool] | None = None

    @property
    def takes(self) -> tuple[str, ...]:
        return COMMON_FILTERS + tuple(self.filters)

    def select(self, store: Store, args: dict[str, list[str]], scope: object = None, *, strict: bool = False,
               base_url: str = "") -> Selection:
        """Read and check the filters (``strict``: unknown ones are a 400, as for a waiter); the
        scope (``control_auth.control_scope``), when an organization, bounds what ``org`` and
        ``tenant`` may name (403 for another)."""
        if strict:
            unknown = sorted(set(args) - set(self.takes))
            if unknown:
                raise ApiError(400, f"unknown filter {', '.join(unknown)} for {self.plural}; "
                                    f"{self.plural} take {', '.join(self.takes)}")
        selection = Selection(args, base_url=base_url)
        org = _named_org(store, selection)
        if isinstance(scope, Organization):
            if org is not None and org is not scope:
                raise ApiError(403, FOREIGN)
            org = scope
        selection.org = org
        selection.project_id = whole_number(selection.one("project"), "project")
        for name, (repeatable, make) in self.filters.items():
            wanted = selection.many(name) if repeatable else selection.one(name)
            if wanted:
                selection.checks.append(make(store, selection, wanted))
        return selection

    def matcher(self, store: Store, selection: Selection) -> Check:
        """Whether a row belongs in the list under ``selection``."""
        org, project_id, checks, project_of = selection.org, selection.project_id, selection.checks, self.project
        named, belongs = self.project_id, self.belongs
        if selection.nothing:
            return lambda row: False

        def matches(row: Row) -> bool:
            if belongs is not None and not belongs(row):
                return False
            if project_id is not None and named is not None and named(row) != project_id:
                return False
            if org is not None or (project_id is not None and named is None):
                project = project_of(store, row)
                if project is None or (org is not None and project.organization is not org) \
                        or (project_id is not None and project.id != project_id):
                    return False
            for check in checks:
                if not check(row):
                    return False
            return True

        return matches

    def matching(self, store: Store, selection: Selection) -> list[Row]:
        matches = self.matcher(store, selection)
        return [row for row in self._candidates(store, selection) if matches(row)]

    def shown(self, store: Store, selection: Selection) -> list[dict[str, Any]]:
        """The list's rows under ``selection``, as the control API shows them."""
        return self.show(store, selection, self.matching(store, selection))

    def _candidates(self, store: Store, selection: Selection) -> Iterable[Row]:
        of_project = self.of_project
        if of_project is None or selection.nothing:
            return self.rows(store)
        if selection.project_id is not None:
            return of_project(store, selection.project_id)
        if selection.org is not None:
            rows = [row for p in store.org_projects(selection.org) for row in of_project(store, p.id)]
            return sorted(rows, key=self.order) if self.order is not None else rows
        return self.rows(store)


def whole_number(value: str | None, name: str) -> int | None:
    """A numeric filter's value (None when absent or empty; 400 when not a whole number)."""
    if value is None or value == "":
        return None
    number = parse_int(value)
    if number is None:
        raise ApiError(400, f"invalid {name}: {value!r} is not a whole number")
    return number


def _named_org(store: Store, selection: Selection) -> Organization | None:
    """The organization ``org`` and ``tenant`` name (404 for one that does not exist)."""
    found, conflict = named_org(store, selection.one("org"), selection.one("tenant"))
    if conflict:
        selection.nothing = True
    return found


def named_org(store: Store, slug: str | None, tenant_id: str | None) -> tuple[Organization | None, bool]:
    """The organization an ``org`` slug and a ``tenant`` id name (404 for one that does not exist;
    the tenant's wins), and whether the two name different ones (then nothing matches)."""
    found = None
    if slug:
        found = store.organization(slug)
        if found is None:
            raise ApiError(404, f"unknown organization {slug!r}")
    conflict = False
    if tenant_id:
        tenant = store.tenants.get(tenant_id)
        if tenant is None:
            raise ApiError(404, f"unknown tenant {tenant_id!r}")
        conflict = found is not None and found is not tenant.organization
        found = tenant.organization
    return found, conflict


# --- the filters ------------------------------------------------------------------------------


def _query(store: Store, selection: Selection, text: str) -> IssueQuery:
    org = selection.org or store.organizations.get(store.seed.org_slug) or next(iter(store.organizations.values()))
    projects = store.org_projects(selection.org) if selection.org is not None else list(store.projects.values())
    try:
        return compile_query(text, search_context(store, org, projects, store.user))
    except InvalidSearchQuery as exc:
        raise ApiError(400, search_error(exc)) from None


def _event_query(store: Store, selection: Selection, text: str) -> Check:
    """The query's event-level terms against the event, its issue-level terms against its issue."""
    query = _query(store, selection, text)
    issue_checks, issues = query.issue_checks, store.issues.by_id

    def matches(e: Event) -> bool:
        if not event_matches(e, query):
            return False
        if not issue_checks:
            return True
        issue = issues.get(e.group_id) if e.group_id is not None else None
        return issue is not None and all(check(issue) for check in issue_checks)

    return matches


def _issue_query(store: Store, selection: Selection, text: str) -> Check:
    query = _query(store, selection, text)
    return lambda i: match_issue(i, query, None, None, None) is not None


def _in_batch(envelope_id: Callable[[Row], int | None]) -> Filter:
    """``batch``: rows of the envelopes an Open Sentry batch became (none for an unknown batch)."""

    def make(store: Store, selection: Selection, batch_id: str) -> Check:
        batch = store.batches.get(batch_id)
        envelopes = {item.envelope_id for item in batch.items} if batch is not None else set()
        return lambda row: envelope_id(row) in envelopes

    return False, make


def _event_release(event: Event) -> str | None:
    for key, value in event.tags:
        if key == "sentry:release":
            return value
    if event.tags:
        return None
    release = event.data.get("release")
    return str(release) if release else None


def _equal(value: Callable[[Row], Any]) -> Filter:
    return False, lambda store, selection, wanted: lambda row: value(row) == wanted


def _among(value: Callable[[Row], Any]) -> Filter:
    """A repeatable filter: the row's value is any of those given."""
    return True, lambda store, selection, wanted: lambda row: value(row) in wanted


def _has(key: str) -> Filter:
    """An issue some of whose events had ``key`` = the value given (``Issue.values``)."""
    return False, lambda store, selection, wanted: lambda i: (key, wanted) in i.values


_EVENT_FILTERS: dict[str, Filter] = {
    "event_id": _equal(lambda e: e.event_id),
    "release": _equal(_event_release),
    "environment": _equal(lambda e: e.environment),
    "query": (False, _event_query),
    "batch": _in_batch(lambda e: e.envelope_id),
}


# --- where rows come from, and whether they are still there --------------------------------


def _own_project(store: Store, row: Any) -> Project | None:
    return row.project


def _project_by_id(store: Store, project_id: int) -> Project | None:
    return store.projects.get(project_id)


def _project_alive(store: Store, project: Project) -> bool:
    return store.projects.get(project.id) is project


def _check_ins(store: Store) -> list[CheckIn]:
    return sorted((c for m in store.monitors.values() for c in m.check_ins), key=lambda c: c.date_added)


def _issues(store: Store) -> list[Issue]:
    return list(store.issues.by_id.values())


def _show_issues(store: Store, selection: Selection, rows: list[Issue]) -> list[dict[str, Any]]:
    view = issue_view(store, selection.base_url, store.user)
    return [issue_body(store.issues.settle(i), view) for i in sorted(rows, key=lambda i: i.id)]


def _show_outcomes(store: Store, selection: Selection, rows: list[Any]) -> list[dict[str, Any]]:
    totals = store.outcomes.totals()
    return [captured.captured_outcome(key, totals[key]) for key in rows if key in totals]


def _show_each(show: Callable[[Any], dict[str, Any]]) -> Callable[[Store, Selection, list[Any]], list[dict[str, Any]]]:
    return lambda store, selection, rows: [show(row) for row in rows]


def _captured(kind: type) -> Callable[[Store, int], list[Any]]:
    """A project's envelopes, items or attachments, oldest first."""
    return lambda store, project_id: [r for r in store.project_records(project_id) if isinstance(r, kind)]


def _project_issues(store: Store, project_id: int) -> list[Issue]:
    project = store.projects.get(project_id)
    return store.issues.of_project(project) if project is not None else []


_EVENTS = dict(
    rows=lambda store: store.query_events(), project=_own_project, show=_show_each(captured.captured_event),
    alive=lambda store, e: store.has_event(e), kinds=frozenset({"event"}), key=lambda e: e.seq,
    of_project=lambda store, project_id: store.query_events(project_id), order=lambda e: e.seq,
)

LISTINGS: dict[str, Listing] = {listing.plural: listing for listing in (
    Listing("events", {"type": _among(lambda e: e.type), **_EVENT_FILTERS}, **_EVENTS),
    Listing("transactions", {"type": (False, lambda store, selection, wanted: lambda e: True), **_EVENT_FILTERS},
            belongs=lambda e: e.type == "transaction", **_EVENTS),
    Listing("issues", {"type": _among(lambda i: i.type), "release": _has("sentry:release"),
                       "environment": _has("environment"), "query": (False, _issue_query)},
            rows=_issues, project=_own_project, show=_show_issues,
            alive=lambda store, i: store.issues.by_id.get(i.id) is i, kinds=frozenset({"issue"}),
            key=lambda i: i.id, changing=True, of_project=_project_issues, order=lambda i: i.id),
    Listing("items", {"type": _among(lambda i: i.type), "batch": _in_batch(lambda i: i.envelope_id)},
            rows=lambda store: store.items.values(), project=_own_project, show=_show_each(captured.captured_item),
            alive=lambda store, i: store.items.get(i.id) is i, kinds=frozenset({"item"}), key=lambda i: i.id,
            of_project=_captured(ItemRecord), order=lambda i: i.id),
    Listing("envelopes", {"batch": _in_batch(lambda e: e.id)}, rows=lambda store: store.envelopes.values(),
            project=_own_project, show=_show_each(captured.captured_envelope),
            alive=lambda store, e: store.envelopes.get(e.id) is e, kinds=frozenset({"envelope"}),
            key=lambda e: e.id, of_project=_captured(EnvelopeRecord), order=lambda e: e.id),
    Listing("check_ins", {"environment": _equal(lambda c: c.environment), "status": _among(lambda c: c.status),
                          "monitor": _equal(lambda c: c.monitor.slug)},
            rows=_check_ins, project=lambda store, c: c.monitor.project, show=_show_each(captured.captured_check_in),
            alive=lambda store, c: _project_alive(store, c.monitor.project), kinds=frozenset({"check_in"}),
            key=lambda c: c.id, changing=True),
    Listing("outcomes", {"category": _among(lambda key: key[1]), "outcome": _among(lambda key: key[2]),
                         "reason": _among(lambda key: key[3])},
            rows=lambda store: list(store.outcomes.totals()), project=lambda store, key: _project_by_id(store, key[0]),
            show=_show_outcomes, alive=lambda store, key: _project_by_id(store, key[0]) is not None,
            kinds=frozenset({"outcome"}), from_record=lambda record: record[0], key=lambda key: key),
    Listing("attachments", {"event_id": _equal(lambda a: a.event_id)}, rows=lambda store: store.attachments.values(),
            project=_own_project, show=_show_each(captured.captured_attachment),
            alive=lambda store, a: store.attachments.get(a.id) is a, kinds=frozenset({"attachment"}),
            key=lambda a: a.id, of_project=_captured(Attachment), order=lambda a: a.date_created),
    Listing("releases", {"release": _equal(lambda row: row[0][1]), "environment": _equal(lambda row: row[0][2])},
            rows=lambda store: store.release_health().items(), project=lambda store, row: _project_by_id(store, row[0][0]),
            show=_show_each(captured.captured_release_health), alive=lambda store, row: True),
    Listing("batches", {}, rows=lambda store: store.batches.of_project(None), project=_own_project,
            show=_show_each(captured_batch), alive=lambda store, b: _project_alive(store, b.project)),
    Listing("journal", {}, rows=lambda store: list(store.journal.entries),
            project=lambda store, e: _project_by_id(store, e.project) if e.project is not None else None,
            project_id=lambda e: e.project, show=_show_each(near_miss), alive=lambda store, e: True),
)}

# what ``/__parlel/wait?for=`` takes: the lists whose rows the record log brings
WAITABLE = {name: listing for name, listing in LISTINGS.items() if listing.kinds}
