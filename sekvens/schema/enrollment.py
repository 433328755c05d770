"""Enrollment rules (segments) in GraphQL: `Sequence.enrollmentRules` and their input."""

from __future__ import annotations

from typing import Any

import strawberry

from sekvens.domain.enrollment import EnrollmentRule as Rule
from sekvens.domain.enrollment import rules_of
from sekvens.schema.field_conditions import FieldCondition, FieldConditionInput
from sekvens.schema.records import RecordFilterInput
from sekvens.schema.relay import to_global_id


@strawberry.type(
    description="The records a rule takes: connectSequenceByFilter's filter, without the"
    " record type (the sequence's) and isActive (only active records are enrolled)."
)
class EnrollmentFilter:
    owner_user_id: strawberry.ID | None
    owner_team_id: strawberry.ID | None
    stage: str | None
    search: str | None
    external_ids: list[str] | None


@strawberry.type(
    description="Records of the sequence's type that start matching this rule (created"
    " matching, or changed by upsertRecords to match) are connected automatically, through"
    " every connect rule (docs/enrollment.md)."
)
class EnrollmentRule:
    key: str = strawberry.field(description="Stable; SequenceTarget.enrolledBy names it.")
    name: str
    filter: EnrollmentFilter
    field_conditions: list[FieldCondition] = strawberry.field(
        description="All of them hold (none: no condition)."
    )
    allow_reenrollment: bool = strawberry.field(
        description="False: a record is enrolled by this rule once ever. True: again when it"
        " starts matching again, if its last connection to the sequence started at least"
        " reenrollAfterDays ago."
    )
    reenroll_after_days: int

    @classmethod
    def of(cls, rule: Rule) -> EnrollmentRule:
        f = rule.filter
        return cls(
            key=rule.key,
            name=rule.name,
            filter=EnrollmentFilter(
                owner_user_id=_gid("User", f.owner_user_id),
                owner_team_id=_gid("Team", f.owner_team_id),
                stage=f.stage,
                search=f.search,
                external_ids=list(f.external_ids) if f.external_ids is not None else None,
            ),
            field_conditions=[FieldCondition.of(c) for c in rule.field_conditions],
            allow_reenrollment=rule.allow_reenrollment,
            reenroll_after_days=rule.reenroll_after_days,
        )


def enrollment_rules(stored: list[Any] | None) -> list[EnrollmentRule]:
    """The rules kept in `sequences.enrollment_rules`."""
    return [EnrollmentRule.of(r) for r in rules_of(stored)]


def _gid(type_name: str, pk: int | None) -> strawberry.ID | None:
    return None if pk is None else strawberry.ID(to_global_id(type_name, pk))


@strawberry.input(description="One enrollment rule (docs/enrollment.md).")
class EnrollmentRuleInput:
    key: str | None = strawberry.field(
        default=None,
        description="Up to 64 letters, digits or _ . : -, unique in the sequence; generated"
        " when left out. Keep a rule's key to keep its history (who it enrolled).",
    )
    name: str | None = strawberry.field(default=None, description="Defaults to the key.")
    filter: RecordFilterInput | None = strawberry.field(
        default=None,
        description="As connectSequenceByFilter's; recordType, if given, is the sequence's.",
    )
    field_conditions: list[FieldConditionInput] = strawberry.field(default_factory=list)
    allow_reenrollment: bool = False
    reenroll_after_days: int = strawberry.field(
        default=0, description="With allowReenrollment: the least days between connections."
    )


@strawberry.input
class SetEnrollmentRulesInput:
    sequence_id: strawberry.ID
    rules: list[EnrollmentRuleInput] = strawberry.field(
        description="Replace all the rules (at most 10; an empty list removes them)."
    )
