"""On PostgreSQL: workers in separate processes create every activity exactly once, and a
worker killed with SIGKILL mid-batch loses nothing and duplicates nothing."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sekvens.authoring import sequences as authoring
from sekvens.config import Settings
from sekvens.domain.roles import Actor, Role
from sekvens.domain.sequence_graph import START_TYPE, Step
from sekvens.engine.connections import connect_records
from sekvens.plugins.registry import Registry
from sekvens.storage import migrate, organizations, users
from sekvens.storage.db import Database
from sekvens.storage.records import RecordInput, upsert_records
from sekvens.storage.tables import Activity, Connection, Record
from sekvens.storage.types import utcnow
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs SEKVENS_TEST_POSTGRES_URL")
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    assert POSTGRES_URL
    url = await create_postgres_database(POSTGRES_URL)
    db = Database(Settings(database_url=url))
    await migrate.upgrade(db.engine)
    yield db
    await db.dispose()
    await drop_postgres_database(POSTGRES_URL, url)


async def _setup(db: Database, n: int) -> None:
    """An organization with an active one-task sequence and `n` connected leads."""
    registry = Registry.from_entry_points()
    async with db.session(write=True) as session, session.begin():
        org = await organizations.create_organization(session, "Workers")
        admin = await users.create_user(
            session, org, "a@example.com", "A", ["SYSTEM_ADMINISTRATOR"]
        )
        actor = Actor(admin.id, org.id, frozenset({Role.SYSTEM_ADMINISTRATOR}))
        steps = [
            Step("s", START_TYPE, "Start"),
            Step("t", "core.task", "Call", "", {"subject": "Call"}, "s", "NEXT"),
        ]
        seq = await authoring.create(session, registry, actor, "Load", "", "lead", False, steps)
        await authoring.activate(session, registry, actor, seq.id, None)
        await upsert_records(
            session, org.id, admin.id, [RecordInput("lead", f"L{i}") for i in range(n)]
        )
        records = list(
            await session.scalars(select(Record).where(Record.organization_id == org.id))
        )
        for start in range(0, n, 1000):
            await connect_records(
                session, actor, seq.id, records[start : start + 1000], None, utcnow()
            )


async def _spawn(url: str, delay: float = 0.0, batch: int = 100) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.engine.worker_script",
        url,
        str(delay),
        str(batch),
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def _counts(db: Database) -> tuple[int, int, int]:
    async with db.session() as session:
        activities = await session.scalar(select(func.count()).select_from(Activity)) or 0
        counts = (
            select(func.count().label("n"))
            .select_from(Activity)
            .group_by(Activity.connection_id)
            .subquery()
        )
        per_conn = await session.scalar(select(func.max(counts.c.n))) or 0
        waiting = (
            await session.scalar(
                select(func.count()).select_from(Connection).where(Connection.phase == "ACTIVITY")
            )
            or 0
        )
    return activities, per_conn, waiting


async def test_two_worker_processes_create_each_activity_once(pg: Database) -> None:
    await _setup(pg, 2000)
    url = pg.settings.database_url
    workers = [await _spawn(url, delay=0.001, batch=50), await _spawn(url, delay=0.001, batch=50)]
    outputs = [await w.communicate() for w in workers]
    assert all(w.returncode == 0 for w in workers), outputs
    processed = [int(out.decode().split("processed ")[1]) for out, _ in outputs]
    assert sum(processed) == 2000 and all(p > 0 for p in processed), processed
    assert await _counts(pg) == (2000, 1, 2000)


async def test_sigkill_mid_batch_loses_and_duplicates_nothing(pg: Database) -> None:
    await _setup(pg, 600)
    url = pg.settings.database_url
    victim = await _spawn(url, delay=0.01, batch=300)
    assert victim.stdout is not None
    assert (await victim.stdout.readline()).startswith(b"started")
    await asyncio.sleep(1.5)  # well inside its first batch of 300 x 10 ms
    victim.send_signal(signal.SIGKILL)
    await victim.wait()
    activities, _, _ = await _counts(pg)
    assert activities < 600
    survivor = await _spawn(url)
    _, err = await survivor.communicate()
    assert survivor.returncode == 0, err
    assert await _counts(pg) == (600, 1, 600)
