"""Sentry's search syntax, parsed by a PEG grammar (SENTRY-PROTOCOL §8).

Sentry parses ``is:unresolved browser:"Chrome 1*" !has:user times_seen:>10 lastSeen:-24h free text``
with a parsimonious grammar (``api/event_search.py``); this is our own grammar for the same language
and the same answers, including its error messages. The result is a flat list of
:class:`SearchFilter` (key, operator, value), ANDed. Which keys exist and what they mean is the
caller's business (``search.issue_search``); here a key only decides how its value is read:

- filter kinds are tried in Sentry's order (dates, durations, booleans, numbers, aggregates, ``has:``,
  ``is:``, lists, text), and a value that does not fit its kind falls through to text;
- consecutive words that are not filters are one free-text ``message`` filter;
- ``OR``/``AND`` are refused (issue search has no boolean operators); a parenthesised group is
  free text, parentheses included.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from parsimonious.exceptions import IncompleteParseError, ParseError, VisitationError
from parsimonious.grammar import Grammar
from parsimonious.nodes import Node, NodeVisitor

from sentry_daemon.search.glob import Glob

GRAMMAR = Grammar(r"""
search               = spaces term*
term                 = (boolean_operator / paren_group / filter / free_text) spaces
boolean_operator     = or_operator / and_operator
paren_group          = open_paren spaces term+ closed_paren
free_text            = quoted_value / free_text_unquoted
free_text_unquoted   = (!filter !boolean_operator (free_parens / ~r"[^()\n ]+") spaces)+
free_parens          = open_paren free_text? closed_paren

filter               = date_filter / specific_date_filter / rel_date_filter / duration_filter
                     / boolean_filter / numeric_in_filter / numeric_filter / aggregate_filter
                     / has_filter / is_filter / text_in_filter / text_filter

date_filter          = search_key sep operator iso_8601_date_format
specific_date_filter = search_key sep iso_8601_date_format
rel_date_filter      = search_key sep rel_date_format
duration_filter      = negation? search_key sep operator? duration_format
boolean_filter       = negation? search_key sep boolean_value
numeric_in_filter    = negation? search_key sep numeric_in_list
numeric_filter       = negation? search_key sep operator? numeric_value
aggregate_filter     = negation? aggregate_key sep operator? search_value
has_filter           = negation? &"has:" search_key sep (text_key / search_value)
is_filter            = negation? &"is:" search_key sep search_value
text_in_filter       = negation? text_key sep text_in_list
text_filter          = negation? text_key sep operator? search_value

key                  = ~r"[a-zA-Z0-9_.-]+"
quoted_key           = "\"" ~r"[a-zA-Z0-9_.:-]+" "\""
explicit_tag_key     = "tags" open_bracket ~r"[a-zA-Z0-9_.:-]+" closed_bracket
aggregate_key        = key open_paren ~r"[^()]*" closed_paren
search_key           = key / quoted_key
text_key             = explicit_tag_key / search_key

search_value         = quoted_value / value
value                = ~r"[^()\t\n ]*"
quoted_value         = "\"" ~r"(?:\\\"|[^\"])*" "\""
text_in_list         = open_bracket text_in_value? (spaces comma spaces !comma text_in_value?)* closed_bracket &end_value
text_in_value        = quoted_value / ~r"[^(),\t\n \]]+"
numeric_in_list      = open_bracket numeric_value (spaces comma spaces !comma numeric_value)* closed_bracket &end_value

numeric_value        = ~r"-?\d+(?:\.\d*)?[kmb]?"i &(end_value / comma / closed_bracket)
boolean_value        = ~r"true|1|false|0"i &end_value
iso_8601_date_format = ~r"\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?)?(?:Z|[+-]\d{2}:\d{2})?" &end_value
rel_date_format      = ~r"[+-]\d+[wdhm]" &end_value
duration_format      = ~r"\d+(?:\.\d*)?(?:ms|s|min|m|hr|h|day|d|wk|w)" &end_value

