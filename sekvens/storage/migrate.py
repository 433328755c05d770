"""Run Alembic migrations programmatically, and tell whether a database is at the newest one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).parent / "migrations"


def alembic_config(connection: Any = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def _foreign_keys(conn: Connection, on: bool) -> None:
    """SQLite's foreign key enforcement, set on the driver's connection outside any
    transaction (the engine's `begin` hook would otherwise open one first)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    finally:
        cursor.close()


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision` (the newest by default).

    SQLite changes a table's constraints by copying it into a new table and dropping the
    old one; with foreign keys enforced, that drop would delete (ON DELETE CASCADE) or clear
    (SET NULL) the rows that refer to it. So foreign keys are off while migrations run (the
    pragma only takes effect outside a transaction), checked when they are done, and on
    again."""
    sqlite = engine.dialect.name == "sqlite"
    async with engine.connect() as conn:
        if sqlite:
            await conn.run_sync(_foreign_keys, False)
        try:
            async with conn.begin():
                await conn.run_sync(lambda c: command.upgrade(alembic_config(c), revision))
                if sqlite and (await conn.exec_driver_sql("PRAGMA foreign_key_check")).first():
                    raise RuntimeError("a migration left rows whose foreign keys match nothing")
        finally:
            if sqlite:
                await conn.run_sync(_foreign_keys, True)


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as conn:
        return await conn.run_sync(lambda c: MigrationContext.configure(c).get_current_revision())


async def is_up_to_date(engine: AsyncEngine) -> bool:
    return await current_revision(engine) == head_revision()
