"""The cache of verified tokens: no statement on a warm cache (`viewer { user }` included),
and a change (revoke, deactivation, new roles, a new profile, expiry) takes effect at once,
also in another process (PostgreSQL: the change is notified on `tokens.AUTH_CHANNEL`; a
second app instance with its own pool and listener stands in for that process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select

from sekvens.app import create_app
from sekvens.storage import tokens
from sekvens.storage.db import Database
from sekvens.storage.tables import ApiToken, User
from tests.conftest import Api

VIEWER = "{ viewer { user { email } } }"
TYPENAME = "{ __typename }"
ADMIN_ONLY = "{ auditLog(first: 1) { nodes { action } } }"


@contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", record)


@pytest.fixture
async def cached(app: Any) -> AsyncIterator[tokens.AuthCache[Any]]:
    """The app's cache, serving: on PostgreSQL only while the app listens for changes."""
    bus = app.state.services.engine.bus
    await bus.start()
    try:
        yield app.state.services.auth_cache
    finally:
        await bus.stop()


async def test_warm_cache_makes_no_statement(api: Api, cached: Any) -> None:
    assert cached.enabled
    with statements(api.db) as cold:
        assert (await api.post(TYPENAME)).status_code == 200
    assert any("api_tokens" in s for s in cold)
    with statements(api.db) as warm:
        response = await api.post(TYPENAME)
    assert response.status_code == 200 and response.json()["data"] == {"__typename": "Query"}
    assert warm == []  # authentication made no statement, took no pooled connection
    with statements(api.db) as viewer:
        assert (await api.ok(VIEWER))["viewer"]["user"]["email"].startswith("admin@")
    # none: the user comes with the cached token, no session is opened (not even BEGIN)
    assert viewer == []
    with statements(api.db) as organization:
        assert (await api.ok("{ viewer { organization { name } } }"))["viewer"]["organization"]
    assert [s.split()[0] for s in organization if s != "BEGIN"] == ["SELECT"]
    assert "FROM organizations" in organization[-1]


