"""Record sync (issue 16 item 5): `upsertRecords` over 1000 records, or with asJob, is a job
with a result per record; `deactivateMissing` makes a full sync of one record type that
deactivates the type's records it does not hold (docs/jobs.md)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import func, select

from sekvens.domain.global_ids import to_global_id
from sekvens.engine import record_sync
from sekvens.storage.db import Database
from sekvens.storage.tables import Record, RecordType
from tests.api.test_engine import connect, connections, leads, seller
from tests.api.test_exit_criteria import exiting_sequence
from tests.conftest import Api
from tests.engine.test_jobs import JOB, job_of, task_sequence

JOB_ERRORS = "errors { item code }"
SYNC = f"createdCount updatedCount deactivatedCount errors {{ code field }} job {{ {JOB} result }}"
ITEMS = """query($id: ID!, $failed: Boolean!) { job(id: $id) { result items(first: 100,
  failedOnly: $failed) { totalCount nodes { index done created record { externalId stage }
  errors { code field index } } } } }"""


class Killed(BaseException):
    """A worker dying, not an error the job would catch."""


def lead(i: int, **extra: Any) -> dict[str, Any]:
    return {"recordType": "lead", "externalId": f"S{i}", "name": f"Lead {i}", **extra}


async def sync(api: Api, records: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return await api.mutate("upsertRecords", {"records": records, **extra}, SYNC)


async def items(api: Api, job: dict[str, Any], failed: bool = False) -> dict[str, Any]:
    return (await api.ok(ITEMS, {"id": job["id"], "failed": failed}))["job"]


async def record_count(db: Database, org_external_prefix: str) -> int:
    async with db.session() as session:
        return (
            await session.scalar(
                select(func.count()).where(Record.external_id.like(f"{org_external_prefix}%"))
            )
            or 0
        )


async def test_a_sync_job_upserts_in_chunks_with_a_result_per_record(
    api: Api, small_jobs: Any
) -> None:
    await sync(api, [lead(0, stage="Qualify")])
    records = [lead(i, stage="Qualify") for i in range(9)]
    records[4] = lead(4, fields={"nope": 1})  # fails: no such field
    records[6] = lead(6, ownerUserId="not-a-user-id")  # fails when read: no such user
    payload = await sync(api, records, asJob=True)
    job = payload["job"]
    assert payload["errors"] == []
    assert (job["kind"], job["status"], job["total"], job["done"]) == (
        "UPSERT_RECORDS",
        "QUEUED",
        9,
        0,
    )
    assert (payload["createdCount"], payload["updatedCount"]) == (0, 0)
    before = await items(api, job)
    assert [n["done"] for n in before["items"]["nodes"]] == [False] * 9

    assert await small_jobs.jobs.run_due() == 1  # 4 items
    running = await job_of(api, job)
    assert (running["status"], running["done"], running["errorCount"]) == ("RUNNING", 4, 0)
    await small_jobs.run_until_idle()
    done = await job_of(api, job)
    shown = await api.ok(f"query($id: ID!) {{ job(id: $id) {{ {JOB_ERRORS} }} }}", job)
    assert (done["status"], done["done"], done["errorCount"], done["total"]) == (
        "SUCCEEDED",
        7,
        2,
        9,
    )
    assert {(e["item"], e["code"]) for e in shown["job"]["errors"]} == {
        ("4", "UNKNOWN_FIELD"),
        ("6", "NOT_FOUND"),
    }
    seen = await items(api, job)
    assert seen["result"] == {"created": 6, "updated": 1, "deactivated": 0}
    nodes = seen["items"]["nodes"]
    assert [n["index"] for n in nodes] == list(range(9))
    assert all(n["done"] for n in nodes)
    assert [n["created"] for n in nodes] == [
        False,
        True,
        True,
        True,
        False,
        True,
        False,
        True,
        True,
    ]
    assert nodes[0]["record"] == {"externalId": "S0", "stage": "Qualify"}
    assert nodes[4]["record"] is None
    assert nodes[4]["errors"] == [
        {"code": "UNKNOWN_FIELD", "field": ["fields", "nope"], "index": 4}
    ]
    failed = await items(api, job, failed=True)
    assert [n["index"] for n in failed["items"]["nodes"]] == [4, 6]
    assert failed["items"]["nodes"][1]["errors"][0]["field"] == ["ownerUserId"]


async def test_over_a_thousand_records_is_a_job_and_reject_everything_is_refused(
    api: Api, db: Database, small_jobs: Any
) -> None:
    records = [{"recordType": "lead", "externalId": f"Big{i}"} for i in range(1001)]
    refused = await sync(api, records, errorPolicy="REJECT_EVERYTHING")
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("INVALID_VALUE", ["errorPolicy"])
    ]
    assert refused["job"] is None
    job = (await sync(api, records))["job"]
    assert (job["status"], job["total"]) == ("QUEUED", 1001)
    assert await record_count(db, "Big") == 0
    small_jobs.jobs.chunk = 1000
    await small_jobs.run_until_idle()
    assert (await job_of(api, job))["done"] == 1001
    assert await record_count(db, "Big") == 1001


async def test_a_full_sync_in_the_request_deactivates_what_it_does_not_hold(
    api: Api, engine: Any
) -> None:
    owner_id, _ = await seller(api, "sync1@example.com")
    seq = await task_sequence(api, "Full sync")
    ids = await leads(api, owner_id, 4, prefix="F")
    await connect(api, seq, ids)
    await api.mutate(
        "upsertRecords",
        {"records": [{"recordType": "contact", "externalId": "C1", "name": "Kept"}]},
        "createdCount",
    )
    # Of one record type only.
    mixed = await sync(
        api,
        [lead(1), {"recordType": "contact", "externalId": "C1"}],
        deactivateMissing=True,
    )
    assert [(e["code"], e["field"]) for e in mixed["errors"]] == [
        ("INVALID_VALUE", ["deactivateMissing"])
    ]
    kept = [{"recordType": "lead", "externalId": e} for e in ("F0", "F2")]
    payload = await sync(api, kept, deactivateMissing=True)
    assert (payload["updatedCount"], payload["deactivatedCount"]) == (2, 2)
    conns = await connections(api, seq)
    assert {k: (c["status"], c["reason"]) for k, c in conns.items()} == {
        "F0": ("CONNECTED", None),
        "F1": ("DISCONNECTED", "RECORD_DEACTIVATED"),
        "F2": ("CONNECTED", None),
        "F3": ("DISCONNECTED", "RECORD_DEACTIVATED"),
    }
    active = await api.ok(
        "{ records(first: 50) { nodes { externalId isActive recordType { name } } } }"
    )
    states = {n["externalId"]: n["isActive"] for n in active["records"]["nodes"]}
    assert states == {"F0": True, "F1": False, "F2": True, "F3": False, "C1": True}
    # A batch that keeps nothing deactivates nothing.
    none = await sync(api, [lead(9, fields={"nope": 1})], deactivateMissing=True)
    assert none["deactivatedCount"] == 0


async def test_a_full_sync_job_deactivates_in_chunks_and_spares_newer_records(
    api: Api, small_jobs: Any
) -> None:
    owner_id, _ = await seller(api, "sync2@example.com")
    seq = await task_sequence(api, "Full sync job")
    ids = await leads(api, owner_id, 10, prefix="J")
    await connect(api, seq, ids[:3])
    held = [{"recordType": "lead", "externalId": f"J{i}"} for i in (0, 5)]
    job = (await sync(api, held, asJob=True, deactivateMissing=True))["job"]
    await leads(api, owner_id, 1, prefix="Newer")  # made after the job: not missing from it
    await small_jobs.run_until_idle()
    done = await items(api, job)
    assert done["result"] == {"created": 0, "updated": 2, "deactivated": 8}
    states = await api.ok("{ records(first: 50) { nodes { externalId isActive } } }")
    active = {n["externalId"] for n in states["records"]["nodes"] if n["isActive"]}
    assert active == {"J0", "J5", "Newer0"}
    conns = await connections(api, seq)
    assert {k: c["reason"] for k, c in conns.items()} == {
        "J0": None,
        "J1": "RECORD_DEACTIVATED",
        "J2": "RECORD_DEACTIVATED",
    }


async def test_an_interrupted_sync_chunk_is_done_again_and_each_item_once(
    api: Api, small_jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = [lead(100 + i, stage="Qualify") for i in range(10)]
    job = (await sync(api, records, asJob=True))["job"]
    await small_jobs.jobs.run_due()
    real = record_sync._upsert

    async def dies(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)  # the chunk's items written, not committed yet
        raise Killed

    monkeypatch.setattr(record_sync, "_upsert", dies)
    with pytest.raises(Killed):
        await small_jobs.jobs.run_due()
    assert (await job_of(api, job))["done"] == 4
    monkeypatch.setattr(record_sync, "_upsert", real)
    await small_jobs.run_until_idle()
    done = await items(api, job)
    assert done["result"] == {"created": 10, "updated": 0, "deactivated": 0}
    assert [n["created"] for n in done["items"]["nodes"]] == [True] * 10


async def test_a_sync_job_ends_connections_by_the_exit_criteria(api: Api, small_jobs: Any) -> None:
    owner_id, _ = await seller(api, "sync3@example.com")
    seq = await exiting_sequence(api, "Exit by sync", {"stages": ["Close"]})
    ids = await leads(api, owner_id, 2, prefix="E")
    await connect(api, seq, ids)
    records = [{"recordType": "lead", "externalId": "E0", "stage": "Close"}]
    await sync(api, records, asJob=True)
    await small_jobs.run_until_idle()
    conns = await connections(api, seq)
    assert {k: (c["status"], c["reason"]) for k, c in conns.items()} == {
        "E0": ("DISCONNECTED", "STAGE_REACHED"),
        "E1": ("CONNECTED", None),
    }


async def test_an_unexpected_error_in_a_chunk_fails_the_job_and_keeps_the_chunks_done(
    api: Api, small_jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    job = (await sync(api, [lead(200 + i) for i in range(10)], asJob=True))["job"]
    await small_jobs.jobs.run_due()
    real = record_sync._upsert

    async def breaks(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)
        raise RuntimeError("a bug")

    monkeypatch.setattr(record_sync, "_upsert", breaks)
    await small_jobs.jobs.run_due()
    failed = await job_of(api, job)
    assert (failed["status"], failed["done"]) == ("FAILED", 4)
    assert failed["error"] == "Internal error; see the server log."
    done = await items(api, job)
    assert [n["done"] for n in done["items"]["nodes"]] == [True] * 4 + [False] * 6


async def test_a_full_sync_job_keeps_a_record_whose_item_failed(api: Api, small_jobs: Any) -> None:
    """A record named by an item that could not be read is not missing from the sync: the job
    keeps it, as the request does."""
    await sync(api, [lead(300 + i) for i in range(3)])
    records = [lead(300), lead(301, ownerUserId="not-a-user-id"), lead(302)]
    job = (await sync(api, records, deactivateMissing=True, asJob=True))["job"]
    await small_jobs.run_until_idle()
    done = await items(api, job)
    assert done["result"]["deactivated"] == 0
    states = await api.ok("{ records(first: 50) { nodes { externalId isActive } } }")
    assert {n["externalId"]: n["isActive"] for n in states["records"]["nodes"]} == {
        "S300": True,
        "S301": True,
        "S302": True,
    }


async def test_a_sync_job_whose_creator_lost_the_role_fails(api: Api, small_jobs: Any) -> None:
    await sync(api, [lead(400 + i) for i in range(6)])
    user_id, token = await api.user(["SALES_MANAGER"])
    manager = api.as_token(token)
    job = (await sync(manager, [lead(400), lead(401)], deactivateMissing=True, asJob=True))["job"]
    demoted = await api.mutate(
        "setUserRoles",
        {"userId": to_global_id("User", user_id), "roles": ["SALESPERSON"]},
        "user { id }",
    )
    assert demoted["errors"] == []
    await small_jobs.run_until_idle()
    failed = await job_of(api, job)
    assert (failed["status"], failed["done"]) == ("FAILED", 0)
    assert failed["error"].startswith("FORBIDDEN")
    states = await api.ok("{ records(first: 50) { nodes { isActive } } }")
    assert all(n["isActive"] for n in states["records"]["nodes"])


async def test_a_chunk_meeting_a_concurrent_insert_runs_again(
    api: Api, db: Database, small_jobs: Any
) -> None:
    """PostgreSQL: another transaction inserts a record of the chunk first; the chunk's
    insert meets the unique index, and the chunk runs again (updating it) instead of failing
    the job."""
    if db.is_sqlite:
        pytest.skip("SQLite has one writer: no insert can come between")
    job = (await sync(api, [lead(900 + i) for i in range(6)], asJob=True))["job"]
    async with db.session(write=True) as other:
        await other.begin()
        lead_type = await other.scalar(
            select(RecordType).where(
                RecordType.organization_id == api.org_id, RecordType.name == "lead"
            )
        )
        assert lead_type is not None
        other.add(
            Record(
                organization_id=api.org_id,
                record_type_id=lead_type.id,
                external_id="S901",
                name="First",
                is_active=True,
                fields={},
            )
        )
        await other.flush()
        chunk = asyncio.create_task(small_jobs.jobs.run_due())
        await asyncio.sleep(0.5)  # the chunk waits on S901's uncommitted insert
        await other.commit()
    await chunk
    await small_jobs.run_until_idle()
    done = await job_of(api, job)
    assert (done["status"], done["done"], done["errorCount"]) == ("SUCCEEDED", 6, 0)
    assert (await items(api, job))["result"] == {"created": 5, "updated": 1, "deactivated": 0}
