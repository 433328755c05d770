"""Behind PgBouncer in transaction-pooling mode (docs/scaling.md, "Behind PgBouncer"): the
GraphQL API and an engine worker go through the pooler, while LISTEN and the delivery
claims go to the direct URL.

Runs where SEKVENS_TEST_PGBOUNCER_URL names a PgBouncer (`.ci/start-pgbouncer`) in front of
the server of SEKVENS_TEST_POSTGRES_URL, with a `*` entry so the test's own database is
reached through it too; under CI it fails instead of skipping when that is not set."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.engine.delivery import CLAIM_NAMESPACE
from sekvens.engine.processes import run_worker
from sekvens.storage import migrate
from sekvens.storage.db import Database
from tests.api.sequences_helpers import simple_active
from tests.conftest import (
    POSTGRES_URL,
    REQUIRE_POSTGRES,
    Api,
    create_postgres_database,
    drop_postgres_database,
    new_org,
)
from tests.engine.conftest import Inbox
from tests.engine.helpers import connect_leads, email_then_task, outbox

PGBOUNCER_URL = os.environ.get("SEKVENS_TEST_PGBOUNCER_URL")
#: As the suite requires PostgreSQL (tests/conftest.py): in CI, PgBouncer too.
REQUIRED = REQUIRE_POSTGRES
GRID = "{ sequences(first: 50) { totalCount nodes { id name status stepCount activeConnections ownerUser { name } tags { name } } } }"
#: Delivery claims (advisory locks) held on this database by any session.
CLAIMS_HELD = text(
    f"SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = {CLAIM_NAMESPACE}"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
)
TYPENAME = {"query": "{ __typename }"}
VIEWER = {"query": "{ viewer { user { email } } }"}


@pytest.fixture(scope="module")
async def pooled_settings() -> AsyncIterator[Settings]:
    """A fresh migrated database: SEKVENS_DATABASE_URL through PgBouncer, the direct URL
    beside it."""
    if not (PGBOUNCER_URL and POSTGRES_URL):
        if REQUIRED:
            pytest.fail(
                "CI runs the PgBouncer tests: set SEKVENS_TEST_PGBOUNCER_URL and "
                "SEKVENS_TEST_POSTGRES_URL (.ci/run starts PgBouncer)"
            )
        pytest.skip("SEKVENS_TEST_PGBOUNCER_URL is not set")
    direct = await create_postgres_database(POSTGRES_URL)
    name = make_url(direct).database
    pooled = make_url(PGBOUNCER_URL).set(database=name).render_as_string(hide_password=False)
    migrated = Database(Settings(database_url=direct))
    await migrate.upgrade(migrated.engine)
    await migrated.dispose()
    yield Settings(database_url=pooled, db_pooler="transaction", direct_database_url=direct)
    await drop_postgres_database(POSTGRES_URL, direct)


@pytest.fixture(scope="module")
async def pooled_db(pooled_settings: Settings) -> AsyncIterator[Database]:
    db = Database(pooled_settings)
    yield db
    await db.dispose()


@pytest.fixture(scope="module")
async def pooled_http(pooled_db: Database) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(pooled_db.settings, pooled_db)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        yield client


@pytest.fixture
async def pooled_api(pooled_http: httpx.AsyncClient, pooled_db: Database) -> Api:
    return await new_org(pooled_http, pooled_db)


def no_prepared_statement_errors(caplog: pytest.LogCaptureFixture) -> None:
    """No `prepared statement "..." already exists / does not exist` anywhere in the logs
    (the API masks an unexpected error in its response but logs it)."""
    assert not [r for r in caplog.records if "prepared statement" in r.getMessage()]


def test_a_transaction_pooler_needs_a_direct_url() -> None:
    pooled = {"SEKVENS_DATABASE_URL": "postgresql://u@pooler:6432/db"}
    with pytest.raises(ValueError, match="SEKVENS_DIRECT_DATABASE_URL"):
        Settings.from_env({**pooled, "SEKVENS_DB_POOLER": "transaction"})
    with pytest.raises(ValueError, match="SEKVENS_DB_POOLER"):
        Settings.from_env({**pooled, "SEKVENS_DB_POOLER": "statement"})
    settings = Settings.from_env(
        {
            **pooled,
            "SEKVENS_DB_POOLER": "transaction",
            "SEKVENS_DIRECT_DATABASE_URL": "postgresql://u@db:5432/db",
        }
    )
    db = Database(settings)  # no connection is opened yet
    assert db.engine.url.port == 6432 and db.session_engine.url.port == 5432
    assert Database(Settings(database_url="postgresql://u@db/db")).session_engine.url.port is None


async def test_server_connections_are_shared(pooled_db: Database) -> None:
    """The pooler is real: more clients at once than the server connections serving them
    (directly, each would have a server process of its own)."""
    clients = 30
    async with held_connections(pooled_db, clients) as conns:
        pids = set()
        for conn in conns:  # one transaction each, one after the other
            pids.add(await conn.scalar(text("SELECT pg_backend_pid()")))
            await conn.commit()
    assert len(pids) < clients


@asynccontextmanager
async def held_connections(db: Database, n: int) -> AsyncIterator[list[AsyncConnection]]:
    """`n` connections of `db`'s pool held at once, each connected and idle."""
    conns = [await db.engine.connect() for _ in range(n)]
    try:
        for conn in conns:
            await conn.execute(text("SELECT 1"))
            await conn.commit()
        yield conns
    finally:
        for conn in conns:
            await conn.close()


