"""The audit log: who changed what, when."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.storage.tables import AuditEntry


def record(
    session: AsyncSession,
    organization_id: int,
    actor_user_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    detail: dict[str, Any] | None = None,
    version: int | None = None,
) -> None:
    """Add an entry to the current transaction (it lands or rolls back with the change)."""
    session.add(
        AuditEntry(
            organization_id=organization_id,
            actor_user_id=actor_user_id,
            action=action,
            entity_type=entity_type,
            entity_id=entity_id,
            version=version,
            detail=detail or {},
        )
    )
