"""Field conditions (enrollment rules, exit criteria): checks against a record type, and
evaluation by operator, with a Hypothesis test of the number boundaries."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekvens.domain.errors import ErrorCode
from sekvens.domain.field_conditions import (
    FieldCondition,
    FieldOperator,
    all_hold,
    check_conditions,
    holds,
)
from sekvens.domain.records import FieldInfo, FieldType, RecordTypeInfo

LEAD = RecordTypeInfo(
    "lead",
    fields={
        "score": FieldInfo("score", FieldType.NUMBER),
        "city": FieldInfo("city", FieldType.TEXT),
        "hot": FieldInfo("hot", FieldType.BOOLEAN),
        "due": FieldInfo("due", FieldType.DATE),
        "tier": FieldInfo("tier", FieldType.OPTION_SET, options=("gold", "silver")),
    },
)
Op = FieldOperator


def c(field: str, op: FieldOperator, value: Any = None) -> FieldCondition:
    return FieldCondition(field, op, value)


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        (c("city", Op.EQUALS, "Oslo"), {"city": "oslo"}, True),
        (c("city", Op.EQUALS, "Oslo"), {}, False),
        (c("city", Op.NOT_EQUALS, "Oslo"), {}, True),
        (c("city", Op.NOT_EQUALS, "Oslo"), {"city": "OSLO"}, False),
        (c("tier", Op.IN, ["gold", "silver"]), {"tier": "silver"}, True),
        (c("tier", Op.IN, ["gold"]), {"tier": "silver"}, False),
        (c("city", Op.IS_SET), {"city": ""}, False),
        (c("city", Op.IS_SET), {"city": "x"}, True),
        (c("city", Op.IS_NOT_SET), {"city": None}, True),
        (c("hot", Op.EQUALS, True), {"hot": True}, True),
        (c("score", Op.EQUALS, 1), {"score": True}, False),
        (c("due", Op.GREATER_THAN, "2026-01-01"), {"due": "2026-01-02"}, True),
        (c("due", Op.LESS_THAN, "2026-01-01"), {"due": "2026-01-02"}, False),
        (c("score", Op.GREATER_THAN, 5), {"score": "a text"}, False),
        (c("score", Op.LESS_THAN, 5), {}, False),
    ],
)
def test_each_operator(condition: FieldCondition, fields: dict[str, Any], expected: bool) -> None:
    assert holds(condition, LEAD, fields) is expected


@given(st.integers(-1000, 1000), st.integers(-1000, 1000))
def test_number_boundaries(actual: int, bound: int) -> None:
    fields = {"score": actual}
    assert holds(c("score", Op.GREATER_THAN, bound), LEAD, fields) is (actual > bound)
    assert holds(c("score", Op.LESS_THAN, bound), LEAD, fields) is (actual < bound)
    assert holds(c("score", Op.EQUALS, bound), LEAD, fields) is (actual == bound)
    both = [c("score", Op.GREATER_THAN, bound), c("score", Op.LESS_THAN, bound + 2)]
    assert all_hold(both, LEAD, fields) is (actual == bound + 1)


def test_checks_name_the_field_operator_or_value() -> None:
    problems = check_conditions(
        [
            c("nope", Op.EQUALS, 1),
            c("city", Op.GREATER_THAN, "a"),
            c("score", Op.EQUALS, "high"),
            c("city", Op.IS_SET, "x"),
            c("city", Op.EQUALS),
            c("tier", Op.IN, ["gold", "bronze"]),
            c("tier", Op.IN, []),
            c("score", Op.LESS_THAN, 3),
        ],
        LEAD,
        ("rules", "0", "fieldConditions"),
    )
    assert [(p.code, p.field[3:]) for p in problems] == [
        (ErrorCode.UNKNOWN_FIELD, ("0", "field")),
        (ErrorCode.WRONG_FIELD_TYPE, ("1", "operator")),
        (ErrorCode.WRONG_FIELD_TYPE, ("2", "value")),
        (ErrorCode.INVALID_VALUE, ("3", "value")),
        (ErrorCode.REQUIRED, ("4", "value")),
        (ErrorCode.INVALID_VALUE, ("5", "value", "1")),
        (ErrorCode.INVALID_VALUE, ("6", "value")),
    ]
