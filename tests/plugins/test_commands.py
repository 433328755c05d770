"""Command step types: field and stage conditions, update field, advance to another sequence."""

from __future__ import annotations

from typing import Any

import pytest

from sekvens.plugins.api import Branch, Done, HandOver, StepCategory, TakeBranch
from sekvens.plugins.commands import (
    advance_to_sequence,
    field_condition,
    stage_condition,
    update_field,
)
from sekvens.plugins.commands.field_rules import FieldConditionConfig, evaluate
from sekvens.plugins.testing import (
    LEAD,
    LEAD_FIELDS,
    START,
    TASK_STEP,
    codes,
    make_execution_context,
    make_record,
    make_validation_context,
    parse,
)


def rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"field": field, "operator": operator, "value": value}


def one_rule(field: str, operator: str, value: Any = None) -> dict[str, Any]:
    return {"groups": [{"rules": [rule(field, operator, value)]}]}


def test_all_commands_are_automatic() -> None:
    for step in (field_condition, stage_condition, update_field, advance_to_sequence):
        assert step.category is StepCategory.COMMAND
        assert step.automatic
        assert step.activity_kind is None
    assert field_condition.branches == stage_condition.branches == (Branch.YES, Branch.NO)
    assert update_field.branches == (Branch.NEXT,)
    assert advance_to_sequence.branches == ()


# --- Field condition -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("REQUIRED", ("groups",))]),
        ({"groups": []}, [("INVALID_CONFIG", ("groups",))]),
        ({"groups": [{"rules": []}]}, [("INVALID_CONFIG", ("groups", "0", "rules"))]),
        (
            {"groups": [{"rules": [rule("email", "LIKE", "x")]}]},
            [("INVALID_CONFIG", ("groups", "0", "rules", "0", "operator"))],
        ),
        ({"match": "XOR", **one_rule("email", "IS_EMPTY")}, [("INVALID_CONFIG", ("match",))]),
    ],
)
def test_field_condition_config_problems(raw: dict[str, Any], expected: list[Any]) -> None:
    assert codes(field_condition.parse_config(raw)[1]) == expected


@pytest.mark.parametrize(
    ("raw_rule", "expected"),
    [
        (rule("shoe_size", "EQUALS", 42), [("UNKNOWN_FIELD", "field")]),
        (rule("qualified", "GREATER_THAN", True), [("WRONG_FIELD_TYPE", "operator")]),
        (rule("rating", "CONTAINS", "ho"), [("WRONG_FIELD_TYPE", "operator")]),
        (rule("company", "LESS_THAN", "b"), [("WRONG_FIELD_TYPE", "operator")]),
        (rule("employees", "EQUALS", "many"), [("WRONG_FIELD_TYPE", "value")]),
        (rule("qualified", "EQUALS", "yes"), [("WRONG_FIELD_TYPE", "value")]),
        (rule("rating", "EQUALS", "lukewarm"), [("INVALID_VALUE", "value")]),
        (rule("next_meeting", "GREATER_THAN", "soon"), [("INVALID_VALUE", "value")]),
        (rule("email", "EQUALS", "not-an-address"), [("INVALID_VALUE", "value")]),
        (rule("company", "EQUALS"), [("REQUIRED", "value")]),
        (rule("company", "CONTAINS", ""), [("INVALID_VALUE", "value")]),
        (rule("company", "IS_EMPTY", "x"), [("INVALID_VALUE", "value")]),
        (rule("email", "CONTAINS", "@example.com"), []),
        (rule("next_meeting", "LESS_THAN", "2025-03-01"), []),
        (rule("employees", "GREATER_THAN", 10.5), []),
        (rule("account_manager", "IS_NOT_EMPTY"), []),
    ],
)
def test_field_condition_rules_are_checked_against_the_record_type(
    raw_rule: dict[str, Any], expected: list[tuple[str, str]]
) -> None:
    config = parse(
        field_condition,
        {"groups": [{"rules": [rule("company", "IS_NOT_EMPTY")]}, {"rules": [raw_rule]}]},
    )
    problems = field_condition.validate(config, make_validation_context())
    assert codes(problems) == [(c, ("groups", "1", "rules", "0", f)) for c, f in expected]


