"""On PostgreSQL: two `sekvens worker` processes deliver a backlog of webhook messages
together, each message exactly once, every signature verifying."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy import func, select
from standardwebhooks import Webhook

from sekvens.config import Settings
from sekvens.domain.webhooks import WebhookMessageStatus, new_message_id, new_secret
from sekvens.storage import migrate, organizations
from sekvens.storage.db import Database
from sekvens.storage.tables import WebhookEndpoint, WebhookMessage
from tests.conftest import POSTGRES_URL, create_postgres_database, drop_postgres_database
from tests.engine.helpers import spawn_worker

pytestmark = pytest.mark.skipif(not POSTGRES_URL, reason="needs SEKVENS_TEST_POSTGRES_URL")
MESSAGES = 120


class Receiver:
    """A loopback endpoint that takes 10 ms per request and keeps what it got."""

    def __init__(self) -> None:
        self.got: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                time.sleep(0.01)
                with receiver.lock:
                    receiver.got.append(({k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    thread = threading.Thread(target=receiver.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()


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


async def backlog(db: Database, url: str, n: int) -> tuple[str, set[str]]:
    """An endpoint at `url` with `n` due messages: (its secret, their ids)."""
    now = datetime.now(UTC) - timedelta(seconds=1)
    secret = new_secret()
    ids = set()
    async with db.session(write=True) as session, session.begin():
        org = await organizations.create_organization(session, "Webhooks")
        endpoint = WebhookEndpoint(organization_id=org.id, url=url, secret=secret, event_types=[])
        session.add(endpoint)
        await session.flush()
        for i in range(n):
            ids.add(msg_id := new_message_id())
            session.add(
                WebhookMessage(
                    organization_id=org.id,
                    endpoint_id=endpoint.id,
                    message_id=msg_id,
                    event_type="sequence.activated",
                    payload={"n": i},
                    occurred_at=now,
                    status=WebhookMessageStatus.PENDING,
                    next_attempt_at=now,
                )
            )
    return secret, ids


async def spawn(db: Database) -> asyncio.subprocess.Process:
    return await spawn_worker(db, SEKVENS_WEBHOOKS_ALLOW_PRIVATE="1")


async def delivered(db: Database) -> int:
    async with db.session() as session:
        count = await session.scalar(
            select(func.count()).where(WebhookMessage.status == WebhookMessageStatus.DELIVERED)
        )
        return count or 0


async def test_two_worker_processes_deliver_each_message_once(
    pg: Database, receiver: Receiver
) -> None:
    secret, ids = await backlog(pg, receiver.url, MESSAGES)
    workers = [await spawn(pg) for _ in range(2)]
    try:
        deadline = time.monotonic() + 90
        while await delivered(pg) < MESSAGES:
            assert time.monotonic() < deadline, "the workers did not deliver the backlog"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)  # another round of both finds nothing more to send
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        outputs = [await asyncio.wait_for(w.communicate(), 30) for w in workers]
    assert all(w.returncode == 0 for w in workers), [o[1].decode()[-2000:] for o in outputs]
    sent = Counter(headers["webhook-id"] for headers, _ in receiver.got)
    assert set(sent) == ids and set(sent.values()) == {1}
    hook = Webhook(secret)
    assert all(hook.verify(body, headers) for headers, body in receiver.got)
    async with pg.session() as session:
        attempts = set(await session.scalars(select(WebhookMessage.attempts)))
    assert attempts == {1}
