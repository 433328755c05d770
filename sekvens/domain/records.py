"""Record types, their typed fields, and the checks a record's field values must pass."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from enum import StrEnum
from typing import Any

from sekvens.domain.errors import ErrorCode, Problem


class FieldType(StrEnum):
    TEXT = "TEXT"
    NUMBER = "NUMBER"
    BOOLEAN = "BOOLEAN"
    OPTION_SET = "OPTION_SET"
    DATE = "DATE"
    USER_LOOKUP = "USER_LOOKUP"
    EMAIL = "EMAIL"
    PHONE = "PHONE"


@dataclass(frozen=True)
class FieldInfo:
    """One typed field of a record type. `options` lists an option set's values."""

    name: str
    type: FieldType
    display_name: str = ""
    options: tuple[str, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class RecordTypeInfo:
    """A record type as the rules see it: its fields by name and its process stages."""

    name: str
    display_name: str = ""
    fields: Mapping[str, FieldInfo] = field(default_factory=dict)
    stages: tuple[str, ...] = ()


NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
PHONE_RE = re.compile(r"^\+?[0-9 ()./-]{3,32}$")
TEXT_MAX = 4000
#: The two-option field that marks a record "do not email" (opt-out), where its type has it.
DO_NOT_EMAIL_FIELD = "do_not_email"


def check_value(info: FieldInfo, value: Any, path: tuple[str, ...]) -> Problem | None:
    """Why `value` does not fit field `info`, or None when it does (None is always allowed)."""
    if value is None:
        return None
    t = info.type
    wrong = Problem(
        ErrorCode.WRONG_FIELD_TYPE,
        f"Field '{info.name}' expects a {t.value.lower().replace('_', ' ')} value.",
        path,
    )
    if t in (FieldType.TEXT, FieldType.EMAIL, FieldType.PHONE, FieldType.OPTION_SET):
        if not isinstance(value, str):
            return wrong
        if len(value) > TEXT_MAX:
            return Problem(
                ErrorCode.TOO_LONG, f"Field '{info.name}' is over {TEXT_MAX} characters.", path
            )
        if t is FieldType.EMAIL and not EMAIL_RE.match(value):
            return Problem(ErrorCode.INVALID_VALUE, f"'{value}' is not an email address.", path)
        if t is FieldType.PHONE and not PHONE_RE.match(value):
            return Problem(ErrorCode.INVALID_VALUE, f"'{value}' is not a phone number.", path)
        if t is FieldType.OPTION_SET and value not in info.options:
            return Problem(
                ErrorCode.INVALID_VALUE,
                f"'{value}' is not an option of '{info.name}' ({', '.join(info.options)}).",
                path,
            )
        return None
    if t is FieldType.NUMBER:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        return None if ok else wrong
    if t is FieldType.BOOLEAN:
        return None if isinstance(value, bool) else wrong
    if t is FieldType.DATE:
        if not isinstance(value, str):
            return wrong
        try:
            date.fromisoformat(value)
        except ValueError:
            return Problem(
                ErrorCode.INVALID_VALUE, f"'{value}' is not an ISO date (YYYY-MM-DD).", path
            )
        return None
    if t is FieldType.USER_LOOKUP:
        # A user lookup holds a user's email; the caller checks the user exists.
        if not isinstance(value, str):
            return wrong
        if not EMAIL_RE.match(value):
            return Problem(ErrorCode.INVALID_VALUE, f"'{value}' is not a user's email.", path)
        return None
    return wrong


def check_fields(
    record_type: RecordTypeInfo, values: Mapping[str, Any], path: tuple[str, ...] = ("fields",)
) -> list[Problem]:
    """Every problem with a record's field values against its record type."""
    problems: list[Problem] = []
    for name, value in values.items():
        info = record_type.fields.get(name)
        if info is None:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_FIELD,
                    f"Record type '{record_type.name}' has no field '{name}'.",
                    (*path, name),
                )
            )
            continue
        problem = check_value(info, value, (*path, name))
        if problem:
            problems.append(problem)
    return problems
