"""Engines and sessions. SQLite gets foreign keys, WAL, a busy timeout and immediate write locks."""

from __future__ import annotations

from typing import Any, cast

from sqlalchemy import CursorResult, Executable, event
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from sekvens.config import Settings, async_database_url

SQLITE_BUSY_TIMEOUT_MS = 30_000
WRITE_OPTION = "sekvens_write"


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so writes can BEGIN IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def on_begin(conn: Any) -> None:
        # A write transaction takes the lock up front, so it waits (busy timeout) instead of
        # failing with "database is locked" when it later upgrades from a read.
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def is_postgres(session: AsyncSession) -> bool:
    """Whether `session` talks to PostgreSQL (row locks, `pg_notify`, dialect inserts)."""
    return session.get_bind().dialect.name == "postgresql"


async def rows_matched(session: AsyncSession, statement: Executable) -> int:
    """How many rows an UPDATE or DELETE matched. A session types every result as a plain
    `Result`; for these statements it is a `CursorResult`, which has the count."""
    result = await session.execute(statement)
    return cast("CursorResult[Any]", result).rowcount


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    url = async_database_url(url)
    if url.startswith("sqlite"):
        engine = create_async_engine(url, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    kwargs.setdefault("pool_pre_ping", True)
    return create_async_engine(url, **kwargs)


class Database:
    """One engine and the session factories for reads and writes."""

    def __init__(self, settings: Settings, **engine_kwargs: Any):
        self.settings = settings
        if not settings.is_sqlite:  # a pool as large as the requests served at once
            engine_kwargs.setdefault("pool_size", settings.db_pool_size)
            engine_kwargs.setdefault("max_overflow", settings.db_max_overflow)
            engine_kwargs.setdefault("pool_pre_ping", settings.db_pre_ping)
        self.engine = create_engine(settings.database_url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    def session(self, write: bool = False) -> AsyncSession:
        return (self._write if write else self._read)()

    async def dispose(self) -> None:
        await self.engine.dispose()
