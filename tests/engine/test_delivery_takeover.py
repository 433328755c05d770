"""On PostgreSQL: a worker process killed with SIGKILL while sending mail does not hold its
claims. The other worker takes them over within seconds (not after a lease), every message
arrives, and a message is sent twice only when the kill landed between the SMTP server taking
it and the worker recording it, with the same Message-ID both times. Two worker processes
sending one mailbox's backlog together never exceed its daily limit."""

from __future__ import annotations

import asyncio
import signal
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import func, select, text

from sekvens.config import Settings
from sekvens.engine.delivery import CLAIM_KEYS, CLAIM_NAMESPACE
from sekvens.storage import migrate, organizations
from sekvens.storage.db import Database
from sekvens.storage.tables import OutboxMessage
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.engine.conftest import Inbox, free_port
from tests.engine.helpers import spawn_worker

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs SEKVENS_TEST_POSTGRES_URL")
MESSAGES = 300
SMTP_TIMEOUT = 5  # the pre-takeover lease was max(300 s, 2 x 5 x 21) = 300 s
TAKEOVER_BOUND = 20.0
#: The outbox rows each live session holds a delivery claim on, with their status.
CLAIMS = text(
    "SELECT l.pid, o.id, o.status FROM pg_locks l JOIN outbox o ON o.id % :keys = l.objid::bigint"
    " WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted"
    f" AND l.classid = {CLAIM_NAMESPACE}"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())"
).bindparams(keys=CLAIM_KEYS)


