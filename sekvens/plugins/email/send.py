"""`email.manual` (the seller sends it) and `email.auto` (the engine sends it)."""

from __future__ import annotations

from pydantic import Field

from sekvens.plugins.api import (
    MAX_SUBJECT_OUTPUT,
    ActivityKind,
    CreateActivity,
    Done,
    ErrorCode,
    ExecutionContext,
    Fail,
    FieldType,
    MailMessage,
    Outcome,
    Problem,
    RecordTypeInfo,
    StepCategory,
    StepConfig,
    StepType,
    TemplateProblem,
    ValidationContext,
    check_template,
    render_template,
)

NO_EMAIL_ADDRESS = "NO_EMAIL_ADDRESS"
"""`Fail` code of `email.auto` when the record has no address in its `to_field`."""


class EmailTemplate(StepConfig):
    """An email whose subject and body may use merge fields such as `{{ first_name }}`."""

    subject: str = Field(min_length=1, max_length=200, description="Subject line.")
    body: str = Field(min_length=1, max_length=20_000, description="Plain-text body.")

    def check(self, record_type: RecordTypeInfo) -> list[Problem]:
        """Template problems (syntax, unknown merge fields, too large) at `("template", ...)`.
        A rendered subject may have `MAX_SUBJECT_OUTPUT` characters, a body
        `MAX_TEMPLATE_OUTPUT`."""
        return [
            *check_template(self.subject, record_type, ("template", "subject"), MAX_SUBJECT_OUTPUT),
            *check_template(self.body, record_type, ("template", "body")),
        ]

    def render(self, ctx: ExecutionContext) -> tuple[str, str]:
        """The subject (on one line) and body for the connected record; may raise
        `TemplateProblem`."""
        values = ctx.template_values()
        subject = render_template(self.subject, values, MAX_SUBJECT_OUTPUT)
        return " ".join(subject.split()), render_template(self.body, values)


class ManualEmailConfig(StepConfig):
    template: EmailTemplate | None = Field(
        default=None, description="A draft for the seller, rendered for each record."
    )


class AutoEmailConfig(StepConfig):
    template: EmailTemplate = Field(description="The email the engine sends.")
    to_field: str = Field(
        default="email", description="The record's email field the message goes to."
    )


class ManualEmail(StepType[ManualEmailConfig]):
    key = "email.manual"
    category = StepCategory.STEP
    display_name = "Email"
    description = "The seller writes and sends an email, optionally from a template."
    config_model = ManualEmailConfig
    activity_kind = ActivityKind.EMAIL
    automatic = False

    def validate(self, config: ManualEmailConfig, context: ValidationContext) -> list[Problem]:
        return [] if config.template is None else config.template.check(context.record_type)

    async def execute(self, ctx: ExecutionContext[ManualEmailConfig]) -> Outcome:
        subject = f"Email {ctx.record.name}"
        template = ctx.config.template
        if template is None:
            return CreateActivity(subject=subject)
        try:
            draft_subject, body = template.render(ctx)
        except TemplateProblem as exc:
            # The seller can still write the email; say why there is no draft.
            return CreateActivity(
                subject=subject, instructions=f"No draft: {exc.message} Write the email yourself."
            )
        return CreateActivity(
            subject=draft_subject or subject, data={"subject": draft_subject, "body": body}
        )


class AutoEmail(StepType[AutoEmailConfig]):
    key = "email.auto"
    category = StepCategory.STEP
    display_name = "Automated email"
    description = (
        "The engine sends an email from a template to the record's email address, as soon as "
        "the step is reached."
    )
    config_model = AutoEmailConfig
    activity_kind = ActivityKind.EMAIL
    automatic = True

    def validate(self, config: AutoEmailConfig, context: ValidationContext) -> list[Problem]:
        problems = config.template.check(context.record_type)
        record_type = context.record_type
        field = record_type.fields.get(config.to_field)
        if field is None:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_FIELD,
                    f"Record type '{record_type.name}' has no field '{config.to_field}'.",
                    ("to_field",),
                )
            )
        elif field.type is not FieldType.EMAIL:
            problems.append(
                Problem(
                    ErrorCode.WRONG_FIELD_TYPE,
                    f"Field '{config.to_field}' is not an email field.",
                    ("to_field",),
                )
            )
        return problems

    async def execute(self, ctx: ExecutionContext[AutoEmailConfig]) -> Outcome:
        """Send the email and remember its message id in `ctx.state["message_id"]` (conditions
        match engagement events to it). A record without an address puts the connection in
        ERROR (`Fail(NO_EMAIL_ADDRESS)`), and so does a template that fails to render for the
        record (`Fail` coded TEMPLATE_TOO_LARGE when a bound stopped it, else TEMPLATE_ERROR);
        an opted-out recipient raises `RecipientOptedOut` from the mail transport."""
        address = ctx.record.fields.get(ctx.config.to_field)
        if not isinstance(address, str) or not address.strip():
            return Fail(
                f"The record has no email address in field '{ctx.config.to_field}': add one,"
                " then connect the record again.",
                NO_EMAIL_ADDRESS,
            )
        try:
            subject, body = ctx.config.template.render(ctx)
        except TemplateProblem as exc:
            return Fail(f"{exc.message} Fix the step's template, then connect again.", exc.code)
        ctx.state["message_id"] = await ctx.mail.send(
            MailMessage(
                to=address.strip(),
                subject=subject,
                text=body,
                from_address=ctx.sender,
                idempotency_key=ctx.idempotency_key,
            )
        )
        return Done()