or_operator          = ~r"OR"i &end_value
and_operator         = ~r"AND"i &end_value
operator             = ">=" / "<=" / ">" / "<" / "=" / "!="
open_paren           = "("
closed_paren         = ")"
open_bracket         = "["
closed_bracket       = "]"
sep                  = ":"
negation             = "!"
comma                = ","
spaces               = " "*
end_value            = ~r"[\t\n )]" / ~r"\Z"
""")

BOOLEAN_ERROR = 'Boolean statements containing "OR" or "AND" are not supported in this search'
NEGATED_OPERATORS = {"=": "!=", "!=": "=", "<": ">=", ">=": "<", ">": "<=", "<=": ">", "IN": "NOT IN",
                     "NOT IN": "IN"}
_UNESCAPED_QUOTE = re.compile(r'(?<!\\)"')
_WILDCARD = re.compile(r"(?<!\\)(?:\\\\)*\*")
_NUMBER = re.compile(r"^(-?\d+(?:\.\d*)?)([a-zA-Z]*)$")
_SUFFIXES = {"": 1.0, "k": 1e3, "m": 1e6, "b": 1e9}
_REL_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}


class InvalidSearchQuery(Exception):
    """A query Sentry refuses; the message is Sentry's own wording."""


@dataclass(frozen=True)
class SearchConfig:
    """How a search (here: issue search) reads keys: aliases and which keys hold which kind of value."""

    key_aliases: dict[str, str] = field(default_factory=dict)
    numeric_keys: frozenset[str] = frozenset()
    date_keys: frozenset[str] = frozenset()
    boolean_keys: frozenset[str] = frozenset()
    is_values: dict[str, tuple[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchValue:
    """A filter's value: text (maybe with ``*`` wildcards), a number, a datetime, or a list of those."""

    raw: Any

    def texts(self) -> list[Any]:
        return self.raw if isinstance(self.raw, list) else [self.raw]

    @staticmethod
    def is_wildcard(text: Any) -> bool:
        return isinstance(text, str) and _WILDCARD.search(text) is not None

    @staticmethod
    def literal(text: str) -> str:
        """The text a non-wildcard value stands for: ``\\*`` is a plain ``*``."""
        return text.replace("\\*", "*")

    @staticmethod
    def wildcard(text: str, anchored: bool = True) -> Glob:
        """``*`` is any run of characters, ``\\x`` is a literal ``x``; case-insensitive, as Sentry's."""
        return Glob.compile(text, escapes=True, anchored=anchored, ignore_case=True)


@dataclass(frozen=True)
class SearchFilter:
    key: str
    operator: str
    value: SearchValue

    @property
    def negated(self) -> bool:
        return self.operator in ("!=", "NOT IN")


def _now_example(now: datetime) -> str:
    return now.replace(tzinfo=None).isoformat(timespec="microseconds")[:-4]


class _Visitor(NodeVisitor):
    unwrapped_exceptions = (InvalidSearchQuery,)

    def __init__(self, config: SearchConfig, now: datetime) -> None:
        self.config = config
        self.now = now

    # --- structure -------------------------------------------------------------------------

    def visit_search(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        _spaces, terms = children
        return [f for term in _as_list(terms) for f in term]

    def visit_term(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        (found,), _spaces = children
        return found

    def visit_boolean_operator(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        raise InvalidSearchQuery(BOOLEAN_ERROR)

    def visit_paren_group(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        return [SearchFilter("message", "=", SearchValue(node.text))]

    def visit_free_text(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        found = children[0]
        if isinstance(found, tuple):  # quoted free text
            return [SearchFilter("message", "=", SearchValue(found[0]))]
        return found

    def visit_free_text_unquoted(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        text = node.text.strip(" ")
        return [SearchFilter("message", "=", SearchValue(text))] if text else []

    def visit_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        return children[0]

    # --- filter kinds ----------------------------------------------------------------------

    def visit_date_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        key, _sep, operator, date_text = children
        if key in self.config.date_keys:
            return [SearchFilter(key, operator, SearchValue(self._parse_date(date_text, True)))]
        return self._text(key, f"{operator}{date_text}", False)

    def visit_specific_date_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        key, _sep, date_text = children
        if key not in self.config.date_keys:
            return self._text(key, date_text, False)
        moment = self._parse_date(date_text, False)
        if "T" in date_text:
            start, end = moment - timedelta(minutes=5), moment + timedelta(minutes=6)
        else:
            start, end = moment, moment + timedelta(days=1)
        return [SearchFilter(key, ">=", SearchValue(start)), SearchFilter(key, "<", SearchValue(end))]

    def visit_rel_date_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        key, _sep, text = children
        if key not in self.config.date_keys:
            return self._text(key, text, False)
        try:
            moment = self.now - timedelta(**{_REL_UNITS[text[-1]]: int(text[1:-1])})
        except OverflowError:  # further back than any date
            self._check_text_kind(key, text)
            raise
        operator = ">=" if text[0] == "-" else "<="
        return [SearchFilter(key, operator, SearchValue(moment))]

    def visit_duration_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        return self.visit_numeric_filter(node, children)

    def visit_boolean_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        negated, key, _sep, text = children
        negated = _first(negated) is not None
        if key in self.config.numeric_keys:
            return [self._numeric(key, "=", text, negated)]
        if key in self.config.boolean_keys:
            value = 1 if text.lower() in ("true", "1") else 0
            if negated:
                value = 1 - value
            return [SearchFilter(key, "=", SearchValue(value))]
        return self._text(key, text, negated)

    def visit_numeric_in_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        negated, key, _sep, texts = children
        negated = _first(negated) is not None
        if key in self.config.numeric_keys:
            values = [self._number(key, t) for t in texts]
            return [SearchFilter(key, "NOT IN" if negated else "IN", SearchValue(values))]
        return [SearchFilter(key, "NOT IN" if negated else "IN", SearchValue(list(texts)))]

    def visit_numeric_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        negated, key, _sep, operator, text = children
        negated = _first(negated) is not None
        operator = _first(operator)
        if key in self.config.numeric_keys:
            return [self._numeric(key, operator or "=", text, negated)]
        return self._text(key, (operator or "") + text, negated)

    def visit_aggregate_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        raise InvalidSearchQuery(f"Aggregate filters ({children[1]}) are not supported in issue searches.")

    def visit_has_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        negated, _lookahead, _has, _sep, (operand,) = children
        if not isinstance(operand, str):
            raise InvalidSearchQuery('Invalid format for "has" search: was expecting a field or tag instead')
        return [SearchFilter(operand, "=" if _first(negated) is not None else "!=", SearchValue(""))]

    def visit_is_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        negated, _lookahead, _is, _sep, (text, _quoted) = children
        if text.startswith("["):
            raise InvalidSearchQuery('"in" syntax invalid for "is" search')
        found = self.config.is_values.get(text)
        if found is None:
            raise InvalidSearchQuery(
                f'Invalid value for "is" search, valid values are {sorted(self.config.is_values)}'
            )
        key, value = found
        return [SearchFilter(key, "!=" if _first(negated) is not None else "=", SearchValue(value))]

    def visit_text_in_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        negated, key, _sep, texts = children
        self._check_text_kind(key, node.text.split(":", 1)[-1])
        return [SearchFilter(key, "NOT IN" if _first(negated) is not None else "IN", SearchValue(list(texts)))]

    def visit_text_filter(self, node: Node, children: list[Any]) -> list[SearchFilter]:
        negated, key, _sep, operator, (text, quoted) = children
        if not quoted and text == "":
            raise InvalidSearchQuery(f"Empty string after '{key}:'")
        return self._text(key, (_first(operator) or "") + text, _first(negated) is not None)

    # --- leaves ----------------------------------------------------------------------------

    def visit_key(self, node: Node, children: list[Any]) -> str:
        return node.text

    def visit_quoted_key(self, node: Node, children: list[Any]) -> str:
        return node.text[1:-1]

    def visit_explicit_tag_key(self, node: Node, children: list[Any]) -> str:
        return node.text

    def visit_aggregate_key(self, node: Node, children: list[Any]) -> str:
        return node.text

    def visit_search_key(self, node: Node, children: list[Any]) -> str:
        key = children[0]
        return self.config.key_aliases.get(key, key)

    def visit_text_key(self, node: Node, children: list[Any]) -> str:
        return children[0]

    def visit_search_value(self, node: Node, children: list[Any]) -> tuple[str, bool]:
        return children[0]

    def visit_value(self, node: Node, children: list[Any]) -> tuple[str, bool]:
        if _UNESCAPED_QUOTE.search(node.text):
            raise InvalidSearchQuery(
                f"Invalid quote at '{node.text}': quotes must enclose text or be escaped."
            )
        return node.text.replace('\\"', '"'), False

    def visit_quoted_value(self, node: Node, children: list[Any]) -> tuple[str, bool]:
        return node.text[1:-1].replace('\\"', '"'), True

    def visit_text_in_list(self, node: Node, children: list[Any]) -> list[str]:
        _open, first, rest, _close, _end = children
        values = [_in_value(first)]
        for item in _as_list(rest):
            values.append(_in_value(item[4]))
        if any(v is None for v in values):
            raise InvalidSearchQuery("Lists should not have empty values")
        return values  # type: ignore[return-value]

    def visit_text_in_value(self, node: Node, children: list[Any]) -> str:
        first = children[0]
        return first[0] if isinstance(first, tuple) else node.text

    def visit_numeric_in_list(self, node: Node, children: list[Any]) -> list[str]:
        _open, first, rest, _close, _end = children
        return [first, *(item[4] for item in _as_list(rest))]

    def visit_numeric_value(self, node: Node, children: list[Any]) -> str:
        return children[0].text

    def visit_boolean_value(self, node: Node, children: list[Any]) -> str:
        return children[0].text

    def visit_iso_8601_date_format(self, node: Node, children: list[Any]) -> str:
        return children[0].text

    def visit_rel_date_format(self, node: Node, children: list[Any]) -> str:
        return children[0].text

    def visit_duration_format(self, node: Node, children: list[Any]) -> str:
        return children[0].text

    def visit_operator(self, node: Node, children: list[Any]) -> str:
        return node.text

    def visit_negation(self, node: Node, children: list[Any]) -> str:
        return node.text

    def generic_visit(self, node: Node, children: list[Any]) -> Any:
        return children or node

    # --- value readers ---------------------------------------------------------------------

    def _text(self, key: str, text: str, negated: bool) -> list[SearchFilter]:
        self._check_text_kind(key, text)
        return [SearchFilter(key, "!=" if negated else "=", SearchValue(text))]

    def _check_text_kind(self, key: str, raw: str) -> None:
        """A typed key whose value did not parse as its type: Sentry's "Invalid ..." message."""
        if key in self.config.date_keys:
            raise InvalidSearchQuery(
                f"{key}: Invalid date: {raw}. Expected +/-duration (e.g. +1h) or ISO 8601-like "
                f"(e.g. {_now_example(self.now)})."
            )
        if key in self.config.boolean_keys:
            raise InvalidSearchQuery(f"{key}: Invalid boolean: {raw}. Expected true, 1, false, or 0.")
        if key in self.config.numeric_keys:
            raise InvalidSearchQuery(
                f"{key}: Invalid number: {raw}. Expected number then optional k, m, or b suffix (e.g. 500k)."
            )

    def _numeric(self, key: str, operator: str, text: str, negated: bool) -> SearchFilter:
        value = self._number(key, text)
        if negated:
            operator = NEGATED_OPERATORS[operator]
        return SearchFilter(key, operator, SearchValue(value))

    @staticmethod
    def _number(key: str, text: str) -> float:
        match = _NUMBER.match(text)
        if match is None:
            raise InvalidSearchQuery(
                f"{key}: Invalid number: {text}. Expected number then optional k, m, or b suffix (e.g. 500k)."
            )
        number, suffix = match.groups()
        if suffix.lower() not in _SUFFIXES:
            raise InvalidSearchQuery(f"{suffix} is not a valid number suffix, must be k, m or b")
        return float(number) * _SUFFIXES[suffix.lower()]

    @staticmethod
    def _parse_date(text: str, with_operator: bool) -> datetime:
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            kind = "ISO8601 date" if with_operator else "datetime"
            raise InvalidSearchQuery(f"{text} is not a valid {kind} query") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return parsed.astimezone(timezone.utc)


def _as_list(node_or_list: Any) -> list[Any]:
    return node_or_list if isinstance(node_or_list, list) else []


def _first(optional: Any) -> Any:
    """The value of an optional (``x?``) child: its one visited child, or None when absent."""
    if isinstance(optional, list) and optional:
        return optional[0]
    return None


def _in_value(optional: Any) -> str | None:
    value = _first(optional)
    return value if isinstance(value, str) else None


def parse_search_query(query: str, config: SearchConfig, now: datetime) -> list[SearchFilter]:
    """The filters of ``query``, ANDed; :class:`InvalidSearchQuery` with Sentry's message if refused."""
    try:
        tree = GRAMMAR.parse(query)
    except IncompleteParseError as exc:
        column = exc.column()
        context = query[max(0, column - 5):column] + query[column:column + 5]
        raise InvalidSearchQuery(
            f"Parse error at '{context}' (column {column}). This is commonly caused by unmatched "
            "parentheses. Enclose any text in double quotes."
        ) from None
    except ParseError as exc:
        raise InvalidSearchQuery(f"Parse error at '{query[exc.pos:exc.pos + 10]}' (column {exc.column()}).") \
            from None
    try:
        return _Visitor(config, now).visit(tree)
    except VisitationError as exc:  # anything the visitor did not expect: a refusal, never a 500
        raise InvalidSearchQuery(f"Parse error: {exc.original_class.__name__}") from None

