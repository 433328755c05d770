"""Rules on record field values: their config model, their checks, and their evaluation (pure).

Rules sit in groups; a group's rules combine with the group's `match`, the groups with the
top-level `match`. Text comparisons ignore case; a field without a value is empty, equals
nothing and is neither greater nor less than anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import date
from enum import StrEnum
from typing import Annotated, Any

from pydantic import Field, StringConstraints

from sekvens.plugins.api import (
    ErrorCode,
    FieldInfo,
    FieldType,
    Problem,
    RecordTypeInfo,
    StepConfig,
    check_value,
)


class Operator(StrEnum):
    EQUALS = "EQUALS"
    NOT_EQUALS = "NOT_EQUALS"
    CONTAINS = "CONTAINS"
    GREATER_THAN = "GREATER_THAN"
    LESS_THAN = "LESS_THAN"
    IS_EMPTY = "IS_EMPTY"
    IS_NOT_EMPTY = "IS_NOT_EMPTY"


class Match(StrEnum):
    AND = "AND"
    OR = "OR"


TEXT_TYPES = frozenset({FieldType.TEXT, FieldType.EMAIL, FieldType.PHONE})
ORDERED_TYPES = frozenset({FieldType.NUMBER, FieldType.DATE})
OPERATOR_TYPES: dict[Operator, frozenset[FieldType]] = {
    Operator.CONTAINS: TEXT_TYPES,
    Operator.GREATER_THAN: ORDERED_TYPES,
    Operator.LESS_THAN: ORDERED_TYPES,
}
"""Operators that apply to some field types only; the others apply to every type."""
NO_VALUE = frozenset({Operator.IS_EMPTY, Operator.IS_NOT_EMPTY})


class Rule(StepConfig):
    field: Annotated[str, StringConstraints(min_length=1)]
    operator: Operator
    value: bool | int | float | str | None = None


class RuleGroup(StepConfig):
    match: Match = Match.AND
    rules: list[Rule] = Field(min_length=1, max_length=20)


class FieldConditionConfig(StepConfig):
    match: Match = Match.AND
    groups: list[RuleGroup] = Field(min_length=1, max_length=10)


def _check_rule(rule: Rule, record_type: RecordTypeInfo, path: tuple[str, ...]) -> list[Problem]:
    info = record_type.fields.get(rule.field)
    if info is None:
        return [
            Problem(
                ErrorCode.UNKNOWN_FIELD,
                f"Record type '{record_type.name}' has no field '{rule.field}'.",
                (*path, "field"),
            )
        ]
    types = OPERATOR_TYPES.get(rule.operator)
    if types is not None and info.type not in types:
        return [
            Problem(
                ErrorCode.WRONG_FIELD_TYPE,
                f"{rule.operator.value} does not apply to field '{info.name}'"
                f" ({info.type.value.lower().replace('_', ' ')}).",
                (*path, "operator"),
            )
        ]
    value_path = (*path, "value")
    if rule.operator in NO_VALUE:
        if rule.value is None:
            return []
        return [
            Problem(ErrorCode.INVALID_VALUE, f"{rule.operator.value} takes no value.", value_path)
        ]
    if rule.value is None:
        return [Problem(ErrorCode.REQUIRED, f"{rule.operator.value} needs a value.", value_path)]
    if rule.operator is Operator.CONTAINS:
        if isinstance(rule.value, str) and rule.value:
            return []
        return [Problem(ErrorCode.INVALID_VALUE, "CONTAINS needs some text.", value_path)]
    problem = check_value(info, rule.value, value_path)
    return [] if problem is None else [problem]


def check_rules(config: FieldConditionConfig, record_type: RecordTypeInfo) -> list[Problem]:
    """Every problem with the rules' fields, operators and values for `record_type`."""
    return [
        problem
        for g, group in enumerate(config.groups)
        for r, rule in enumerate(group.rules)
        for problem in _check_rule(rule, record_type, ("groups", str(g), "rules", str(r)))
    ]


def _empty(value: Any) -> bool:
    return value is None or value == ""


def _key(info: FieldInfo, value: Any) -> Any:
    """`value` in a form that compares the way the field type means."""
    if isinstance(value, str):
        return date.fromisoformat(value) if info.type is FieldType.DATE else value.casefold()
    return value


_COMPARE: dict[Operator, Callable[[Any, Any], bool]] = {
    Operator.EQUALS: lambda a, b: bool(a == b),
    Operator.CONTAINS: lambda a, b: isinstance(a, str) and b in a,
    Operator.GREATER_THAN: lambda a, b: bool(a > b),
    Operator.LESS_THAN: lambda a, b: bool(a < b),
}


def _compare(operator: Operator, info: FieldInfo | None, actual: Any, expected: Any) -> bool:
    if info is None or _empty(actual) or expected is None:
        return False
    try:
        return _COMPARE[operator](_key(info, actual), _key(info, expected))
    except (TypeError, ValueError):  # a stored value of the wrong type matches nothing
        return False


def _holds(rule: Rule, info: FieldInfo | None, actual: Any) -> bool:
    if rule.operator is Operator.IS_EMPTY:
        return _empty(actual)
    if rule.operator is Operator.IS_NOT_EMPTY:
        return not _empty(actual)
    if rule.operator is Operator.NOT_EQUALS:
        return not _compare(Operator.EQUALS, info, actual, rule.value)
    return _compare(rule.operator, info, actual, rule.value)


def _combine(match: Match, results: list[bool]) -> bool:
    return all(results) if match is Match.AND else any(results)


def evaluate(
    config: FieldConditionConfig, record_type: RecordTypeInfo, fields: Mapping[str, Any]
) -> bool:
    """Whether a record with field values `fields` satisfies the rules."""
    return _combine(
        config.match,
        [
            _combine(
                group.match,
                [
                    _holds(rule, record_type.fields.get(rule.field), fields.get(rule.field))
                    for rule in group.rules
                ],
            )
            for group in config.groups
        ],
    )
