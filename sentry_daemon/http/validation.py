"""Request bodies declared once and checked in one place, answered as Django REST Framework does.

Each write endpoint declares its body as a mapping of field names to :class:`Field`; ``validate``
returns the cleaned values or raises :class:`ValidationError`, whose body is DRF's
``{"<field>": ["<message>", ...]}`` with DRF's own messages (what Sentry's serializers answer).
No library does both this shape and these words, and the rules Sentry's serializers use are few.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping

from sentry_daemon.http.errors import ApiError
from sentry_daemon.timestamps import parse_timestamp

REQUIRED = "This field is required."
NULL = "This field may not be null."
BLANK = "This field may not be blank."
SLUG = ("Enter a valid slug consisting of lowercase letters, numbers, underscores or hyphens. "
        "It cannot be entirely numeric.")
DATETIME = ("Datetime has wrong format. Use one of these formats instead: "
            "YYYY-MM-DDThh:mm[:ss[.uuuuuu]][+HH:MM|-HH:MM|Z].")
_SLUG = re.compile(r"^(?![0-9]+$)[a-z0-9_\-]+$")
_MISSING = object()


class ValidationError(ApiError):
    """A 400 whose body is the field errors themselves (not ``{"detail": ...}``)."""

    def __init__(self, errors: dict[str, Any]) -> None:
        super().__init__(400, "Invalid request body")
        self.errors = errors

    def body(self) -> dict:
        return self.errors


def _type_name(value: Any) -> str:
    return {dict: "dict", list: "list", str: "str", bool: "bool", int: "int", float: "float"}.get(
        type(value), type(value).__name__)


@dataclass(frozen=True)
class Field:
    """One body field: its kind (``string``, ``slug``, ``integer``, ``boolean``, ``datetime``,
    ``list``, ``dict``, ``any``), whether it is required, may be null or blank, its choices, its
    longest length, its list items or nested fields, and its default when absent."""

    kind: str = "string"
    required: bool = False
    null: bool = False
    blank: bool = False
    choices: tuple[Any, ...] | None = None
    max_length: int | None = None
    item: "Field | None" = None
    fields: Mapping[str, "Field"] | None = None
    default: Any = _MISSING
    check: Callable[[Any], str | None] | None = None  # a last word: a message, or None when fine
    trim: bool = True  # strip surrounding whitespace from strings (DRF's ``trim_whitespace``)

    def clean(self, value: Any) -> Any:
        """The cleaned value, or raise ``_Invalid`` with DRF's messages."""
        if value is None:
            if self.null:
                return None
            raise _Invalid([NULL])
        kind = self.kind
        if kind in ("string", "slug"):
            if isinstance(value, bool) or not isinstance(value, (str, int, float)):
                raise _Invalid(["Not a valid string."])
            value = str(value).strip() if self.trim else str(value)
            if not value and not self.blank:
                raise _Invalid([BLANK])
            if self.max_length is not None and len(value) > self.max_length:
                raise _Invalid([f"Ensure this field has no more than {self.max_length} characters."])
            if kind == "slug" and value and not _SLUG.match(value):
                raise _Invalid([SLUG])
        elif kind == "integer":
            if isinstance(value, bool) or isinstance(value, float) and not value.is_integer():
                raise _Invalid(["A valid integer is required."])
            try:
                value = int(value)
            except (TypeError, ValueError):
                raise _Invalid(["A valid integer is required."]) from None
        elif kind == "boolean":
            if value in (True, "true", "True", "1", 1, "on", "yes"):
                value = True
            elif value in (False, "false", "False", "0", 0, "off", "no"):
                value = False
            else:
                raise _Invalid(["Must be a valid boolean."])
        elif kind == "datetime":
            stamp = parse_timestamp(value) if isinstance(value, str) else None
            if stamp is None:
                raise _Invalid([DATETIME])
            value = stamp
        elif kind == "list":
            if not isinstance(value, list):
                raise _Invalid([f'Expected a list of items but got type "{_type_name(value)}".'])
            if self.item is not None:
                cleaned, errors = [], {}
                for n, entry in enumerate(value):
                    try:
                        cleaned.append(self.item.clean(entry))
                    except _Invalid as exc:
                        errors[str(n)] = exc.messages
                if errors:
                    raise _Invalid(errors)
                value = cleaned
        elif kind == "dict":
            if not isinstance(value, dict):
                raise _Invalid([f'Expected a dictionary of items but got type "{_type_name(value)}".'])
            if self.fields is not None:
                value = _validate(value, self.fields, partial=False)
        if self.choices is not None and value not in self.choices:
            raise _Invalid([f'"{value}" is not a valid choice.'])
        if self.check is not None:
            message = self.check(value)
            if message:
                raise _Invalid([message])
        return value


class _Invalid(Exception):
    def __init__(self, messages: Any) -> None:
        self.messages = messages


def _validate(body: Mapping[str, Any], fields: Mapping[str, Field], partial: bool) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    errors: dict[str, Any] = {}
    for name, spec in fields.items():
        if name not in body:
            if spec.required and not partial:
                errors[name] = [REQUIRED]
            elif spec.default is not _MISSING and not partial:
                cleaned[name] = spec.default
            continue
        try:
            cleaned[name] = spec.clean(body[name])
        except _Invalid as exc:
            errors[name] = exc.messages
    if errors:
        raise _Invalid(errors)
    return cleaned


def validate(body: Mapping[str, Any], fields: Mapping[str, Field], partial: bool = False) -> dict[str, Any]:
    """The declared fields of ``body``, cleaned (unknown keys are ignored, as DRF does); ``partial``
    (a ``PUT``) makes no field required and applies no default."""
    try:
        return _validate(body, fields, partial)
    except _Invalid as exc:
        raise ValidationError(exc.messages) from None
