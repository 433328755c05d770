"""Mutations that administer record types, their fields and their process stages."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import func, select
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode, Problem, ProblemList
from sekvens.domain.records import NAME_RE, FieldInfo, FieldType, RecordTypeInfo
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.records import (
    AddRecordFieldInput,
    CreateRecordTypeInput,
    RecordFieldInput,
    RecordType,
    RecordTypePayload,
    UpdateRecordFieldInput,
    UpdateRecordTypeInput,
)
from sekvens.schema.relay import decode_id
from sekvens.storage import audit, record_types
from sekvens.storage.tables import RecordField as FieldRow
from sekvens.storage.tables import RecordType as RecordTypeRow

DISPLAY_MAX = 160


def _check_stages(stages: list[str], problems: ProblemList) -> list[str]:
    cleaned = [s.strip() for s in stages]
    if any(not s for s in cleaned):
        problems.add(ErrorCode.REQUIRED, "A stage needs a name.", ["stages"])
    if len(set(cleaned)) != len(cleaned):
        problems.add(ErrorCode.DUPLICATE, "Stage names must differ.", ["stages"])
    return cleaned


def _field_info(f: RecordFieldInput, path: tuple[str, ...]) -> tuple[FieldInfo, list[Problem]]:
    problems = []
    if not NAME_RE.match(f.name):
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "Field names are lower_snake_case: a letter, then letters, digits or '_' (max 63).",
                (*path, "name"),
            )
        )
    options = tuple(o.strip() for o in f.options or ())
    if f.type == FieldType.OPTION_SET and not options:
        problems.append(
            Problem(ErrorCode.REQUIRED, "An option set needs options.", (*path, "options"))
        )
    if f.type != FieldType.OPTION_SET and options:
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE, "Only OPTION_SET fields have options.", (*path, "options")
            )
        )
    if len(set(options)) != len(options) or any(not o for o in options):
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "Options must be distinct and non-empty.",
                (*path, "options"),
            )
        )
    info = FieldInfo(
        f.name, FieldType(f.type), (f.display_name or f.name).strip(), options, f.required
    )
    return info, problems


async def get_record_type(ctx: Context, viewer: Viewer, global_id: str) -> RecordTypeRow:
    row = await ctx.session.get(RecordTypeRow, decode_id(global_id, "RecordType", ["recordTypeId"]))
    if row is None or row.organization_id != viewer.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such record type.", ["recordTypeId"])
    return row


def _log(ctx: Context, viewer: Viewer, action: str, row: RecordTypeRow, **detail: Any) -> None:
    audit.record(
        ctx.session, viewer.organization_id, viewer.user_id, action, "record_type", row.id, detail
    )


@strawberry.type
class RecordTypeMutations:
    @strawberry.mutation(description="Define a custom record type with its fields and stages.")
    async def create_record_type(
        self, info: Info, input: CreateRecordTypeInput
    ) -> RecordTypePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            problems = ProblemList()
            if not NAME_RE.match(input.name):
                problems.add(
                    ErrorCode.INVALID_VALUE, "Record type names are lower_snake_case.", ["name"]
                )
            if not input.display_name.strip() or len(input.display_name) > DISPLAY_MAX:
                problems.add(
                    ErrorCode.INVALID_VALUE,
                    f"Display name: 1 to {DISPLAY_MAX} characters.",
                    ["displayName"],
                )
            stages = _check_stages(input.stages, problems)
            fields: dict[str, FieldInfo] = {}
            for i, f in enumerate(input.fields):
                info_, field_problems = _field_info(f, ("fields", str(i)))
                problems.problems.extend(field_problems)
                if info_.name in fields:
                    problems.add(
                        ErrorCode.DUPLICATE,
                        f"Field '{f.name}' appears twice.",
                        ["fields", str(i), "name"],
                    )
                fields[info_.name] = info_
            problems.raise_if_any()
            if await record_types.get_by_name(ctx.session, viewer.organization_id, input.name):
                raise DomainError.of(
                    ErrorCode.DUPLICATE, f"Record type '{input.name}' exists.", ["name"]
                )
            row = await record_types.add_record_type(
                ctx.session,
                viewer.organization_id,
                RecordTypeInfo(input.name, input.display_name.strip(), fields, tuple(stages)),
            )
            _log(ctx, viewer, "record_type.created", row, name=row.name)
            return {"record_type": RecordType.from_row(row)}

        return await mutate(info, RecordTypePayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Rename a record type or replace its stages.")
    async def update_record_type(
        self, info: Info, input: UpdateRecordTypeInput
    ) -> RecordTypePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await get_record_type(ctx, viewer, input.record_type_id)
            problems = ProblemList()
            if input.display_name is not None:
                if not input.display_name.strip() or len(input.display_name) > DISPLAY_MAX:
                    problems.add(
                        ErrorCode.INVALID_VALUE,
                        f"Display name: 1 to {DISPLAY_MAX} characters.",
                        ["displayName"],
                    )
                row.display_name = input.display_name.strip()
            if input.stages is not None:
                row.stages = _check_stages(input.stages, problems)
            problems.raise_if_any()
            _log(ctx, viewer, "record_type.updated", row)
            return {"record_type": RecordType.from_row(row)}

        return await mutate(info, RecordTypePayload, run, ADMINISTRATORS)

    @strawberry.mutation
    async def add_record_field(self, info: Info, input: AddRecordFieldInput) -> RecordTypePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await get_record_type(ctx, viewer, input.record_type_id)
            info_, problems = _field_info(input.field, ("field",))
            if problems:
                raise DomainError(problems)
            exists = await ctx.session.scalar(
                select(FieldRow.id).where(
                    FieldRow.record_type_id == row.id, FieldRow.name == info_.name
                )
            )
            if exists:
                raise DomainError.of(
                    ErrorCode.DUPLICATE, f"Field '{info_.name}' exists.", ["field", "name"]
                )
            position = await ctx.session.scalar(
                select(func.coalesce(func.max(FieldRow.position), -1) + 1).where(
                    FieldRow.record_type_id == row.id
                )
            )
            ctx.session.add(record_types.field_row(row.id, info_, position or 0))
            _log(
                ctx, viewer, "record_type.field_added", row, field=info_.name, type=info_.type.value
            )
            return {"record_type": RecordType.from_row(row)}

        return await mutate(info, RecordTypePayload, run, ADMINISTRATORS)

    @strawberry.mutation(
        description="Change a field's display name, options (append only), or required flag."
    )
    async def update_record_field(
        self, info: Info, input: UpdateRecordFieldInput
    ) -> RecordTypePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await get_record_type(ctx, viewer, input.record_type_id)
            f = await ctx.session.scalar(
                select(FieldRow).where(
                    FieldRow.record_type_id == row.id, FieldRow.name == input.name
                )
            )
            if f is None:
                raise DomainError.of(ErrorCode.UNKNOWN_FIELD, f"No field '{input.name}'.", ["name"])
            if input.display_name is not None:
                f.display_name = input.display_name.strip() or f.name
            if input.options is not None:
                options = [o.strip() for o in input.options]
                if f.type != FieldType.OPTION_SET.value:
                    raise DomainError.of(
                        ErrorCode.INVALID_VALUE, "Only OPTION_SET fields have options.", ["options"]
                    )
                missing = [o for o in f.options if o not in options]
                if missing:
                    raise DomainError.of(
                        ErrorCode.IN_USE,
                        f"Options can't be removed: {', '.join(missing)}.",
                        ["options"],
                    )
                if len(set(options)) != len(options) or any(not o for o in options):
                    raise DomainError.of(
                        ErrorCode.INVALID_VALUE,
                        "Options must be distinct and non-empty.",
                        ["options"],
                    )
                f.options = options
            if input.required is not None:
                f.required = input.required
            _log(ctx, viewer, "record_type.field_updated", row, field=f.name)
            return {"record_type": RecordType.from_row(row)}

        return await mutate(info, RecordTypePayload, run, ADMINISTRATORS)
