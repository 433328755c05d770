"""The email step types: manual, automated, and the engagement condition."""

from __future__ import annotations

from datetime import timedelta

import pytest

from sekvens.plugins.api import (
    ActivityKind,
    ActivityStatus,
    Branch,
    CreateActivity,
    Done,
    EngagementEvent,
    EventKind,
    Fail,
    MailMessage,
    TakeBranch,
    WaitForEvents,
)
from sekvens.plugins.email import auto, condition, manual
from sekvens.plugins.testing import (
    CALL_STEP,
    EMAIL_STEP,
    NOW,
    codes,
    make_activity,
    make_execution_context,
    make_record,
    make_validation_context,
    parse,
)

TEMPLATE = {"subject": "Hello {{ first_name }}", "body": "Dear {{ first_name }} at {{ company }}"}


def event(kind: EventKind, n: int = 1) -> EngagementEvent:
    return EngagementEvent(f"ev-{n}", kind, NOW + timedelta(hours=n), "<1@fake>")


# --- email.manual ------------------------------------------------------------------------------


def test_manual_declares_an_email_activity() -> None:
    assert manual.key == "email.manual"
    assert manual.activity_kind is ActivityKind.EMAIL
    assert manual.branches == (Branch.NEXT,)
    assert not manual.automatic
    assert manual.config_schema()["properties"]["template"]


def test_manual_template_is_optional() -> None:
    assert manual.validate(parse(manual, None), make_validation_context()) == []


def test_manual_template_parts_are_required_and_limited() -> None:
    _, problems = manual.parse_config({"template": {"subject": "x" * 201}})
    assert codes(problems) == [
        ("INVALID_CONFIG", ("template", "subject")),
        ("REQUIRED", ("template", "body")),
    ]


def test_manual_refuses_unknown_keys() -> None:
    _, problems = manual.parse_config({"template": TEMPLATE, "cc": "boss@example.com"})
    assert codes(problems) == [("INVALID_CONFIG", ("cc",))]


def test_manual_checks_merge_fields_and_syntax() -> None:
    config = parse(manual, {"template": {"subject": "Hi {{ nickname }}", "body": "{% if %}"}})
    assert codes(manual.validate(config, make_validation_context())) == [
        ("UNKNOWN_MERGE_FIELD", ("template", "subject")),
        ("TEMPLATE_ERROR", ("template", "body")),
    ]


def test_manual_allows_record_and_sender_variables() -> None:
    config = parse(
        manual,
        {"template": {"subject": "{{ record.name }}", "body": "From {{ sender.email }}"}},
    )
    assert manual.validate(config, make_validation_context()) == []


async def test_manual_without_template_creates_a_plain_activity() -> None:
    outcome = await manual.execute(make_execution_context(parse(manual, {})))
    assert outcome == CreateActivity(subject="Email Ada Lovelace")


async def test_manual_renders_a_draft_for_the_seller() -> None:
    ctx = make_execution_context(parse(manual, {"template": TEMPLATE}))
    outcome = await manual.execute(ctx)
    assert outcome == CreateActivity(
        subject="Hello Ada",
        data={"subject": "Hello Ada", "body": "Dear Ada at Analytical Engines Ltd"},
    )
    assert ctx.mail.sent == []


async def test_manual_renders_missing_values_as_empty() -> None:
    ctx = make_execution_context(
        parse(manual, {"template": TEMPLATE}), record=make_record({"last_name": "Lovelace"})
    )
    outcome = await manual.execute(ctx)
    assert isinstance(outcome, CreateActivity)
    assert outcome.data == {"subject": "Hello", "body": "Dear  at "}


async def test_manual_falls_back_to_no_draft_when_rendering_fails() -> None:
    config = parse(manual, {"template": {"subject": "Hi", "body": "{{ 1 / 0 }}"}})
    outcome = await manual.execute(make_execution_context(config))
    assert isinstance(outcome, CreateActivity)
    assert outcome.subject == "Email Ada Lovelace"
    assert outcome.data == {}
    assert "Write the email yourself" in outcome.instructions


# --- email.auto --------------------------------------------------------------------------------


def test_auto_declares_an_automatic_email() -> None:
    assert auto.key == "email.auto"
    assert auto.activity_kind is ActivityKind.EMAIL
    assert auto.automatic


def test_auto_requires_a_template() -> None:
    _, problems = auto.parse_config({})
    assert codes(problems) == [("REQUIRED", ("template",))]


def test_auto_defaults_to_the_email_field() -> None:
    config = parse(auto, {"template": TEMPLATE})
    assert config.to_field == "email"
    assert auto.validate(config, make_validation_context()) == []


