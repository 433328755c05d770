"""`call.phone`: the seller calls the record, optionally following a script."""

from __future__ import annotations

from pydantic import Field

from sekvens.plugins.api import (
    ActivityKind,
    CreateActivity,
    ErrorCode,
    ExecutionContext,
    FieldType,
    Outcome,
    Problem,
    StepCategory,
    StepConfig,
    StepType,
    TemplateProblem,
    ValidationContext,
    check_template,
    render_template,
)


class PhoneCallConfig(StepConfig):
    script: str = Field(
        default="",
        max_length=4000,
        description="Script or notes for the seller; may use merge fields ({{ first_name }}).",
    )
    phone_field: str | None = Field(
        default="phone",
        description="The record's phone field whose number the activity shows; null for none.",
    )


class PhoneCall(StepType[PhoneCallConfig]):
    key = "call.phone"
    category = StepCategory.STEP
    display_name = "Phone call"
    description = "The seller calls the record and completes the activity with a call outcome."
    config_model = PhoneCallConfig
    activity_kind = ActivityKind.CALL
    automatic = False

    def validate(self, config: PhoneCallConfig, context: ValidationContext) -> list[Problem]:
        record_type = context.record_type
        problems = check_template(config.script, record_type, ("script",))
        if config.phone_field is None:
            return problems
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

    async def execute(self, ctx: ExecutionContext[PhoneCallConfig]) -> Outcome:
        """A call activity; `data["phone"]` is the number (None when unknown). A script that
        fails to render is shown as written."""
        config = ctx.config
        try:
            script = render_template(config.script, ctx.template_values())
        except TemplateProblem:
            script = config.script
        number = ctx.record.fields.get(config.phone_field) if config.phone_field else None
        return CreateActivity(
            subject=f"Call {ctx.record.name}", instructions=script, data={"phone": number}
        )
