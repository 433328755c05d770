"""LinkedIn activities for the seller. Their texts may use merge fields (`{{ first_name }}`).

Each config may name `profile_field`, a text field of the record type holding the person's
LinkedIn profile URL; the activity then carries that URL in `data["profile_url"]`, next to the
rendered texts.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from pydantic import StringConstraints

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

Text200 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
Text300 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=300)]
Text4000 = Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)]
Subject = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
InMailBody = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1900)]


class LinkedInConfig(StepConfig):
    profile_field: str | None = None
    instructions: Text4000 = ""


class ResearchConfig(LinkedInConfig):
    pass


class GetIntroducedConfig(LinkedInConfig):
    via: Text200 = ""
    message: Text4000 = ""


class ConnectConfig(LinkedInConfig):
    message: Text300 = ""


class InMailConfig(LinkedInConfig):
    subject: Subject
    body: InMailBody


ConfigT = TypeVar("ConfigT", bound=LinkedInConfig)


class LinkedInStep(StepType[ConfigT]):
    """Shared rules: the profile field must be a text field; the `templated` config fields may
    use merge fields; execute creates an activity titled `activity_subject`."""

    category = StepCategory.LINKEDIN
    activity_kind = ActivityKind.LINKEDIN
    automatic = False
    templated: tuple[str, ...] = ()
    activity_subject: str  # formatted with the record's `name`

    def validate(self, config: ConfigT, context: ValidationContext) -> list[Problem]:
        problems: list[Problem] = []
        name = config.profile_field
        info = None if name is None else context.record_type.fields.get(name)
        if name is not None and info is None:
            problems.append(
                Problem(
                    ErrorCode.UNKNOWN_FIELD,
                    f"Record type '{context.record_type.name}' has no field '{name}'.",
                    ("profile_field",),
                )
            )
        elif info is not None and info.type is not FieldType.TEXT:
            problems.append(
                Problem(
                    ErrorCode.WRONG_FIELD_TYPE,
                    f"Field '{name}' is not a text field, so it cannot hold a profile URL.",
                    ("profile_field",),
                )
            )
        for attr in self.templated:
            problems += check_template(getattr(config, attr), context.record_type, (attr,))
        return problems

    async def execute(self, ctx: ExecutionContext[ConfigT]) -> Outcome:
        data: dict[str, Any] = {}
        if ctx.config.profile_field is not None:
            data["profile_url"] = ctx.record.fields.get(ctx.config.profile_field)
        values = ctx.template_values()
        for attr in self.templated:
            source = getattr(ctx.config, attr)
            try:
                data[attr] = render_template(source, values)
            except TemplateProblem:
                data[attr] = source  # the seller reviews the text anyway
        subject = self.activity_subject.format(name=ctx.record.name)
        return CreateActivity(subject, ctx.config.instructions, data)


class ResearchStep(LinkedInStep[ResearchConfig]):
    key = "linkedin.research"
    display_name = "LinkedIn: research"
    description = "View the person's LinkedIn profile before reaching out."
    config_model = ResearchConfig
    activity_subject = "Research {name} on LinkedIn"


class GetIntroducedStep(LinkedInStep[GetIntroducedConfig]):
    key = "linkedin.get_introduced"
    display_name = "LinkedIn: get introduced"
    description = "Ask a shared connection for an introduction."
    config_model = GetIntroducedConfig
    templated = ("via", "message")
    activity_subject = "Get introduced to {name} on LinkedIn"


class ConnectStep(LinkedInStep[ConnectConfig]):
    key = "linkedin.connect"
    display_name = "LinkedIn: connect"
    description = "Send a connection invitation with a personal message (at most 300 characters)."
    config_model = ConnectConfig
    templated = ("message",)
    activity_subject = "Connect with {name} on LinkedIn"


class InMailStep(LinkedInStep[InMailConfig]):
    key = "linkedin.inmail"
    display_name = "LinkedIn: send InMail"
    description = "Send an InMail message with a subject and a body."
    config_model = InMailConfig
    templated = ("subject", "body")
    activity_subject = "Send an InMail to {name}"
