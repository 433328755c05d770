"""Record types and their typed fields."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.records import FieldInfo, FieldType, RecordTypeInfo
from sekvens.storage.tables import RecordField, RecordType


async def add_record_type(
    session: AsyncSession, organization_id: int, info: RecordTypeInfo, is_builtin: bool = False
) -> RecordType:
    row = RecordType(
        organization_id=organization_id,
        name=info.name,
        display_name=info.display_name or info.name,
        stages=list(info.stages),
        is_builtin=is_builtin,
    )
    session.add(row)
    await session.flush()
    session.add_all(
        field_row(row.id, f, position) for position, f in enumerate(info.fields.values())
    )
    return row


def field_row(record_type_id: int, f: FieldInfo, position: int) -> RecordField:
    return RecordField(
        record_type_id=record_type_id,
        name=f.name,
        display_name=f.display_name or f.name,
        type=f.type.value,
        options=list(f.options),
        required=f.required,
        position=position,
    )


def to_info(row: RecordType, fields: Iterable[RecordField]) -> RecordTypeInfo:
    ordered = sorted(fields, key=lambda f: f.position)
    return RecordTypeInfo(
        name=row.name,
        display_name=row.display_name,
        fields={
            f.name: FieldInfo(
                f.name, FieldType(f.type), f.display_name, tuple(f.options), f.required
            )
            for f in ordered
        },
        stages=tuple(row.stages),
    )


async def list_types(session: AsyncSession, organization_id: int) -> list[RecordType]:
    rows = await session.scalars(
        select(RecordType)
        .where(RecordType.organization_id == organization_id)
        .order_by(RecordType.name)
    )
    return list(rows)


async def get_by_name(session: AsyncSession, organization_id: int, name: str) -> RecordType | None:
    return await session.scalar(
        select(RecordType).where(
            RecordType.organization_id == organization_id, RecordType.name == name
        )
    )


async def fields_by_type(
    session: AsyncSession, record_type_ids: Iterable[int]
) -> dict[int, list[RecordField]]:
    ids = list(set(record_type_ids))
    out: dict[int, list[RecordField]] = {i: [] for i in ids}
    if ids:
        rows = await session.scalars(
            select(RecordField)
            .where(RecordField.record_type_id.in_(ids))
            .order_by(RecordField.record_type_id, RecordField.position)
        )
        for f in rows:
            out[f.record_type_id].append(f)
    return out


async def load_infos(
    session: AsyncSession, organization_id: int
) -> dict[int, tuple[RecordType, RecordTypeInfo]]:
    """Every record type of the organization with its rule view, by id (two statements)."""
    types = await list_types(session, organization_id)
    fields = await fields_by_type(session, (t.id for t in types))
    return {t.id: (t, to_info(t, fields[t.id])) for t in types}
