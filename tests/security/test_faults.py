"""Faults: the database dropping connections, operations cut short, concurrent writers, and
bulk mutations killed half-way.

Covered elsewhere, not repeated here: concurrent `activateSequence` calls at the active
limit end with exactly the limit (tests/api/test_sequences.py,
test_active_limit_holds_under_concurrent_activations, on both backends); worker processes
killed with SIGKILL mid-batch lose and duplicate nothing (tests/engine/test_exactly_once.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage import migrate
from sekvens.storage.db import Database, create_engine
from sekvens.storage.tables import Activity, Record, Sequence, Team
from tests.conftest import POSTGRES_URL, Api, create_postgres_database, drop_postgres_database
from tests.conftest import new_org as make_org

ROOT = Path(__file__).resolve().parents[2]
needs_postgres = pytest.mark.skipif(not POSTGRES_URL, reason="needs SEKVENS_TEST_POSTGRES_URL")
GENERIC = "Internal error (id "
SECRETS_IN_MESSAGES = ("SELECT", "pg_", "asyncpg", "sqlalchemy", "Traceback", ".py")


@contextlib.asynccontextmanager
async def serving(db: Database, **settings: Any) -> AsyncIterator[httpx.AsyncClient]:
    settings.setdefault("rate_limit_per_second", 0)
    app = create_app(Settings(database_url=db.settings.database_url, **settings), db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        client.app = app  # type: ignore[attr-defined]
        yield client


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    """A PostgreSQL database of this test's own: its connections are killed at will."""
    assert POSTGRES_URL
    url = await create_postgres_database(POSTGRES_URL)
    db = Database(Settings(database_url=url))
    await migrate.upgrade(db.engine)
    yield db
    await db.dispose()
    await drop_postgres_database(POSTGRES_URL, url)


async def terminate(db: Database, query_like: str | None = None) -> int:
    """Kill the server processes of `db`'s connections (those running `query_like`)."""
    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    sql = (
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
        " WHERE datname = :name AND pid <> pg_backend_pid()"
    )
    params: dict[str, Any] = {"name": make_url(db.settings.database_url).database}
    if query_like:
        sql += " AND query LIKE :like AND state = 'active'"
        params["like"] = query_like
    try:
        async with admin.connect() as conn:
            return int((await conn.execute(text(sql), params)).scalar() or 0)
    finally:
        await admin.dispose()


async def wait_for_query(db: Database, like: str) -> None:
    assert POSTGRES_URL
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            for _ in range(200):
                found = await conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = :name"
                        " AND query LIKE :like AND state = 'active'"
                    ),
                    {"name": make_url(db.settings.database_url).database, "like": like},
                )
                if found:
                    return
                await asyncio.sleep(0.05)
    finally:
        await admin.dispose()
    raise AssertionError(f"no query like {like!r} showed up")


async def gql(client: httpx.AsyncClient, api: Api, query: str) -> httpx.Response:
    return await client.post(
        "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {api.token}"}
    )


def assert_clean_error(response: httpx.Response, code: str = "INTERNAL_ERROR") -> None:
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["data"] is None or all(v is None for v in body["data"].values()), body
    [error] = body["errors"]
    assert error["extensions"]["code"] == code, body
    if code == "INTERNAL_ERROR":
        assert error["message"].startswith(GENERIC), body
    assert not [s for s in SECRETS_IN_MESSAGES if s in error["message"]], body


ORGANIZATION = "{ organization { name } }"


# --- PostgreSQL drops connections -----------------------------------------------------------


@needs_postgres
async def test_idle_pooled_connections_killed_between_requests(pg: Database) -> None:
    async with serving(pg) as client:
        api = await make_org(client, pg)
        responses = await asyncio.gather(*(gql(client, api, ORGANIZATION) for _ in range(8)))
        assert all(r.json()["data"] for r in responses)  # several pooled connections now
        assert await terminate(pg) >= 1
        for _ in range(10):  # pool_pre_ping finds the dead ones and reconnects
            response = await gql(client, api, ORGANIZATION)
            assert response.json() == {"data": {"organization": {"name": api.org}}}


