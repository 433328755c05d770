"""Field conditions on a record's values (pure): the compact operator set that enrollment
rules (and exit criteria) use, their checks against a record type, and their evaluation.

A field without a value (None or "") is not set: it equals nothing, is in no list and is
neither greater nor less than anything, so NOT_EQUALS holds for it. Text compares ignoring
case; dates compare as dates; a stored value of the wrong type matches nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.records import FieldInfo, FieldType, RecordTypeInfo, check_value

#: At most this many values in an IN list.
IN_MAX = 100


class FieldOperator(StrEnum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    IN = "IN"
    IS_SET = "IS_SET"
    IS_NOT_SET = "IS_NOT_SET"
    GREATER_THAN = "GREATER_THAN"
    LESS_THAN = "LESS_THAN"


ORDERED_TYPES = frozenset({FieldType.NUMBER, FieldType.DATE})
NO_VALUE = frozenset({FieldOperator.IS_SET, FieldOperator.IS_NOT_SET})


@dataclass(frozen=True)
class FieldCondition:
    field: str
    operator: FieldOperator
    value: Any = None

    def to_json(self) -> dict[str, Any]:
        return {"field": self.field, "operator": self.operator.value, "value": self.value}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FieldCondition:
        return cls(data["field"], FieldOperator(data["operator"]), data.get("value"))


def check_condition(
    condition: FieldCondition, record_type: RecordTypeInfo, path: Sequence[str]
) -> list[Problem]:
    """Every problem with one condition's field, operator and value for `record_type`."""
    path = tuple(path)
    info = record_type.fields.get(condition.field)
    if info is None:
        return [
            Problem(
                ErrorCode.UNKNOWN_FIELD,
                f"Record type '{record_type.name}' has no field '{condition.field}'.",
                (*path, "field"),
            )
        ]
    op, value, value_path = condition.operator, condition.value, (*path, "value")
    if op in (FieldOperator.GREATER_THAN, FieldOperator.LESS_THAN) and (
        info.type not in ORDERED_TYPES
    ):
        return [
            Problem(
                ErrorCode.WRONG_FIELD_TYPE,
                f"{op.value} applies to number and date fields, not to '{info.name}'"
                f" ({info.type.value.lower().replace('_', ' ')}).",
                (*path, "operator"),
            )
        ]
    if op in NO_VALUE:
        if value is None:
            return []
        return [Problem(ErrorCode.INVALID_VALUE, f"{op.value} takes no value.", value_path)]
    if value is None:
        return [Problem(ErrorCode.REQUIRED, f"{op.value} needs a value.", value_path)]
    if op is FieldOperator.IN:
        if not isinstance(value, list) or not value:
            return [Problem(ErrorCode.INVALID_VALUE, "IN needs a list of values.", value_path)]
        if len(value) > IN_MAX:
            return [Problem(ErrorCode.TOO_MANY, f"IN takes at most {IN_MAX} values.", value_path)]
        return [
            problem
            for i, v in enumerate(value)
            for problem in _check_one(info, v, (*value_path, str(i)))
        ]
    return _check_one(info, value, value_path)


def _check_one(info: FieldInfo, value: Any, path: tuple[str, ...]) -> list[Problem]:
    if value is None:
        return [Problem(ErrorCode.REQUIRED, "A value can't be null.", path)]
    problem = check_value(info, value, path)
    return [] if problem is None else [problem]


def check_conditions(
    conditions: Sequence[FieldCondition], record_type: RecordTypeInfo, path: Sequence[str]
) -> list[Problem]:
    """Every problem with `conditions` (at `path`.index) for `record_type`."""
    return [
        problem
        for i, condition in enumerate(conditions)
        for problem in check_condition(condition, record_type, (*path, str(i)))
    ]


def _is_set(value: Any) -> bool:
    return value is not None and value != ""


def _key(info: FieldInfo, value: Any) -> Any:
    """`value` in a form that compares the way the field type means."""
    if isinstance(value, bool) or not isinstance(value, str):
        return value
    return date.fromisoformat(value) if info.type is FieldType.DATE else value.casefold()


def _same(info: FieldInfo, actual: Any, expected: Any) -> bool:
    # bool is an int to Python: True would equal 1 without this
    return isinstance(actual, bool) == isinstance(expected, bool) and bool(
        _key(info, actual) == _key(info, expected)
    )


_ORDER: dict[FieldOperator, Callable[[Any, Any], bool]] = {
    FieldOperator.GREATER_THAN: lambda a, b: bool(a > b),
    FieldOperator.LESS_THAN: lambda a, b: bool(a < b),
}


def holds(
    condition: FieldCondition, record_type: RecordTypeInfo, fields: Mapping[str, Any]
) -> bool:
    """Whether a record with field values `fields` satisfies `condition`."""
    op, expected = condition.operator, condition.value
    actual = fields.get(condition.field)
    if op is FieldOperator.IS_SET:
        return _is_set(actual)
    if op is FieldOperator.IS_NOT_SET:
        return not _is_set(actual)
    info = record_type.fields.get(condition.field)
    if op is FieldOperator.NOT_EQUALS:
        return not holds(
            FieldCondition(condition.field, FieldOperator.EQUALS, expected), record_type, fields
        )
    if info is None or not _is_set(actual) or expected is None:
        return False
    try:
        if op is FieldOperator.EQUALS:
            return _same(info, actual, expected)
        if op is FieldOperator.IN:
            return isinstance(expected, list) and any(_same(info, actual, e) for e in expected)
        if isinstance(actual, bool) or isinstance(expected, bool):
            return False
        return _ORDER[op](_key(info, actual), _key(info, expected))
    except (TypeError, ValueError):  # a stored value of the wrong type matches nothing
        return False


def all_hold(
    conditions: Sequence[FieldCondition], record_type: RecordTypeInfo, fields: Mapping[str, Any]
) -> bool:
    """Whether every condition holds (true for none)."""
    return all(holds(c, record_type, fields) for c in conditions)
