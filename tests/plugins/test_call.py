"""The phone-call step types: the call itself and the call-outcome condition."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sekvens.plugins.api import (
    ActivityKind,
    ActivityStatus,
    Branch,
    CreateActivity,
    TakeBranch,
    WaitForEvents,
)
from sekvens.plugins.call import condition, phone
from sekvens.plugins.testing import (
    CALL_STEP,
    EMAIL_STEP,
    codes,
    make_activity,
    make_execution_context,
    make_record,
    make_validation_context,
    parse,
)

# --- call.phone --------------------------------------------------------------------------------


def test_phone_declares_a_call_activity() -> None:
    assert phone.key == "call.phone"
    assert phone.activity_kind is ActivityKind.CALL
    assert phone.branches == (Branch.NEXT,)
    assert not phone.automatic
    assert set(phone.config_schema()["properties"]) == {"script", "phone_field"}


def test_phone_defaults_are_valid() -> None:
    config = parse(phone, None)
    assert (config.script, config.phone_field) == ("", "phone")
    assert phone.validate(config, make_validation_context()) == []


@pytest.mark.parametrize(
    ("phone_field", "code"),
    [("mobile", None), (None, None), ("fax", "UNKNOWN_FIELD"), ("email", "WRONG_FIELD_TYPE")],
)
def test_phone_field_must_be_a_phone_field(phone_field: str | None, code: str | None) -> None:
    config = parse(phone, {"phone_field": phone_field})
    expected = [] if code is None else [(code, ("phone_field",))]
    assert codes(phone.validate(config, make_validation_context())) == expected


def test_phone_script_is_limited_and_checked() -> None:
    _, problems = phone.parse_config({"script": "x" * 4001})
    assert codes(problems) == [("INVALID_CONFIG", ("script",))]
    config = parse(phone, {"script": "Ask {{ first_name }} about {{ budget }}"})
    assert codes(phone.validate(config, make_validation_context())) == [
        ("UNKNOWN_MERGE_FIELD", ("script",))
    ]


async def test_phone_creates_a_call_activity_with_number_and_script() -> None:
    config = parse(phone, {"script": "Ask {{ first_name }} about {{ company }}."})
    outcome = await phone.execute(make_execution_context(config))
    assert outcome == CreateActivity(
        subject="Call Ada Lovelace",
        instructions="Ask Ada about Analytical Engines Ltd.",
        data={"phone": "+44 20 7946 0000"},
    )


async def test_phone_without_a_number() -> None:
    ctx = make_execution_context(parse(phone, {"phone_field": "mobile"}))
    assert await phone.execute(ctx) == CreateActivity(
        subject="Call Ada Lovelace", data={"phone": None}
    )
    ctx = make_execution_context(parse(phone, {"phone_field": None}), record=make_record({}))
    assert await phone.execute(ctx) == CreateActivity(
        subject="Call Ada Lovelace", data={"phone": None}
    )


async def test_phone_shows_a_script_that_fails_to_render_as_written() -> None:
    ctx = make_execution_context(parse(phone, {"script": "{{ employees / 0 }}"}))
    outcome = await phone.execute(ctx)
    assert isinstance(outcome, CreateActivity)
    assert outcome.instructions == "{{ employees / 0 }}"


# --- call.condition ----------------------------------------------------------------------------

CONNECTED = {"outcomes": ["CONNECTED"], "days": 1, "hours": 2}


def call(status: ActivityStatus = ActivityStatus.COMPLETED, outcome: str | None = "CONNECTED"):
    return make_activity(
        ActivityKind.CALL, status, outcome=outcome, message_id=None, type="call.phone"
    )


def test_condition_declares_yes_and_no() -> None:
    assert condition.key == "call.condition"
    assert condition.branches == (Branch.YES, Branch.NO)
    assert condition.automatic


def test_condition_after_a_call_is_valid() -> None:
    context = make_validation_context(previous_step=CALL_STEP, previous_activity=CALL_STEP)
    assert condition.validate(parse(condition, CONNECTED), context) == []


def test_condition_needs_a_previous_call() -> None:
    config = parse(condition, CONNECTED)
    assert codes(condition.validate(config, make_validation_context())) == [
        ("CONDITION_WITHOUT_ACTIVITY", ())
    ]
    problems = condition.validate(config, make_validation_context(previous_activity=EMAIL_STEP))
    assert codes(problems) == [("CONDITION_WRONG_ACTIVITY", ())]


def test_condition_outcomes_must_be_the_organizations() -> None:
    context = make_validation_context(previous_activity=CALL_STEP)
    config = parse(condition, {"outcomes": ["CONNECTED", "Interested", "NO_ANSWER", "busy"]})
    problems = condition.validate(config, context)
    assert codes(problems) == [
        ("UNKNOWN_CALL_OUTCOME", ("outcomes", "1")),
        ("UNKNOWN_CALL_OUTCOME", ("outcomes", "3")),
    ]
    assert "LEFT_VOICEMAIL" in problems[0].message
    config = parse(condition, {"outcomes": []})
    assert codes(condition.validate(config, context)) == [("NOTHING_TO_TEST", ("outcomes",))]


@pytest.mark.parametrize(
    ("days", "hours", "expected"),
    [(0, 0, [("INVALID_VALUE", ("days",))]), (0, 1, []), (30, 1, [("INVALID_VALUE", ("hours",))])],
)
def test_condition_time_limit(days: int, hours: int, expected: list) -> None:
    context = make_validation_context(previous_activity=CALL_STEP)
    config = parse(condition, {"outcomes": ["CONNECTED"], "days": days, "hours": hours})
    assert codes(condition.validate(config, context)) == expected


@pytest.mark.parametrize(
    "previous",
    [None, call(ActivityStatus.SKIPPED, None), call(outcome="NO_ANSWER"), call(outcome=None)],
)
async def test_condition_follows_no_at_once(previous) -> None:
    ctx = make_execution_context(parse(condition, CONNECTED), previous_activity=previous)
    assert await condition.execute(ctx) == TakeBranch(Branch.NO)


async def test_condition_matching_outcome_follows_yes_when_the_limit_passes() -> None:
    ctx = make_execution_context(parse(condition, CONNECTED), previous_activity=call())
    assert await condition.execute(ctx) == WaitForEvents(
        kinds=frozenset(), deadline=timedelta(days=1, hours=2)
    )
    assert await condition.on_deadline(ctx) == TakeBranch(Branch.YES)


async def test_condition_matching_outcome_can_advance_immediately() -> None:
    config = parse(condition, {**CONNECTED, "advance_immediately": True})
    ctx = make_execution_context(config, previous_activity=call(outcome="CONNECTED"))
    assert await condition.execute(ctx) == TakeBranch(Branch.YES)


async def test_condition_on_an_open_call_decides_at_the_limit() -> None:
    config = parse(condition, {**CONNECTED, "advance_immediately": True})
    ctx = make_execution_context(config, previous_activity=call(ActivityStatus.OPEN, None))
    assert isinstance(await condition.execute(ctx), WaitForEvents)
    assert await condition.on_deadline(ctx) == TakeBranch(Branch.NO)
    ctx.previous_activity = call(outcome="CONNECTED")
    assert await condition.on_deadline(ctx) == TakeBranch(Branch.YES)
