"""Jobs: operations too large for one request, run by the workers chunk by chunk with their
progress (docs/jobs.md).

A mutation creates a QUEUED job (`create_connect_job`) and returns it at once. Each worker
round (`JobRunner.run_due`) then runs one chunk of one job in one transaction:

* The claim is the job's row lock: the round selects the job `FOR UPDATE SKIP LOCKED` on
  PostgreSQL (a worker killed even by SIGKILL loses its session, PostgreSQL rolls the chunk
  back and releases the row, and the next round of any worker takes the job over at once);
  on SQLite the round's write transaction (`BEGIN IMMEDIATE`) is the single writer's lock.
* The chunk's work (connecting up to `chunk` records, in record id order) and the job's
  progress (`cursor`: the last record id done; `done`, `skipped` by reason) are written in
  that same transaction, so a chunk counts exactly when its work is committed: a restarted
  job goes on after the last committed chunk and never does a record twice (the unique
  index of running connections guards as well).
* A cancel (`cancel_job`) is seen before the next chunk: the job ends CANCELED, the chunks
  done stay done. A refusal that no further chunk would fix (the sequence deactivated, the
  user who started the job deactivated) ends it FAILED with `error`.

Between rounds no lock is held, so several workers share the chunks of a large job and
other jobs take turns (the job whose last chunk is oldest goes first).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import Select, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.jobs import JobKind, JobStatus
from sekvens.domain.roles import SUPERVISORS, Actor, Role
from sekvens.engine import record_sync
from sekvens.engine.connections import _active_sequence, connect_chunk
from sekvens.engine.runner import Runner
from sekvens.plugins.api import Clock
from sekvens.storage import audit, users
from sekvens.storage.db import Database, is_postgres
from sekvens.storage.jobs import new_job
from sekvens.storage.records import RecordFilter
from sekvens.storage.tables import Job, User
from sekvens.transfer.import_job import run_import

log = logging.getLogger("sekvens.jobs")

#: Records a chunk connects (one transaction each).
CHUNK = 1000
#: Times in a row a chunk may meet a concurrent write of the same row (a unique index
#: refusing it) and run again, before the job FAILS.
CONFLICT_RETRIES = 3
#: Statuses a worker takes up.
OPEN = (JobStatus.QUEUED, JobStatus.RUNNING)
ENDED = (JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)


async def create_connect_job(
    session: AsyncSession,
    actor: Actor,
    sequence_id: int,
    filter: RecordFilter,
    start_at: datetime | None,
    total: int,
    now: datetime,
) -> Job:
    """A QUEUED job that connects the records matching `filter` to the sequence as `actor`;
    refuses at once what would refuse every record (no such sequence, an inactive one)."""
    await _active_sequence(session, actor, sequence_id)
    data = {
        "sequence_id": sequence_id,
        "filter": asdict(filter),
        "start_at": start_at.isoformat() if start_at else None,
    }
    return await new_job(
        session, actor, JobKind.CONNECT_BY_FILTER, data, total, now, cursor={"after_id": 0}
    )


async def get_job(session: AsyncSession, actor: Actor, job_id: int, field: str = "id") -> Job:
    """A job its creator, or a manager or administrator of its organization, may see."""
    job = await session.get(Job, job_id)
    if job is None or job.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such job.", [field])
    if job.created_by_id != actor.user_id and not actor.has_any(SUPERVISORS):
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            "A job is its creator's, and its organization's managers' and administrators'.",
            [field],
        )
    return job


def jobs_of(actor: Actor, status: JobStatus | None = None) -> Select[Job]:
    """The jobs `actor` may see, newest first: a manager's or administrator's the whole
    organization's, anyone else's their own."""
    stmt = select(Job).where(Job.organization_id == actor.organization_id)
    if not actor.has_any(SUPERVISORS):
        stmt = stmt.where(Job.created_by_id == actor.user_id)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    return stmt.order_by(Job.id.desc())


async def cancel_job(session: AsyncSession, actor: Actor, job_id: int, now: datetime) -> Job:
    """Ask a job to stop: a QUEUED one ends CANCELED at once, a RUNNING one before its next
    chunk. Cancelling an ended job is refused."""
    job = await get_job(session, actor, job_id)
    if is_postgres(session):  # waits for a chunk in progress
        await session.refresh(job, with_for_update=True)
    if job.status in ENDED:
        raise DomainError.of(ErrorCode.INVALID_VALUE, f"The job has ended ({job.status}).", ["id"])
    job.cancel_requested = True
    if job.status == JobStatus.QUEUED:
        _end(job, JobStatus.CANCELED, now)
    audit.record(session, actor.organization_id, actor.user_id, "job.canceled", "job", job.id)
    return job


def _end(job: Job, status: JobStatus, now: datetime, error: str | None = None) -> None:
    job.status = status
    job.error = error
    job.finished_at = now
    job.heartbeat_at = now
    if status == JobStatus.SUCCEEDED:  # what was there to do, as it turned out
        job.total = job.done + sum(job.skipped.values()) + job.error_count


@dataclass
class JobStep:
    """What a job's handler gets to run the job's next chunk, in the chunk's transaction."""

    session: AsyncSession
    job: Job
    #: The job's creator as they are now.
    actor: Actor
    now: datetime
    #: Items a chunk does at most.
    chunk: int
    runner: Runner