@pytest.mark.parametrize(
    ("field", "operator", "value", "result"),
    [
        ("first_name", "EQUALS", "ADA", True),
        ("first_name", "NOT_EQUALS", "ada", False),
        ("first_name", "NOT_EQUALS", "Bob", True),
        ("company", "CONTAINS", "ENGINES", True),
        ("company", "CONTAINS", "steam", False),
        ("employees", "GREATER_THAN", 41.5, True),
        ("employees", "LESS_THAN", 42, False),
        ("employees", "EQUALS", 42.0, True),
        ("qualified", "EQUALS", True, True),
        ("qualified", "EQUALS", False, False),
        ("rating", "EQUALS", "warm", True),
        ("next_meeting", "GREATER_THAN", "2025-02-02", True),
        ("next_meeting", "LESS_THAN", "2025-02-02", False),
        ("work_email", "IS_EMPTY", None, True),
        ("work_email", "IS_NOT_EMPTY", None, False),
        ("email", "IS_NOT_EMPTY", None, True),
        ("work_email", "EQUALS", "ada@example.com", False),
        ("work_email", "NOT_EQUALS", "ada@example.com", True),
        ("work_email", "CONTAINS", "ada", False),
        ("mobile", "GREATER_THAN", 1, False),
    ],
)
def test_field_rules_evaluate(field: str, operator: str, value: Any, result: bool) -> None:
    config = FieldConditionConfig.model_validate(one_rule(field, operator, value))
    assert evaluate(config, LEAD, LEAD_FIELDS) is result


def test_empty_text_is_empty_and_bad_stored_values_match_nothing() -> None:
    fields = {"company": "", "employees": "lots", "next_meeting": "someday"}
    assert evaluate(
        FieldConditionConfig.model_validate(one_rule("company", "IS_EMPTY")), LEAD, fields
    )
    for raw in (
        one_rule("employees", "GREATER_THAN", 1),
        one_rule("next_meeting", "LESS_THAN", "2030-01-01"),
    ):
        assert not evaluate(FieldConditionConfig.model_validate(raw), LEAD, fields)


@pytest.mark.parametrize(
    ("top", "group_matches", "result"),
    [
        # group 1: (qualified = true) <m1> (rating = cold) -> true AND false / true OR false
        # group 2: (employees > 100) <m2> (company contains "engines") -> false / true
        ("AND", ("AND", "AND"), False),
        ("OR", ("AND", "AND"), False),
        ("AND", ("OR", "OR"), True),
        ("OR", ("OR", "AND"), True),
        ("AND", ("OR", "AND"), False),
    ],
)
async def test_groups_combine_with_and_or(
    top: str, group_matches: tuple[str, str], result: bool
) -> None:
    config = parse(
        field_condition,
        {
            "match": top,
            "groups": [
                {
                    "match": group_matches[0],
                    "rules": [rule("qualified", "EQUALS", True), rule("rating", "EQUALS", "cold")],
                },
                {
                    "match": group_matches[1],
                    "rules": [
                        rule("employees", "GREATER_THAN", 100),
                        rule("company", "CONTAINS", "engines"),
                    ],
                },
            ],
        },
    )
    assert field_condition.validate(config, make_validation_context()) == []
    outcome = await field_condition.execute(make_execution_context(config))
    assert outcome == TakeBranch(Branch.YES if result else Branch.NO)


# --- Stage condition -------------------------------------------------------------------------


def test_stage_condition_stages_must_exist_once() -> None:
    assert codes(stage_condition.parse_config({"stages": []})[1]) == [
        ("INVALID_CONFIG", ("stages",))
    ]
    config = parse(stage_condition, {"stages": ["qualify", "won", "qualify"]})
    problems = stage_condition.validate(config, make_validation_context())
    assert codes(problems) == [("UNKNOWN_STAGE", ("stages", "1")), ("DUPLICATE", ("stages", "2"))]
    assert "qualify, develop" in problems[0].message


