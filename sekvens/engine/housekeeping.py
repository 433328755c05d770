"""Housekeeping: delete what has outlived its use, so the delivery log and the jobs do not
grow without end (docs/workers.md).

* Webhook messages that ended (DELIVERED or FAILED) of events more than
  `SEKVENS_WEBHOOK_RETENTION_DAYS` old (their delivery log goes with them; a PENDING message
  is never deleted).
* Jobs that ended more than `SEKVENS_JOB_RETENTION_DAYS` ago, with their items.

0 keeps them for ever. A worker runs it when idle, at most every `EVERY`, a bounded batch
of each at a time (one short transaction each); what is left goes at the next run, at once
while a full batch was deleted. Deleting twice is harmless, so workers need no claim.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import delete, select

from sekvens.domain.jobs import JobStatus
from sekvens.domain.webhooks import WebhookMessageStatus
from sekvens.plugins.api import Clock
from sekvens.storage.db import Database
from sekvens.storage.tables import Job, JobItem, WebhookMessage

#: How often an idle worker looks.
EVERY = timedelta(minutes=5)
#: Rows deleted of each kind per run.
BATCH = 1000
#: Jobs deleted per run (each with up to 100,000 items).
JOB_BATCH = 10


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
            n = await self._jobs(now - timedelta(days=self.job_days))
            deleted, full = deleted + n, full or n == JOB_BATCH
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

    async def _jobs(self, before: datetime) -> int:
        async with self.db.session(write=True) as session, session.begin():
            ids = list(
                await session.scalars(
                    select(Job.id)
                    .where(
                        Job.status.in_((JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELED)),
                        Job.finished_at < before,
                    )
                    .limit(JOB_BATCH)
                )
            )
            if ids:
                await session.execute(delete(JobItem).where(JobItem.job_id.in_(ids)))
                await session.execute(delete(Job).where(Job.id.in_(ids)))
            return len(ids)