async def test_without_the_cache_the_user_is_read_once(
    api: Api, app: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the cache off every request verifies its token: the viewer's user is the row read
    with the token, not read again."""
    cache = app.state.services.auth_cache
    monkeypatch.setattr(cache, "ttl", 0)
    assert not cache.enabled
    for _ in range(2):
        with statements(api.db) as seen:
            assert (await api.ok(VIEWER))["viewer"]["user"]["email"].startswith("admin@")
        reads = [s for s in seen if s.startswith("SELECT")]
        assert len([s for s in reads if "FROM api_tokens JOIN users" in s]) == 1
        assert [s for s in reads if "FROM users" in s] == []


async def test_revoke_takes_effect_at_once(api: Api, cached: Any) -> None:
    created = await api.mutate("createApiToken", {"name": "ci"}, "token { id } secret")
    secret = created["secret"]
    for _ in range(2):  # the second one from the cache
        with statements(api.db) as seen:
            assert (await api.post(VIEWER, token=secret)).status_code == 200
    assert seen == []
    revoked = await api.mutate(
        "revokeApiToken", {"tokenId": created["token"]["id"]}, "errors {code}"
    )
    assert revoked["errors"] == []
    response = await api.post(VIEWER, token=secret)
    assert response.status_code == 401
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert (await api.post(VIEWER)).status_code == 200  # the administrator's token still works


async def test_role_change_and_deactivation_take_effect_at_once(api: Api, cached: Any) -> None:
    user_id, secret = await api.user(["SALESPERSON"])
    gid = await _global_user_id(api, user_id)
    for _ in range(2):
        body = await api.gql(ADMIN_ONLY, token=secret)
        assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    payload = await api.mutate(
        "setUserRoles", {"userId": gid, "roles": ["SYSTEM_ADMINISTRATOR"]}, "errors { code }"
    )
    assert payload["errors"] == []
    assert "errors" not in await api.gql(ADMIN_ONLY, token=secret)
    payload = await api.mutate("updateUser", {"userId": gid, "isActive": False}, "errors { code }")
    assert payload["errors"] == []
    assert (await api.post(VIEWER, token=secret)).status_code == 401


async def test_profile_change_takes_effect_at_once(api: Api, cached: Any) -> None:
    """The cached entry holds the user's row: a changed profile drops it."""
    user_id, secret = await api.user(["SALESPERSON"])
    query = "{ viewer { user { name timeZone workingHours { weekday } } } }"
    for _ in range(2):
        before = (await api.ok(query, token=secret))["viewer"]["user"]
    hours = [{"weekday": 2, "start": "08:00", "end": "12:00"}]
    changed = {"name": "Renamed", "timeZone": "Asia/Tokyo", "workingHours": hours}
    payload = await api.mutate(
        "updateUser",
        {"userId": await _global_user_id(api, user_id), **changed},
        "errors { code }",
        token=secret,
    )
    assert payload["errors"] == []
    after = (await api.ok(query, token=secret))["viewer"]["user"]
    assert before != after
    assert after == {"name": "Renamed", "timeZone": "Asia/Tokyo", "workingHours": [{"weekday": 2}]}


async def test_expiry_is_respected_by_the_cache(
    api: Api, cached: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    async with api.db.session(write=True) as session, session.begin():
        user = await session.scalar(
            select(User).where(User.organization_id == api.org_id, User.email.like("admin@%"))
        )
        assert user is not None
        _, secret = await tokens.create_token(session, user, "soon", expires_at=soon)
    for _ in range(2):
        assert (await api.post(VIEWER, token=secret)).status_code == 200
    later = soon + timedelta(seconds=1)
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    with statements(api.db) as seen:
        assert (await api.post(VIEWER, token=secret)).status_code == 401
    assert any("api_tokens" in s for s in seen)  # not served from the cache


async def test_last_used_is_recorded_at_most_once_a_minute(api: Api, cached: Any) -> None:
    created = await api.mutate("createApiToken", {"name": "used"}, "token { id } secret")
    secret = created["secret"]

    async def last_used() -> datetime | None:
        async with api.db.session() as session:
            token = await session.scalar(
                select(ApiToken).where(ApiToken.token_hash == tokens.hash_token(secret))
            )
            assert token is not None
            return token.last_used_at

    assert await last_used() is None
    assert (await api.post(VIEWER, token=secret)).status_code == 200
    first = await last_used()
    assert first is not None
    with statements(api.db) as seen:
        assert (await api.post(TYPENAME, token=secret)).status_code == 200
    assert seen == []  # within the minute: no write
    entry = cached.get(tokens.hash_token(secret))
    entry.last_used_at = first - timedelta(minutes=2)  # as if a minute had gone by
    assert (await api.post(TYPENAME, token=secret)).status_code == 200
    second = await last_used()
    assert second is not None and second > first


@asynccontextmanager
async def second_app(db: Database) -> AsyncIterator[tuple[httpx.AsyncClient, Any, Database]]:
    """PostgreSQL: another process, as a second app with its own pool and listener."""
    if db.is_sqlite:
        pytest.skip("SQLite serves from one process; changes drop every cache in it directly")
    other_db = Database(db.settings)
    other = create_app(db.settings, other_db)
    services = other.state.services
    await services.engine.bus.start()
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://other.test"
        ) as client:
            yield client, services, other_db
    finally:
        await services.engine.bus.stop()
        await other_db.dispose()


async def until_dropped(cache: tokens.AuthCache[Any]) -> None:
    for _ in range(100):  # the notification arrives asynchronously
        if len(cache) == 0:
            return
        await asyncio.sleep(0.05)


async def test_revoke_reaches_another_process(api: Api, db: Database, cached: Any) -> None:
    """PostgreSQL: a second app (its own pool, its own listener) drops the token when the
    first app revokes it, through the notification."""
    async with second_app(db) as (client, services, other_db):
        created = await api.mutate("createApiToken", {"name": "x"}, "token { id } secret")
        headers = {"Authorization": f"Bearer {created['secret']}"}
        for _ in range(2):
            assert (
                await client.post("/graphql", json={"query": TYPENAME}, headers=headers)
            ).status_code == 200
        assert len(services.auth_cache) == 1
        with statements(other_db) as seen:
            await client.post("/graphql", json={"query": VIEWER}, headers=headers)
        assert seen == []  # served from the second app's cache, the user too
        await api.mutate("revokeApiToken", {"tokenId": created["token"]["id"]}, "errors {code}")
        await until_dropped(services.auth_cache)
        assert len(services.auth_cache) == 0
        response = await client.post("/graphql", json={"query": VIEWER}, headers=headers)
        assert response.status_code == 401


async def test_profile_change_reaches_another_process(api: Api, db: Database, cached: Any) -> None:
    """PostgreSQL: the second app's cached user is dropped when the first app changes them."""
    user_id, secret = await api.user(["SALESPERSON"])
    body = {"query": "{ viewer { user { name } } }"}
    headers = {"Authorization": f"Bearer {secret}"}
    async with second_app(db) as (client, services, _):
        for _ in range(2):
            response = await client.post("/graphql", json=body, headers=headers)
        assert response.json()["data"]["viewer"]["user"]["name"] == "Test User"
        assert len(services.auth_cache) == 1
        payload = await api.mutate(
            "updateUser",
            {"userId": await _global_user_id(api, user_id), "name": "Renamed"},
            "errors { code }",
        )
        assert payload["errors"] == []
        await until_dropped(services.auth_cache)
        response = await client.post("/graphql", json=body, headers=headers)
        assert response.json()["data"]["viewer"]["user"]["name"] == "Renamed"


async def _global_user_id(api: Api, user_id: int) -> str:
    from sekvens.schema.relay import to_global_id

    return to_global_id("User", user_id)
