"""Record types with their typed fields and process stages, and CRM records."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry import LazyType
from strawberry.scalars import JSON
from strawberry.types import Info

from sekvens.schema.enums import FieldType
from sekvens.schema.errors import UserError
from sekvens.schema.pagination import paginate
from sekvens.schema.relay import Connection, Node, to_global_id
from sekvens.schema.users import Team, User
from sekvens.storage.connections import connections_query
from sekvens.storage.tables import Record as RecordRow
from sekvens.storage.tables import RecordField as FieldRow
from sekvens.storage.tables import RecordType as RecordTypeRow

if TYPE_CHECKING:
    from sekvens.schema.engine import SequenceTarget
    from sekvens.schema.jobs import Job

#: `SequenceTarget` names its record back: imported when a page of it is built, as
#: Strawberry resolves the lazy annotation.
SEQUENCE_TARGET: LazyType[str, str] = LazyType("SequenceTarget", "sekvens.schema.engine")


@strawberry.type
class RecordField:
    name: str
    display_name: str
    type: FieldType
    options: list[str] = strawberry.field(description="Values of an OPTION_SET field.")
    required: bool

    @classmethod
    def from_row(cls, row: FieldRow) -> RecordField:
        return cls(
            name=row.name,
            display_name=row.display_name,
            type=FieldType(row.type),
            options=list(row.options),
            required=row.required,
        )


@strawberry.type(
    description="A kind of CRM record: lead, opportunity, account, contact, or custom."
)
class RecordType(Node):
    pk: strawberry.Private[int]
    name: str
    display_name: str
    stages: list[str] = strawberry.field(description="Business-process stages, in order.")
    is_builtin: bool

    @strawberry.field
    async def fields(self, info: Info) -> list[RecordField]:
        return [
            RecordField.from_row(f) for f in await info.context.loaders.record_fields.load(self.pk)
        ]

    @classmethod
    def from_row(cls, row: RecordTypeRow) -> RecordType:
        return cls(
            id=strawberry.ID(to_global_id("RecordType", row.id)),
            pk=row.id,
            name=row.name,
            display_name=row.display_name,
            stages=list(row.stages),
            is_builtin=row.is_builtin,
        )


@strawberry.type(description="sekvens' copy of a CRM row, pushed in by upsert on its external id.")
class Record(Node):
    pk: strawberry.Private[int]
    record_type_id: strawberry.Private[int]
    owner_user_id: strawberry.Private[int | None]
    owner_team_id: strawberry.Private[int | None]
    access_team_id: strawberry.Private[int | None]
    external_id: str
    name: str
    fields: JSON = strawberry.field(description="Field values by field name.")
    stage: str | None
    is_active: bool
    created_at: datetime
    updated_at: datetime

    @strawberry.field
    async def record_type(self, info: Info) -> RecordType:
        return RecordType.from_row(await info.context.loaders.record_type.load(self.record_type_id))

    @strawberry.field(description="The owning user, when a user owns the record.")
    async def owner_user(self, info: Info) -> User | None:
        if self.owner_user_id is None:
            return None
        row = await info.context.loaders.user.load(self.owner_user_id)
        return User.from_row(row) if row else None

    @strawberry.field(description="The owning team, when a team owns the record.")
    async def owner_team(self, info: Info) -> Team | None:
        return await _team(info, self.owner_team_id)

    @strawberry.field
    async def access_team(self, info: Info) -> Team | None:
        return await _team(info, self.access_team_id)

    @strawberry.field(description="The sequences this record runs or ran in, newest first.")
    async def connections(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Annotated[SequenceTarget, strawberry.lazy("sekvens.schema.engine")]]:
        stmt = connections_query(info.context.viewer.organization_id, record_id=self.pk)
        target = SEQUENCE_TARGET.resolve_type()
        return await paginate(info.context, stmt, target.from_row, first, after)

    @classmethod
    def from_row(cls, row: RecordRow) -> Record:
        return cls(
            id=strawberry.ID(to_global_id("Record", row.id)),
            pk=row.id,
            record_type_id=row.record_type_id,
            owner_user_id=row.owner_user_id,
            owner_team_id=row.owner_team_id,
            access_team_id=row.access_team_id,
            external_id=row.external_id,
            name=row.name,
            fields=JSON(row.fields),
            stage=row.stage,
            is_active=row.is_active,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


async def _team(info: Info, team_id: int | None) -> Team | None:
    if team_id is None:
        return None
    row = await info.context.loaders.team.load(team_id)
    return Team.from_row(row) if row else None


# Inputs and payloads


@strawberry.input
class RecordFieldInput:
    name: str = strawberry.field(description="lower_snake_case, unique in its record type.")
    type: FieldType
    display_name: str | None = None
    options: list[str] | None = None
    required: bool = False


@strawberry.input
class CreateRecordTypeInput:
    name: str
    display_name: str
    stages: list[str] = strawberry.field(default_factory=list)
    fields: list[RecordFieldInput] = strawberry.field(default_factory=list)


@strawberry.input
class UpdateRecordTypeInput:
    record_type_id: strawberry.ID
    display_name: str | None = None
    stages: list[str] | None = None


@strawberry.input
class AddRecordFieldInput:
    record_type_id: strawberry.ID
    field: RecordFieldInput


@strawberry.input
class UpdateRecordFieldInput:
    record_type_id: strawberry.ID
    name: str
    display_name: str | None = None
    options: list[str] | None = strawberry.field(
        default=None, description="The full option list; existing options can't be removed."
    )
    required: bool | None = None


@strawberry.type
class RecordTypePayload:
    errors: list[UserError]
    record_type: RecordType | None = None


@strawberry.input
class RecordInput:
    record_type: str = strawberry.field(description="Record type name, e.g. lead.")
    external_id: str = strawberry.field(description="The CRM's id; upsert key per record type.")
    name: str | None = None
    owner_user_id: strawberry.ID | None = None
    owner_team_id: strawberry.ID | None = None
    access_team_id: strawberry.ID | None = None
    stage: str | None = None
    is_active: bool | None = None
    fields: JSON | None = strawberry.field(
        default=None, description="Field values by name; merged into the stored ones."
    )


@strawberry.enum(description="What a bulk mutation does with the valid items when some fail.")
class ErrorPolicy(Enum):
    REJECT_FAILED_ROWS = "REJECT_FAILED_ROWS"
    REJECT_EVERYTHING = "REJECT_EVERYTHING"


@strawberry.input
class UpsertRecordsInput:
    records: list[RecordInput] = strawberry.field(
        description="Up to 1000 are upserted in the request; more, up to 100,000, as a job"
        " (the request's size limit, SEKVENS_MAX_BODY_BYTES, comes first)."
    )
    error_policy: ErrorPolicy = strawberry.field(
        default=ErrorPolicy.REJECT_FAILED_ROWS,
        description="REJECT_EVERYTHING only in the request: a job keeps what its chunks did.",
    )
    as_job: bool = strawberry.field(
        default=False,
        description="Run as a job even for 1000 records or fewer (docs/jobs.md).",
    )
    deactivate_missing: bool = strawberry.field(
        default=False,
        description="A full sync: the records, all of one record type, are every active"
        " record of that type; the type's records missing from them are deactivated (their"
        " connections end RECORD_DEACTIVATED).",
    )


@strawberry.type
class UpsertRecordResult:
    index: int
    record: Record | None
    created: bool
    errors: list[UserError]


@strawberry.type
class UpsertRecordsPayload:
    errors: list[UserError]
    results: list[UpsertRecordResult] = strawberry.field(
        default_factory=list, description="In the request: one per record. A job's are its items."
    )
    created_count: int = 0
    updated_count: int = 0
    deactivated_count: int = strawberry.field(
        default=0, description="Records a full sync deactivated (deactivateMissing)."
    )
    job: Annotated[Job, strawberry.lazy("sekvens.schema.jobs")] | None = strawberry.field(
        default=None,
        description="Over 1000 records, or with asJob: the job that upserts them (the counts"
        " stay 0).",
    )


@strawberry.input
class RecordFilterInput:
    record_type: str | None = None
    owner_user_id: strawberry.ID | None = None
    owner_team_id: strawberry.ID | None = None
    stage: str | None = None
    is_active: bool | None = None
    search: str | None = strawberry.field(default=None, description="In name or external id.")
    external_ids: list[str] | None = None
