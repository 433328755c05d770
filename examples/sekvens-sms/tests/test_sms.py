"""sms.manual and sms.auto, tested the way a partner tests a plugin: without a running sekvens."""

from __future__ import annotations

import json

import pytest
from sekvens.plugins.api import ActivityKind, Branch, CreateActivity, Done, Fail, StepCategory

from sekvens_sms import OutboxTransport, SmsMessage, auto, manual

HELLO = {"text": "Hi {{ first_name }}, this is {{ sender.email }}.", "phone_field": "mobile_phone"}


def problem_codes(problems):
    return [(p.code.value, p.field) for p in problems]


def test_declarations() -> None:
    assert (manual.key, auto.key) == ("sms.manual", "sms.auto")
    assert manual.category is auto.category is StepCategory.STEP
    assert manual.activity_kind is ActivityKind.TASK and not manual.automatic
    assert auto.activity_kind is None and auto.automatic
    assert manual.branches == auto.branches == (Branch.NEXT,)
    schema = auto.config_schema()
    assert schema["required"] == ["text"]
    assert schema["properties"]["text"]["maxLength"] == 1600


@pytest.mark.parametrize("step", [manual, auto])
def test_valid_config(step, validation_context) -> None:
    config, problems = step.parse_config(HELLO)
    assert problems == []
    assert step.validate(config, validation_context) == []


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({}, [("REQUIRED", ("text",))]),
        ({"text": ""}, [("INVALID_CONFIG", ("text",))]),
        ({"text": "x" * 1601}, [("INVALID_CONFIG", ("text",))]),
        ({"text": "Hi", "channel": "whatsapp"}, [("INVALID_CONFIG", ("channel",))]),
    ],
)
def test_config_problems(raw, expected) -> None:
    config, problems = auto.parse_config(raw)
    assert config is None
    assert problem_codes(problems) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ({"text": "Hi {{ nickname }}"}, [("UNKNOWN_MERGE_FIELD", ("text",))]),
        ({"text": "Hi {{ first_name"}, [("TEMPLATE_ERROR", ("text",))]),
        ({"text": "Hi", "phone_field": "fax"}, [("UNKNOWN_FIELD", ("phone_field",))]),
        ({"text": "Hi", "phone_field": "email"}, [("WRONG_FIELD_TYPE", ("phone_field",))]),
    ],
)
def test_validation_problems(raw, expected, validation_context) -> None:
    config, _ = manual.parse_config(raw)
    assert problem_codes(manual.validate(config, validation_context)) == expected


async def test_manual_creates_an_activity_with_the_text(make_context) -> None:
    outcome = await manual.execute(make_context(manual, HELLO))
    text = "Hi Grace, this is seller@example.com."
    assert outcome == CreateActivity(
        subject="Text Grace Hopper", instructions=text, data={"to": "+1 555 0100", "text": text}
    )


async def test_auto_appends_to_the_outbox_once(make_context, outbox) -> None:
    ctx = make_context(auto, HELLO)
    assert await auto.execute(ctx) == Done()
    message_id = ctx.state["message_id"]
    assert await auto.execute(make_context(auto, HELLO)) == Done()  # executed again: same key

    lines = [json.loads(line) for line in outbox.read_text().splitlines()]
    assert lines == [
        {
            "id": message_id,
            "to": "+1 555 0100",
            "text": "Hi Grace, this is seller@example.com.",
            "idempotency_key": "conn-1:sms-1:1",
        }
    ]


async def test_auto_long_texts_are_cut(make_context, outbox) -> None:
    ctx = make_context(auto, {"text": "{{ first_name * 400 }}"})
    await auto.execute(ctx)
    assert len(json.loads(outbox.read_text())["text"]) == 1600


@pytest.mark.parametrize("number", [None, "", "  "])
async def test_auto_without_a_number_exits(make_context, outbox, number) -> None:
    ctx = make_context(auto, HELLO, fields={"first_name": "Grace", "mobile_phone": number})
    outcome = await auto.execute(ctx)
    assert isinstance(outcome, Fail) and outcome.code == "NO_PHONE_NUMBER"
    assert not outbox.exists()


async def test_auto_needs_an_outbox(make_context, monkeypatch) -> None:
    monkeypatch.delenv("SEKVENS_SMS_OUTBOX", raising=False)
    with pytest.raises(RuntimeError, match="SEKVENS_SMS_OUTBOX"):
        await auto.execute(make_context(auto, HELLO))


async def test_auto_sends_through_any_transport(make_context) -> None:
    class Recorder:
        def __init__(self) -> None:
            self.sent: list[SmsMessage] = []

        async def send(self, message: SmsMessage) -> str:
            self.sent.append(message)
            return "gw-1"

    recorder = Recorder()
    step = type(auto)(transport=recorder)
    ctx = make_context(step, HELLO)
    assert await step.execute(ctx) == Done()
    assert recorder.sent == [
        SmsMessage("+1 555 0100", "Hi Grace, this is seller@example.com.", "conn-1:sms-1:1")
    ]
    assert ctx.state == {"message_id": "gw-1"}


async def test_outbox_transport_creates_its_directory(tmp_path) -> None:
    transport = OutboxTransport(tmp_path / "spool" / "sms.jsonl")
    first = await transport.send(SmsMessage("+1", "a", "k1"))
    again = await transport.send(SmsMessage("+1", "a", "k1"))
    other = await transport.send(SmsMessage("+1", "b", "k2"))
    assert first == again != other
    assert len((tmp_path / "spool" / "sms.jsonl").read_text().splitlines()) == 2
