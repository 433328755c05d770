"""`call.condition`: branch on the outcome the seller recorded for the previous call."""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field

from sekvens.plugins.api import (
    ActivityKind,
    ActivityStatus,
    Branch,
    ErrorCode,
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


class CallConditionConfig(StepConfig):
    outcomes: list[str] = Field(
        default_factory=list,
        description="YES when the call's outcome is one of these (the organization's outcomes).",
    )
    days: int = Field(default=1, ge=0, le=30, description="Time limit: days.")
    hours: int = Field(default=0, ge=0, le=23, description="Time limit: hours.")
    advance_immediately: bool = Field(
        default=False, description="Follow YES at once instead of when the time limit passes."
    )


class CallCondition(StepType[CallConditionConfig]):
    """A call's outcome is final once the call is completed, so the condition decides when it
    is reached: a skipped call or another outcome follows NO at once; a matching outcome follows
    YES when the time limit passes (at once with `advance_immediately`). The engine only reaches
    the condition after the call is closed; should the call still be open, the condition waits
    for the time limit and decides on the call as it is then."""

    key = "call.condition"
    category = StepCategory.CONDITION
    display_name = "Call outcome condition"
    description = "Branch on whether the previous call ended with one of the chosen outcomes."
    config_model = CallConditionConfig
    branches = (Branch.YES, Branch.NO)
    automatic = True

    def validate(self, config: CallConditionConfig, context: ValidationContext) -> list[Problem]:
        problems: list[Problem] = []
        activity = context.previous_activity
        if activity is None:
            problems.append(
                Problem(
                    ErrorCode.CONDITION_WITHOUT_ACTIVITY,
                    "A call condition must follow a phone call step.",
                )
            )
        elif activity.activity_kind is not ActivityKind.CALL:
            problems.append(
                Problem(
                    ErrorCode.CONDITION_WRONG_ACTIVITY,
                    "A call condition must follow a phone call, not step "
                    f"'{activity.name or activity.key}' ({activity.type}).",
                )
            )
        if not config.outcomes:
            problems.append(
                Problem(
                    ErrorCode.NOTHING_TO_TEST, "Choose at least one call outcome.", ("outcomes",)
                )
            )
        problems.extend(
            Problem(
                ErrorCode.UNKNOWN_CALL_OUTCOME,
                f"'{outcome}' is not a call outcome of the organization "
                f"({', '.join(context.call_outcomes)}).",
                ("outcomes", str(index)),
            )
            for index, outcome in enumerate(config.outcomes)
            if outcome not in context.call_outcomes
        )
        problems.extend(time_limit_problems(config.days, config.hours))
        return problems

    async def execute(self, ctx: ExecutionContext[CallConditionConfig]) -> Outcome:
        activity = ctx.previous_activity
        if activity is None or activity.status is ActivityStatus.SKIPPED:
            return TakeBranch(Branch.NO)
        if activity.status is ActivityStatus.COMPLETED:
            if not _matches(ctx):
                return TakeBranch(Branch.NO)
            if ctx.config.advance_immediately:
                return TakeBranch(Branch.YES)
        # No engagement event concerns a call: this only waits for the time limit.
        return WaitForEvents(
            kinds=frozenset(), deadline=timedelta(days=ctx.config.days, hours=ctx.config.hours)
        )

    async def on_deadline(self, ctx: ExecutionContext[CallConditionConfig]) -> Outcome:
        return TakeBranch(Branch.YES if _matches(ctx) else Branch.NO)

    def preview(self, config: CallConditionConfig, context: PreviewContext) -> StepPreview:
        """NO starts at once (another outcome, or a skipped call); YES when the time limit
        passes, at once with `advance_immediately`."""
        outcomes = ", ".join(config.outcomes)
        limit = timedelta(days=config.days, hours=config.hours)
        return StepPreview(
            paths=(
                PreviewPath(
                    Branch.YES,
                    wait=None if config.advance_immediately else limit,
                    assumes=f"the call's outcome is one of: {outcomes}",
                ),
                PreviewPath(Branch.NO, assumes=f"the call's outcome is none of: {outcomes}"),
            )
        )


def _matches(ctx: ExecutionContext[CallConditionConfig]) -> bool:
    activity = ctx.previous_activity
    return (
        activity is not None
        and activity.status is ActivityStatus.COMPLETED
        and activity.outcome in ctx.config.outcomes
    )


def time_limit_problems(days: int, hours: int) -> list[Problem]:
    """A condition's time limit must be more than 0 and at most 30 days."""
    if days == 0 and hours == 0:
        return [Problem(ErrorCode.INVALID_VALUE, "The time limit must be more than 0.", ("days",))]
    if days * 24 + hours > 30 * 24:
        return [
            Problem(ErrorCode.INVALID_VALUE, "The time limit can be at most 30 days.", ("hours",))
        ]
    return []
