"""Record types: define them with their fields and process stages, and change them.

Administrators only (the caller checks the role). Fields are added and changed, never
removed, and an option set's options are only appended, so stored records stay valid.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode, Problem, ProblemList
from sekvens.domain.records import NAME_RE, FieldInfo, FieldType, RecordTypeInfo
from sekvens.domain.roles import Actor
from sekvens.storage import audit, record_types
from sekvens.storage.tables import RecordField, RecordType

DISPLAY_MAX = 160


@dataclass(frozen=True)
class NewField:
    """A field as given, before its checks."""

    name: str
    type: FieldType
    display_name: str | None = None
    options: Seq[str] | None = None
    required: bool = False


def _check_stages(stages: Seq[str], problems: ProblemList) -> list[str]:
    cleaned = [s.strip() for s in stages]
    if any(not s for s in cleaned):
        problems.add(ErrorCode.REQUIRED, "A stage needs a name.", ["stages"])
    if len(set(cleaned)) != len(cleaned):
        problems.add(ErrorCode.DUPLICATE, "Stage names must differ.", ["stages"])
    return cleaned


def _check_display_name(display_name: str, problems: ProblemList) -> None:
    if not display_name.strip() or len(display_name) > DISPLAY_MAX:
        problems.add(
            ErrorCode.INVALID_VALUE,
            f"Display name: 1 to {DISPLAY_MAX} characters.",
            ["displayName"],
        )


def _field_info(f: NewField, path: tuple[str, ...]) -> tuple[FieldInfo, list[Problem]]:
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


def _log(session: AsyncSession, actor: Actor, action: str, row: RecordType, **detail: Any) -> None:
    audit.record(
        session, actor.organization_id, actor.user_id, action, "record_type", row.id, detail
    )


async def get_record_type(session: AsyncSession, actor: Actor, record_type_id: int) -> RecordType:
    row = await session.get(RecordType, record_type_id)
    if row is None or row.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such record type.", ["recordTypeId"])
    return row


async def create_record_type(
    session: AsyncSession,
    actor: Actor,
    name: str,
    display_name: str,
    stages: Seq[str],
    fields: Seq[NewField],
) -> RecordType:
    """A custom record type with its fields and stages."""
    problems = ProblemList()
    if not NAME_RE.match(name):
        problems.add(ErrorCode.INVALID_VALUE, "Record type names are lower_snake_case.", ["name"])
    _check_display_name(display_name, problems)
    cleaned = _check_stages(stages, problems)
    infos: dict[str, FieldInfo] = {}
    for i, f in enumerate(fields):
        info, field_problems = _field_info(f, ("fields", str(i)))
        problems.problems.extend(field_problems)
        if info.name in infos:
            problems.add(
                ErrorCode.DUPLICATE, f"Field '{f.name}' appears twice.", ["fields", str(i), "name"]
            )
        infos[info.name] = info
    problems.raise_if_any()
    if await record_types.get_by_name(session, actor.organization_id, name):
        raise DomainError.of(ErrorCode.DUPLICATE, f"Record type '{name}' exists.", ["name"])
    row = await record_types.add_record_type(
        session,
        actor.organization_id,
        RecordTypeInfo(name, display_name.strip(), infos, tuple(cleaned)),
    )
    _log(session, actor, "record_type.created", row, name=row.name)
    return row


async def update_record_type(
    session: AsyncSession,
    actor: Actor,
    record_type_id: int,
    display_name: str | None,
    stages: Seq[str] | None,
) -> RecordType:
    """Rename a record type (`display_name`) and/or replace its stages."""
    row = await get_record_type(session, actor, record_type_id)
    problems = ProblemList()
    if display_name is not None:
        _check_display_name(display_name, problems)
        row.display_name = display_name.strip()
    if stages is not None:
        row.stages = _check_stages(stages, problems)
    problems.raise_if_any()
    _log(session, actor, "record_type.updated", row)
    return row


async def add_record_field(
    session: AsyncSession, actor: Actor, record_type_id: int, field: NewField
) -> RecordType:
    """A new field at the end of the record type's fields."""
    row = await get_record_type(session, actor, record_type_id)
    info, problems = _field_info(field, ("field",))
    if problems:
        raise DomainError(problems)
    exists = await session.scalar(
        select(RecordField.id).where(
            RecordField.record_type_id == row.id, RecordField.name == info.name
        )
    )
    if exists:
        raise DomainError.of(ErrorCode.DUPLICATE, f"Field '{info.name}' exists.", ["field", "name"])
    position = await session.scalar(
        select(func.coalesce(func.max(RecordField.position), -1) + 1).where(
            RecordField.record_type_id == row.id
        )
    )
    session.add(record_types.field_row(row.id, info, position or 0))
    _log(session, actor, "record_type.field_added", row, field=info.name, type=info.type.value)
    return row


async def update_record_field(
    session: AsyncSession,
    actor: Actor,
    record_type_id: int,
    name: str,
    display_name: str | None,
    options: Seq[str] | None,
    required: bool | None,
) -> RecordType:
    """Change a field's display name, its options (append only) or whether it is required."""
    row = await get_record_type(session, actor, record_type_id)
    f = await session.scalar(
        select(RecordField).where(RecordField.record_type_id == row.id, RecordField.name == name)
    )
    if f is None:
        raise DomainError.of(ErrorCode.UNKNOWN_FIELD, f"No field '{name}'.", ["name"])
    if display_name is not None:
        f.display_name = display_name.strip() or f.name
    if options is not None:
        cleaned = [o.strip() for o in options]
        if f.type != FieldType.OPTION_SET.value:
            raise DomainError.of(
                ErrorCode.INVALID_VALUE, "Only OPTION_SET fields have options.", ["options"]
            )
        missing = [o for o in f.options if o not in cleaned]
        if missing:
            raise DomainError.of(
                ErrorCode.IN_USE, f"Options can't be removed: {', '.join(missing)}.", ["options"]
            )
        if len(set(cleaned)) != len(cleaned) or any(not o for o in cleaned):
            raise DomainError.of(
                ErrorCode.INVALID_VALUE, "Options must be distinct and non-empty.", ["options"]
            )
        f.options = cleaned
    if required is not None:
        f.required = required
    _log(session, actor, "record_type.field_updated", row, field=f.name)
    return row