@pytest.mark.parametrize(
    ("to_field", "code"),
    [("work_email", None), ("fax", "UNKNOWN_FIELD"), ("phone", "WRONG_FIELD_TYPE")],
)
def test_auto_to_field_must_be_an_email_field(to_field: str, code: str | None) -> None:
    config = parse(auto, {"template": TEMPLATE, "to_field": to_field})
    expected = [] if code is None else [(code, ("to_field",))]
    assert codes(auto.validate(config, make_validation_context())) == expected


def test_auto_checks_merge_fields() -> None:
    config = parse(auto, {"template": {"subject": "Hi", "body": "{{ favourite_colour }}"}})
    problems = auto.validate(config, make_validation_context())
    assert codes(problems) == [("UNKNOWN_MERGE_FIELD", ("template", "body"))]
    assert "favourite_colour" in problems[0].message


async def test_auto_sends_through_the_transport_with_the_idempotency_key() -> None:
    ctx = make_execution_context(parse(auto, {"template": TEMPLATE}))
    assert await auto.execute(ctx) == Done()
    assert ctx.mail.sent == [
        MailMessage(
            to="ada@example.com",
            subject="Hello Ada",
            text="Dear Ada at Analytical Engines Ltd",
            from_address="seller@example.com",
            idempotency_key=ctx.idempotency_key,
        )
    ]
    assert ctx.state == {"message_id": "<1@fake>"}


async def test_auto_subject_stays_on_one_line() -> None:
    template = {"subject": "Hi\n{{ first_name }}\r\nBcc: x@example.com", "body": "."}
    ctx = make_execution_context(parse(auto, {"template": template}))
    await auto.execute(ctx)
    assert ctx.mail.sent[0].subject == "Hi Ada Bcc: x@example.com"


async def test_auto_sends_to_the_configured_field() -> None:
    record = make_record({"email": "ada@example.com", "work_email": " ada@work.example "})
    ctx = make_execution_context(
        parse(auto, {"template": TEMPLATE, "to_field": "work_email"}), record=record
    )
    await auto.execute(ctx)
    assert ctx.mail.sent[0].to == "ada@work.example"


@pytest.mark.parametrize("address", [None, "", "   "])
async def test_auto_without_an_address_fails_without_sending(address: str | None) -> None:
    ctx = make_execution_context(
        parse(auto, {"template": TEMPLATE}), record=make_record({"email": address})
    )
    outcome = await auto.execute(ctx)
    assert isinstance(outcome, Fail) and outcome.code == "NO_EMAIL_ADDRESS"
    assert ctx.mail.sent == []
    assert ctx.state == {}


async def test_auto_fails_when_the_template_cannot_be_rendered() -> None:
    ctx = make_execution_context(parse(auto, {"template": {"subject": "Hi", "body": "{{ 1/0 }}"}}))
    outcome = await auto.execute(ctx)
    assert isinstance(outcome, Fail) and outcome.code == "TEMPLATE_ERROR"
    assert ctx.mail.sent == []


async def test_auto_templates_cannot_reach_python_internals() -> None:
    body = "{{ ''.__class__.__mro__ }}"
    ctx = make_execution_context(parse(auto, {"template": {"subject": "Hi", "body": body}}))
    outcome = await auto.execute(ctx)
    assert isinstance(outcome, Fail) and "not allowed" in outcome.message
    assert ctx.mail.sent == []


# --- email.condition ---------------------------------------------------------------------------

OPENED_OR_REPLIED = {"events": ["OPENED", "REPLIED"], "days": 2}


def test_condition_declares_yes_and_no() -> None:
    assert condition.key == "email.condition"
    assert condition.branches == (Branch.YES, Branch.NO)
    assert condition.automatic
    schema = condition.config_schema()
    assert set(schema["properties"]) == {"events", "match", "days", "hours", "advance_immediately"}


def test_condition_after_an_email_is_valid() -> None:
    context = make_validation_context(previous_step=EMAIL_STEP, previous_activity=EMAIL_STEP)
    assert condition.validate(parse(condition, OPENED_OR_REPLIED), context) == []


def test_condition_needs_a_previous_email() -> None:
    config = parse(condition, OPENED_OR_REPLIED)
    assert codes(condition.validate(config, make_validation_context())) == [
        ("CONDITION_WITHOUT_ACTIVITY", ())
    ]
    problems = condition.validate(config, make_validation_context(previous_activity=CALL_STEP))
    assert codes(problems) == [("CONDITION_WRONG_ACTIVITY", ())]
    assert "Call" in problems[0].message


