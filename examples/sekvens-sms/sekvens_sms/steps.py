"""The two SMS step types. Like every sekvens plugin, they import only `sekvens.plugins.api`."""

from __future__ import annotations

from pydantic import Field
from sekvens.plugins.api import (
    ActivityKind,
    CreateActivity,
    Done,
    ErrorCode,
    ExecutionContext,
    Fail,
    FieldType,
    Outcome,
    Problem,
    StepCategory,
    StepConfig,
    StepType,
    ValidationContext,
    check_template,
    render_template,
)

from sekvens_sms.transport import OutboxTransport, SmsMessage, SmsTransport

MAX_LENGTH = 1600
"""Longest text message (ten concatenated SMS segments)."""

NO_PHONE_NUMBER = "NO_PHONE_NUMBER"
"""`Fail` code of `sms.auto` when the record has no number in its phone field."""


class SmsConfig(StepConfig):
    text: str = Field(
        min_length=1,
        max_length=MAX_LENGTH,
        description="The message; may use merge fields such as {{ first_name }}.",
    )
    phone_field: str = Field(
        default="mobile_phone", description="The record's phone field the message goes to."
    )


class SmsStep(StepType[SmsConfig]):
    """What both SMS steps share: the config, its checks and rendering."""

    category = StepCategory.STEP
    config_model = SmsConfig

    def validate(self, config: SmsConfig, context: ValidationContext) -> list[Problem]:
        record_type = context.record_type
        problems = check_template(config.text, record_type, ("text",))
        field = record_type.fields.get(config.phone_field)
        if field is None:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_FIELD,
                    f"Record type '{record_type.name}' has no field '{config.phone_field}'.",
                    ("phone_field",),
                )
            )
        elif field.type is not FieldType.PHONE:
            problems.append(
                Problem(
                    ErrorCode.WRONG_FIELD_TYPE,
                    f"Field '{config.phone_field}' is not a phone field.",
                    ("phone_field",),
                )
            )
        return problems

    @staticmethod
    def render(ctx: ExecutionContext[SmsConfig]) -> str:
        """The text for the connected record, cut to `MAX_LENGTH` characters."""
        return render_template(ctx.config.text, ctx.template_values())[:MAX_LENGTH]

    @staticmethod
    def number(ctx: ExecutionContext[SmsConfig]) -> str | None:
        """The record's number, or None when it has none."""
        value = ctx.record.fields.get(ctx.config.phone_field)
        if not isinstance(value, str) or not value.strip():
            return None
        return value.strip()


class ManualSms(SmsStep):
    key = "sms.manual"
    display_name = "Text message"
    description = "The seller sends a text message, drafted from a template."
    activity_kind = ActivityKind.TASK
    automatic = False

    async def execute(self, ctx: ExecutionContext[SmsConfig]) -> Outcome:
        text = self.render(ctx)
        return CreateActivity(
            subject=f"Text {ctx.record.name}",
            instructions=text,
            data={"to": self.number(ctx), "text": text},
        )


class AutoSms(SmsStep):
    key = "sms.auto"
    display_name = "Automated text message"
    description = "A text message sent from a template as soon as the step is reached."
    automatic = True

    def __init__(self, transport: SmsTransport | None = None):
        self._transport = transport

    async def execute(self, ctx: ExecutionContext[SmsConfig]) -> Outcome:
        """Send the text (once per `ctx.idempotency_key`) and keep its id in
        `ctx.state["message_id"]`; a record without a number puts the connection in ERROR."""
        number = self.number(ctx)
        if number is None:
            return Fail(
                "The record has no phone number: add one, then connect it again.", NO_PHONE_NUMBER
            )
        transport = self._transport or OutboxTransport.from_env()
        message = SmsMessage(to=number, text=self.render(ctx), idempotency_key=ctx.idempotency_key)
        ctx.state["message_id"] = await transport.send(message)
        return Done()
