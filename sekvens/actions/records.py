"""Records: the bulk upsert by which CRMs push records in, with a result per item."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.roles import Actor
from sekvens.storage import records as record_store
from sekvens.storage.records import BULK_MAX, RecordInput, UpsertResult


async def upsert_records(
    session: AsyncSession,
    actor: Actor,
    items: Seq[RecordInput | list[Problem]],
    keep_valid: bool,
    now: datetime | None = None,
) -> list[UpsertResult]:
    """Insert or update records by (record type, external id); one result per item, in order.

    An item the caller could not read comes as its problems. When an item has problems and
    `keep_valid` is false, or no item is valid, nothing is kept: the session is rolled back
    (the audit entry included) and no result carries a record.
    """
    if len(items) > BULK_MAX:
        raise DomainError.of(
            ErrorCode.TOO_MANY, f"At most {BULK_MAX} records per call.", ["records"]
        )
    results = await upsert_items(session, actor, items, now)
    written = any(r.record is not None for r in results)
    if any(r.problems for r in results) and (not written or not keep_valid):
        await session.rollback()
        for r in results:
            r.record, r.created = None, False
    return results


async def upsert_items(
    session: AsyncSession,
    actor: Actor,
    items: Seq[RecordInput | list[Problem]],
    now: datetime | None = None,
) -> list[UpsertResult]:
    """Write the valid items of `items` and keep them, whatever the others' problems: one
    result per item, in order (a record sync job's chunk)."""
    valid = [(i, item) for i, item in enumerate(items) if isinstance(item, RecordInput)]
    stored = await record_store.upsert_records(
        session, actor.organization_id, actor.user_id, [item for _, item in valid], now
    )
    results = [
        UpsertResult(i, problems=[] if isinstance(item, RecordInput) else item)
        for i, item in enumerate(items)
    ]
    for (index, _), result in zip(valid, stored, strict=True):
        results[index].problems = result.problems
        results[index].record = result.record if not result.problems else None
        results[index].created = result.created and not result.problems
        results[index].before = result.before
    return results
