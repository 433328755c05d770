"""Jobs in GraphQL: a large operation run by the workers, with its progress (docs/jobs.md)."""

from __future__ import annotations

from datetime import datetime

import strawberry
from sqlalchemy import select
from strawberry.scalars import JSON
from strawberry.types import Info

from sekvens.domain.jobs import JobKind, JobStatus
from sekvens.schema.engine import CodeCount
from sekvens.schema.errors import UserError
from sekvens.schema.pagination import paginate
from sekvens.schema.records import Record
from sekvens.schema.relay import Connection, Node, to_global_id
from sekvens.storage.jobs import problem_of
from sekvens.storage.tables import Job as JobRow
from sekvens.storage.tables import JobItem as JobItemRow

strawberry.enum(JobKind, description="What a job does.")
strawberry.enum(
    JobStatus,
    description="QUEUED: waiting for a worker; RUNNING: chunk by chunk; SUCCEEDED; FAILED:"
    " stopped on an error more chunks would not fix (`error`); CANCELED: the chunks done stay"
    " done.",
)


@strawberry.type(description="One item a job could not do.")
class JobItemError:
    code: str
    message: str
    item: str | None = strawberry.field(description="The item's index or id.")


@strawberry.type(description="One item of a job, with its result once its chunk has run.")
class JobItemResult:
    index: int = strawberry.field(description="The item's place in what was sent (from 0).")
    done: bool
    created: bool
    errors: list[UserError]
    record_id: strawberry.Private[int | None]

    @strawberry.field(description="The record it wrote, once done.")
    async def record(self, info: Info) -> Record | None:
        if self.record_id is None:
            return None
        return Record.from_row(await info.context.engine_loaders.record.load(self.record_id))

    @classmethod
    def from_row(cls, row: JobItemRow) -> JobItemResult:
        return cls(
            index=row.position,
            done=row.done,
            record_id=row.record_id,
            created=row.created,
            errors=[UserError.from_problem(problem_of(p), row.position) for p in row.problems],
        )


@strawberry.type(
    description="A large operation the workers run in chunks; each chunk commits its work"
    " with the progress, so a restarted worker goes on where the last one stopped."
)
class Job(Node):
    pk: strawberry.Private[int]
    kind: JobKind
    status: JobStatus
    total: int | None = strawberry.field(
        description="Items to do: counted when the job was created, and what there turned out"
        " to be once it SUCCEEDED (done + skipped + errorCount)."
    )
    done: int = strawberry.field(description="Items done (records connected).")
    skipped: list[CodeCount] = strawberry.field(
        description="Items refused by a rule, by the code of the refusal (ALREADY_CONNECTED,"
        " NO_ASSIGNEE, FORBIDDEN...)."
    )
    skipped_count: int
    errors: list[JobItemError] = strawberry.field(description="The first items that failed.")
    error_count: int
    error: str | None = strawberry.field(description="Why a FAILED job stopped.")
    result: JSON | None = strawberry.field(
        description="What the job made, by kind: a record sync's {created, updated,"
        " deactivated}; an import's report."
    )
    cancel_requested: bool
    created_at: datetime
    started_at: datetime | None
    updated_at: datetime | None = strawberry.field(description="When its last chunk ran.")
    finished_at: datetime | None

    @strawberry.field(
        description="A record sync's items in the order sent, each with its result once its"
        " chunk has run (`failedOnly`: those with errors)."
    )
    async def items(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        failed_only: bool = False,
    ) -> Connection[JobItemResult]:
        stmt = select(JobItemRow).where(JobItemRow.job_id == self.pk)
        if failed_only:
            stmt = stmt.where(JobItemRow.done.is_(True), JobItemRow.record_id.is_(None))
        stmt = stmt.order_by(JobItemRow.position)
        return await paginate(info.context, stmt, JobItemResult.from_row, first, after)

    @classmethod
    def from_row(cls, row: JobRow) -> Job:
        skipped = row.skipped or {}
        return cls(
            id=strawberry.ID(to_global_id("Job", row.id)),
            pk=row.id,
            kind=JobKind(row.kind),
            status=JobStatus(row.status),
            total=row.total,
            done=row.done,
            skipped=[CodeCount(code=c, count=n) for c, n in sorted(skipped.items())],
            skipped_count=sum(skipped.values()),
            errors=[
                JobItemError(
                    code=str(e.get("code", "")),
                    message=str(e.get("message", "")),
                    item=None if e.get("item") is None else str(e["item"]),
                )
                for e in row.errors or []
            ],
            error_count=row.error_count,
            error=row.error,
            result=JSON(row.result) if row.result is not None else None,
            cancel_requested=row.cancel_requested,
            created_at=row.created_at,
            started_at=row.started_at,
            updated_at=row.heartbeat_at,
            finished_at=row.finished_at,
        )


@strawberry.input
class CancelJobInput:
    id: strawberry.ID


@strawberry.type
class JobPayload:
    errors: list[UserError]
    job: Job | None = None
