"""Per-request loaders for running sequences: connections, activities, assignees, records."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ScalarResult, select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from sekvens.domain.life_cycles import OutboxStatus
from sekvens.storage import suppression
from sekvens.storage.tables import (
    Activity,
    ActivityAssignee,
    Connection,
    OutboxMessage,
    Record,
    Sequence,
)


class EngineLoaders:
    def __init__(self, session: AsyncSession, organization_id: int):
        def by_id(model: type[Any]) -> DataLoader[int, Any]:
            async def load(ids: Seq[int]) -> list[Any]:
                rows: ScalarResult[Any] = await session.scalars(
                    select(model).where(model.id.in_(ids), model.organization_id == organization_id)
                )
                found = {r.id: r for r in rows}
                return [found.get(i) for i in ids]

            return DataLoader(load)

        async def activities(ids: Seq[int]) -> list[list[Activity]]:
            groups: dict[int, list[Activity]] = defaultdict(list)
            for row in await session.scalars(
                select(Activity).where(Activity.connection_id.in_(ids)).order_by(Activity.id)
            ):
                groups[row.connection_id].append(row)
            return [groups.get(i, []) for i in ids]

        async def assignees(ids: Seq[int]) -> list[list[int]]:
            groups: dict[int, list[int]] = defaultdict(list)
            for activity_id, user_id in await session.execute(
                select(ActivityAssignee.activity_id, ActivityAssignee.user_id)
                .where(ActivityAssignee.activity_id.in_(ids))
                .order_by(ActivityAssignee.user_id)
            ):
                groups[activity_id].append(user_id)
            return [groups.get(i, []) for i in ids]

        async def opt_outs(ids: Seq[int]) -> list[str | None]:
            rows = list(
                await session.scalars(
                    select(Record).where(
                        Record.id.in_(ids), Record.organization_id == organization_id
                    )
                )
            )
            found = await suppression.opt_outs(session, organization_id, rows, "email")
            return [found.get(i) for i in ids]

        async def waits(ids: Seq[int]) -> list[tuple[str, datetime | None] | None]:
            first: dict[int, tuple[str, datetime | None]] = {}
            for connection_id, reason, until in await session.execute(
                select(
                    OutboxMessage.connection_id,
                    OutboxMessage.wait_reason,
                    OutboxMessage.next_attempt_at,
                )
                .where(
                    OutboxMessage.connection_id.in_(ids),
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    OutboxMessage.wait_reason.is_not(None),
                )
                .order_by(OutboxMessage.next_attempt_at.desc().nulls_first())
            ):
                # The earliest comes last, a time before none (null: a connection paused
                # until someone resumes it), on both backends.
                first[cast(int, connection_id)] = (cast(str, reason), until)
            return [first.get(i) for i in ids]

        self.record = by_id(Record)
        self.sequence = by_id(Sequence)
        self.connection = by_id(Connection)
        self.activities_of_connection = DataLoader(activities)
        self.assignees = DataLoader(assignees)
        #: record id -> DO_NOT_EMAIL, SUPPRESSED or None
        self.opt_out = DataLoader(opt_outs)
        #: connection id -> (wait reason, until) of its earliest waiting email, or None
        self.wait_of_connection = DataLoader(waits)
