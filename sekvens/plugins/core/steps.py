"""core.start, core.task and core.wait."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import Field, StringConstraints

from sekvens.plugins.api import (
    START_STEP_TYPE,
    ActivityKind,
    CreateActivity,
    Done,
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
    ValidationContext,
    WaitFor,
)

MAX_WAIT = timedelta(days=30)


class StartStep(StepType[StepConfig]):
    key = START_STEP_TYPE
    category = StepCategory.STEP
    display_name = "Sequence starts here"
    description = "The first step of every sequence; it passes straight on to the next one."
    config_model = StepConfig
    automatic = True

    async def execute(self, ctx: ExecutionContext[StepConfig]) -> Outcome:
        return Done()


class TaskConfig(StepConfig):
    subject: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
    instructions: Annotated[str, StringConstraints(strip_whitespace=True, max_length=4000)] = ""


class TaskStep(StepType[TaskConfig]):
    key = "core.task"
    category = StepCategory.STEP
    display_name = "Task"
    description = "A free-form activity for the seller, such as scheduling a meeting."
    config_model = TaskConfig
    activity_kind = ActivityKind.TASK
    automatic = False

    async def execute(self, ctx: ExecutionContext[TaskConfig]) -> Outcome:
        return CreateActivity(ctx.config.subject, ctx.config.instructions)


class WaitConfig(StepConfig):
    days: int = Field(0, ge=0, le=30)
    hours: int = Field(0, ge=0, le=23)

    @property
    def duration(self) -> timedelta:
        return timedelta(days=self.days, hours=self.hours)


class WaitStep(StepType[WaitConfig]):
    key = "core.wait"
    category = StepCategory.STEP
    display_name = "Set wait time"
    description = "Wait some days and hours (more than 0, at most 30 days) before the next step."
    config_model = WaitConfig
    automatic = True

    def validate(self, config: WaitConfig, context: ValidationContext) -> list[Problem]:
        if config.duration <= timedelta(0):
            return [Problem(ErrorCode.INVALID_VALUE, "Wait for more than 0 hours.", ("days",))]
        if config.duration > MAX_WAIT:
            return [Problem(ErrorCode.INVALID_VALUE, "Wait at most 30 days.", ("hours",))]
        return []

    async def execute(self, ctx: ExecutionContext[WaitConfig]) -> Outcome:
        return WaitFor(ctx.config.duration)

    def preview(self, config: WaitConfig, context: PreviewContext) -> StepPreview:
        return StepPreview(paths=(PreviewPath(wait=config.duration),))
