"""Record sync: `upsertRecords` over many records as a job, with a result per record, and a
full sync that deactivates the records of its type it did not hold (docs/jobs.md).

The job's items are stored with it (`job_items`, in the caller's order). Each chunk upserts
the next items exactly as `upsertRecords` does in a request (the same checks, exits and
automatic enrollment), keeps the valid ones whatever the others' problems, and writes each
item's result on its row, all in the chunk's transaction with the job's cursor. A full sync
(`deactivate_missing`) then deactivates, chunk by chunk, the active records of the type that
existed when the job was made (by record id) and that no item names, ending their connections
(RECORD_DEACTIVATED) as deactivating a record one by one does.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import asdict
from datetime import datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import and_, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.actions import records
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.jobs import JobKind
from sekvens.domain.roles import RECORD_WRITERS, Actor, describe
from sekvens.engine import enrollment
from sekvens.engine.record_changes import react_to_record_changes
from sekvens.storage import records as record_store
from sekvens.storage.jobs import add_items, count_errors, new_job, problem_json, problem_of
from sekvens.storage.record_types import load_infos
from sekvens.storage.records import RecordInput, UpsertResult
from sekvens.storage.tables import Job, JobItem, Record

if TYPE_CHECKING:
    from sekvens.engine.jobs import JobStep

#: Records one call may hand to a job (the request's body size limits it first).
JOB_ITEMS_MAX = 100_000


async def full_sync_type(
    session: AsyncSession, organization_id: int, items: Seq[RecordInput | list[Problem]]
) -> int:
    """The id of the one record type a full sync's items are of (refused otherwise)."""
    names = {i.record_type for i in items if isinstance(i, RecordInput)}
    if len(names) != 1:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            "A full sync (deactivateMissing) holds records of exactly one record type: the"
            " records of that type it does not hold are deactivated.",
            ["deactivateMissing"],
        )
    (name,) = names
    for row, _ in (await load_infos(session, organization_id)).values():
        if row.name == name:
            return row.id
    raise DomainError.of(
        ErrorCode.UNKNOWN_RECORD_TYPE, f"No record type '{name}'.", ["records", "recordType"]
    )


async def deactivate_missing_now(
    session: AsyncSession,
    organization_id: int,
    record_type_id: int,
    external_ids: Seq[str],
    now: datetime,
) -> int:
    """A full sync in the request: deactivate the active records of the type whose external
    id is not in `external_ids`; returns how many."""
    kept = {e.strip() for e in external_ids}
    done, after = 0, 0
    while ids := await record_store.deactivate_missing(
        session,
        organization_id,
        record_type_id,
        Record.external_id.not_in(kept),
        after,
        1000,
        now,
    ):
        done, after = done + len(ids), ids[-1]
    return done


async def create_sync_job(
    session: AsyncSession,
    actor: Actor,
    items: Seq[RecordInput | list[Problem]],
    external_ids: Seq[str],
    deactivate_missing: bool,
    now: datetime,
) -> Job:
    """A QUEUED record sync job holding `items` (an item the caller could not read holds
    its problems and fails when its chunk runs), each keyed by the external id sent with it
    (`external_ids`, in the same order), so a full sync never takes a record whose item
    failed for missing."""
    if len(items) > JOB_ITEMS_MAX:
        raise DomainError.of(
            ErrorCode.TOO_MANY, f"At most {JOB_ITEMS_MAX} records per call.", ["records"]
        )
    type_id = (
        await full_sync_type(session, actor.organization_id, items) if deactivate_missing else None
    )
    job = await new_job(
        session,
        actor,
        JobKind.UPSERT_RECORDS,
        {
            "deactivate_missing": deactivate_missing,
            "record_type_id": type_id,
            # Records made after the job are not missing from it.
            "records_up_to": await session.scalar(
                select(func.max(Record.id)).where(Record.organization_id == actor.organization_id)
            )
            or 0,
        },
        len(items),
        now,
        cursor={"position": 0},
    )
    job.result = {"created": 0, "updated": 0, "deactivated": 0}
    await add_items(
        session,
        job.id,
        [
            (
                key.strip()[:200],
                asdict(i)
                if isinstance(i, RecordInput)
                else {"problems": [problem_json(p) for p in i]},
            )
            for key, i in zip(external_ids, items, strict=True)
        ],
    )
    return job


def _item(data: dict[str, Any]) -> RecordInput | list[Problem]:
    if "problems" in data:
        return [problem_of(p) for p in data["problems"]]
    return RecordInput(**data)


async def run_chunk(step: JobStep) -> bool:
    """The job's next chunk: its next items, then (a full sync) the records it missed.
    Its creator must still be allowed to write records (else the job FAILS)."""
    job = step.job
    if not step.actor.has_any(RECORD_WRITERS):
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            f"Writing records needs the role {describe(RECORD_WRITERS)}; the user who started"
            " the job no longer has it.",
            [],
        )
    if job.cursor.get("phase") != "deactivate":
        rows = list(
            await step.session.scalars(
                select(JobItem)
                .where(JobItem.job_id == job.id, JobItem.position >= job.cursor["position"])
                .order_by(JobItem.position)
                .limit(step.chunk)
            )
        )
        if rows:
            await _upsert(step, rows)
            job.cursor = {"position": rows[-1].position + 1}
        if len(rows) == step.chunk:
            return False
        if not job.input.get("deactivate_missing"):
            return True
        job.cursor = {"phase": "deactivate", "after_id": 0}
        return False
    ids = await record_store.deactivate_missing(
        step.session,
        job.organization_id,
        int(job.input["record_type_id"]),
        and_(
            Record.id <= int(job.input["records_up_to"]),
            ~exists().where(JobItem.job_id == job.id, JobItem.external_id == Record.external_id),
        ),
        int(job.cursor["after_id"]),
        step.chunk,
        step.now,
    )
    if ids:
        job.cursor = {"phase": "deactivate", "after_id": ids[-1]}
        result = job.result or {}
        job.result = {**result, "deactivated": result.get("deactivated", 0) + len(ids)}
    return len(ids) < step.chunk


async def _upsert(step: JobStep, rows: Seq[JobItem]) -> None:
    """Upsert `rows` as `upsertRecords` would and write each one's result on it."""
    session, job = step.session, step.job
    items = [_item(r.input) for r in rows]
    watched = await enrollment.watch(session, job.organization_id, items)
    results: list[UpsertResult] = await records.upsert_items(session, step.actor, items, step.now)
    await react_to_record_changes(session, step.runner, job.organization_id, results)
    await enrollment.enroll(session, watched, results, step.now)
    await session.execute(
        update(JobItem),
        [
            {
                "id": row.id,
                "done": True,
                "record_id": r.record.id if r.record is not None else None,
                "created": r.created,
                "problems": [problem_json(p) for p in r.problems],
            }
            for row, r in zip(rows, results, strict=True)
        ],
    )
    kept = [r for r in results if r.record is not None]
    created = sum(r.created for r in kept)
    result = job.result or {}
    job.result = {
        **result,
        "created": result.get("created", 0) + created,
        "updated": result.get("updated", 0) + len(kept) - created,
    }
    job.done += len(kept)
    count_errors(
        job,
        [
            {"item": row.position, **problem_json(r.problems[0])}
            for row, r in zip(rows, results, strict=True)
            if r.problems
        ],
    )
