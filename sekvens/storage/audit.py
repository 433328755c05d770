"""The audit log: who changed what, when."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Select, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.storage.tables import AuditEntry

#: Where a request's session keeps the id of the API token it works for.
TOKEN_KEY = "sekvens_token_id"


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
    """Add an entry to the current transaction (it lands or rolls back with the change),
    naming the API token the session works for (`TOKEN_KEY` in `session.info`), if any."""
    session.add(
        AuditEntry(
            **entry(
                session,
                organization_id,
                actor_user_id,
                action,
                entity_type,
                entity_id,
                detail,
                version,
            )
        )
    )


def entry(
    session: AsyncSession,
    organization_id: int,
    actor_user_id: int | None,
    action: str,
    entity_type: str,
    entity_id: int | None,
    detail: dict[str, Any] | None = None,
    version: int | None = None,
) -> dict[str, Any]:
    """The columns `record` writes, as a row for `record_rows`."""
    return {
        "organization_id": organization_id,
        "actor_user_id": actor_user_id,
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "version": version,
        "detail": detail or {},
        "token_id": session.info.get(TOKEN_KEY),
    }


async def record_rows(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Write many entries made by `entry` in one statement, after the entries `record`
    added before them (flushed first), so the log keeps the order they were made in."""
    if not rows:
        return
    await session.flush()
    # render_nulls: a NULL version or token is sent as NULL, so the rows share one INSERT.
    await session.execute(insert(AuditEntry).execution_options(render_nulls=True), rows)


def entries(
    organization_id: int,
    entity_type: str | None = None,
    entity_id: int | None = None,
    action: str | None = None,
    actor_user_id: int | None = None,
    since: datetime | None = None,
) -> Select[AuditEntry]:
    """An organization's entries, newest first; `action` ending in '.' is a prefix."""
    stmt = select(AuditEntry).where(AuditEntry.organization_id == organization_id)
    if entity_type is not None:
        stmt = stmt.where(AuditEntry.entity_type == entity_type)
    if entity_id is not None:
        stmt = stmt.where(AuditEntry.entity_id == entity_id)
    if action is not None:
        stmt = stmt.where(
            AuditEntry.action.startswith(action, autoescape=True)
            if action.endswith(".")
            else AuditEntry.action == action
        )
    if actor_user_id is not None:
        stmt = stmt.where(AuditEntry.actor_user_id == actor_user_id)
    if since is not None:
        stmt = stmt.where(AuditEntry.created_at >= since)
    return stmt.order_by(AuditEntry.id.desc())