@pytest.mark.parametrize(
    ("stage", "branch"), [("qualify", Branch.YES), ("close", Branch.NO), (None, Branch.NO)]
)
async def test_stage_condition_branches_on_the_records_stage(
    stage: str | None, branch: Branch
) -> None:
    config = parse(stage_condition, {"stages": ["qualify", "develop"]})
    ctx = make_execution_context(config, record=make_record(stage=stage))
    assert await stage_condition.execute(ctx) == TakeBranch(branch)


# --- Update field ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"field": "qualified", "value": False}, []),
        ({"field": "rating", "value": "hot"}, []),
        ({"field": "shoe_size", "value": True}, [("UNKNOWN_FIELD", ("field",))]),
        ({"field": "company", "value": "x"}, [("WRONG_FIELD_TYPE", ("field",))]),
        ({"field": "qualified", "value": "yes"}, [("WRONG_FIELD_TYPE", ("value",))]),
        ({"field": "rating", "value": "tepid"}, [("INVALID_VALUE", ("value",))]),
        ({"field": "rating", "value": True}, [("WRONG_FIELD_TYPE", ("value",))]),
    ],
)
def test_update_field_validation(raw: dict[str, Any], expected: list[Any]) -> None:
    assert codes(update_field.validate(parse(update_field, raw), make_validation_context())) == (
        expected
    )


def test_update_field_needs_field_and_value() -> None:
    assert codes(update_field.parse_config({})[1]) == [
        ("REQUIRED", ("field",)),
        ("REQUIRED", ("value",)),
    ]


async def test_update_field_sets_the_field_and_is_done() -> None:
    ctx = make_execution_context(parse(update_field, {"field": "rating", "value": "hot"}))
    assert await update_field.execute(ctx) == Done()
    assert ctx.records.updates == [("rating", "hot")]  # type: ignore[attr-defined]


# --- Advance to sequence ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sequence", "context", "expected"),
    [
        ("nurture", {"previous_step": TASK_STEP}, []),
        ("seq-2", {"previous_step": TASK_STEP}, []),
        ("nurture", {"previous_step": START}, [("ADVANCE_IS_FIRST", ())]),
        (
            "nurture",
            {"previous_step": TASK_STEP, "followers": [TASK_STEP]},
            [("ADVANCE_HAS_FOLLOWER", ())],
        ),
        ("missing", {"previous_step": TASK_STEP}, [("ADVANCE_TARGET_NOT_FOUND", ("sequence",))]),
        ("welcome", {"previous_step": TASK_STEP}, [("ADVANCE_TARGETS_ITSELF", ("sequence",))]),
        ("seq-1", {"previous_step": TASK_STEP}, [("ADVANCE_TARGETS_ITSELF", ("sequence",))]),
        ("dormant", {"previous_step": TASK_STEP}, [("ADVANCE_TARGET_INACTIVE", ("sequence",))]),
        (
            "renewal",
            {"previous_step": TASK_STEP},
            [("ADVANCE_TARGET_RECORD_TYPE", ("sequence",))],
        ),
        (
            "welcome",
            {"previous_step": TASK_STEP, "sequence_id": None},
            [("ADVANCE_TARGET_INACTIVE", ("sequence",))],
        ),
        (
            "missing",
            {"previous_step": START, "followers": [TASK_STEP]},
            [
                ("ADVANCE_IS_FIRST", ()),
                ("ADVANCE_HAS_FOLLOWER", ()),
                ("ADVANCE_TARGET_NOT_FOUND", ("sequence",)),
            ],
        ),
    ],
)
def test_advance_to_sequence_validation(
    sequence: str, context: dict[str, Any], expected: list[Any]
) -> None:
    config = parse(advance_to_sequence, {"sequence": sequence})
    problems = advance_to_sequence.validate(config, make_validation_context(**context))
    assert codes(problems) == expected


async def test_advance_to_sequence_hands_over() -> None:
    ctx = make_execution_context(parse(advance_to_sequence, {"sequence": "nurture"}))
    assert await advance_to_sequence.execute(ctx) == HandOver("nurture")
