"""Grid layouts, one row per user and view (`grid_preferences`)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.storage.db import is_postgres
from sekvens.storage.tables import GridPreference
from sekvens.storage.types import utcnow


async def get(session: Any, user_id: int, view: str) -> GridPreference | None:
    """The user's saved layout of `view` (`session`: a session or the request's reader)."""
    return await session.scalar(
        select(GridPreference).where(GridPreference.user_id == user_id, GridPreference.view == view)
    )


async def save(
    session: AsyncSession, user_id: int, view: str, columns: list[dict[str, Any]]
) -> None:
    """Store the layout (an insert or an update in one statement, also under concurrency)."""
    insert = pg_insert if is_postgres(session) else sqlite_insert
    now = utcnow()
    stmt = insert(GridPreference).values(
        user_id=user_id, view=view, columns=columns, updated_at=now
    )
    await session.execute(
        stmt.on_conflict_do_update(
            index_elements=[GridPreference.user_id, GridPreference.view],
            set_={"columns": columns, "updated_at": now},
        )
    )


async def clear(session: AsyncSession, user_id: int, view: str) -> None:
    await session.execute(
        delete(GridPreference).where(GridPreference.user_id == user_id, GridPreference.view == view)
    )
