"""Commands: branch on field values or the business-process stage, update a field, advance
to another sequence. All run automatically as soon as a connection reaches them."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

from sekvens.plugins.api import (
    Branch,
    Done,
    ErrorCode,
    ExecutionContext,
    FieldType,
    HandOver,
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
    check_value,
)
from sekvens.plugins.commands.field_rules import FieldConditionConfig, check_rules, evaluate

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


def _branch(condition: bool) -> Outcome:
    return TakeBranch(Branch.YES if condition else Branch.NO)


def _decides_at_once(now: bool, yes: str, no: str) -> StepPreview:
    """Both branches at once; `now` is the one the record's values give today."""
    return StepPreview(
        paths=(
            PreviewPath(Branch.YES, assumes=yes, expected=now),
            PreviewPath(Branch.NO, assumes=no, expected=not now),
        )
    )


class FieldConditionStep(StepType[FieldConditionConfig]):
    key = "commands.field_condition"
    category = StepCategory.COMMAND
    display_name = "Check field value"
    description = "Follow YES when the record's field values satisfy the rules, else NO."
    config_model = FieldConditionConfig
    branches = (Branch.YES, Branch.NO)
    automatic = True

    def validate(self, config: FieldConditionConfig, context: ValidationContext) -> list[Problem]:
        return check_rules(config, context.record_type)

    async def execute(self, ctx: ExecutionContext[FieldConditionConfig]) -> Outcome:
        return _branch(evaluate(ctx.config, ctx.record_type, ctx.record.fields))

    def preview(self, config: FieldConditionConfig, context: PreviewContext) -> StepPreview:
        now = evaluate(config, context.record_type, context.record.fields)
        return _decides_at_once(
            now,
            "the record's fields satisfy the rules when the step is reached",
            "the record's fields do not satisfy the rules when the step is reached",
        )


class StageConditionConfig(StepConfig):
    stages: list[Name] = Field(min_length=1, max_length=100)


class StageConditionStep(StepType[StageConditionConfig]):
    key = "commands.stage_condition"
    category = StepCategory.COMMAND
    display_name = "Check business-process stage"
    description = "Follow YES when the record is in one of the stages, else NO."
    config_model = StageConditionConfig
    branches = (Branch.YES, Branch.NO)
    automatic = True

    def validate(self, config: StageConditionConfig, context: ValidationContext) -> list[Problem]:
        problems: list[Problem] = []
        known = context.record_type.stages
        for i, stage in enumerate(config.stages):
            if stage not in known:
                problems.append(
                    Problem(
                        ErrorCode.UNKNOWN_STAGE,
                        f"'{stage}' is not a stage of record type '{context.record_type.name}'"
                        f" ({', '.join(known) or 'it has none'}).",
                        ("stages", str(i)),
                    )
                )
            elif stage in config.stages[:i]:
                problems.append(
                    Problem(
                        ErrorCode.DUPLICATE, f"Stage '{stage}' is listed twice.", ("stages", str(i))
                    )
                )
        return problems

    async def execute(self, ctx: ExecutionContext[StageConditionConfig]) -> Outcome:
        return _branch(ctx.record.stage in ctx.config.stages)

    def preview(self, config: StageConditionConfig, context: PreviewContext) -> StepPreview:
        stages = ", ".join(config.stages)
        return _decides_at_once(
            context.record.stage in config.stages,
            f"the record's stage is one of {stages} when the step is reached",
            f"the record's stage is none of {stages} when the step is reached",
        )


UPDATABLE_TYPES = (FieldType.BOOLEAN, FieldType.OPTION_SET)


class UpdateFieldConfig(StepConfig):
    field: Annotated[str, StringConstraints(min_length=1)]
    value: bool | str


class UpdateFieldStep(StepType[UpdateFieldConfig]):
    key = "commands.update_field"
    category = StepCategory.COMMAND
    display_name = "Update field"
    description = "Set a two-option or option-set field of the record."
    config_model = UpdateFieldConfig
    automatic = True

    def validate(self, config: UpdateFieldConfig, context: ValidationContext) -> list[Problem]:
        info = context.record_type.fields.get(config.field)
        if info is None:
            return [
                Problem(
                    ErrorCode.UNKNOWN_FIELD,
                    f"Record type '{context.record_type.name}' has no field '{config.field}'.",
                    ("field",),
                )
            ]
        if info.type not in UPDATABLE_TYPES:
            return [
                Problem(
                    ErrorCode.WRONG_FIELD_TYPE,
                    f"Field '{info.name}' can't be updated by a sequence: only two-option"
                    " and option-set fields can.",
                    ("field",),
                )
            ]
        problem = check_value(info, config.value, ("value",))
        return [] if problem is None else [problem]

    async def execute(self, ctx: ExecutionContext[UpdateFieldConfig]) -> Outcome:
        await ctx.records.set_field(ctx.config.field, ctx.config.value)
        return Done()


class AdvanceConfig(StepConfig):
    sequence: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]


class AdvanceToSequenceStep(StepType[AdvanceConfig]):
    key = "commands.advance_to_sequence"
    category = StepCategory.COMMAND
    display_name = "Advance to another sequence"
    description = (
        "Hand the record over to another active sequence of the same record type."
        " It can't be the first step, and nothing may follow it."
    )
    config_model = AdvanceConfig
    branches = ()
    automatic = True

    def validate(self, config: AdvanceConfig, context: ValidationContext) -> list[Problem]:
        problems: list[Problem] = []
        if context.is_first:
            problems.append(
                Problem(
                    ErrorCode.ADVANCE_IS_FIRST,
                    "Advance to another sequence can't be the first step.",
                )
            )
        if context.followers:
            problems.append(
                Problem(
                    ErrorCode.ADVANCE_HAS_FOLLOWER,
                    "Nothing may follow advance to another sequence; remove the steps after it.",
                )
            )
        target = context.lookup_sequence(config.sequence)
        at = ("sequence",)
        if target is None:
            problems.append(
                Problem(
                    ErrorCode.ADVANCE_TARGET_NOT_FOUND,
                    f"Sequence '{config.sequence}' was not found.",
                    at,
                )
            )
        elif target.id == context.sequence_id:
            problems.append(
                Problem(
                    ErrorCode.ADVANCE_TARGETS_ITSELF,
                    "A sequence can't advance to itself.",
                    at,
                )
            )
        else:
            if target.record_type != context.record_type.name:
                problems.append(
                    Problem(
                        ErrorCode.ADVANCE_TARGET_RECORD_TYPE,
                        f"Sequence '{target.name}' is for record type '{target.record_type}',"
                        f" not '{context.record_type.name}'.",
                        at,
                    )
                )
            if not target.is_active:
                problems.append(
                    Problem(
                        ErrorCode.ADVANCE_TARGET_INACTIVE,
                        f"Sequence '{target.name}' is not active; activate it first.",
                        at,
                    )
                )
        return problems

    async def execute(self, ctx: ExecutionContext[AdvanceConfig]) -> Outcome:
        return HandOver(ctx.config.sequence)

    def preview(self, config: AdvanceConfig, context: PreviewContext) -> StepPreview:
        return StepPreview(
            paths=(),
            ends="ADVANCED_TO_OTHER_SEQUENCE",
            note=f"The record is handed over to sequence '{config.sequence}'.",
        )
