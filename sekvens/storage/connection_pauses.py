"""The one way a connection is paused or resumed, whoever does it (a user, an auto-reply, the
engine when `resume_at` comes).

A pause holds the connection's automated emails still queued: they wait
`CONNECTION_PAUSED` until the connection's `resume_at` (null: until someone resumes it), so
the outbox, the connection's `waiting` and `stats` say why they don't go. Resuming makes
them due at once, dated then; the worker's claim then places each in its send window, its
throttles and its sender's away period again (docs/email.md#send-windows). Each queues
its `connection.paused` or `connection.resumed` webhook in the same transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.life_cycles import ConnectionStatus, OutboxStatus, PauseReason, WaitReason
from sekvens.domain.webhooks import WebhookEventType
from sekvens.storage.tables import Connection, OutboxMessage
from sekvens.storage.webhooks import connection_data, emit


async def pause(
    session: AsyncSession,
    conn: Connection,
    reason: PauseReason,
    until: datetime | None,
    now: datetime | None = None,
) -> None:
    """PAUSED for `reason` until `until`, or (already paused) held until `until` now; the
    event is dated `now` (the engine's clock)."""
    conn.status, conn.pause_reason, conn.resume_at = ConnectionStatus.PAUSED, reason, until
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.connection_id == conn.id,
            OutboxMessage.status == OutboxStatus.QUEUED,
        )
        .values(wait_reason=WaitReason.CONNECTION_PAUSED, next_attempt_at=until)
        .execution_options(synchronize_session=False)
    )
    data = connection_data(
        conn, pauseReason=reason, resumeAt=until.isoformat() if until is not None else None
    )
    await emit(session, conn.organization_id, WebhookEventType.CONNECTION_PAUSED, data, now)


async def resume(session: AsyncSession, conn: Connection, now: datetime) -> None:
    """CONNECTED again: the step it waits at is due no earlier than now, and its held emails
    are due now."""
    conn.status, conn.pause_reason, conn.resume_at = ConnectionStatus.CONNECTED, None, None
    if conn.next_run_at is not None:
        conn.next_run_at = max(conn.next_run_at, now)
    await session.execute(
        update(OutboxMessage)
        .where(
            OutboxMessage.connection_id == conn.id,
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.wait_reason == WaitReason.CONNECTION_PAUSED,
        )
        .values(wait_reason=None, next_attempt_at=now, send_after=now)
        .execution_options(synchronize_session=False)
    )
    data = connection_data(conn)
    await emit(session, conn.organization_id, WebhookEventType.CONNECTION_RESUMED, data, now)
