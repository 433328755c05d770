"""LinkedIn step types."""

from __future__ import annotations

from typing import Any

import pytest

from sekvens.plugins.api import ActivityKind, CreateActivity, StepCategory, StepType
from sekvens.plugins.linkedin import connect, get_introduced, inmail, research
from sekvens.plugins.testing import (
    codes,
    make_execution_context,
    make_record,
    make_validation_context,
    parse,
)

ALL = [research, get_introduced, connect, inmail]
VALID: dict[str, dict[str, str]] = {
    "linkedin.research": {},
    "linkedin.get_introduced": {},
    "linkedin.connect": {},
    "linkedin.inmail": {"subject": "Hello", "body": "Hi there"},
}


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.key)
def test_all_are_manual_linkedin_activities(step: StepType[Any]) -> None:
    assert step.category is StepCategory.LINKEDIN
    assert step.activity_kind is ActivityKind.LINKEDIN
    assert not step.automatic
    assert step.validate(parse(step, VALID[step.key]), make_validation_context()) == []


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.key)
def test_profile_field_must_be_a_text_field(step: StepType[Any]) -> None:
    context = make_validation_context()
    unknown = parse(step, {**VALID[step.key], "profile_field": "profile"})
    assert codes(step.validate(unknown, context)) == [("UNKNOWN_FIELD", ("profile_field",))]
    wrong = parse(step, {**VALID[step.key], "profile_field": "employees"})
    assert codes(step.validate(wrong, context)) == [("WRONG_FIELD_TYPE", ("profile_field",))]


async def test_research_carries_the_profile_url() -> None:
    config = parse(research, {"profile_field": "linkedin_url", "instructions": "Note their role."})
    outcome = await research.execute(make_execution_context(config))
    assert outcome == CreateActivity(
        "Research Ada Lovelace on LinkedIn",
        "Note their role.",
        {"profile_url": "https://www.linkedin.com/in/ada"},
    )


async def test_get_introduced_renders_via_and_message() -> None:
    config = parse(
        get_introduced,
        {
            "via": "{{ account_manager or 'a shared connection' }}",
            "message": "Meet {{ first_name }}",
        },
    )
    outcome = await get_introduced.execute(make_execution_context(config))
    assert outcome == CreateActivity(
        "Get introduced to Ada Lovelace on LinkedIn",
        "",
        {"via": "a shared connection", "message": "Meet Ada"},
    )


async def test_connect_message_is_at_most_300_characters_and_rendered() -> None:
    assert codes(connect.parse_config({"message": "x" * 301})[1]) == [
        ("INVALID_CONFIG", ("message",))
    ]
    config = parse(connect, {"message": "Hi {{ first_name }}, from {{ sender.email }}"})
    outcome = await connect.execute(make_execution_context(config))
    assert isinstance(outcome, CreateActivity)
    assert outcome.subject == "Connect with Ada Lovelace on LinkedIn"
    assert outcome.data == {"message": "Hi Ada, from seller@example.com"}


def test_inmail_needs_subject_and_body() -> None:
    assert codes(inmail.parse_config({})[1]) == [
        ("REQUIRED", ("subject",)),
        ("REQUIRED", ("body",)),
    ]
    assert codes(inmail.parse_config({"subject": "", "body": "x" * 1901})[1]) == [
        ("INVALID_CONFIG", ("subject",)),
        ("INVALID_CONFIG", ("body",)),
    ]


def test_merge_fields_are_checked() -> None:
    config = parse(inmail, {"subject": "{{ shoe_size }}", "body": "{% if %}"})
    assert codes(inmail.validate(config, make_validation_context())) == [
        ("UNKNOWN_MERGE_FIELD", ("subject",)),
        ("TEMPLATE_ERROR", ("body",)),
    ]


async def test_inmail_renders_and_hands_over_unrenderable_text_as_written() -> None:
    config = parse(inmail, {"subject": "Hi {{ first_name }}", "body": "{{ employees / 0 }}"})
    ctx = make_execution_context(config, record=make_record({"first_name": "Ada", "employees": 3}))
    outcome = await inmail.execute(ctx)
    assert outcome == CreateActivity(
        "Send an InMail to Ada Lovelace",
        "",
        {"subject": "Hi Ada", "body": "{{ employees / 0 }}"},
    )
