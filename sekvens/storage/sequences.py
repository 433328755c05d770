"""Sequences, their versions and steps: the queries authoring and the API need."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, Subquery, delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sekvens.domain.life_cycles import RUNNING, SequenceStatus, VersionStatus
from sekvens.domain.sequence_graph import START_TYPE, Step
from sekvens.storage.search import ESCAPE, any_contains, contains
from sekvens.storage.tables import (
    Connection,
    RecordType,
    Sequence,
    SequenceStep,
    SequenceTag,
    SequenceVersion,
    Tag,
    User,
)


def search_text(name: str, description: str) -> str:
    return f"{name}\n{description}".casefold()


def _newest(sequence_ids: list[int]) -> Subquery:
    """The newest version number of each of `sequence_ids`."""
    return (
        select(SequenceVersion.sequence_id, func.max(SequenceVersion.number).label("n"))
        .where(SequenceVersion.sequence_id.in_(sequence_ids))
        .group_by(SequenceVersion.sequence_id)
        .subquery()
    )


def _is_newest(newest: Subquery) -> ColumnElement[bool]:
    return (SequenceVersion.sequence_id == newest.c.sequence_id) & (
        SequenceVersion.number == newest.c.n
    )


async def latest_versions(
    session: AsyncSession, sequence_ids: Iterable[int]
) -> dict[int, SequenceVersion]:
    """The newest version of each sequence (the one the designer shows)."""
    ids = list(set(sequence_ids))
    if not ids:
        return {}
    newest = _newest(ids)
    rows = await session.scalars(
        select(SequenceVersion).join(
            newest,
            _is_newest(newest),
        )
    )
    return {v.sequence_id: v for v in rows}


async def steps_of(
    session: AsyncSession, version_ids: Iterable[int]
) -> dict[int, list[SequenceStep]]:
    ids = list(set(version_ids))
    out: dict[int, list[SequenceStep]] = defaultdict(list)
    if ids:
        rows = await session.scalars(
            select(SequenceStep)
            .where(SequenceStep.version_id.in_(ids))
            .order_by(SequenceStep.version_id, SequenceStep.position)
        )
        for row in rows:
            out[row.version_id].append(row)
    return out


def to_steps(rows: Seq[SequenceStep]) -> list[Step]:
    return [
        Step(r.key, r.type, r.name, r.description, dict(r.config), r.parent_key, r.branch)
        for r in rows
    ]


async def replace_steps(session: AsyncSession, version_id: int, steps: Seq[Step]) -> None:
    """Store `steps` (in designer order) as the whole content of a version."""
    await session.execute(delete(SequenceStep).where(SequenceStep.version_id == version_id))
    if steps:
        await session.execute(
            insert(SequenceStep),
            step_rows(version_id, steps),
        )


def step_rows(version_id: int, steps: Seq[Step]) -> list[dict[str, Any]]:
    """The `sequence_steps` rows of a version holding `steps`, in designer order."""
    return [
        {
            "version_id": version_id,
            "key": s.key,
            "type": s.type,
            "name": s.name,
            "description": s.description,
            "config": s.config,
            "parent_key": s.parent,
            "branch": s.branch,
            "position": i,
        }
        for i, s in enumerate(steps)
    ]


async def add_version(
    session: AsyncSession, sequence: Sequence, number: int, steps: Seq[Step], user_id: int | None
) -> SequenceVersion:
    """A new draft with `steps`; it starts with the sequence's name and description."""
    version = SequenceVersion(
        sequence_id=sequence.id,
        number=number,
        status=VersionStatus.DRAFT,
        name=sequence.name,
        description=sequence.description,
        created_by_id=user_id,
    )
    session.add(version)
    await session.flush()
    await replace_steps(session, version.id, steps)
    return version


async def discard_version(session: AsyncSession, version: SequenceVersion) -> None:
    """Delete a version and its steps (a draft: no connection uses it)."""
    await session.execute(delete(SequenceStep).where(SequenceStep.version_id == version.id))
    await session.delete(version)
    await session.flush()


async def count_active(session: AsyncSession, organization_id: int) -> int:
    return (
        await session.scalar(
            select(func.count())
            .select_from(Sequence)
            .where(
                Sequence.organization_id == organization_id,
                Sequence.status == SequenceStatus.ACTIVE,
            )
        )
        or 0
    )


async def infos(session: AsyncSession, organization_id: int) -> list[tuple[Sequence, str]]:
    """Every sequence of the organization with its record type name (for step rules)."""
    rows = await session.execute(
        select(Sequence, RecordType.name)
        .join(RecordType, RecordType.id == Sequence.record_type_id)
        .where(Sequence.organization_id == organization_id)
    )
    return [(s, name) for s, name in rows]


async def lookup(session: AsyncSession, organization_id: int) -> list[Any]:
    """(id, key, name, status, record type name) of every sequence of the organization:
    columns, not entities (the checker's lookup for step rules)."""
    rows = await session.execute(
        select(Sequence.id, Sequence.key, Sequence.name, Sequence.status, RecordType.name)
        .join(RecordType, RecordType.id == Sequence.record_type_id)
        .where(Sequence.organization_id == organization_id)
    )
    return list(rows)


