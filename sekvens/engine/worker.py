"""The worker: claim due connections in batches and advance them, one transaction a batch.

A batch is claimed with `FOR UPDATE SKIP LOCKED` on PostgreSQL, so workers in many
processes never take the same connection; the row locks are the lease, held by the
batch's transaction. A worker that dies mid-batch (even by SIGKILL) loses its database
connection, PostgreSQL rolls the batch back and releases the rows, and the next worker
runs them: nothing is lost, and since nothing of the dead batch was committed, nothing
is done twice. The takeover is as fast as PostgreSQL notices the dead session: at once for
a killed process (its socket closes), within about 25 seconds for a machine that vanished
(TCP keepalives, set for the batch's transaction). Delivery claims work the same way
(sekvens.engine.delivery). On SQLite the single writer lock does the same within one machine.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence as Seq

from sqlalchemy import and_, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.config import Settings
from sekvens.domain.life_cycles import ConnectionPhase, ConnectionStatus
from sekvens.engine.change_bus import ChangeBus
from sekvens.engine.clock import SystemClock
from sekvens.engine.delivery import Deliverer, keepalive
from sekvens.engine.housekeeping import Housekeeper
from sekvens.engine.jobs import JobRunner
from sekvens.engine.link_signing import LinkSigner
from sekvens.engine.runner import Runner
from sekvens.engine.webhooks import WebhookDeliverer
from sekvens.plugins.api import Clock
from sekvens.plugins.registry import Registry
from sekvens.storage import connection_pauses
from sekvens.storage.db import Database, is_postgres
from sekvens.storage.tables import Connection

log = logging.getLogger("sekvens.engine")

DUE_PHASES = (ConnectionPhase.EXECUTE, ConnectionPhase.WAIT, ConnectionPhase.EVENTS)


class Engine:
    """Runs due connections. `run_until_idle` for tests and tools, `serve` for processes."""

    def __init__(
        self,
        db: Database,
        registry: Registry,
        clock: Clock | None = None,
        batch_size: int = 200,
        deliver_mail: bool = False,
        deliverer: Deliverer | None = None,
        bus: ChangeBus | None = None,
        webhooks: WebhookDeliverer | None = None,
    ):
        self.db = db
        #: Publishes what each batch changed, after it commits (see sekvens.engine.change_bus).
        self.bus = bus or ChangeBus.for_database(db.settings.session_database_url)
        self.clock = clock or SystemClock()
        #: With a deliverer (SMTP configured) automated email is QUEUED and sent by `run_batch`.
        self.deliverer = deliverer
        #: Sends the webhook messages (sekvens.engine.webhooks) after the mail of each batch.
        self.webhooks = webhooks
        self.runner = Runner(
            registry,
            self.clock,
            deliver_mail or deliverer is not None,
            db.settings.auto_reply_pause_days,
        )
        self.batch_size = batch_size
        #: Runs a chunk of an open job each round (sekvens.engine.jobs).
        self.jobs = JobRunner(db, self.clock, self.bus.track, self.runner)
        #: Deletes ended webhook messages and jobs past their retention, when idle.
        self.housekeeping = Housekeeper(
            db, self.clock, db.settings.webhook_retention_days, db.settings.job_retention_days
        )
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Something became due now (a connection, a completed activity): run soon."""
        self._wake.set()

    async def claim(self, session: AsyncSession) -> list[Connection]:
        now = self.clock.now()
        stmt = (
            select(Connection)
            .where(
                or_(
                    and_(
                        Connection.status == ConnectionStatus.CONNECTED,
                        Connection.phase.in_(DUE_PHASES),
                        Connection.next_run_at <= now,
                    ),
                    and_(Connection.status == ConnectionStatus.PAUSED, Connection.resume_at <= now),
                )
            )
            .order_by(Connection.next_run_at, Connection.id)
            .limit(self.batch_size)
        )
        postgres = is_postgres(session)
        if postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        conns = list(await session.scalars(stmt))
        if conns and postgres:  # a vanished machine's locks are released in seconds too
            await session.execute(keepalive(local=True))
        return conns

    async def run_batch(self) -> int:
        """Claim one batch and advance it, then deliver due mail and webhooks, then run a
        chunk of a job; returns the work done (connections held, messages attempted,
        chunks run)."""
        async with self.bus.track(self.db.session(write=True)) as session, session.begin():
            conns = await self.claim(session)
            if conns:
                await self.process(session, conns)
        sent = await self.deliverer.run_due() if self.deliverer is not None else 0
        if self.webhooks is not None:
            sent += await self.webhooks.run_due()
        sent += await self.jobs.run_due()
        return len(conns) + sent

    async def process(self, session: AsyncSession, conns: Seq[Connection]) -> None:
        """Advance `conns` in one savepoint; only when a connection raises is the batch
        rolled back to it and run again with a savepoint per connection, so the failing
        connection ends in ERROR and the others advance (a savepoint per connection would
        cost two statements each in every batch)."""
        ids = [c.id for c in conns]
        try:
            async with session.begin_nested():
                await self._advance(session, conns, guarded=False)
            return
        except Exception:
            log.warning("a connection of the batch failed; running the batch again one by one")
        # The savepoint's rollback expired what the batch changed and dropped what it
        # added: load the connections as they are in the database again.
        reloaded = await session.scalars(
            select(Connection)
            .where(Connection.id.in_(ids))
            .execution_options(populate_existing=True)
        )
        by_id = {c.id: c for c in reloaded}
        await self._advance(session, [by_id[i] for i in ids if i in by_id], guarded=True)

    async def _advance(
        self, session: AsyncSession, conns: Seq[Connection], *, guarded: bool
    ) -> None:
        batch = self.runner.batch(session)
        await batch.load(conns)
        batch.defer = not guarded
        for conn in conns:
            if conn.status == ConnectionStatus.PAUSED:
                await connection_pauses.resume(session, conn, self.clock.now())
            if not guarded:
                await self.runner.advance(batch, conn)
                continue
            conn_id = conn.id  # the savepoint's rollback expires `conn`
            try:
                async with session.begin_nested():
                    await self.runner.advance(batch, conn)
            except Exception:
                log.exception("advancing connection %s failed", conn_id)
                await session.refresh(conn)
                await self.runner.fail(
                    session, conn, "Internal error while running the step; see the server log."
                )
        await batch.write()

    async def run_until_idle(self, max_batches: int = 10_000) -> int:
        """Run batches until nothing is due now; returns the connections processed."""
        total = 0
        for _ in range(max_batches):
            n = await self.run_batch()
            total += n
            if n == 0:
                break
        return total

    async def serve(self, stop: asyncio.Event, poll_seconds: float = 1.0) -> None:
        """Run until `stop` is set: batches while work is due, then wait for a wake-up or poll."""
        log.info("engine worker started")
        while not stop.is_set():
            try:
                busy = await self.run_batch()
            except Exception:
                log.exception("engine batch failed; retrying")
                busy = 0
            if busy:
                continue
            try:
                await self.housekeeping.run_due()
            except Exception:
                log.exception("housekeeping failed; retrying later")
            self._wake.clear()
            waits = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self._wake.wait())]
            await asyncio.wait(waits, timeout=poll_seconds, return_when=asyncio.FIRST_COMPLETED)
            for w in waits:
                w.cancel()
        log.info("engine worker stopped")


def build_engine(
    settings: Settings,
    db: Database,
    registry: Registry | None = None,
    clock: Clock | None = None,
) -> tuple[Engine, LinkSigner]:
    """The engine as `sekvens serve` and `sekvens worker` run it: the installed step types,
    SMTP delivery and tracking when configured (mail stays STORED in the outbox otherwise)."""
    clock = clock or SystemClock()
    registry = registry or Registry.from_entry_points(disabled=settings.disabled_step_types)
    signer = LinkSigner(settings)
    deliverer = Deliverer.from_settings(settings, db, clock, signer)
    webhooks = WebhookDeliverer.from_settings(settings, db, clock)
    engine = Engine(db, registry, clock, deliverer=deliverer, webhooks=webhooks)
    if deliverer is not None:
        deliverer.track = engine.bus.track  # a connection failed by delivery is announced
    return engine, signer
