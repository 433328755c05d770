"""Helpers for the live-update, statistics and worker-command tests."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from sekvens.app import create_app
from sekvens.config import Settings
from sekvens.storage import migrate
from sekvens.storage.db import Database
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api, new_org


@contextlib.asynccontextmanager
async def fresh_api(database_url: str) -> AsyncIterator[Api]:
    """An administrator's Api on a migrated database of its own (an existing, empty one)."""
    db = Database(Settings(database_url=database_url))
    try:
        await migrate.upgrade(db.engine)
        app = create_app(db.settings, db)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sekvens.test") as http:
            yield await new_org(http, db)
    finally:
        await db.dispose()


async def task_sequence(api: Api, name: str = "Live") -> dict[str, Any]:
    """START -> task -> task, activated (assigned to the record owner)."""
    seq = await create(api, name)
    first = (await add(api, seq, start_id(seq), "core.task", {"subject": "First task"}))["step"]
    await add(api, seq, first["id"], "core.task", {"subject": "Second task"})
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert payload["errors"] == [], payload["errors"]
    return seq
