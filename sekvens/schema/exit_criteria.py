"""A sequence's exit criteria in GraphQL (`Sequence.options.exitCriteria`) and their input."""

from __future__ import annotations

from typing import Any

import strawberry

from sekvens.domain.exit_criteria import ExitCriteria as Criteria
from sekvens.schema.field_conditions import FieldCondition, FieldConditionInput


@strawberry.type(
    description="What ends a connection besides a reply (exitOnReply), each criterion with a"
    " reason of its own (docs/exits.md)."
)
class ExitCriteria:
    meeting_booked: bool = strawberry.field(
        description="A MEETING_BOOKED event about the record ends it (reason MEETING_BOOKED)."
    )
    stages: list[str] = strawberry.field(
        description="The record's stage changing to one of these ends it (STAGE_REACHED)."
    )
    field_conditions: list[FieldCondition] = strawberry.field(
        description="One of these becoming true when upsertRecords changes the record ends it"
        " (FIELD_CONDITION_MET)."
    )

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> ExitCriteria:
        criteria = Criteria.of(stored)
        return cls(
            meeting_booked=criteria.meeting_booked,
            stages=list(criteria.stages),
            field_conditions=[FieldCondition.of(c) for c in criteria.field_conditions],
        )


@strawberry.input(description="The exit criteria as a whole (what is left out is off).")
class ExitCriteriaInput:
    meeting_booked: bool = False
    stages: list[str] = strawberry.field(default_factory=list)
    field_conditions: list[FieldConditionInput] = strawberry.field(default_factory=list)

    def criteria(self) -> Criteria:
        return Criteria(
            meeting_booked=self.meeting_booked,
            stages=tuple(self.stages),
            field_conditions=tuple(c.condition() for c in self.field_conditions),
        )
