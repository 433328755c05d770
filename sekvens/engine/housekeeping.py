"""Housekeeping: delete what has outlived its use, so the delivery log and the jobs do not
grow without end (docs/workers.md).

* Webhook messages that ended (DELIVERED or FAILED) of events more than
  `SEKVENS_WEBHOOK_RETENTION_DAYS` old (their delivery log goes with them; a PENDING message
  is never deleted).
* Jobs that ended more than `SEKVENS_JOB_RETENTION_DAYS` ago, with their items.

0 keeps them for ever. A worker runs it when idle, at most every `EVERY`, a bounded batch
of each at a time (one short transaction each: 1,000 messages, 10,000 job items); what is
left goes at the next run, which is the worker's next idle moment while a full batch was
deleted. Deleting twice is harmless, so workers need no claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, exists, select

from sekvens.domain.jobs import JobStatus
from sekvens.domain.webhooks import WebhookMessageStatus
from sekvens.plugins.api import Clock
from sekvens.storage.db import Database
from sekvens.storage.tables import Job, JobItem, WebhookMessage

#: How often an idle worker looks.
EVERY = timedelta(minutes=5)
#: Rows deleted of each kind per run.
BATCH = 1000
#: Ended jobs looked at per run, and job items deleted per run (a job goes once its items
#: have gone, so a run never deletes more than this many rows of a large job).
JOB_BATCH = 10
ITEM_BATCH = 10_000


class Housekeeper:
    def __init__(self, db: Database, clock: Clock, webhook_days: int, job_days: int):
        self.db = db
        self.clock = clock
        self.webhook_days = webhook_days
        self.job_days = job_days
        self._next: datetime | None = None

    async def run_due(self) -> int:
        """Delete a batch of what is past its retention if it is time; returns the rows."""
        now = self.clock.now()
        if self._next is not None and now < self._next:
            return 0
        deleted, full = 0, False
        if self.webhook_days > 0:
            n = await self._webhook_messages(now - timedelta(days=self.webhook_days))
            deleted, full = deleted + n, full or n == BATCH
        if self.job_days > 0:
            n, more = await self._jobs(now - timedelta(days=self.job_days))
            deleted, full = deleted + n, full or more
        self._next = now if full else now + EVERY
        return deleted

    async def _webhook_messages(self, before: datetime) -> int:
        async with self.db.session(write=True) as session, session.begin():
            ids = list(
                await session.scalars(
                    select(WebhookMessage.id)
                    .where(
                        WebhookMessage.status.in_(
                            (WebhookMessageStatus.DELIVERED, WebhookMessageStatus.FAILED)
                        ),
                        WebhookMessage.occurred_at < before,
                    )
                    .limit(BATCH)
                )
            )
            if ids:
                await session.execute(delete(WebhookMessage).where(WebhookMessage.id.in_(ids)))
            return len(ids)

    async def _jobs(self, before: datetime) -> tuple[int, bool]:
        """Deletes a batch of expired jobs' items, then those of the jobs left without items;
        returns the rows deleted and whether there may be more."""
        async with self.db.session(write=True) as session, session.begin():
            ids = list(
                await session.scalars(
                    select(Job.id)
                    .where(
                        Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)),
                        Job.finished_at < before,
                    )
                    .order_by(Job.id)
                    .limit(JOB_BATCH)
                )
            )
            if not ids:
                return 0, False
            items = list(
                await session.scalars(
                    select(JobItem.id).where(JobItem.job_id.in_(ids)).limit(ITEM_BATCH)
                )
            )
            if items:
                await session.execute(delete(JobItem).where(JobItem.id.in_(items)))
            emptied = list(
                await session.scalars(
                    select(Job.id).where(Job.id.in_(ids), ~exists().where(JobItem.job_id == Job.id))
                )
            )
            if emptied:
                await session.execute(delete(Job).where(Job.id.in_(emptied)))
            return len(items) + len(emptied), len(items) == ITEM_BATCH or len(ids) == JOB_BATCH
