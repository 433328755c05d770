"""Jobs (issue 16 item 4): connectSequenceByFilter over SEKVENS_JOB_THRESHOLD (or with asJob)
returns a job at once; the workers run it chunk by chunk with its progress, a cancel stops
it between chunks, and a chunk that did not commit is done again, never twice (docs/jobs.md)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from sekvens.engine import jobs as job_ops
from sekvens.storage.db import Database
from sekvens.storage.tables import Connection
from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_engine import connect, leads, seller
from tests.conftest import Api
from tests.engine.test_subscriptions import client, subscribed, ws_url  # noqa: F401

JOB = "id kind status total done skipped { code count } skippedCount errorCount error"
BY_FILTER = f"matchedCount connectedCount job {{ {JOB} }}"
JOB_QUERY = f"query($id: ID!) {{ job(id: $id) {{ {JOB} cancelRequested }} }}"


async def task_sequence(api: Api, name: str) -> dict[str, Any]:
    seq = await create(api, name)
    await add(api, seq, start_id(seq), "core.task", {"subject": "Call"})
    payload = await api.mutate("activateSequence", {"sequenceId": seq["id"]}, "sequence { id }")
    assert payload["errors"] == []
    return seq


async def by_filter(api: Api, seq: dict[str, Any], **extra: Any) -> dict[str, Any]:
    payload = await api.mutate(
        "connectSequenceByFilter",
        {"sequenceId": seq["id"], "filter": {"recordType": "lead"}, **extra},
        BY_FILTER,
    )
    assert payload["errors"] == []
    return payload


async def job_of(api: Api, job: dict[str, Any]) -> dict[str, Any]:
    return (await api.ok(JOB_QUERY, {"id": job["id"]}))["job"]


async def connected_per_record(db: Database, seq: dict[str, Any]) -> dict[int, int]:
    """How many connections each record has in the sequence."""
    from sekvens.schema.relay import from_global_id

    pk = int(from_global_id(seq["id"])[1])
    async with db.session() as session:
        rows = await session.execute(
            select(Connection.record_id, func.count())
            .where(Connection.sequence_id == pk)
            .group_by(Connection.record_id)
        )
        return {record_id: n for record_id, n in rows}


async def test_above_the_threshold_connecting_is_a_job_with_its_progress(
    api: Api, db: Database, small_jobs: Any
) -> None:
    owner_id, _ = await seller(api, "jobs1@example.com")
    seq = await task_sequence(api, "Job")
    ids = await leads(api, owner_id, 10)
    await connect(api, seq, ids[:1])  # refused in the job: ALREADY_CONNECTED
    payload = await by_filter(api, seq)
    job = payload["job"]
    assert (payload["matchedCount"], payload["connectedCount"]) == (0, 0)
    assert (job["kind"], job["status"], job["total"], job["done"]) == (
        "CONNECT_BY_FILTER",
        "QUEUED",
        10,
        0,
    )
    assert len(await connected_per_record(db, seq)) == 1  # nothing connected by the request

    assert await small_jobs.jobs.run_due() == 1  # one chunk of 4 records
    running = await job_of(api, job)
    assert (running["status"], running["done"], running["skippedCount"]) == ("RUNNING", 3, 1)
    assert running["skipped"] == [{"code": "ALREADY_CONNECTED", "count": 1}]

    await small_jobs.run_until_idle()
    done = await job_of(api, job)
    assert (done["status"], done["done"], done["total"], done["errorCount"]) == (
        "SUCCEEDED",
        9,
        10,
        0,
    )
    assert done["done"] + done["skippedCount"] == done["total"]
    assert done["skipped"] == [{"code": "ALREADY_CONNECTED", "count": 1}]
    counts = await connected_per_record(db, seq)
    assert (len(counts), set(counts.values())) == (10, {1})

    # At or below the threshold it connects in the request, as before; asJob asks for a job.
    small = await task_sequence(api, "Inline")
    inline = await api.mutate(
        "connectSequenceByFilter",
        {"sequenceId": small["id"], "filter": {"recordType": "lead", "search": "Lead 1"}},
        BY_FILTER,
    )
    assert (inline["matchedCount"], inline["connectedCount"], inline["job"]) == (1, 1, None)
    asked = await by_filter(api, small, asJob=True)
    assert asked["job"]["status"] == "QUEUED"
    await small_jobs.run_until_idle()
    finished = await job_of(api, asked["job"])
    assert (finished["status"], finished["done"]) == ("SUCCEEDED", 9)


async def test_a_connect_rule_refusal_is_counted_by_its_reason(api: Api, small_jobs: Any) -> None:
    """A salesperson's job skips the records they don't own (FORBIDDEN), as inline."""
    owner_id, owner_token = await seller(api, "jobs2@example.com")
    other_id, _ = await seller(api, "jobs2b@example.com")
    seq = await task_sequence(api, "Mine only")
    await leads(api, owner_id, 4, prefix="M")
    await leads(api, other_id, 3, prefix="O")
    seller_api = api.as_token(owner_token)
    job = (await by_filter(seller_api, seq))["job"]
    await small_jobs.run_until_idle()
    done = await job_of(seller_api, job)
    assert (done["status"], done["done"], done["skipped"]) == (
        "SUCCEEDED",
        4,
        [{"code": "FORBIDDEN", "count": 3}],
    )
    assert done["done"] + done["skippedCount"] == done["total"] == 7


async def test_a_cancel_stops_the_job_between_chunks(
    api: Api, db: Database, small_jobs: Any
) -> None:
    owner_id, _ = await seller(api, "jobs3@example.com")
    seq = await task_sequence(api, "Cancel")
    await leads(api, owner_id, 10)
    job = (await by_filter(api, seq))["job"]
    await small_jobs.jobs.run_due()
    canceled = await api.mutate("cancelJob", {"id": job["id"]}, f"job {{ {JOB} cancelRequested }}")
    assert canceled["errors"] == []
    assert (canceled["job"]["status"], canceled["job"]["cancelRequested"]) == ("RUNNING", True)
    await small_jobs.run_until_idle()
    ended = await job_of(api, job)
    assert (ended["status"], ended["done"]) == ("CANCELED", 4)
    assert len(await connected_per_record(db, seq)) == 4  # the chunk done stays done
    again = await api.mutate("cancelJob", {"id": job["id"]}, "job { id }")
    assert [(e["code"], e["field"]) for e in again["errors"]] == [("INVALID_VALUE", ["id"])]

    # A QUEUED job is CANCELED at once, and connects nothing.
    other = await task_sequence(api, "Cancel queued")
    queued = (await by_filter(api, other))["job"]
    now = await api.mutate("cancelJob", {"id": queued["id"]}, f"job {{ {JOB} }}")
    assert now["job"]["status"] == "CANCELED"
    await small_jobs.run_until_idle()
    assert await connected_per_record(db, other) == {}


class Killed(BaseException):
    """The worker died in the middle of a chunk."""


async def test_an_interrupted_chunk_is_done_again_and_each_record_once(
    api: Api, db: Database, small_jobs: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    owner_id, _ = await seller(api, "jobs4@example.com")
    seq = await task_sequence(api, "Interrupted")
    await leads(api, owner_id, 10)
    job = (await by_filter(api, seq))["job"]
    await small_jobs.jobs.run_due()
    real = job_ops.connect_chunk

    async def dies(*args: Any, **kwargs: Any) -> Any:
        await real(*args, **kwargs)  # the chunk's records connected, not committed yet
        raise Killed

    monkeypatch.setattr(job_ops, "connect_chunk", dies)
    with pytest.raises(Killed):
        await small_jobs.jobs.run_due()
    assert len(await connected_per_record(db, seq)) == 4
    assert (await job_of(api, job))["done"] == 4
    monkeypatch.setattr(job_ops, "connect_chunk", real)
    await small_jobs.run_until_idle()
    done = await job_of(api, job)
    assert (done["status"], done["done"], done["skippedCount"]) == ("SUCCEEDED", 10, 0)
    counts = await connected_per_record(db, seq)
    assert (len(counts), set(counts.values())) == (10, {1})


async def test_a_job_whose_sequence_is_deactivated_fails(api: Api, small_jobs: Any) -> None:
    owner_id, _ = await seller(api, "jobs5@example.com")
    seq = await task_sequence(api, "Deactivated")
    await leads(api, owner_id, 10)
    job = (await by_filter(api, seq))["job"]
    await small_jobs.jobs.run_due()
    await api.mutate("deactivateSequence", {"sequenceId": seq["id"]}, "disconnectedCount")
    await small_jobs.run_until_idle()
    failed = await job_of(api, job)
    assert (failed["status"], failed["done"]) == ("FAILED", 4)
    assert failed["error"].startswith("SEQUENCE_INACTIVE")
    # An inactive sequence is refused when the job is asked for, as inline.
    refused = await api.mutate(
        "connectSequenceByFilter",
        {"sequenceId": seq["id"], "filter": {"recordType": "lead"}, "asJob": True},
        BY_FILTER,
    )
    assert [e["code"] for e in refused["errors"]] == ["SEQUENCE_INACTIVE"]


async def test_who_sees_a_job(api: Api, other_api: Api, small_jobs: Any) -> None:
    owner_id, owner_token = await seller(api, "jobs6@example.com")
    _, bystander_token = await seller(api, "jobs6b@example.com")
    seq = await task_sequence(api, "Seen")
    await leads(api, owner_id, 6)
    job = (await by_filter(api.as_token(owner_token), seq))["job"]
    assert (await job_of(api.as_token(owner_token), job))["status"] == "QUEUED"
    assert (await job_of(api, job))["status"] == "QUEUED"  # an administrator
    for caller, code in ((api.as_token(bystander_token), "FORBIDDEN"), (other_api, "NOT_FOUND")):
        result = await caller.gql(JOB_QUERY, {"id": job["id"]})
        assert [e["extensions"]["code"] for e in result["errors"]] == [code]
        refused = await caller.mutate("cancelJob", {"id": job["id"]}, "job { id }")
        assert [e["code"] for e in refused["errors"]] == [code]
    listed = "{ jobs(first: 50) { totalCount nodes { id } } }"
    assert {
        n["id"] for n in (await api.as_token(bystander_token).ok(listed))["jobs"]["nodes"]
    }.isdisjoint({job["id"]})
    assert job["id"] in {n["id"] for n in (await api.ok(listed))["jobs"]["nodes"]}
    mine = (await api.as_token(owner_token).ok(listed))["jobs"]
    assert (mine["totalCount"], mine["nodes"]) == (1, [{"id": job["id"]}])
    assert (await other_api.ok(listed))["jobs"]["totalCount"] == 0
    await small_jobs.run_until_idle()


async def test_job_changed_tells_the_progress_until_the_end(
    api: Api,
    small_jobs: Any,
    ws_url: str,  # noqa: F811
) -> None:
    owner_id, _ = await seller(api, "jobs7@example.com")
    seq = await task_sequence(api, "Live")
    await leads(api, owner_id, 10)
    job = (await by_filter(api, seq))["job"]
    before = small_jobs.bus.subscriber_count
    async with client(ws_url, api.token) as admin:
        await admin.subscribe(
            "job", "subscription($id: ID!) { jobChanged(id: $id) { status done } }", id=job["id"]
        )
        await subscribed(small_jobs.bus, before + 1)
        assert await admin.until("job", "jobChanged", lambda j: True) == [
            {"status": "QUEUED", "done": 0}
        ]
        await small_jobs.run_until_idle()
        seen = await admin.until("job", "jobChanged", lambda j: j["status"] == "SUCCEEDED")
        assert seen[-1] == {"status": "SUCCEEDED", "done": 10}
        assert [j["done"] for j in seen] == sorted(j["done"] for j in seen)
        assert (await admin.next("job"))["type"] == "complete"
