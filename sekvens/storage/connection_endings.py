"""The one way a connection ends, whatever ends it.

Ending a connection sets its ending status and reason, and in the same transaction closes
its work: open activities become CANCELED with the reason (they leave every seller's up
next and can no longer be worked), and automated emails still queued become CANCELED
unless the connection completed (its last step may just have queued one). The change bus
sees the UPDATEs, so `upNextChanged` and `connectionChanged` announce them, and a
`connection.ended` webhook with the status and reason is queued in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import literal, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.life_cycles import (
    RUNNING,
    ActivityStatus,
    ConnectionReason,
    ConnectionStatus,
    OutboxStatus,
)
from sekvens.domain.webhooks import WebhookEventType
from sekvens.storage.db import is_postgres
from sekvens.storage.tables import Activity, Connection, OutboxMessage
from sekvens.storage.webhooks import connection_data, emit

ERROR_MAX = 2000
_CHUNK = 1000


async def end_connection(
    session: AsyncSession,
    conn: Connection,
    status: ConnectionStatus,
    reason: ConnectionReason,
    now: datetime,
    *,
    error: str | None = None,
    error_code: str | None = None,
) -> None:
    """End `conn` (loaded in `session`) and close its work. A connection that has ended
    already is left as it is."""
    if conn.status not in RUNNING:
        return
    conn.status, conn.reason, conn.next_run_at, conn.ended_at = status, reason, None, now
    conn.resume_at = conn.pause_reason = None
    if error:
        conn.error = error[:ERROR_MAX]
    if error_code:
        conn.error_code = error_code
    await _close_work(session, [conn.id], reason, now)
    data = connection_data(conn, reason=reason, error=conn.error, endedAt=now.isoformat())
    await emit(session, conn.organization_id, WebhookEventType.CONNECTION_ENDED, data, now)


async def end_connections(
    session: AsyncSession,
    where: Any,
    status: ConnectionStatus,
    reason: ConnectionReason,
    now: datetime,
) -> list[int]:
    """End every running connection matching the SQL condition `where`, closing their work;
    returns their ids."""
    stmt = select(
        Connection.id,
        Connection.organization_id,
        Connection.sequence_id,
        Connection.record_id,
        literal(str(status)).label("status"),
    ).where(where, Connection.status.in_(RUNNING))
    if is_postgres(session):
        stmt = stmt.with_for_update()
    rows = (await session.execute(stmt)).all()
    ids = [row.id for row in rows]
    for chunk in _chunks(ids):
        await session.execute(
            update(Connection)
            .where(Connection.id.in_(chunk))
            .values(
                status=status,
                reason=reason,
                next_run_at=None,
                resume_at=None,
                pause_reason=None,
                ended_at=now,
            )
            .execution_options(synchronize_session="fetch")
        )
        await _close_work(session, chunk, reason, now)
    for row in rows:
        data = connection_data(row, reason=reason, error=None, endedAt=now.isoformat())
        await emit(session, row.organization_id, WebhookEventType.CONNECTION_ENDED, data, now)
    return ids


async def _close_work(
    session: AsyncSession, connection_ids: Sequence[int], reason: ConnectionReason, now: datetime
) -> None:
    await session.execute(
        update(Activity)
        .where(Activity.connection_id.in_(connection_ids), Activity.status == ActivityStatus.OPEN)
        .values(status=ActivityStatus.CANCELED, close_reason=reason, closed_at=now)
        .execution_options(synchronize_session="fetch")
    )
    if reason is ConnectionReason.SEQUENCE_COMPLETED:
        return
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.connection_id.in_(connection_ids),
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
        .values(
            status=OutboxStatus.CANCELED, next_attempt_at=None, wait_reason=None, last_error=reason
        )
        .execution_options(synchronize_session="fetch")
    )


def _chunks(ids: list[int]) -> Iterator[list[int]]:
    for start in range(0, len(ids), _CHUNK):
        yield ids[start : start + _CHUNK]
