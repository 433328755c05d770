"""Fixtures: every API test runs on SQLite and, where SEKVENS_TEST_POSTGRES_URL is set, PostgreSQL.

Each backend gets a fresh, migrated database per test session; each test gets its own
organization (tenancy isolates tests from one another).
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage import migrate, organizations, tokens, users
from sekvens.storage.db import Database, create_engine

POSTGRES_URL = os.environ.get("SEKVENS_TEST_POSTGRES_URL")
REQUIRE_POSTGRES = (
    os.environ.get("SEKVENS_REQUIRE_POSTGRES") == "1" or os.environ.get("CI") == "true"
)
_names = itertools.count()


def pytest_configure(config: pytest.Config) -> None:
    if REQUIRE_POSTGRES and not POSTGRES_URL:
        raise pytest.UsageError("CI requires PostgreSQL: set SEKVENS_TEST_POSTGRES_URL")


async def create_postgres_database(base_url: str) -> str:
    """A new empty database on the server of `base_url`; returns its URL."""
    name = f"sekvens_test_{uuid.uuid4().hex[:10]}"
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'CREATE DATABASE "{name}"'))
    await admin.dispose()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False)


async def drop_postgres_database(base_url: str, url: str) -> None:
    name = make_url(url).database
    admin = create_engine(base_url, isolation_level="AUTOCOMMIT")
    async with admin.connect() as conn:
        await conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    await admin.dispose()


@pytest.fixture(scope="session", params=["sqlite", "postgres"])
async def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'sekvens.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("SEKVENS_TEST_POSTGRES_URL is not set")
    url = await create_postgres_database(POSTGRES_URL)
    yield url
    await drop_postgres_database(POSTGRES_URL, url)


@pytest.fixture(scope="session")
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(Settings(database_url=database_url))
    await migrate.upgrade(database.engine)
    yield database
    await database.dispose()


class MovableClock:
    """Real time plus an offset that tests move forward instead of sleeping."""

    def __init__(self) -> None:
        self.offset = timedelta(0)

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, delta: timedelta) -> None:
        self.offset += delta


@pytest.fixture(scope="session")
def clock() -> MovableClock:
    return MovableClock()


@pytest.fixture(scope="session")
async def app(db: Database, clock: MovableClock) -> Any:
    return create_app(db.settings, db, clock=clock)


@pytest.fixture(scope="session")
async def http(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="http://sekvens.test"
    ) as client:
        yield client


class GraphQLFailed(AssertionError):
    pass


@dataclass
class Api:
    """Calls /graphql as one user; `org` is their organization's name."""

    http: httpx.AsyncClient
    db: Database
    org: str
    org_id: int
    token: str | None

    async def post(
        self, query: str, variables: dict[str, Any] | None = None, token: str | None = ...
    ) -> httpx.Response:  # type: ignore[assignment]
        token = self.token if token is ... else token
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )

    async def gql(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        response = await self.post(query, variables, **kw)
        return response.json()

    async def ok(
        self, query: str, variables: dict[str, Any] | None = None, **kw: Any
    ) -> dict[str, Any]:
        """The data of a response that must have no GraphQL errors."""
        body = await self.gql(query, variables, **kw)
        if body.get("errors"):
            raise GraphQLFailed(body["errors"])
        return body["data"]

    async def mutate(
        self, name: str, input: dict[str, Any], selection: str, **kw: Any
    ) -> dict[str, Any]:
        """Run mutation `name` with `input`; returns its payload (errors always selected)."""
        input_type = name[0].upper() + name[1:] + "Input"
        query = (
            f"mutation($input: {input_type}!) {{ {name}(input: $input) "
            f"{{ errors {{ code message field stepId index }} {selection} }} }}"
        )
        return (await self.ok(query, {"input": input}, **kw))[name]

    async def user(self, roles: list[str], email: str | None = None) -> tuple[int, str]:
        """A new user of this organization with `roles`: (user id, token)."""
        async with self.db.session(write=True) as session, session.begin():
            org = await organizations.get(session, self.org_id)
            assert org is not None
            user = await users.create_user(
                session, org, email or f"u{next(_names)}@example.com", "Test User", roles
            )
            _, secret = await tokens.create_token(session, user)
            return user.id, secret

    def as_token(self, token: str) -> Api:
        return Api(self.http, self.db, self.org, self.org_id, token)


async def new_org(http: httpx.AsyncClient, db: Database) -> Api:
    """A fresh organization with an administrator, as an Api acting as that administrator."""
    name = f"Org {uuid.uuid4().hex[:8]}"
    async with db.session(write=True) as session, session.begin():
        org = await organizations.create_organization(session, name)
        admin = await users.create_user(
            session, org, f"admin@{name.split()[1]}.example", "Admin", ["SYSTEM_ADMINISTRATOR"]
        )
        _, secret = await tokens.create_token(session, admin)
        org_id = org.id
    return Api(http, db, name, org_id, secret)


@pytest.fixture
async def api(http: httpx.AsyncClient, db: Database) -> Api:
    return await new_org(http, db)


@pytest.fixture
async def other_api(http: httpx.AsyncClient, db: Database) -> Api:
    """An administrator of a second organization."""
    return await new_org(http, db)


@pytest.fixture
def engine(app: Any) -> Any:
    """The app's engine; `await engine.run_until_idle()` runs everything due now."""
    return app.state.services.engine
