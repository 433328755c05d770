"""Mutations that administer record types, their fields and their process stages.

The rules are `actions/record_types.py`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import record_types
from sekvens.actions.record_types import NewField
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


def _field(f: RecordFieldInput) -> NewField:
    return NewField(f.name, f.type, f.display_name, f.options, f.required)


def _record_type_pk(global_id: strawberry.ID) -> int:
    return decode_id(global_id, "RecordType", ["recordTypeId"])


@strawberry.type
class RecordTypeMutations:
    @strawberry.mutation(description="Define a custom record type with its fields and stages.")
    async def create_record_type(
        self, info: Info, input: CreateRecordTypeInput
    ) -> RecordTypePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await record_types.create_record_type(
                ctx.session,
                viewer,
                input.name,
                input.display_name,
                input.stages,
                [_field(f) for f in input.fields],
            )
            return {"record_type": RecordType.from_row(row)}

        return await mutate(info, RecordTypePayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Rename a record type or replace its stages.")
    async def update_record_type(
        self, info: Info, input: UpdateRecordTypeInput
    ) -> RecordTypePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await record_types.update_record_type(
                ctx.session,
                viewer,
                _record_type_pk(input.record_type_id),
                input.display_name,
                input.stages,
            )
            return {"record_type": RecordType.from_row(row)}

        return await mutate(info, RecordTypePayload, run, ADMINISTRATORS)

    @strawberry.mutation
    async def add_record_field(self, info: Info, input: AddRecordFieldInput) -> RecordTypePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await record_types.add_record_field(
                ctx.session, viewer, _record_type_pk(input.record_type_id), _field(input.field)
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
            row = await record_types.update_record_field(
                ctx.session,
                viewer,
                _record_type_pk(input.record_type_id),
                input.name,
                input.display_name,
                input.options,
                input.required,
            )
            return {"record_type": RecordType.from_row(row)}

        return await mutate(info, RecordTypePayload, run, ADMINISTRATORS)
