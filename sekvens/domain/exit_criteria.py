"""A sequence's CRM-driven exit criteria: a meeting booked, the record's stage entering given
stages, or a field condition (`field_conditions`) becoming true; their checks against the
record type, their stored form, and which one a record change meets (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.field_conditions import NO_VALUE, FieldCondition, check_conditions, holds
from sekvens.domain.life_cycles import ConnectionReason
from sekvens.domain.records import RecordTypeInfo

FIELD_CONDITIONS_MAX = 20


@dataclass(frozen=True)
class ExitCriteria:
    """Beyond exit on reply: what else ends a connection of the sequence."""

    meeting_booked: bool = False
    stages: tuple[str, ...] = ()
    field_conditions: tuple[FieldCondition, ...] = ()

    @classmethod
    def of(cls, stored: Mapping[str, Any] | None) -> ExitCriteria:
        """From `sequences.exit_criteria` (None: no criteria)."""
        if not stored:
            return cls()
        return cls(
            meeting_booked=bool(stored.get("meetingBooked")),
            stages=tuple(stored.get("stages") or ()),
            field_conditions=tuple(
                FieldCondition.from_json(c) for c in stored.get("fieldConditions") or ()
            ),
        )

    def stored(self) -> dict[str, Any] | None:
        """The JSON kept in `sequences.exit_criteria` (None when there is no criterion)."""
        if not self.any():
            return None
        return {
            "meetingBooked": self.meeting_booked,
            "stages": list(self.stages),
            "fieldConditions": [c.to_json() for c in self.field_conditions],
        }

    def any(self) -> bool:
        return self.meeting_booked or bool(self.stages) or bool(self.field_conditions)

    def watches_records(self) -> bool:
        """Whether a change of the record's stage or fields can meet a criterion."""
        return bool(self.stages) or bool(self.field_conditions)

    def check(self, record_type: RecordTypeInfo) -> list[Problem]:
        """Every problem with the criteria for `record_type`, at its path under `exitCriteria`."""
        at = ("exitCriteria",)
        problems: list[Problem] = []
        for i, stage in enumerate(self.stages):
            if stage not in record_type.stages:
                stages = ", ".join(record_type.stages) or "none"
                problems.append(
                    Problem(
                        ErrorCode.UNKNOWN_STAGE,
                        f"'{stage}' is not a stage of {record_type.name} ({stages}).",
                        (*at, "stages", str(i)),
                    )
                )
        if len(self.field_conditions) > FIELD_CONDITIONS_MAX:
            problems.append(
                Problem(
                    ErrorCode.TOO_MANY,
                    f"At most {FIELD_CONDITIONS_MAX} field conditions.",
                    (*at, "fieldConditions"),
                )
            )
        problems.extend(
            check_conditions(self.field_conditions, record_type, (*at, "fieldConditions"))
        )
        return problems

    def met_by(
        self,
        record_type: RecordTypeInfo,
        stage_before: str | None,
        stage_after: str | None,
        fields_before: Mapping[str, Any],
        fields_after: Mapping[str, Any],
    ) -> tuple[ConnectionReason, str] | None:
        """The criterion a record change meets, with a detail: the stage *entering* an exit
        stage (STAGE_REACHED), else a field condition *becoming* true (FIELD_CONDITION_MET)."""
        if stage_after != stage_before and stage_after in self.stages:
            return ConnectionReason.STAGE_REACHED, f"The record's stage became {stage_after}."
        for c in self.field_conditions:
            if holds(c, record_type, fields_after) and not holds(c, record_type, fields_before):
                detail = f"Field condition met: {c.field} {c.operator.value}"
                return ConnectionReason.FIELD_CONDITION_MET, (
                    detail if c.operator in NO_VALUE else f"{detail} {c.value!r}"
                ) + "."
        return None
