"""Jobs: `job(id)`, `jobs` and `cancelJob`; the rules are `engine/jobs.py`, the subscription
`jobChanged` is in `resolvers/subscriptions.py`."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError
from sekvens.domain.jobs import JobStatus
from sekvens.engine import jobs
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import context
from sekvens.schema.errors import ApiError
from sekvens.schema.jobs import CancelJobInput, Job, JobPayload
from sekvens.schema.pagination import paginate
from sekvens.schema.relay import Connection, decode_id


def job_pk(global_id: strawberry.ID, field: str = "id") -> int:
    return decode_id(global_id, "Job", [field])


@strawberry.type
class JobQueries:
    @strawberry.field(
        description="A job with its progress: its creator's, and the organization's managers'"
        " and administrators'."
    )
    async def job(self, info: Info, id: strawberry.ID) -> Job:
        ctx = context(info)
        try:
            row = await jobs.get_job(ctx.reader, ctx.require(), job_pk(id))
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        return Job.from_row(row)

    @strawberry.field(
        description="Jobs, newest first: a manager's or administrator's the whole"
        " organization's, anyone else's their own."
    )
    async def jobs(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        status: JobStatus | None = None,
    ) -> Connection[Job]:
        ctx = context(info)
        try:
            viewer = ctx.require()
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        return await paginate(ctx, jobs.jobs_of(viewer, status), Job.from_row, first, after)


@strawberry.type
class JobMutations:
    @strawberry.mutation(
        description="Stop a job: a QUEUED one at once, a RUNNING one before its next chunk"
        " (the chunks done stay done); it ends CANCELED."
    )
    async def cancel_job(self, info: Info, input: CancelJobInput) -> JobPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            now = ctx.services.engine.clock.now()
            row = await jobs.cancel_job(ctx.session, viewer, job_pk(input.id), now)
            return {"job": Job.from_row(row)}

        return await mutate(info, JobPayload, run)
