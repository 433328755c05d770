"""`sekvens worker`: runs due connections, refuses several workers on SQLite, stops on SIGTERM;
on PostgreSQL several worker processes share the work."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select

from sekvens.cli import main
from sekvens.storage.tables import Activity, Connection
from tests.api.test_engine import connect, leads, seller
from tests.conftest import POSTGRES_URL, Api, create_postgres_database, drop_postgres_database
from tests.engine.live_helpers import fresh_api, task_sequence

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 30


def invoke(database_url: str, *args: str) -> Result:
    return CliRunner().invoke(
        main,
        list(args),
        env={"SEKVENS_DATABASE_URL": database_url, "SEKVENS_DISABLED_STEP_TYPES": ""},
        catch_exceptions=False,
    )


@pytest.fixture
async def sqlite_api(tmp_path: Path) -> AsyncIterator[Api]:
    async with fresh_api(f"sqlite:///{tmp_path / 'worker.db'}") as api:
        yield api


@pytest.fixture
async def pg_api() -> AsyncIterator[Api]:
    if not POSTGRES_URL:
        pytest.skip("SEKVENS_TEST_POSTGRES_URL is not set")
    url = await create_postgres_database(POSTGRES_URL)
    try:
        async with fresh_api(url) as api:
            yield api
    finally:
        await drop_postgres_database(POSTGRES_URL, url)


async def connected_leads(api: Api, n: int) -> dict[str, Any]:
    """A two-task sequence with `n` leads connected, nothing run yet."""
    owner_id, _ = await seller(api, "worker@example.com")
    seq = await task_sequence(api, "Worked")
    results = await connect(api, seq, await leads(api, owner_id, n, prefix="K"))
    assert all(r["connection"] for r in results)
    return seq


async def counts(api: Api) -> tuple[int, int, int]:
    """(activities, most activities of one connection, connections waiting on an activity)."""
    async with api.db.session() as session:
        activities = await session.scalar(select(func.count()).select_from(Activity))
        per = (
            select(func.count().label("n")).select_from(Activity).group_by(Activity.connection_id)
        ).subquery()
        most = await session.scalar(select(func.max(per.c.n)))
        waiting = await session.scalar(
            select(func.count()).select_from(Connection).where(Connection.phase == "ACTIVITY")
        )
    return activities or 0, most or 0, waiting or 0


async def spawn(database_url: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sekvens.cli",
        "worker",
        *args,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={
            **os.environ,
            "SEKVENS_DATABASE_URL": database_url,
            "SEKVENS_LOG_LEVEL": "INFO",
            "PYTHONPATH": str(ROOT),
        },
    )


async def wait_for_lines(process: asyncio.subprocess.Process, text: str, count: int) -> str:
    """stderr until `text` appeared `count` times."""
    assert process.stderr is not None
    seen = ""
    while seen.count(text) < count:
        line = await asyncio.wait_for(process.stderr.readline(), TIMEOUT)
        assert line, f"the worker ended early:\n{seen}"
        seen += line.decode()
    return seen


async def test_once_runs_what_is_due_and_exits(sqlite_api: Api) -> None:
    api = sqlite_api
    await connected_leads(api, 3)
    url = api.db.settings.database_url
    result = await asyncio.to_thread(invoke, url, "worker", "--once")
    assert result.exit_code == 0, result.output
    assert result.stdout == "processed 3\n"
    assert await counts(api) == (3, 1, 3)
    again = await asyncio.to_thread(invoke, url, "worker", "--once")
    assert again.stdout == "processed 0\n"
    assert await counts(api) == (3, 1, 3)


def test_sqlite_refuses_more_than_one_worker(tmp_path: Path) -> None:
    result = invoke(f"sqlite:///{tmp_path / 'w.db'}", "worker", "--concurrency", "2")
    assert result.exit_code == 2
    assert "SQLite has a single writer" in result.stderr
    assert "--concurrency 1" in result.stderr


async def test_sigterm_stops_the_worker_gracefully(sqlite_api: Api) -> None:
    await connected_leads(sqlite_api, 2)
    worker = await spawn(sqlite_api.db.settings.database_url)
    try:
        await wait_for_lines(worker, "engine worker started", 1)
        for _ in range(TIMEOUT * 10):  # it runs what is due without being told
            if (await counts(sqlite_api))[2] == 2:
                break
            await asyncio.sleep(0.1)
        worker.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(worker.communicate(), TIMEOUT)
    finally:
        if worker.returncode is None:
            worker.kill()
    assert worker.returncode == 0, err.decode()
    assert "engine worker stopped" in err.decode()
    assert await counts(sqlite_api) == (2, 1, 2)


async def test_worker_processes_share_the_work_on_postgresql(pg_api: Api) -> None:
    await connected_leads(pg_api, 300)
    url = pg_api.db.settings.database_url
    once = await spawn(url, "--concurrency", "2", "--once")
    _, err = await asyncio.wait_for(once.communicate(), TIMEOUT * 4)
    assert once.returncode == 0, err.decode()
    assert err.decode().count("started (pid") == 2
    assert await counts(pg_api) == (300, 1, 300)

    serving = await spawn(url, "--concurrency", "2")
    try:
        await wait_for_lines(serving, "engine worker started", 2)
        serving.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(serving.communicate(), TIMEOUT)
    finally:
        if serving.returncode is None:
            serving.kill()
    assert serving.returncode == 0, err.decode()
    assert err.decode().count("engine worker stopped") == 2
