"""Delivery of webhook messages (docs/webhooks.md), run in each worker round after email.

Like email delivery (`engine/delivery.py`), no transaction is open while talking to an
endpoint:

1. **Claim** due PENDING messages of enabled endpoints (`FOR UPDATE SKIP LOCKED` on
   PostgreSQL, so two workers never take the same row) and count the attempt, in one
   transaction. What keeps other workers away while the messages are sent:

   * PostgreSQL: a session-level advisory lock per message, taken in the claim transaction
     on a connection the round keeps until it ends (as email's claims are). A worker killed
     even by SIGKILL drops its connection, PostgreSQL releases the locks, and since the
     message is still due, the next round of any worker takes it over. A worker that
     survives an error in its round can't tell whether the request in progress arrived, so
     it leases its unfinished claims (`next_attempt_at` pushed out) before letting go.
   * SQLite (one machine, one writer): the lease, `next_attempt_at` pushed out long enough
     for the whole batch.
2. **Send** each: a POST of the body with the Standard Webhooks headers `webhook-id` (the
   message's `msg_...`, the same on every attempt), `webhook-timestamp` (the attempt's
   time) and `webhook-signature` (`v1,<sig>` with the endpoint's secret, and a second one
   with the previous secret during a rotation's overlap). The URL's host is resolved again
   first: one that now resolves to a private address fails the attempt (unless
   `SEKVENS_WEBHOOKS_ALLOW_PRIVATE`). Redirects are not followed.
3. **Finish** each in a transaction of its own, fenced by the attempt count: a 2xx is
   DELIVERED; anything else is retried after the `RETRY_SCHEDULE` wait, and after the last
   attempt is FAILED. An endpoint whose `SEKVENS_WEBHOOK_DISABLE_AFTER` messages in a row
   FAILED is disabled with the reason; a DELIVERED message resets the count.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from sqlalchemy import BigInteger, ColumnElement, and_, column, func, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sekvens.actions.webhooks import url_refusal
from sekvens.config import Settings
from sekvens.domain.webhooks import (
    WebhookMessageStatus,
    body,
    retry_wait,
    signature_header,
)
from sekvens.engine.delivery import CLAIM_KEYS, KEEPALIVE, keepalive
from sekvens.plugins.api import Clock
from sekvens.storage.db import Database
from sekvens.storage.tables import WebhookEndpoint, WebhookMessage

log = logging.getLogger("sekvens.webhooks")

ERROR_MAX = 2000
USER_AGENT = "sekvens-webhooks/1"
#: How much of a refusing endpoint's answer is read and kept in `last_error`.
ANSWER_MAX = 200
#: PostgreSQL: the first key of the advisory locks that are webhook claims ("SKWH"); the
#: second is the message id modulo CLAIM_KEYS, as for email (`engine/delivery.py`).
CLAIM_NAMESPACE = 0x534B5748
#: The claim keys held by live sessions of this database, read from `pg_locks`.
_CLAIMED = text(
    "SELECT objid::bigint AS key FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
    f" AND classid = {CLAIM_NAMESPACE} AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
).columns(column("key", BigInteger))


@dataclass
class Attempt:
    """A claimed message and what it takes to send it."""

    id: int
    attempt: int
    url: str
    msg_id: str
    body: bytes
    secrets: list[str]


@dataclass
class Outcome:
    status_code: int | None
    latency_ms: int | None
    error: str | None

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookDeliverer:
    """Sends due webhook messages. `run_due` is one round; the engine calls it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        *,
        timeout: float = 10.0,
        max_attempts: int = 8,
        disable_after: int = 5,
        allow_private: bool = False,
        batch_size: int = 20,
    ):
        if max_attempts < 1 or disable_after < 1:
            raise ValueError(
                "SEKVENS_WEBHOOK_MAX_ATTEMPTS and SEKVENS_WEBHOOK_DISABLE_AFTER are at least 1"
            )
        self.db, self.clock = db, clock
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.disable_after = disable_after
        self.allow_private = allow_private
        self.batch_size = batch_size
        self.postgres = db.engine.dialect.name == "postgresql"
        #: How long a claimed batch is ours: a resolve and a request per message, and more.
        self.lease = timedelta(seconds=max(120.0, 2 * timeout * (batch_size + 1)))

    @classmethod
    def from_settings(cls, settings: Settings, db: Database, clock: Clock) -> WebhookDeliverer:
        return cls(
            db,
            clock,
            timeout=settings.webhook_timeout_seconds,
            max_attempts=settings.webhook_max_attempts,
            disable_after=settings.webhook_disable_after,
            allow_private=settings.webhooks_allow_private,
        )

    async def run_due(self) -> int:
        """Send what is due now; returns the number of messages attempted."""
        now = self.clock.now()
        if not await self._due_exists(now):
            return 0
        if not self.postgres:
            return await self._round(None, now)
        # The round's own session: the claims are its advisory locks (see the module doc).
        async with self.db.session_engine.connect() as conn:
            try:
                return await self._round(conn, now)
            finally:
                await self._release(conn)

    async def _round(self, conn: AsyncConnection | None, now: datetime) -> int:
        attempts = await self.claim(now, conn)
        unfinished = {a.id for a in attempts}
        try:
            async with httpx.AsyncClient(
                timeout=self.timeout, follow_redirects=False, headers={"user-agent": USER_AGENT}
            ) as client:
                for attempt in attempts:
                    outcome = await self.send(client, attempt)
                    await self.finish(attempt, outcome)
                    unfinished.discard(attempt.id)
        finally:
            if unfinished and conn is not None:
                await self._lease(unfinished)
        return len(attempts)

    def _due(self, now: datetime) -> ColumnElement[bool]:
        due = and_(
            WebhookMessage.status == WebhookMessageStatus.PENDING,
            WebhookMessage.next_attempt_at <= now,
            WebhookEndpoint.enabled.is_(True),
        )
        if self.postgres:  # and no live session holds a claim on it
            due = and_(due, (WebhookMessage.id % CLAIM_KEYS).not_in(_CLAIMED))
        return due

    async def _due_exists(self, now: datetime) -> bool:
        async with self.db.session() as session:
            found = await session.scalar(
                select(WebhookMessage.id)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
                .where(self._due(now))
                .limit(1)
            )
            return found is not None

    async def claim(self, now: datetime, conn: AsyncConnection | None = None) -> list[Attempt]:
        """Claim a batch, counting the attempt (the fence of its result): with `conn`
        (PostgreSQL) by advisory locks held by that connection's session, else by the lease."""
        session = (
            self.db.session(write=True)
            if conn is None
            else AsyncSession(bind=conn, expire_on_commit=False)
        )
        async with session, session.begin():
            stmt = (
                select(WebhookMessage, WebhookEndpoint)
                .join(WebhookEndpoint, WebhookEndpoint.id == WebhookMessage.endpoint_id)
                .where(self._due(now))
                .order_by(WebhookMessage.next_attempt_at, WebhookMessage.id)
                .limit(self.batch_size)
            )
            if self.postgres:
                stmt = stmt.with_for_update(of=WebhookMessage, skip_locked=True)
            rows = [(message, endpoint) for message, endpoint in await session.execute(stmt)]
            if conn is not None and rows:
                rows = await self._lock(session, rows)
            claimed: list[Attempt] = []
            for message, endpoint in rows:
                message.attempts += 1
                if conn is None:
                    message.next_attempt_at = now + self.lease
                secrets = [endpoint.secret]
                if endpoint.previous_secret and (endpoint.previous_secret_until or now) > now:
                    secrets.append(endpoint.previous_secret)
                claimed.append(
                    Attempt(
                        id=message.id,
                        attempt=message.attempts,
                        url=endpoint.url,
                        msg_id=message.message_id,
                        body=body(message.event_type, message.occurred_at, message.payload),
                        secrets=secrets,
                    )
                )
            return claimed

    async def _lock(
        self, session: AsyncSession, rows: list[tuple[WebhookMessage, WebhookEndpoint]]
    ) -> list[tuple[WebhookMessage, WebhookEndpoint]]:
        """The rows whose claim lock this session got (one another session took between
        its `pg_locks` check and ours is left to it)."""
        locks = [
            func.pg_try_advisory_lock(CLAIM_NAMESPACE, message.id % CLAIM_KEYS)
            for message, _ in rows
        ]
        got = (await session.execute(keepalive(local=False).add_columns(*locks))).one()
        return [row for row, ok in zip(rows, got[len(KEEPALIVE) :], strict=True) if ok]

    async def _lease(self, ids: set[int]) -> None:
        """A round that failed in a live worker: its unfinished claims wait for the lease,
        since the request in progress may have arrived (PostgreSQL)."""
        try:
            async with self.db.session(write=True) as session, session.begin():
                await session.execute(
                    update(WebhookMessage)
                    .where(
                        WebhookMessage.id.in_(ids),
                        WebhookMessage.status == WebhookMessageStatus.PENDING,
                    )
                    .values(next_attempt_at=self.clock.now() + self.lease)
                )
        except Exception:
            log.exception("could not lease the unfinished webhook messages %s", sorted(ids))

    async def _release(self, conn: AsyncConnection) -> None:
        """Let go of the round's claims before its connection goes back to the pool; a
        connection that can't is closed, which releases them too."""
        try:
            await conn.execute(text("SELECT pg_advisory_unlock_all()"))
            await conn.commit()
        except Exception:
            log.warning("could not release the webhook claims; closing the connection")
            await conn.invalidate()
        except BaseException:  # cancelled: don't hand a connection with locks to the pool
            await conn.invalidate()
            raise

    async def send(self, client: httpx.AsyncClient, attempt: Attempt) -> Outcome:
        refusal = await url_refusal(attempt.url, self.allow_private)
        if refusal is not None:
            return Outcome(None, None, f"refused: {refusal}")
        timestamp = int(self.clock.now().timestamp())
        headers = {
            "content-type": "application/json",
            "webhook-id": attempt.msg_id,
            "webhook-timestamp": str(timestamp),
            "webhook-signature": signature_header(
                attempt.secrets, attempt.msg_id, timestamp, attempt.body
            ),
        }
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout):  # the whole request, not each read
                request = client.stream("POST", attempt.url, content=attempt.body, headers=headers)
                async with request as response:
                    code, latency = response.status_code, _ms(started)
                    head = b""
                    if not 200 <= code < 300:
                        async for chunk in response.aiter_bytes():  # the start of it only
                            head += chunk
                            if len(head) >= ANSWER_MAX:
                                break
        except (TimeoutError, httpx.TimeoutException):
            return Outcome(None, _ms(started), "timed out")
        except httpx.HTTPError as exc:
            return Outcome(None, _ms(started), f"{type(exc).__name__}: {exc}".rstrip(": "))
        if 200 <= code < 300:
            return Outcome(code, latency, None)
        answer = head[:ANSWER_MAX].decode("utf-8", "replace")
        return Outcome(code, latency, f"HTTP {code}: {answer}".rstrip(": "))

    async def finish(self, attempt: Attempt, outcome: Outcome) -> None:
        """Record the outcome, unless the message moved on without us (the fence)."""
        now = self.clock.now()
        async with self.db.session(write=True) as session, session.begin():
            stmt = select(WebhookMessage).where(WebhookMessage.id == attempt.id)
            if self.postgres:
                stmt = stmt.with_for_update()
            row = await session.scalar(stmt)
            if (
                row is None
                or row.status != WebhookMessageStatus.PENDING
                or row.attempts != attempt.attempt
            ):
                log.warning("webhook message %s changed while being sent", attempt.id)
                return
            row.response_code, row.latency_ms = outcome.status_code, outcome.latency_ms
            if outcome.ok:
                row.status, row.delivered_at, row.next_attempt_at = (
                    WebhookMessageStatus.DELIVERED,
                    now,
                    None,
                )
                row.last_error = None
                await session.execute(
                    update(WebhookEndpoint)
                    .where(WebhookEndpoint.id == row.endpoint_id)
                    .values(consecutive_failures=0)
                )
                return
            row.last_error = (outcome.error or "failed")[:ERROR_MAX]
            wait = retry_wait(row.attempts, self.max_attempts)
            if wait is not None:
                row.next_attempt_at = now + wait
                return
            row.status, row.next_attempt_at = WebhookMessageStatus.FAILED, None
            await self._count_failure(session, row, now)

    async def _count_failure(
        self, session: AsyncSession, row: WebhookMessage, now: datetime
    ) -> None:
        stmt = select(WebhookEndpoint).where(WebhookEndpoint.id == row.endpoint_id)
        if self.postgres:
            stmt = stmt.with_for_update()
        endpoint = await session.scalar(stmt)
        if endpoint is None:
            return
        endpoint.consecutive_failures += 1
        log.warning(
            "webhook message %s to endpoint %s FAILED after %s attempts: %s",
            row.message_id,
            endpoint.id,
            row.attempts,
            row.last_error,
        )
        if endpoint.enabled and endpoint.consecutive_failures >= self.disable_after:
            endpoint.enabled = False
            endpoint.disabled_reason = (
                f"Disabled at {now.isoformat()} after {endpoint.consecutive_failures} messages"
                f" in a row failed every attempt; the last: {row.last_error}"
            )[:ERROR_MAX]
            endpoint.updated_at = now
            log.warning("webhook endpoint %s disabled: %s", endpoint.id, endpoint.disabled_reason)


def _ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)