async def test_the_api_through_pgbouncer(pooled_api: Api, caplog: pytest.LogCaptureFixture) -> None:
    """Designing, activating and connecting through the pooler; then 50 grid reads at once,
    more than its server connections, all answered."""
    caplog.set_level(logging.WARNING)
    seqs = [await simple_active(pooled_api, f"Pooled {i}") for i in range(3)]
    await connect_leads(pooled_api, seqs[0], n=3)
    bodies = await asyncio.gather(*(pooled_api.gql(GRID) for _ in range(50)))
    assert [b.get("errors") for b in bodies] == [None] * 50
    for body in bodies:
        grid = body["data"]["sequences"]
        assert grid["totalCount"] == 3
        assert {n["name"]: n["activeConnections"] for n in grid["nodes"]} == {
            "Pooled 0": 3,
            "Pooled 1": 0,
            "Pooled 2": 0,
        }
    no_prepared_statement_errors(caplog)


async def test_a_worker_through_pgbouncer_delivers_mail(
    pooled_api: Api,
    pooled_settings: Settings,
    smtp_server: Inbox,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A worker process's engine (`sekvens worker --once`) runs the connections through the
    pooler and delivers their email, its claims held on the direct URL."""
    caplog.set_level(logging.WARNING)
    smtp_server.reply = None
    seq = await email_then_task(pooled_api)
    addresses = await connect_leads(pooled_api, seq, n=5)
    worker = dataclasses.replace(
        pooled_settings,
        smtp_url=f"smtp://127.0.0.1:{smtp_server.port}?starttls=off",
        mailbox_send_interval_seconds=0,  # the five go in one round
    )
    assert await run_worker(worker, once=True) >= 10  # 5 connections, 5 messages
    assert all(len(smtp_server.to(a)) == 1 for a in addresses)
    sent = await outbox(pooled_api)
    assert {sent[a]["status"] for a in addresses} == {"SENT"}
    async with pooled_api.db.session() as session:  # the claims went with the round
        assert await session.scalar(CLAIMS_HELD) == 0
    no_prepared_statement_errors(caplog)


async def test_a_revocation_reaches_another_process(pooled_api: Api, pooled_db: Database) -> None:
    """A second app (its own pools) hears of a revocation made through the pooler, on the
    LISTEN it holds on the direct URL, and drops the token from its cache."""
    other_db = Database(pooled_db.settings)
    other = create_app(other_db.settings, other_db)
    services = other.state.services
    await services.engine.bus.start()
    try:
        assert services.auth_cache.enabled  # it caches only while it listens
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://other.test"
        ) as client:
            created = await pooled_api.mutate(
                "createApiToken", {"name": "x"}, "token { id } secret"
            )
            headers = {"Authorization": f"Bearer {created['secret']}"}
            for _ in range(2):
                response = await client.post("/graphql", json=TYPENAME, headers=headers)
                assert response.status_code == 200
            assert len(services.auth_cache) == 1
            payload = await pooled_api.mutate(
                "revokeApiToken", {"tokenId": created["token"]["id"]}, "errors { code }"
            )
            assert payload["errors"] == []
            for _ in range(100):  # the notification arrives asynchronously
                if len(services.auth_cache) == 0:
                    break
                await asyncio.sleep(0.05)
            assert len(services.auth_cache) == 0
            response = await client.post("/graphql", json=VIEWER, headers=headers)
            assert response.status_code == 401
    finally:
        await services.engine.bus.stop()
        await other_db.dispose()
