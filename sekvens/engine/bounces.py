"""A hard bounce: the address goes on the suppression list (source BOUNCED) and the
connection that sent the message ends DISCONNECTED with reason BOUNCED.

The deliverer calls it for an SMTP refusal that `parse_smtp_reply` classifies HARD, and
`engine/events.py` for an `EMAIL_BOUNCED` event that is hard (fed in as an event or as a
delivery status notification). A soft bounce changes neither.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.life_cycles import RUNNING, ConnectionReason, ConnectionStatus
from sekvens.domain.suppression import SuppressionSource
from sekvens.storage import suppression
from sekvens.storage.connection_endings import ERROR_MAX, end_connection
from sekvens.storage.db import is_postgres
from sekvens.storage.tables import Connection


async def hard_bounce(
    session: AsyncSession,
    organization_id: int,
    connection_id: int | None,
    address: str,
    detail: str,
    now: datetime,
) -> None:
    """Suppress `address` and end the connection: a running one is ended (its work closed),
    a completed one becomes DISCONNECTED too so the bounce shows; one that ended otherwise
    is left as it is."""
    await suppression.suppress(
        session, organization_id, address, SuppressionSource.BOUNCED, f"Hard bounce: {detail}", now
    )
    if connection_id is None:
        return
    stmt = select(Connection).where(
        Connection.id == connection_id, Connection.organization_id == organization_id
    )
    if is_postgres(session):
        stmt = stmt.with_for_update()
    conn = await session.scalar(stmt)
    if conn is None:
        return
    error = f"Email to {address} bounced: {detail}"
    if conn.status in RUNNING:
        await end_connection(
            session, conn, ConnectionStatus.DISCONNECTED, ConnectionReason.BOUNCED, now, error=error
        )
    elif conn.status == ConnectionStatus.COMPLETED:
        conn.status, conn.reason, conn.error = (
            ConnectionStatus.DISCONNECTED,
            ConnectionReason.BOUNCED,
            error[:ERROR_MAX],
        )