@needs_postgres
async def test_connection_killed_mid_query_gives_a_clean_error(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekvens.resolvers import query

    original = query.organizations.existing

    async def slow(session: Any, pk: int) -> Any:
        await session.execute(text("SELECT pg_sleep(30) /* sekvens-fault */"))
        return await original(session, pk)

    async with serving(pg) as client:
        api = await make_org(client, pg)
        monkeypatch.setattr(query.organizations, "existing", slow)
        request = asyncio.ensure_future(gql(client, api, ORGANIZATION))
        await wait_for_query(pg, "%sekvens-fault%")
        assert await terminate(pg, "%sekvens-fault%") == 1
        assert_clean_error(await request)
        monkeypatch.undo()
        for _ in range(3):
            response = await gql(client, api, ORGANIZATION)
            assert response.json() == {"data": {"organization": {"name": api.org}}}


@needs_postgres
async def test_connection_killed_mid_transaction_commits_nothing(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sekvens.storage import teams

    original = teams.create_team

    async def slow(session: Any, *args: Any) -> Any:
        team = await original(session, *args)  # inserted, not committed
        await session.execute(text("SELECT pg_sleep(30) /* sekvens-fault */"))
        return team

    async with serving(pg) as client:
        api = await make_org(client, pg)
        monkeypatch.setattr(teams, "create_team", slow)
        create = 'mutation { createTeam(input: {name: "Lost", kind: OWNER}) { errors { code } } }'
        request = asyncio.ensure_future(gql(client, api, create))
        await wait_for_query(pg, "%sekvens-fault%")
        assert await terminate(pg, "%sekvens-fault%") == 1
        assert_clean_error(await request)
        monkeypatch.undo()
        async with pg.session() as session:
            assert await session.scalar(select(func.count()).select_from(Team)) == 0
        again = await gql(client, api, create.replace("Lost", "Kept"))
        assert again.json() == {"data": {"createTeam": {"errors": []}}}


@needs_postgres
async def test_timeout_in_the_middle_of_a_statement(
    pg: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client-side timeout cancels a statement the server is running; the connection
    is not handed to the next request in that state."""
    from sekvens.storage import teams

    original = teams.create_team

    async def slow(session: Any, *args: Any) -> Any:
        team = await original(session, *args)
        await session.execute(text("SELECT pg_sleep(3) /* sekvens-fault */"))
        return team

    async with serving(pg, operation_timeout_seconds=0.5) as client:
        api = await make_org(client, pg)
        monkeypatch.setattr(teams, "create_team", slow)
        create = 'mutation { createTeam(input: {name: "Slow", kind: OWNER}) { errors { code } } }'
        assert_clean_error(await gql(client, api, create), code="TIMEOUT")
        monkeypatch.undo()
        responses = await asyncio.gather(*(gql(client, api, ORGANIZATION) for _ in range(12)))
        assert all(r.json() == {"data": {"organization": {"name": api.org}}} for r in responses)
        async with pg.session() as session:
            assert await session.scalar(select(func.count()).select_from(Team)) == 0


# --- SQLite: the API and the in-process worker write at once ---------------------------------


async def test_sqlite_api_and_worker_writing_at_once(tmp_path: Path) -> None:
    db = Database(Settings(database_url=f"sqlite:///{tmp_path / 'busy.db'}"))
    await migrate.upgrade(db.engine)
    try:
        async with serving(db) as client:
            engine = client.app.state.services.engine  # type: ignore[attr-defined]
            api = await make_org(client, db)
            await api.mutate(
                "updateOrganizationSettings", {"skipNonWorkingTime": False}, "organization { id }"
            )
            seq = (
                await api.mutate("createSequence", {"name": "Busy"}, "sequence { id steps { id } }")
            )["sequence"]
            await api.mutate(
                "addStep",
                {
                    "sequenceId": seq["id"],
                    "afterStepId": seq["steps"][0]["id"],
                    "type": "core.task",
                    "config": {"subject": "Call"},
                },
                "step { id }",
            )
            await api.mutate(
                "setSequenceOptions",
                {"sequenceId": seq["id"], "skipNonWorkingTime": False},
                "sequence { id }",
            )
            await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
            me = (await api.ok("{ viewer { user { id } } }"))["viewer"]["user"]["id"]
            leads = [
                {"recordType": "lead", "externalId": f"B{i}", "ownerUserId": me} for i in range(400)
            ]
            upserted = await api.mutate(
                "upsertRecords", {"records": leads}, "results { record { id } }"
            )
            ids = [r["record"]["id"] for r in upserted["results"]]
            connected = await api.mutate(
                "connectSequence",
                {"sequenceId": seq["id"], "records": [{"id": i} for i in ids]},
                "connectedCount",
            )
            assert connected["connectedCount"] == 400

            def mutation(i: int) -> str:
                return [
                    f'mutation {{ createTeam(input: {{name: "T{i}", kind: OWNER}}) {{ errors {{ code message }} }} }}',
                    f'mutation {{ upsertRecords(input: {{records: [{{recordType: "lead", externalId: "N{i}"}}]}}) {{ errors {{ code message }} }} }}',
                    f'mutation {{ createTag(input: {{name: "tag{i}"}}) {{ errors {{ code message }} }} }}',
                    "{ upNext(first: 20) { nodes { id } } connections(first: 5) { totalCount } }",
                ][i % 4]

            async def api_load() -> list[httpx.Response]:
                return list(
                    await asyncio.gather(*(gql(client, api, mutation(i)) for i in range(120)))
                )

            processed, responses = await asyncio.gather(engine.run_until_idle(), api_load())
            assert processed == 400
            for response in responses:
                assert response.status_code == 200, response.text
                assert "locked" not in response.text.lower(), response.text
                body = response.json()
                assert "errors" not in body, body
                assert not [p for p in body["data"].values() if p and p.get("errors")], body
            async with db.session() as session:
                assert await session.scalar(select(func.count()).select_from(Activity)) == 400
                assert await session.scalar(select(func.count()).select_from(Team)) == 30
    finally:
        await db.dispose()


# --- Bulk mutations killed half-way -------------------------------------------------------------


async def spawn(url: str, mode: str, stall: bool) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.security.fault_script",
        url,
        mode,
        "1" if stall else "0",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


async def line(process: asyncio.subprocess.Process, prefix: str) -> str:
    assert process.stdout is not None
    while True:
        raw = await asyncio.wait_for(process.stdout.readline(), 60)
        if not raw:
            _, err = await process.communicate()
            raise AssertionError(f"the script ended before {prefix}: {err.decode()[-2000:]}")
        if raw.decode().startswith(prefix):
            return raw.decode().strip()


async def held_by(db: Database, mode: str, org_id: int) -> int:
    table = Record if mode == "upsert" else Sequence
    async with db.session() as session:
        return int(
            await session.scalar(
                select(func.count()).select_from(table).where(table.organization_id == org_id)
            )
            or 0
        )


@pytest.mark.parametrize("mode", ["upsert", "import"])
async def test_bulk_mutation_killed_half_way_leaves_nothing(db: Database, mode: str) -> None:
    """upsertRecords and importSequences are all or nothing per call: a process killed
    (SIGKILL) after the rows are written but before the commit leaves none of them."""
    url = db.settings.database_url
    victim = await spawn(url, mode, stall=True)
    org_id = int((await line(victim, "ORG ")).split()[1])
    await line(victim, "HALFWAY")
    victim.send_signal(signal.SIGKILL)
    await victim.wait()
    assert await held_by(db, mode, org_id) == 0
    # The same call left to finish commits everything.
    control = await spawn(url, mode, stall=False)
    control_org = int((await line(control, "ORG ")).split()[1])
    await line(control, "DONE")
    assert await control.wait() == 0
    assert await held_by(db, mode, control_org) == (500 if mode == "upsert" else 1)
