"""`email.condition`: branch on what the recipient did with the previous email."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum

from pydantic import Field

from sekvens.plugins.api import (
    ActivityKind,
    ActivityStatus,
    Branch,
    EngagementEvent,
    ErrorCode,
    EventKind,
    ExecutionContext,
    Outcome,
    PreviewContext,
    PreviewPath,
    Problem,
    StepCategory,
    StepConfig,
    StepPreview,
    StepType,
    TakeBranch,
    ValidationContext,
    WaitForEvents,
)


class EmailEvent(StrEnum):
    OPENED = "OPENED"
    REPLIED = "REPLIED"
    LINK_CLICKED = "LINK_CLICKED"
    ATTACHMENT_DOWNLOADED = "ATTACHMENT_DOWNLOADED"


EVENT_KINDS = {
    EmailEvent.OPENED: EventKind.EMAIL_OPENED,
    EmailEvent.REPLIED: EventKind.EMAIL_REPLIED,
    EmailEvent.LINK_CLICKED: EventKind.LINK_CLICKED,
    EmailEvent.ATTACHMENT_DOWNLOADED: EventKind.ATTACHMENT_DOWNLOADED,
}


class Match(StrEnum):
    ALL = "ALL"
    ANY = "ANY"


class EmailConditionConfig(StepConfig):
    events: list[EmailEvent] = Field(
        default_factory=list, max_length=len(EmailEvent), description="The events to test."
    )
    match: Match = Field(
        default=Match.ANY, description="ALL: every event must happen; ANY: one is enough."
    )
    days: int = Field(default=1, ge=0, le=30, description="Time limit: days.")
    hours: int = Field(default=0, ge=0, le=23, description="Time limit: hours.")
    advance_immediately: bool = Field(
        default=False,
        description="Follow YES as soon as the events happened, instead of at the time limit.",
    )


class EmailCondition(StepType[EmailConditionConfig]):
    """YES when the events happen within the time limit, NO otherwise or when the email was
    skipped. YES starts when the limit passes unless `advance_immediately`."""

    key = "email.condition"
    category = StepCategory.CONDITION
    display_name = "Email condition"
    description = (
        "Branch on whether the previous email was opened, replied to, had a link clicked or an "
        "attachment downloaded within a time limit."
    )
    config_model = EmailConditionConfig
    branches = (Branch.YES, Branch.NO)
    automatic = True

    def validate(self, config: EmailConditionConfig, context: ValidationContext) -> list[Problem]:
        problems: list[Problem] = []
        activity = context.previous_activity
        if activity is None:
            problems.append(
                Problem(
                    ErrorCode.CONDITION_WITHOUT_ACTIVITY,
                    "An email condition must follow an email step.",
                )
            )
        elif activity.activity_kind is not ActivityKind.EMAIL:
            problems.append(
                Problem(
                    ErrorCode.CONDITION_WRONG_ACTIVITY,
                    "An email condition must follow an email, not step "
                    f"'{activity.name or activity.key}' ({activity.type}).",
                )
            )
        if not config.events:
            problems.append(
                Problem(ErrorCode.NOTHING_TO_TEST, "Choose at least one event.", ("events",))
            )
        problems.extend(time_limit_problems(config.days, config.hours))
        return problems

    async def execute(self, ctx: ExecutionContext[EmailConditionConfig]) -> Outcome:
        activity = ctx.previous_activity
        if activity is None or activity.status is ActivityStatus.SKIPPED:
            return TakeBranch(Branch.NO)
        return WaitForEvents(
            kinds=frozenset(EVENT_KINDS[e] for e in ctx.config.events),
            deadline=timedelta(days=ctx.config.days, hours=ctx.config.hours),
        )

    async def on_event(
        self, ctx: ExecutionContext[EmailConditionConfig], event: EngagementEvent
    ) -> Outcome | None:
        """Remember each wanted event kind in `ctx.state["seen"]`."""
        try:
            kind = EventKind(event.kind)
        except ValueError:
            return None
        if kind not in {EVENT_KINDS[e] for e in ctx.config.events}:
            return None
        ctx.state["seen"] = sorted({*ctx.state.get("seen", ()), kind.value})
        if ctx.config.advance_immediately and _satisfied(ctx):
            return TakeBranch(Branch.YES)
        return None

    async def on_deadline(self, ctx: ExecutionContext[EmailConditionConfig]) -> Outcome:
        return TakeBranch(Branch.YES if _satisfied(ctx) else Branch.NO)

    def preview(self, config: EmailConditionConfig, context: PreviewContext) -> StepPreview:
        """Both branches start when the time limit passes (the email assumed sent, not
        skipped); with `advance_immediately` YES starts as soon as the events happen."""
        limit = timedelta(days=config.days, hours=config.hours)
        joined = f" {'and' if config.match is Match.ALL else 'or'} ".join(
            _WORDS[e] for e in config.events
        )
        within = f"within {_limit(config.days, config.hours)}"
        yes = f"the recipient {joined} {within}"
        if config.advance_immediately:
            yes += "; YES then starts as soon as that happens, up to the time limit earlier"
        no = f"{'not all' if config.match is Match.ALL else 'none'} of that happens {within}"
        return StepPreview(
            paths=(
                PreviewPath(Branch.YES, wait=limit, assumes=yes, needs_sent_email=True),
                PreviewPath(Branch.NO, wait=limit, assumes=no),
            )
        )


_WORDS = {
    EmailEvent.OPENED: "opens the email",
    EmailEvent.REPLIED: "replies",
    EmailEvent.LINK_CLICKED: "clicks a link",
    EmailEvent.ATTACHMENT_DOWNLOADED: "downloads an attachment",
}


def _limit(days: int, hours: int) -> str:
    """A time limit in words: "2 days 3 hours"."""
    parts = [
        f"{n} {unit}" + ("s" if n != 1 else "") for n, unit in ((days, "day"), (hours, "hour"))
    ]
    return " ".join(p for p, n in zip(parts, (days, hours), strict=True) if n)


def _satisfied(ctx: ExecutionContext[EmailConditionConfig]) -> bool:
    seen = set(ctx.state.get("seen", ()))
    wanted = {EVENT_KINDS[e].value for e in ctx.config.events}
    return wanted <= seen if ctx.config.match is Match.ALL else bool(wanted & seen)


def time_limit_problems(days: int, hours: int) -> list[Problem]:
    """A condition's time limit must be more than 0 and at most 30 days."""
    if days == 0 and hours == 0:
        return [Problem(ErrorCode.INVALID_VALUE, "The time limit must be more than 0.", ("days",))]
    if days * 24 + hours > 30 * 24:
        return [
            Problem(ErrorCode.INVALID_VALUE, "The time limit can be at most 30 days.", ("hours",))
        ]
    return []
