"""`email.manual` (the seller sends it) and `email.auto` (the engine sends it)."""

from __future__ import annotations

import hashlib
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from itertools import accumulate
from typing import Any

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
    PreviewContext,
    Problem,
    RecordTypeInfo,
    StepCategory,
    StepConfig,
    StepPreview,
    StepType,
    TemplateProblem,
    ValidationContext,
    check_template,
    render_template,
)

NO_EMAIL_ADDRESS = "NO_EMAIL_ADDRESS"
"""`Fail` code of `email.auto` when the record has no address in its `to_field`."""

VARIANT_LABELS = "ABCD"
"""A/B test labels by position: the step's `template` is A, its `variants` B, C and D."""


class EmailTemplate(StepConfig):
    """An email whose subject and body may use merge fields such as `{{ first_name }}`."""

    subject: str = Field(min_length=1, max_length=200, description="Subject line.")
    body: str = Field(min_length=1, max_length=20_000, description="Plain-text body.")

    def check(
        self, record_type: RecordTypeInfo, path: tuple[str, ...] = ("template",)
    ) -> list[Problem]:
        """Template problems (syntax, unknown merge fields, too large) at `(*path, ...)`.
        A rendered subject may have `MAX_SUBJECT_OUTPUT` characters, a body
        `MAX_TEMPLATE_OUTPUT`."""
        return [
            *check_template(self.subject, record_type, (*path, "subject"), MAX_SUBJECT_OUTPUT),
            *check_template(self.body, record_type, (*path, "body")),
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


class EmailVariant(EmailTemplate):
    """Another version of an automated email in an A/B test, with its share of recipients."""

    weight: int = Field(
        default=1, ge=1, le=100, description="Share of recipients, relative to the others."
    )


class AutoEmailConfig(StepConfig):
    template: EmailTemplate = Field(
        description="The email the engine sends; variant A when there are `variants`."
    )
    to_field: str = Field(
        default="email", description="The record's email field the message goes to."
    )
    reply_in_thread: bool = Field(
        default=False,
        description="Send as a reply to the previous automated email of this sequence to the"
        " same record: its subject with 'Re: ' (this step's subject is used only when there is"
        " none), In-Reply-To and References.",
    )
    variants: list[EmailVariant] = Field(
        default_factory=list,
        description="An A/B test: variants B, C and D of the email (none: no test; at most 3).",
        json_schema_extra={"maxItems": len(VARIANT_LABELS) - 1},
    )
    template_weight: int = Field(
        default=1, ge=1, le=100, description="Share of recipients of variant A (`template`)."
    )

    def variant_of(self, seed: str) -> tuple[str, EmailTemplate] | None:
        """The variant (label, template) a recipient gets, by `pick_variant`; None: no test."""
        if not self.variants:
            return None
        options: list[EmailTemplate] = [self.template, *self.variants]
        weights = [self.template_weight, *(v.weight for v in self.variants)]
        index = pick_variant(seed, weights)
        return VARIANT_LABELS[index], options[index]


def pick_variant(seed: str, weights: Sequence[int]) -> int:
    """The index of the variant for `seed` (e.g. "<connection id>:<step key>"): SHA-256 of
    the seed read as a number in [0, 1), mapped onto the cumulative weights, so the same seed
    always gets the same variant and each gets its weight's share of many seeds. A weight of
    0 is never picked; at least one weight must be positive."""
    total = sum(weights)
    if total <= 0:
        raise ValueError("At least one weight must be positive.")
    digest = hashlib.sha256(seed.encode()).digest()
    point = int.from_bytes(digest[:8], "big") * total >> 64  # in [0, total)
    return bisect_right(list(accumulate(weights)), point)


def with_winner(raw: Mapping[str, Any], label: str) -> dict[str, Any] | None:
    """An `email.auto` config (`raw`, as stored) whose A/B test ends with variant `label`:
    its subject and body are the `template`, and `variants` and `template_weight` are gone
    (the other keys stay). None: `raw` has no variant `label`."""
    variants = raw.get("variants") or []
    options = [raw.get("template"), *variants][: len(VARIANT_LABELS)]
    if len(options) < 2 or label not in tuple(VARIANT_LABELS[: len(options)]):  # one letter
        return None
    winner = options[VARIANT_LABELS.index(label)]
    if not isinstance(winner, Mapping):
        return None
    out = {k: v for k, v in raw.items() if k not in ("variants", "template_weight")}
    out["template"] = {"subject": winner.get("subject"), "body": winner.get("body")}
    return out


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
        for i, variant in enumerate(config.variants):
            problems += variant.check(context.record_type, ("variants", str(i)))
        if len(config.variants) >= len(VARIANT_LABELS):
            problems.append(
                Problem(
                    ErrorCode.TOO_MANY,
                    f"An A/B test has at most {len(VARIANT_LABELS)} variants: the template"
                    f" (A) and up to {len(VARIANT_LABELS) - 1} more.",
                    ("variants",),
                )
            )
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
        an opted-out recipient raises `RecipientOptedOut` from the mail transport. It goes
        with the sender identity; with `reply_in_thread` it replies to the connection's
        previous automated email, when there is one. In an A/B
        test the message is the connection's variant (`variant`), kept in
        `ctx.state["variant"]`."""
        address = ctx.record.fields.get(ctx.config.to_field)
        if not isinstance(address, str) or not address.strip():
            return Fail(
                f"The record has no email address in field '{ctx.config.to_field}': add one,"
                " then connect the record again.",
                NO_EMAIL_ADDRESS,
            )
        chosen = self.variant(ctx)
        variant, template = chosen if chosen is not None else (None, ctx.config.template)
        if variant is not None:
            ctx.state["variant"] = variant
        try:
            subject, body = template.render(ctx)
        except TemplateProblem as exc:
            return Fail(f"{exc.message} Fix the step's template, then connect again.", exc.code)
        headers: dict[str, str] = {}
        if ctx.config.reply_in_thread and (previous := await ctx.mail.previous_message()):
            subject, headers = previous.reply_subject(), previous.reply_headers()
        identity = ctx.sender_identity
        ctx.state["message_id"] = await ctx.mail.send(
            MailMessage(
                to=address.strip(),
                subject=subject,
                text=body,
                from_address=ctx.sender,
                idempotency_key=ctx.idempotency_key,
                headers=headers,
                from_name=identity.name if identity else None,
                reply_to=identity.reply_to if identity else None,
                variant=variant,
            )
        )
        return Done()

    def preview(self, config: AutoEmailConfig, context: PreviewContext) -> StepPreview:
        """The email goes to the record's `to_field` in its send window; without an address
        the connection ends in ERROR (NO_EMAIL_ADDRESS), as `execute` would end it."""
        address = context.record.fields.get(config.to_field)
        if not isinstance(address, str) or not address.strip():
            return StepPreview(
                paths=(),
                ends=NO_EMAIL_ADDRESS,
                note=f"The record has no email address in field '{config.to_field}': the"
                " connection would end in ERROR here.",
            )
        return StepPreview(email_to=address.strip())

    @staticmethod
    def variant(ctx: ExecutionContext[AutoEmailConfig]) -> tuple[str, EmailTemplate] | None:
        """The connection's variant: the one it was given before (`state["variant"]`) or
        `AutoEmailConfig.variant_of` "<connection id>:<step key>"; None: no A/B test."""
        config = ctx.config
        kept = ctx.state.get("variant")
        options = [config.template, *config.variants]
        if config.variants and kept in tuple(VARIANT_LABELS[: len(options)]):
            return kept, options[VARIANT_LABELS.index(kept)]
        return config.variant_of(f"{ctx.connection_id}:{ctx.step.key}")