class SlowInbox(Inbox):
    """Takes 10 ms to process each message before accepting it, like a real server."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.01)
        return await super().handle_DATA(server, session, envelope)


@pytest.fixture
def slow_smtp() -> Iterator[SlowInbox]:
    inbox = SlowInbox(port=free_port())
    controller = Controller(inbox, hostname="127.0.0.1", port=inbox.port)
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
async def pg() -> AsyncIterator[Database]:
    assert POSTGRES_URL
    url = await create_postgres_database(POSTGRES_URL)
    db = Database(Settings(database_url=url))
    try:
        await migrate.upgrade(db.engine)
        yield db
    finally:
        await db.dispose()
        await drop_postgres_database(POSTGRES_URL, url)


async def queue(db: Database, n: int) -> dict[str, str]:
    """`n` QUEUED messages, as `email.auto` steps leave them; returns address -> Message-ID."""
    now = datetime.now(UTC)
    run = uuid.uuid4().hex[:8]
    sent: dict[str, str] = {}
    async with db.session(write=True) as session, session.begin():
        org = await organizations.create_organization(session, "Takeover")
        for i in range(n):
            address, message_id = (
                f"lead{i}-{run}@example.com",
                f"<{uuid.uuid4().hex}@sekvens.local>",
            )
            sent[address] = message_id
            session.add(
                OutboxMessage(
                    organization_id=org.id,
                    idempotency_key=f"{run}:{i}",
                    message_id=message_id,
                    to_address=address,
                    from_address="robot@sekvens.test",
                    subject=f"Hello {i}",
                    text=f"Message {i}",
                    headers={},
                    status="QUEUED",
                    next_attempt_at=now - timedelta(seconds=1),
                    created_at=now,
                )
            )
    return sent


async def spawn(db: Database, smtp_port: int, **settings: str) -> asyncio.subprocess.Process:
    """A `sekvens worker` process on `db` sending to the port; `settings` are more
    SEKVENS_* variables."""
    return await spawn_worker(
        db,
        SEKVENS_SMTP_URL=f"smtp://127.0.0.1:{smtp_port}?starttls=off",
        SEKVENS_SMTP_TIMEOUT=str(SMTP_TIMEOUT),
        SEKVENS_MAILBOX_SEND_INTERVAL="0",  # one mailbox sends all the messages
        **settings,
    )


async def claims(db: Database) -> dict[int, dict[str, set[int]]]:
    """Backend pid -> status -> the outbox rows it holds a delivery claim on (a round keeps
    its claims until it ends, the SENT ones too)."""
    held: dict[int, dict[str, set[int]]] = {}
    async with db.session() as session:
        result: Any = await session.execute(CLAIMS)
        for pid, outbox_id, status in result:
            held.setdefault(pid, {"QUEUED": set(), "SENT": set()})[status].add(outbox_id)
    return held


async def rows(db: Database) -> dict[int, OutboxMessage]:
    async with db.session() as session:
        return {r.id: r for r in await session.scalars(select(OutboxMessage))}


async def test_a_killed_workers_claims_are_taken_over_within_seconds(
    pg: Database, slow_smtp: SlowInbox
) -> None:
    started = time.monotonic()
    expected = await queue(pg, MESSAGES)
    workers = [await spawn(pg, slow_smtp.port) for _ in range(2)]
    victim, survivor = workers
    try:
        # Kill the victim while both workers are in the middle of sending a round: each has
        # sent some of its claims and has a few still to send.
        deadline = time.monotonic() + 20
        while True:
            assert time.monotonic() < deadline, "the two workers never sent at the same time"
            assert victim.returncode is None and survivor.returncode is None
            held = await claims(pg)
            if (
                len(slow_smtp.received) >= MESSAGES // 5
                and len(held) == 2
                and all(len(c["QUEUED"]) >= 3 and c["SENT"] for c in held.values())
            ):
                break
            await asyncio.sleep(0.005)
        victim.send_signal(signal.SIGKILL)
        killed = time.monotonic()
        await victim.wait()
        received_at_kill = len(slow_smtp.received)

        # Its database session ends with it; whose claims were they?
        async with pg.session() as session:
            for _ in range(200):
                alive = set(
                    await session.scalars(
                        text("SELECT pid FROM pg_stat_activity WHERE pid = ANY(:pids)"),
                        {"pids": list(held)},
                    )
                )
                if len(alive) == 1:
                    break
                await asyncio.sleep(0.01)
                await session.rollback()  # a fresh statistics snapshot
        [dead_pid] = set(held) - alive
        orphans = held[dead_pid]["QUEUED"]

        # The survivor sends them within seconds, and everything else.
        while True:
            by_id = await rows(pg)
            if all(by_id[i].status == "SENT" for i in orphans):
                taken_over = time.monotonic() - killed
                break
            assert time.monotonic() - killed < TAKEOVER_BOUND + 5, "orphans still QUEUED"
            await asyncio.sleep(0.05)
        while any(r.status == "QUEUED" for r in by_id.values()):
            assert time.monotonic() - killed < 25, "the survivor did not finish"
            await asyncio.sleep(0.1)
            by_id = await rows(pg)
    finally:
        for w in workers:
            if w.returncode is None:
                w.send_signal(signal.SIGTERM)
        outputs = [await asyncio.wait_for(w.communicate(), 30) for w in workers]
    assert survivor.returncode == 0, outputs[1][1].decode()[-2000:]

    assert taken_over < TAKEOVER_BOUND, taken_over
    lease = max(300.0, 2 * SMTP_TIMEOUT * 21)
    assert lease > 10 * TAKEOVER_BOUND
    # Every message is SENT; the orphans were claimed twice: by the victim, then the survivor.
    assert {r.status for r in by_id.values()} == {"SENT"}
    assert sum(by_id[i].attempts == 2 for i in orphans) >= 1
    assert max(r.attempts for r in by_id.values()) <= 2

    # Every message arrived; a second copy only of the one in flight at the kill, with the
    # same Message-ID (and Date).
    copies = Counter(to for r in slow_smtp.received for to in r.rcpt_tos)
    assert set(copies) == set(expected)
    duplicates = sum(n - 1 for n in copies.values())
    assert duplicates <= 1, copies.most_common(3)
    for received in slow_smtp.received:
        [to] = received.rcpt_tos
        assert received.message["Message-ID"] == expected[to]
    for address, n in copies.items():
        if n > 1:
            first, second = slow_smtp.to(address)
            assert first["Date"] == second["Date"]
    async with pg.session() as session:
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == MESSAGES

    print(
        f"\nkilled after {received_at_kill}/{MESSAGES} received, holding {len(orphans)} claims;"
        f" taken over and sent in {taken_over:.2f} s; {duplicates} duplicate(s);"
        f" test {time.monotonic() - started:.1f} s"
    )


async def test_two_worker_processes_never_exceed_a_mailbox_limit_together(
    pg: Database, slow_smtp: SlowInbox
) -> None:
    """40 messages of one mailbox, two `sekvens worker` processes, a daily limit of 5:
    exactly 5 arrive and 35 wait THROTTLED."""
    expected = await queue(pg, 40)
    limit = {"SEKVENS_MAILBOX_DAILY_LIMIT": "5"}
    workers = [await spawn(pg, slow_smtp.port, **limit) for _ in range(2)]
    try:
        deadline = time.monotonic() + 60
        while True:
            by_id = await rows(pg)
            settled = [r for r in by_id.values() if r.status == "SENT" or r.wait_reason]
            if len(settled) == len(expected):
                break
            assert time.monotonic() < deadline, "the workers did not settle the backlog"
            await asyncio.sleep(0.1)
        await asyncio.sleep(1)  # another round of both finds nothing more to send
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [await asyncio.wait_for(w.communicate(), 30) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1].decode()[-2000:] for o in outputs]
    by_id = await rows(pg)
    assert len(slow_smtp.received) == 5
    assert (
        sorted((r.status, r.wait_reason) for r in by_id.values())
        == [("QUEUED", "THROTTLED")] * 35 + [("SENT", None)] * 5
    )
