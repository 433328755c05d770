"""Migrations from an empty database reach head on SQLite and PostgreSQL, step by step, and match
the tables the code declares; downgrading to base and upgrading again works."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import CheckConstraint, inspect, text
from sqlalchemy.ext.asyncio import AsyncEngine

from sekvens.storage import migrate
from sekvens.storage.db import create_engine
from sekvens.storage.tables import Base
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database


async def downgrade(engine: AsyncEngine, revision: str = "base") -> None:
    """Take the database down to `revision` (all the way to empty by default)."""
    async with engine.begin() as conn:
        await conn.run_sync(lambda c: command.downgrade(migrate.alembic_config(c), revision))


def revisions() -> list[str]:
    """Every revision, oldest first."""
    script = ScriptDirectory.from_config(migrate.alembic_config())
    return [r.revision for r in reversed(list(script.walk_revisions()))]


async def table_names(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def differences(engine: AsyncEngine) -> list[object]:
    """What autogenerate would still add, drop or alter to match `Base.metadata`."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: compare_metadata(
                MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
            )
        )


async def check_constraints(engine: AsyncEngine) -> set[tuple[str, str]]:
    """(table, name) of every check constraint in the database; autogenerate leaves checks
    out, so this compares them by name."""
    async with engine.connect() as conn:
        return await conn.run_sync(
            lambda c: {
                (table, check["name"])
                for table in Base.metadata.tables
                for check in inspect(c).get_check_constraints(table)
            }
        )


def declared_check_constraints() -> set[tuple[str, str]]:
    return {
        (table.name, str(c.name))
        for table in Base.metadata.sorted_tables
        for c in table.constraints
        if isinstance(c, CheckConstraint)
    }


@pytest.fixture(params=["sqlite", "postgres"])
async def empty_engine(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[AsyncEngine]:
    """An engine on a new, empty database of each backend."""
    if request.param == "sqlite":
        engine = create_engine(f"sqlite:///{tmp_path / 'empty.db'}")
        yield engine
        await engine.dispose()
        return
    if not POSTGRES_URL:
        pytest.skip("SEKVENS_TEST_POSTGRES_URL is not set")
    url = await create_postgres_database(POSTGRES_URL)
    engine = create_engine(url)
    try:
        yield engine
    finally:
        await engine.dispose()
        await drop_postgres_database(POSTGRES_URL, url)


async def test_upgrade_from_empty_reaches_head_and_matches_the_tables(
    empty_engine: AsyncEngine,
) -> None:
    assert await table_names(empty_engine) == set()
    assert await migrate.current_revision(empty_engine) is None
    assert not await migrate.is_up_to_date(empty_engine)

    await migrate.upgrade(empty_engine)

    assert await migrate.current_revision(empty_engine) == migrate.head_revision()
    assert await migrate.is_up_to_date(empty_engine)
    assert await table_names(empty_engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert await differences(empty_engine) == []
    assert await check_constraints(empty_engine) == declared_check_constraints()


async def test_each_revision_up_and_down_then_up_again(empty_engine: AsyncEngine) -> None:
    ordered = revisions()
    assert ordered[-1] == migrate.head_revision()
    for revision in ordered:
        await migrate.upgrade(empty_engine, revision)
        assert await migrate.current_revision(empty_engine) == revision
    for previous in reversed([None, *ordered[:-1]]):
        await downgrade(empty_engine, previous or "base")
        assert await migrate.current_revision(empty_engine) == previous
        assert not await migrate.is_up_to_date(empty_engine)
    assert await table_names(empty_engine) <= {"alembic_version"}

    await migrate.upgrade(empty_engine)
    assert await migrate.is_up_to_date(empty_engine)
    assert await table_names(empty_engine) == set(Base.metadata.tables) | {"alembic_version"}
    assert await differences(empty_engine) == []
    assert await check_constraints(empty_engine) == declared_check_constraints()

    await migrate.upgrade(empty_engine)  # at head already: nothing to do
    assert await migrate.current_revision(empty_engine) == migrate.head_revision()


async def test_send_windows_give_existing_built_in_record_types_a_time_zone_field(
    empty_engine: AsyncEngine,
) -> None:
    """0008: an organization made before it gets `time_zone` on its built-in record types
    (after their own fields), and not on its own types; a second run adds nothing."""
    await migrate.upgrade(empty_engine, "0007")
    async with empty_engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO organizations (id, name, sequences_enabled, max_active_sequences,"
                " max_steps, skip_non_working_time, holidays, default_time_zone, call_outcomes,"
                " created_at, updated_at) VALUES (1, 'Old', true, 250, 100, true, '[]', 'UTC',"
                " '[]', :now, :now)"
            ),
            {"now": datetime.now(UTC)},
        )
        for type_id, name, builtin in ((1, "lead", True), (2, "project", False)):
            await conn.execute(
                text(
                    "INSERT INTO record_types (id, organization_id, name, display_name, stages,"
                    " is_builtin, created_at) VALUES (:id, 1, :name, :name, '[]', :b, :now)"
                ),
                {"id": type_id, "name": name, "b": builtin, "now": datetime.now(UTC)},
            )
            await conn.execute(
                text(
                    "INSERT INTO record_fields (record_type_id, name, display_name, type,"
                    " options, required, position) VALUES (:id, 'email', 'Email', 'EMAIL',"
                    " '[]', false, 0)"
                ),
                {"id": type_id},
            )
    await migrate.upgrade(empty_engine)
    async with empty_engine.connect() as conn:
        rows = (
            await conn.execute(
                text("SELECT record_type_id, name, type, position FROM record_fields ORDER BY id")
            )
        ).all()
    assert [tuple(r) for r in rows] == [
        (1, "email", "EMAIL", 0),
        (2, "email", "EMAIL", 0),
        (1, "time_zone", "TEXT", 1),
    ]


async def test_sqlite_migrations_keep_rows_that_refer_to_a_rebuilt_table(tmp_path: Path) -> None:
    """SQLite rebuilds a table to change its checks (0011 rebuilds `organizations`): the rows
    that refer to it survive (they were cascade-deleted while foreign keys were enforced),
    and the connection enforces foreign keys again afterwards."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        await migrate.upgrade(engine, "0010")
        async with engine.begin() as conn:
            await conn.execute(
                text(
                    "INSERT INTO organizations (id, name, sequences_enabled, max_active_sequences,"
                    " max_steps, skip_non_working_time, holidays, default_time_zone,"
                    " call_outcomes, created_at, updated_at) VALUES (1, 'Old', true, 250, 100,"
                    " true, '[]', 'UTC', '[]', :now, :now)"
                ),
                {"now": datetime.now(UTC)},
            )
            await conn.execute(
                text(
                    "INSERT INTO users (id, organization_id, email, name, time_zone,"
                    " working_hours, is_active, created_at, updated_at) VALUES (1, 1,"
                    " 'a@example.com', 'A', 'UTC', '[]', true, :now, :now)"
                ),
                {"now": datetime.now(UTC)},
            )
        await migrate.upgrade(engine)
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM users"))).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
    finally:
        await engine.dispose()