def test_condition_needs_something_to_test() -> None:
    context = make_validation_context(previous_activity=EMAIL_STEP)
    config = parse(condition, {"events": []})
    assert codes(condition.validate(config, context)) == [("NOTHING_TO_TEST", ("events",))]


def test_condition_refuses_unknown_events() -> None:
    _, problems = condition.parse_config({"events": ["BOUNCED"]})
    assert codes(problems) == [("INVALID_CONFIG", ("events", "0"))]


@pytest.mark.parametrize(
    ("days", "hours", "expected"),
    [
        (0, 0, [("INVALID_VALUE", ("days",))]),
        (0, 1, []),
        (30, 0, []),
        (30, 1, [("INVALID_VALUE", ("hours",))]),
    ],
)
def test_condition_time_limit(days: int, hours: int, expected: list) -> None:
    context = make_validation_context(previous_activity=EMAIL_STEP)
    config = parse(condition, {"events": ["OPENED"], "days": days, "hours": hours})
    assert codes(condition.validate(config, context)) == expected


def test_condition_time_limit_bounds_are_config_errors() -> None:
    _, problems = condition.parse_config({"events": ["OPENED"], "days": 31, "hours": 24})
    assert codes(problems) == [("INVALID_CONFIG", ("days",)), ("INVALID_CONFIG", ("hours",))]


async def test_condition_follows_no_when_the_email_was_skipped() -> None:
    ctx = make_execution_context(
        parse(condition, OPENED_OR_REPLIED),
        previous_activity=make_activity(status=ActivityStatus.SKIPPED),
    )
    assert await condition.execute(ctx) == TakeBranch(Branch.NO)


async def test_condition_waits_for_the_chosen_events() -> None:
    ctx = make_execution_context(
        parse(condition, {**OPENED_OR_REPLIED, "hours": 6}), previous_activity=make_activity()
    )
    assert await condition.execute(ctx) == WaitForEvents(
        kinds=frozenset({EventKind.EMAIL_OPENED, EventKind.EMAIL_REPLIED}),
        deadline=timedelta(days=2, hours=6),
    )


async def test_condition_any_yes_at_the_deadline() -> None:
    ctx = make_execution_context(
        parse(condition, OPENED_OR_REPLIED), previous_activity=make_activity()
    )
    await condition.execute(ctx)
    assert await condition.on_event(ctx, event(EventKind.EMAIL_OPENED)) is None
    assert await condition.on_deadline(ctx) == TakeBranch(Branch.YES)


async def test_condition_without_events_follows_no_at_the_deadline() -> None:
    ctx = make_execution_context(
        parse(condition, OPENED_OR_REPLIED), previous_activity=make_activity()
    )
    await condition.execute(ctx)
    assert await condition.on_event(ctx, event(EventKind.LINK_CLICKED)) is None
    assert await condition.on_event(ctx, event(EventKind.EMAIL_BOUNCED)) is None
    assert await condition.on_deadline(ctx) == TakeBranch(Branch.NO)


async def test_condition_all_needs_every_event() -> None:
    ctx = make_execution_context(
        parse(condition, {**OPENED_OR_REPLIED, "match": "ALL"}), previous_activity=make_activity()
    )
    await condition.on_event(ctx, event(EventKind.EMAIL_OPENED, 1))
    await condition.on_event(ctx, event(EventKind.EMAIL_OPENED, 2))
    assert await condition.on_deadline(ctx) == TakeBranch(Branch.NO)
    await condition.on_event(ctx, event(EventKind.EMAIL_REPLIED, 3))
    assert ctx.state == {"seen": ["EMAIL_OPENED", "EMAIL_REPLIED"]}
    assert await condition.on_deadline(ctx) == TakeBranch(Branch.YES)


async def test_condition_advances_immediately_once_satisfied() -> None:
    raw = {**OPENED_OR_REPLIED, "match": "ALL", "advance_immediately": True}
    ctx = make_execution_context(parse(condition, raw), previous_activity=make_activity())
    assert await condition.on_event(ctx, event(EventKind.EMAIL_REPLIED, 1)) is None
    assert await condition.on_event(ctx, event(EventKind.EMAIL_OPENED, 2)) == TakeBranch(Branch.YES)


async def test_condition_ignores_unknown_event_kinds() -> None:
    ctx = make_execution_context(
        parse(condition, OPENED_OR_REPLIED), previous_activity=make_activity()
    )
    unknown = EngagementEvent("ev-9", "EMAIL_FORWARDED", NOW, "<1@fake>")
    assert await condition.on_event(ctx, unknown) is None
    assert ctx.state == {}
