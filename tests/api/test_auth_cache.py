"""The cache of verified tokens: no statement on a warm cache, and a change (revoke,
deactivation, new roles, expiry) takes effect at once, also in another process (PostgreSQL:
the change is notified on `tokens.AUTH_CHANNEL`; a second app instance with its own pool
and listener stands in for that process)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
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
    # one statement: the user (the organization is read only when asked for)
    assert [s.split()[0] for s in viewer if s != "BEGIN"] == ["SELECT"]
    assert "FROM users" in viewer[-1]


async def test_revoke_takes_effect_at_once(api: Api, cached: Any) -> None:
    created = await api.mutate("createApiToken", {"name": "ci"}, "token { id } secret")
    secret = created["secret"]
    for _ in range(2):  # the second one from the cache
        assert (await api.post(VIEWER, token=secret)).status_code == 200
    revoked = await api.mutate(
        "revokeApiToken", {"tokenId": created["token"]["id"]}, "errors {code}"
    )
    assert revoked["errors"] == []
    assert (await api.post(VIEWER, token=secret)).status_code == 401
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


async def test_revoke_reaches_another_process(api: Api, db: Database, cached: Any) -> None:
    """PostgreSQL: a second app (its own pool, its own listener) drops the token when the
    first app revokes it, through the notification."""
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
            created = await api.mutate("createApiToken", {"name": "x"}, "token { id } secret")
            headers = {"Authorization": f"Bearer {created['secret']}"}
            for _ in range(2):
                assert (
                    await client.post("/graphql", json={"query": TYPENAME}, headers=headers)
                ).status_code == 200
            assert len(services.auth_cache) == 1
            with statements(other_db) as seen:
                await client.post("/graphql", json={"query": TYPENAME}, headers=headers)
            assert seen == []  # served from the second app's cache
            await api.mutate("revokeApiToken", {"tokenId": created["token"]["id"]}, "errors {code}")
            for _ in range(100):  # the notification arrives asynchronously
                if len(services.auth_cache) == 0:
                    break
                await asyncio.sleep(0.05)
            assert len(services.auth_cache) == 0
            response = await client.post("/graphql", json={"query": TYPENAME}, headers=headers)
            assert response.status_code == 401
    finally:
        await services.engine.bus.stop()
        await other_db.dispose()


async def _global_user_id(api: Api, user_id: int) -> str:
    from sekvens.schema.relay import to_global_id

    return to_global_id("User", user_id)
