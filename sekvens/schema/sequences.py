"""Sequences, their versions and steps, validation, assignment, options; inputs and payloads."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import LazyType
from strawberry.scalars import JSON
from strawberry.types import Info

from sekvens.domain import sequence_access
from sekvens.schema.audit import AuditLogEntry
from sekvens.schema.enrollment import EnrollmentRule, enrollment_rules
from sekvens.schema.enums import (
    AssignTo,
    ConnectionStatus,
    Role,
    SequenceStatus,
    StepBranch,
    VersionStatus,
)
from sekvens.schema.errors import UserError
from sekvens.schema.exit_criteria import ExitCriteria, ExitCriteriaInput
from sekvens.schema.pagination import paginate
from sekvens.schema.records import RecordType
from sekvens.schema.relay import Connection, Node, to_global_id
from sekvens.schema.send_windows import SendWindow, SendWindowInput
from sekvens.schema.stats import SequenceStats
from sekvens.schema.steps import Design, Step, ValidationProblem, steps_of
from sekvens.schema.tags import Tag
from sekvens.schema.users import Team, User
from sekvens.storage.audit import entries
from sekvens.storage.connections import connections_query
from sekvens.storage.tables import Sequence as SequenceRow
from sekvens.storage.tables import SequenceVersion as VersionRow

if TYPE_CHECKING:
    from sekvens.schema.engine import SequenceTarget

#: `SequenceTarget` names its sequence back: imported when a page of it is built, as
#: Strawberry resolves the lazy annotation.
SEQUENCE_TARGET: LazyType[str, str] = LazyType("SequenceTarget", "sekvens.schema.engine")


@strawberry.type
class SequenceValidation:
    can_activate: bool
    problems: list[ValidationProblem]


@strawberry.type
class SequenceVersion(Node):
    pk: strawberry.Private[int]
    sequence_pk: strawberry.Private[int]
    record_type_pk: strawberry.Private[int]
    row: strawberry.Private[VersionRow]
    number: int
    status: VersionStatus
    name: str = strawberry.field(
        description="The name this version gives the sequence: a draft's own until activated."
    )
    description: str = strawberry.field(
        description="The description this version gives the sequence, likewise."
    )
    change_description: str
    created_at: datetime
    activated_at: datetime | None

    @strawberry.field
    async def steps(self, info: Info) -> list[Step]:
        design = await info.context.sequence_loaders.design(
            self.sequence_pk, self.record_type_pk, self.row
        )
        return steps_of(design)

    @classmethod
    def from_row(cls, row: VersionRow, sequence: SequenceRow) -> SequenceVersion:
        return cls(
            id=strawberry.ID(to_global_id("SequenceVersion", row.id)),
            pk=row.id,
            sequence_pk=row.sequence_id,
            record_type_pk=sequence.record_type_id,
            row=row,
            number=row.number,
            status=VersionStatus(row.status),
            name=row.name if row.name is not None else sequence.name,
            description=row.description if row.description is not None else sequence.description,
            change_description=row.change_description,
            created_at=row.created_at,
            activated_at=row.activated_at,
        )


@strawberry.type(description="Extra condition on team members for team assignments.")
class MemberCondition:
    team_roles: list[str]
    user_roles: list[Role]


@strawberry.type
class SequenceAssignment:
    assign_to: AssignTo
    field_name: str | None = strawberry.field(
        description="For RECORD_FIELD: the user-lookup field."
    )
    member_condition: MemberCondition | None


@strawberry.type
class SequenceOptions:
    exit_on_reply: bool = strawberry.field(
        description="Disconnect a record when the customer replies to any email of the sequence."
    )
    skip_non_working_time: bool
    skip_opted_out_email: bool = strawberry.field(
        description="An automated email due for a recipient who opted out: skip the step"
        " (true) or end the connection with OPTED_OUT (false, the default)."
    )
    send_window: SendWindow | None = strawberry.field(
        description="The sequence's own send window; null: the organization's (Organization"
        ".sendWindow)."
    )
    exit_criteria: ExitCriteria = strawberry.field(
        description="What else ends a connection: a meeting booked, a stage, a field condition."
    )


@strawberry.type(description="A plan of activities for one record type.")
class Sequence(Node):
    row: strawberry.Private[SequenceRow]
    key: str = strawberry.field(description="Stable across environments (export and import).")
    name: str
    description: str
    status: SequenceStatus
    is_personal: bool
    assignment: SequenceAssignment
    options: SequenceOptions
    created_at: datetime
    modified_at: datetime
    activated_at: datetime | None
    #: Filled in by the home grid for its page (`schema.prefetch`): field name -> value.
    prefetched: strawberry.Private[dict[str, object] | None] = None

    @classmethod
    def from_row(cls, row: SequenceRow) -> Sequence:
        condition = row.member_condition or {}
        return cls(
            id=strawberry.ID(to_global_id("Sequence", row.id)),
            row=row,
            key=row.key,
            name=row.name,
            description=row.description,
            status=SequenceStatus(row.status),
            is_personal=row.is_personal,
            assignment=SequenceAssignment(
                assign_to=AssignTo(row.assign_to),
                field_name=row.assign_field,
                member_condition=MemberCondition(
                    team_roles=condition.get("team_roles", []),
                    user_roles=condition.get("user_roles", []),
                )
                if condition
                else None,
            ),
            options=SequenceOptions(
                exit_on_reply=row.exit_on_reply,
                skip_non_working_time=row.skip_non_working_time,
                skip_opted_out_email=row.skip_opted_out_email,
                send_window=SendWindow.of(row.send_window),
                exit_criteria=ExitCriteria.of(row.exit_criteria),
            ),
            created_at=row.created_at,
            modified_at=row.updated_at,
            activated_at=row.activated_at,
        )

    async def _design(self, info: Info) -> Design:
        loaders = info.context.sequence_loaders
        version = await loaders.latest_version.load(self.row.id)
        return await loaders.design(self.row.id, self.row.record_type_id, version)

    @strawberry.field
    async def record_type(self, info: Info) -> RecordType:
        return RecordType.from_row(
            await info.context.loaders.record_type.load(self.row.record_type_id)
        )

    @strawberry.field(
        description="Who is connected automatically (setEnrollmentRules, docs/enrollment.md)."
    )
    def enrollment_rules(self) -> list[EnrollmentRule]:
        return enrollment_rules(self.row.enrollment_rules)

    @strawberry.field(
        description="Whether the viewer may change this sequence: its design, properties,"
        " activation, tags and deletion (the rule those mutations apply)."
    )
    def viewer_may_edit(self, info: Info) -> bool:
        viewer = info.context.viewer
        return sequence_access.may_edit(
            viewer.roles, viewer.user_id, self.row.is_personal, self.row.owner_user_id
        )

    @strawberry.field
    async def owner_user(self, info: Info) -> User | None:
        if self.row.owner_user_id is None:
            return None
        row = await info.context.loaders.user.load(self.row.owner_user_id)
        return User.from_row(row) if row else None

    @strawberry.field
    async def owner_team(self, info: Info) -> Team | None:
        if self.row.owner_team_id is None:
            return None
        row = await info.context.loaders.team.load(self.row.owner_team_id)
        return Team.from_row(row) if row else None

    @strawberry.field(description="The steps of the newest version (a draft, when one is open).")
    async def steps(self, info: Info) -> list[Step]:
        return steps_of(await self._design(info))

    @strawberry.field(description="Steps in the newest version, START not counted.")
    async def step_count(self, info: Info) -> int:
        count: int = await info.context.sequence_loaders.sequence_step_counts.load(self.row.id)
        return count

    @strawberry.field(description="Records connected now (running or paused).")
    async def active_connections(self, info: Info) -> int:
        return await info.context.sequence_loaders.active_connections.load(self.row.id)

    @strawberry.field(description="What would block activating the newest version.")
    async def validation(self, info: Info) -> SequenceValidation:
        design = await self._design(info)
        problems = await design.problems()
        version_id = design.version.id
        return SequenceValidation(
            can_activate=not problems,
            problems=[ValidationProblem.of(p, version_id) for p in problems],
        )

    @strawberry.field(description="The version new connections use; null before activation.")
    async def current_version(self, info: Info) -> SequenceVersion | None:
        if self.row.current_version_id is None:
            return None
        row = await info.context.sequence_loaders.version.load(self.row.current_version_id)
        return SequenceVersion.from_row(row, self.row) if row else None

    @strawberry.field(
        description="The open draft revision, if any, with the name and description it will "
        "give the sequence when activated."
    )
    async def draft(self, info: Info) -> SequenceVersion | None:
        version = await info.context.sequence_loaders.latest_version.load(self.row.id)
        ok = version is not None and version.status == VersionStatus.DRAFT
        return SequenceVersion.from_row(version, self.row) if ok else None

    @strawberry.field(description="Version history, newest first.")
    async def versions(self, info: Info) -> list[SequenceVersion]:
        rows = await info.context.sequence_loaders.versions.load(self.row.id)
        return [SequenceVersion.from_row(r, self.row) for r in rows]

    @strawberry.field(
        description="Lifecycle changes: who, what, when, which version; newest first."
    )
    async def audit_log(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AuditLogEntry]:
        stmt = entries(self.row.organization_id, "sequence", self.row.id)
        return await paginate(info.context, stmt, AuditLogEntry.from_row, first, after)

    @strawberry.field(description="Records connected to this sequence, newest first.")
    async def connections(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: ConnectionStatus | None = None,
    ) -> Connection[Annotated[SequenceTarget, strawberry.lazy("sekvens.schema.engine")]]:
        stmt = connections_query(
            self.row.organization_id, self.row.id, status=status.value if status else None
        )
        target = SEQUENCE_TARGET.resolve_type()
        return await paginate(info.context, stmt, target.from_row, first, after)

    @strawberry.field(description="Live counts: connections by status and reason, and per step.")
    async def stats(self, info: Info) -> SequenceStats:
        return await SequenceStats.load(info, self.row)

    @strawberry.field
    async def tags(self, info: Info) -> list[Tag]:
        tags: list[Tag] = await info.context.sequence_loaders.tags.load(self.row.id)
        return tags


# --- Inputs and payloads ------------------------------------------------------------------


@strawberry.input
class CreateSequenceInput:
    name: str
    description: str = ""
    record_type: str | None = strawberry.field(
        default=None,
        description="Default: the template's, or lead; with a template, it must be the template's.",
    )
    template_id: strawberry.ID | None = None
    is_personal: bool = False


@strawberry.input
class UpdateSequenceInput:
    sequence_id: strawberry.ID
    name: str | None = None
    description: str | None = None


@strawberry.input
class AddStepInput:
    sequence_id: strawberry.ID
    after_step_id: strawberry.ID
    branch: StepBranch = StepBranch.NEXT
    type: str
    name: str | None = None
    description: str | None = None
    config: JSON | None = None


@strawberry.input
class UpdateStepInput:
    step_id: strawberry.ID
    name: str | None = None
    description: str | None = None
    config: JSON | None = None


@strawberry.input
class MoveStepInput:
    step_id: strawberry.ID
    after_step_id: strawberry.ID
    branch: StepBranch = StepBranch.NEXT


@strawberry.input
class RemoveStepInput:
    step_id: strawberry.ID
    keep_branch: StepBranch | None = strawberry.field(
        default=None, description="For a step with YES and NO: the branch that stays."
    )


@strawberry.input(description="A step of a whole tree; `parentKey` and `branch` place it.")
class StepInput:
    key: str | None = None
    type: str
    name: str | None = None
    description: str | None = None
    config: JSON | None = None
    parent_key: str | None = None
    branch: StepBranch | None = strawberry.field(
        default=None, description="Which branch of the parent it follows; default NEXT."
    )


@strawberry.input
class SetSequenceStepsInput:
    sequence_id: strawberry.ID
    steps: list[StepInput]


@strawberry.input
class MemberConditionInput:
    team_roles: list[str] | None = None
    user_roles: list[str] | None = None


@strawberry.input
class SetSequenceAssignmentInput:
    sequence_id: strawberry.ID
    assign_to: AssignTo
    field_name: str | None = None
    member_condition: MemberConditionInput | None = None


@strawberry.input
class SetSequenceOptionsInput:
    sequence_id: strawberry.ID
    exit_on_reply: bool | None = None
    skip_non_working_time: bool | None = None
    skip_opted_out_email: bool | None = None
    send_window: SendWindowInput | None = strawberry.field(
        default=strawberry.UNSET,
        description="Omit to keep it; null: the organization's window. May change while the"
        " sequence is active: emails reached from then on follow it.",
    )
    exit_criteria: ExitCriteriaInput | None = strawberry.field(
        default=None,
        description="Omit (or null) to keep them; replaces them all (only while inactive).",
    )


@strawberry.input
class AssignSequenceOwnerInput:
    sequence_id: strawberry.ID
    user_id: strawberry.ID | None = None
    team_id: strawberry.ID | None = None


@strawberry.input
class ActivateSequenceInput:
    sequence_id: strawberry.ID
    change_description: str | None = strawberry.field(
        default=None, description="Required when a revision replaces the running version."
    )


@strawberry.input
class DeactivateSequenceInput:
    sequence_id: strawberry.ID


@strawberry.input
class CreateSequenceRevisionInput:
    sequence_id: strawberry.ID


@strawberry.input
class DiscardSequenceRevisionInput:
    sequence_id: strawberry.ID


@strawberry.input
class ChooseVariantWinnerInput:
    sequence_id: strawberry.ID
    step_key: str = strawberry.field(description="The automated email step with the A/B test.")
    variant: str = strawberry.field(description="The winning variant's label: A, B, C or D.")
    change_description: str | None = strawberry.field(
        default=None, description='The new version\'s change description; default "Variant B won".'
    )


@strawberry.input
class CloneSequenceInput:
    sequence_id: strawberry.ID
    name: str | None = None


@strawberry.input
class DeleteSequenceInput:
    sequence_id: strawberry.ID
    force: bool = strawberry.field(
        default=False, description="Deactivate and delete an active one."
    )


@strawberry.type
class SequencePayload:
    errors: list[UserError]
    sequence: Sequence | None = None


@strawberry.type
class StepPayload:
    errors: list[UserError]
    sequence: Sequence | None = None
    step: Step | None = None


@strawberry.type
class RemoveStepPayload:
    errors: list[UserError]
    sequence: Sequence | None = None
    removed_step_keys: list[str] = strawberry.field(default_factory=list)


@strawberry.type
class DeactivateSequencePayload:
    errors: list[UserError]
    sequence: Sequence | None = None
    disconnected_count: int = 0


@strawberry.type
class DeleteSequencePayload:
    errors: list[UserError]
    deleted_sequence_id: strawberry.ID | None = None
    disconnected_count: int = 0


@strawberry.type
class SetSequenceTagsPayload:
    errors: list[UserError]
    sequence: Sequence | None = None
    tags: list[Tag] = strawberry.field(
        default_factory=list, description="The sequence's tags, by path."
    )
