"""Issue search (SENTRY-PROTOCOL §8), the part the daemon understands so far.

Understood: ``is:`` status values and free text (substring of title/culprit, case-insensitive).
Other ``key:value`` tokens are accepted and, for now, do not narrow the result (documented in the
README); an invalid ``is:`` value is a 400 as in Sentry.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from sentry_daemon.http.errors import ApiError
from sentry_daemon.store.records import Issue

DEFAULT_QUERY = "is:unresolved"
_STATUS_ALIASES = {
    "unresolved": {"unresolved"},
    "resolved": {"resolved"},
    "ignored": {"ignored"},
    "archived": {"ignored"},
    "muted": {"ignored"},
}
# ``is:`` values that Sentry accepts but that cannot narrow anything here (no assignees, links or
# reprocessing exist in the fake): ``assigned``/``linked``/``reprocessing`` match nothing.
_NOTHING = {"assigned", "linked", "reprocessing", "for_review"}
_EVERYTHING = {"unassigned", "unlinked"}
_SUBSTATUSES = {"new", "ongoing", "regressed", "escalating", "archived_until_escalating",
                "archived_until_condition_met", "archived_forever"}


@dataclass
class IssueQuery:
    statuses: set[str] | None = None
    substatuses: set[str] | None = None
    nothing: bool = False
    text: list[str] = field(default_factory=list)

    def matches(self, issue: Issue) -> bool:
        if self.nothing:
            return False
        if self.statuses is not None and issue.status not in self.statuses:
            return False
        if self.substatuses is not None and issue.substatus not in self.substatuses:
            return False
        haystack = f"{issue.title}\n{issue.culprit}".lower()
        return all(word.lower() in haystack for word in self.text)


def parse_issue_query(query: str) -> IssueQuery:
    try:
        tokens = shlex.split(query)
    except ValueError:
        raise ApiError(400, "Invalid search query: unbalanced quotes") from None
    parsed = IssueQuery()
    for token in tokens:
        key, sep, value = token.partition(":")
        if not sep or not key or key.startswith("http"):
            parsed.text.append(token)
        elif key == "is" and value in _NOTHING:
            parsed.nothing = True
        elif key == "is" and value in _EVERYTHING:
            continue
        elif key == "is" and value in _SUBSTATUSES:
            parsed.substatuses = {value} if parsed.substatuses is None else parsed.substatuses & {value}
        elif key == "is":
            if value not in _STATUS_ALIASES:
                raise ApiError(400, f"invalid status value of '{value}'")
            allowed = _STATUS_ALIASES[value]
            parsed.statuses = allowed if parsed.statuses is None else parsed.statuses & allowed
        elif key == "message":
            parsed.text.append(value)
    return parsed