#: Runs the next chunk of a job: does its work, moves `job.cursor` and the progress on, and
#: returns True when the job has nothing left to do.
JobHandler = Callable[[JobStep], Awaitable[bool]]


class JobRunner:
    """Runs the chunks of open jobs, one a round (see the module doc)."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        track: Callable[[AsyncSession], AsyncSession],
        runner: Runner,
        chunk: int = CHUNK,
    ):
        self.db = db
        #: The engine's runner: the step types a record change may concern.
        self.runner = runner
        self.clock = clock
        #: Publishes each round's changes, the job's own too (`ChangeBus.track`).
        self.track = track
        self.chunk = chunk

    async def run_due(self) -> int:
        """Run one chunk of the open job whose turn it is; returns 1 if there was one."""
        async with self.db.session() as reader:  # spares SQLite's write lock when idle
            if await reader.scalar(select(Job.id).where(Job.status.in_(OPEN)).limit(1)) is None:
                return 0
        async with self.track(self.db.session(write=True)) as session, session.begin():
            stmt = (
                select(Job)
                .where(Job.status.in_(OPEN))
                .order_by(func.coalesce(Job.heartbeat_at, Job.created_at), Job.id)
                .limit(1)
            )
            if is_postgres(session):
                stmt = stmt.with_for_update(skip_locked=True)
            job = await session.scalar(stmt)
            if job is None:
                return 0
            await self._step(session, job)
        return 1

    async def _step(self, session: AsyncSession, job: Job) -> None:
        now = self.clock.now()
        if job.cancel_requested:
            _end(job, JobStatus.CANCELED, now)
            return
        if job.status == JobStatus.QUEUED:
            job.status = JobStatus.RUNNING
            job.started_at = now
        job.heartbeat_at = now
        job_id = job.id
        try:
            async with session.begin_nested():
                actor = await _actor(session, job)
                step = JobStep(session, job, actor, now, self.chunk, self.runner)
                finished = await HANDLERS[JobKind(job.kind)](step)
        except DomainError as e:
            await session.refresh(job)  # as the savepoint's rollback left it
            why = "; ".join(f"{p.code}: {p.message}" for p in e.problems)
            _end(job, JobStatus.FAILED, now, why)
            return
        except IntegrityError:  # another transaction wrote the same row first: go again
            await session.refresh(job)
            conflicts = int(job.cursor.get("conflicts", 0)) + 1
            if conflicts <= CONFLICT_RETRIES:
                log.info("job %s: a chunk met a concurrent write; it runs again", job_id)
                job.cursor = {**job.cursor, "conflicts": conflicts}
                return
            log.exception("job %s failed", job_id)
            _end(job, JobStatus.FAILED, now, "Internal error; see the server log.")
            return
        except Exception:
            log.exception("job %s failed", job_id)
            await session.refresh(job)
            _end(job, JobStatus.FAILED, now, "Internal error; see the server log.")
            return
        if finished and job.status not in ENDED:  # a handler may end its job FAILED itself
            _end(job, JobStatus.SUCCEEDED, now)


async def _actor(session: AsyncSession, job: Job) -> Actor:
    """The job's creator as they are now: a deactivated or deleted user's job fails."""
    user = await session.get(User, job.created_by_id) if job.created_by_id else None
    if user is None or not user.is_active:
        raise DomainError.of(
            ErrorCode.FORBIDDEN, "The user who started the job is no longer active.", []
        )
    roles = (await users.roles_of(session, [user.id]))[user.id]
    return Actor(user.id, user.organization_id, frozenset(Role(r) for r in roles))


async def _connect_chunk(step: JobStep) -> bool:
    """Connect the job's next chunk of matching records and count it; True when none is
    left."""
    job, data = step.job, step.job.input
    start_at = datetime.fromisoformat(data["start_at"]) if data.get("start_at") else None
    done = await connect_chunk(
        step.session,
        step.actor,
        int(data["sequence_id"]),
        RecordFilter(**data["filter"]),
        int(job.cursor.get("after_id", 0)),
        step.chunk,
        start_at,
        step.now,
    )
    if done.matched:
        job.cursor = {"after_id": done.last_id}
        job.done += done.connected
        job.skipped = dict(Counter(job.skipped) + done.skipped)
    return done.matched < step.chunk


#: What runs a chunk of each kind of job.
HANDLERS: dict[JobKind, JobHandler] = {
    JobKind.CONNECT_BY_FILTER: _connect_chunk,
    JobKind.UPSERT_RECORDS: record_sync.run_chunk,
    JobKind.IMPORT_SEQUENCES: lambda s: run_import(
        s.session, s.runner.registry, s.job, s.actor, s.now
    ),
}
