"""Command step types: field and stage conditions, update field, advance to another sequence."""

from sekvens.plugins.commands.steps import (
    AdvanceToSequenceStep,
    FieldConditionStep,
    StageConditionStep,
    UpdateFieldStep,
)

field_condition = FieldConditionStep()
stage_condition = StageConditionStep()
update_field = UpdateFieldStep()
advance_to_sequence = AdvanceToSequenceStep()

__all__ = [
    "AdvanceToSequenceStep",
    "FieldConditionStep",
    "StageConditionStep",
    "UpdateFieldStep",
    "advance_to_sequence",
    "field_condition",
    "stage_condition",
    "update_field",
]
