"""List statements of connections (records running in sequences)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Select, select

from sekvens.storage.tables import Connection


def connections_query(
    organization_id: int,
    sequence_id: int | None = None,
    record_id: int | None = None,
    status: str | None = None,
) -> Select[Any]:
    """An organization's connections, newest first, of one sequence, record or status."""
    stmt = select(Connection).where(Connection.organization_id == organization_id)
    if sequence_id is not None:
        stmt = stmt.where(Connection.sequence_id == sequence_id)
    if record_id is not None:
        stmt = stmt.where(Connection.record_id == record_id)
    if status is not None:
        stmt = stmt.where(Connection.status == status)
    return stmt.order_by(Connection.id.desc())
