"""Housekeeping: idle workers delete ended webhook messages and ended jobs (with their items)
past their retention, never a PENDING message or a running job (sekvens.engine.housekeeping,
docs/workers.md)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from sekvens.engine import housekeeping
from sekvens.engine.housekeeping import Housekeeper
from sekvens.storage.db import Database
from sekvens.storage.tables import JobItem
from tests.api.sequences_helpers import simple_active
from tests.conftest import Api, MovableClock
from tests.engine.test_webhooks import (  # noqa: F401
    Receiver,
    create_endpoint,
    deactivate,
    hook_api,
    hook_app,
    hook_engine,
    hook_http,
    messages,
    receiver,
    receiver_clock,
    receiver_server,
)

JOB = "query($id: ID!) { job(id: $id) { status finishedAt } }"


class At:
    """A clock standing still at `moment`."""

    def __init__(self, moment: datetime):
        self.moment = moment

    def now(self) -> datetime:
        return self.moment


async def sync_job(api: Api, engine: Any, prefix: str) -> dict[str, Any]:
    records = [{"recordType": "lead", "externalId": f"{prefix}{i}"} for i in range(3)]
    payload = await api.mutate("upsertRecords", {"records": records, "asJob": True}, "job { id }")
    await engine.run_until_idle()
    job: dict[str, Any] = (await api.ok(JOB, payload["job"]))["job"]
    assert job["status"] == "SUCCEEDED"
    return {**payload["job"], **job}


async def items_of(db: Database) -> int:
    async with db.session() as session:
        return await session.scalar(select(func.count()).select_from(JobItem)) or 0


async def test_ended_messages_and_jobs_go_after_their_retention(
    hook_api: Api,  # noqa: F811
    hook_engine: Any,  # noqa: F811
    receiver: Receiver,  # noqa: F811
    clock: MovableClock,
    db: Database,
) -> None:
    endpoint, _ = await create_endpoint(
        hook_api, receiver.url, eventTypes=["SEQUENCE_ACTIVATED", "SEQUENCE_DEACTIVATED"]
    )
    seq = await simple_active(hook_api)
    await hook_engine.run_until_idle()  # delivered
    old_job = await sync_job(hook_api, hook_engine, "Old")
    clock.advance(timedelta(days=2))
    new_job = await sync_job(hook_api, hook_engine, "New")
    await deactivate(hook_api, seq)  # PENDING: no worker round delivers it
    ended = datetime.fromisoformat(old_job["finishedAt"])

    # Just under 30 days after the old job ended, it stays.
    soon = At(ended + timedelta(days=30, seconds=-1))
    await Housekeeper(hook_engine.db, soon, 30, 30).run_due()
    assert (await hook_api.ok(JOB, {"id": old_job["id"]}))["job"]["status"] == "SUCCEEDED"
    items_before = await items_of(db)

    # A day later the old job and the delivered message (of an event before it) have gone.
    later = At(ended + timedelta(days=31))
    assert await Housekeeper(hook_engine.db, later, 30, 30).run_due() >= 1
    log = await messages(hook_api, endpoint)
    assert [m["status"] for m in log] == ["PENDING"]
    gone = await hook_api.gql(JOB, {"id": old_job["id"]})
    assert gone["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert (await hook_api.ok(JOB, {"id": new_job["id"]}))["job"]["status"] == "SUCCEEDED"
    assert await items_of(db) <= items_before - 3  # the old job's items went with it

    # 0 keeps them for ever.
    far = At(ended + timedelta(days=400))
    assert await Housekeeper(hook_engine.db, far, 0, 0).run_due() == 0
    assert (await hook_api.ok(JOB, {"id": new_job["id"]}))["job"]["status"] == "SUCCEEDED"
    assert [m["status"] for m in await messages(hook_api, endpoint)] == ["PENDING"]


async def test_a_large_job_goes_a_batch_of_items_at_a_time(
    hook_api: Api,  # noqa: F811
    hook_engine: Any,  # noqa: F811
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr(housekeeping, "ITEM_BATCH", 2)
    job = await sync_job(hook_api, hook_engine, "Large")  # 3 items
    at = At(datetime.fromisoformat(job["finishedAt"]) + timedelta(days=31))
    for _ in range(10):  # other tests' old jobs may come first
        await Housekeeper(hook_engine.db, at, 30, 30).run_due()
        body = await hook_api.gql(JOB, {"id": job["id"]})
        if body.get("errors"):
            break
        # Still there: its items go first, two at a time, and it only when none is left.
        assert body["data"]["job"]["status"] == "SUCCEEDED"
    assert body["errors"][0]["extensions"]["code"] == "NOT_FOUND"