async def step_counts(session: AsyncSession, sequence_ids: Iterable[int]) -> dict[int, int]:
    """Steps (START not counted) of each sequence's newest version: one statement, counted
    in the database (no version or step rows loaded)."""
    ids = list(set(sequence_ids))
    if not ids:
        return {}
    newest = _newest(ids)
    rows = await session.execute(
        select(SequenceVersion.sequence_id, func.count(SequenceStep.id))
        .join(
            newest,
            _is_newest(newest),
        )
        .outerjoin(
            SequenceStep,
            (SequenceStep.version_id == SequenceVersion.id) & (SequenceStep.type != START_TYPE),
        )
        .group_by(SequenceVersion.sequence_id)
    )
    return {sequence_id: count for sequence_id, count in rows}


async def by_key(session: AsyncSession, organization_id: int, key: str) -> Sequence | None:
    return await session.scalar(
        select(Sequence).where(Sequence.organization_id == organization_id, Sequence.key == key)
    )


def grid(
    organization_id: int,
    *,
    search: str | None = None,
    name: str | None = None,
    status: str | None = None,
    record_type: str | None = None,
    owner_user_id: int | None = None,
    owner_team_id: int | None = None,
    tag_ids: list[int] | None = None,
    is_personal: bool | None = None,
    created_after: datetime | None = None,
    created_before: datetime | None = None,
    modified_after: datetime | None = None,
    modified_before: datetime | None = None,
    counts: Seq[tuple[str, int | None, int | None]] = (),
    order: Seq[tuple[str, str]] = (),
) -> Select[Sequence]:
    """The home grid: search in name and description only (Unicode case-insensitive),
    filter and sort on every column; ties broken by id so pages are stable. `counts` are
    (ACTIVE_CONNECTIONS or STEP_COUNT, at least, at most) ranges."""
    stmt = select(Sequence).where(Sequence.organization_id == organization_id)
    if search and search.strip():
        stmt = stmt.where(Sequence.search_text.like(contains(search.strip()), escape=ESCAPE))
    if name and name.strip():
        stmt = stmt.where(any_contains(name.strip(), Sequence.name))
    if status is not None:
        stmt = stmt.where(Sequence.status == status)
    if record_type is not None:
        stmt = stmt.where(
            Sequence.record_type_id.in_(
                select(RecordType.id).where(
                    RecordType.organization_id == organization_id, RecordType.name == record_type
                )
            )
        )
    if owner_user_id is not None:
        stmt = stmt.where(Sequence.owner_user_id == owner_user_id)
    if owner_team_id is not None:
        stmt = stmt.where(Sequence.owner_team_id == owner_team_id)
    for count_column, at_least, at_most in counts:
        expr = _order_expression(count_column)
        if at_least is not None:
            stmt = stmt.where(expr >= at_least)
        if at_most is not None:
            stmt = stmt.where(expr <= at_most)
    if tag_ids:
        from sekvens.storage.tags import sequence_ids_tagged

        stmt = stmt.where(Sequence.id.in_(sequence_ids_tagged(organization_id, tag_ids)))
    if is_personal is not None:
        stmt = stmt.where(Sequence.is_personal.is_(is_personal))
    for column, op, value in (
        (Sequence.created_at, ">=", created_after),
        (Sequence.created_at, "<", created_before),
        (Sequence.updated_at, ">=", modified_after),
        (Sequence.updated_at, "<", modified_before),
    ):
        if value is not None:
            stmt = stmt.where(column >= value if op == ">=" else column < value)
    for order_column, direction in order:
        expr = _order_expression(order_column)
        stmt = stmt.order_by(expr.desc() if direction == "DESC" else expr.asc())
    return stmt.order_by(Sequence.id)


def _order_expression(column: str) -> Any:
    if column == "NAME":
        return func.lower(Sequence.name)
    if column == "STATUS":
        return Sequence.status
    if column == "IS_PERSONAL":
        return Sequence.is_personal
    if column == "CREATED_AT":
        return Sequence.created_at
    if column == "MODIFIED_AT":
        return Sequence.updated_at
    if column == "RECORD_TYPE":
        return (
            select(RecordType.name)
            .where(RecordType.id == Sequence.record_type_id)
            .scalar_subquery()
        )
    if column == "OWNER":
        return (
            select(func.lower(User.name)).where(User.id == Sequence.owner_user_id).scalar_subquery()
        )
    if column == "TAGS":  # by the first of its tags' names; untagged sequences first
        first = (
            select(func.min(func.lower(Tag.name)))
            .join(SequenceTag, SequenceTag.tag_id == Tag.id)
            .where(SequenceTag.sequence_id == Sequence.id)
            .scalar_subquery()
        )
        return func.coalesce(first, "")
    if column == "ACTIVE_CONNECTIONS":
        return (
            select(func.count())
            .select_from(Connection)
            .where(Connection.sequence_id == Sequence.id, Connection.status.in_(RUNNING))
            .scalar_subquery()
        )
    if column == "STEP_COUNT":
        # The newest version's number, per sequence of the outer query (two levels up, so the
        # correlation is explicit), of a version table of its own.
        other = aliased(SequenceVersion)
        newest = (
            select(func.max(other.number))
            .where(other.sequence_id == Sequence.id)
            .correlate(Sequence)
            .scalar_subquery()
        )
        return (
            select(func.count())
            .select_from(SequenceStep)
            .join(SequenceVersion, SequenceVersion.id == SequenceStep.version_id)
            .where(
                SequenceVersion.sequence_id == Sequence.id,
                SequenceVersion.number == newest,
                SequenceStep.type != START_TYPE,
            )
            .scalar_subquery()
        )
    raise ValueError(f"unknown order column {column}")
