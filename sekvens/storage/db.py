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


def _unnamed() -> str:
    return ""


#: asyncpg behind a transaction pooler (PgBouncer before 1.21 keeps no prepared statements
#: across server connections): no statement caches, and every statement asyncpg's unnamed
#: one, which it parses again with its Bind when its cache is off, so Parse, Bind and
#: Execute reach the same server connection and nothing is left prepared on it. Unique
#: names (SQLAlchemy's suggestion) work too, but leave the last statement of each
#: transaction prepared on whichever server connection ran it (docs/scaling.md).
TRANSACTION_POOLER_ARGS: dict[str, Any] = {
    "statement_cache_size": 0,
    "prepared_statement_cache_size": 0,
    "prepared_statement_name_func": _unnamed,
}


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
            if settings.db_pooler == "transaction":
                given = engine_kwargs.get("connect_args", {})
                engine_kwargs["connect_args"] = {**TRANSACTION_POOLER_ARGS, **given}
        self.engine = create_engine(settings.database_url, **engine_kwargs)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._session_engine: AsyncEngine | None = None
        self._read = async_sessionmaker(self.engine, expire_on_commit=False)
        self._write = async_sessionmaker(
            self.engine.execution_options(**{WRITE_OPTION: True}), expire_on_commit=False
        )

    def session(self, write: bool = False) -> AsyncSession:
        return (self._write if write else self._read)()

    @property
    def session_engine(self) -> AsyncEngine:
        """The engine for work that keeps state in its database session (the delivery
        claims' advisory locks): with SEKVENS_DIRECT_DATABASE_URL a small pool of its own on
        that URL, since a transaction pooler would hand the session to others; else `engine`."""
        url = self.settings.session_database_url
        if self.is_sqlite or url == self.settings.database_url:
            return self.engine
        if self._session_engine is None:  # one delivery round at a time holds one
            self._session_engine = create_engine(
                url, pool_size=1, max_overflow=2, pool_pre_ping=self.settings.db_pre_ping
            )
        return self._session_engine

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self._session_engine is not None:
            await self._session_engine.dispose()
