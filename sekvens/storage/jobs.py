"""Jobs in the database: creating one, and the items a job takes from its caller."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.jobs import JobKind, JobStatus
from sekvens.domain.roles import Actor
from sekvens.storage import audit
from sekvens.storage.tables import Job, JobItem

#: The first item errors a job keeps to show (`Job.errors`); all are counted.
ERRORS_SHOWN = 20


async def new_job(
    session: AsyncSession,
    actor: Actor,
    kind: JobKind,
    input: dict[str, Any],
    total: int | None,
    now: datetime,
    cursor: dict[str, Any] | None = None,
) -> Job:
    """A QUEUED job of `kind` that runs as `actor`, audited as `job.created`."""
    job = Job(
        organization_id=actor.organization_id,
        kind=kind,
        status=JobStatus.QUEUED,
        input=input,
        cursor=cursor or {},
        total=total,
        done=0,
        skipped={},
        errors=[],
        error_count=0,
        cancel_requested=False,
        created_by_id=actor.user_id,
        created_at=now,
    )
    session.add(job)
    await session.flush()
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "job.created",
        "job",
        job.id,
        {"kind": kind, "total": total},
    )
    return job


async def add_items(
    session: AsyncSession, job_id: int, items: Seq[tuple[str | None, dict[str, Any]]]
) -> None:
    """Store a job's items, (key, input) each, in their order."""
    if items:
        await session.execute(
            insert(JobItem),
            [
                {
                    "job_id": job_id,
                    "position": i,
                    "external_id": key,
                    "input": data,
                    "done": False,
                    "created": False,
                    "problems": [],
                }
                for i, (key, data) in enumerate(items)
            ],
        )


def count_errors(job: Job, errors: Seq[dict[str, Any]]) -> None:
    """Count a chunk's failed items on `job`, keeping the first few to show."""
    if errors:
        job.errors = [*job.errors, *errors[: max(0, ERRORS_SHOWN - len(job.errors))]]
        job.error_count += len(errors)


def problem_json(p: Problem) -> dict[str, Any]:
    """An item's problem as a job stores it."""
    return {"code": p.code.value, "message": p.message, "field": list(p.field)}


def problem_of(data: dict[str, Any]) -> Problem:
    """An item's stored problem as the Problem it was."""
    return Problem(ErrorCode(data["code"]), data["message"], tuple(data.get("field") or ()))
