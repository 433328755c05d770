"""SMTP delivery of the outbox: send due QUEUED messages, retry with backoff, give up visibly.

The outbox row is written in the step's transaction (`engine/mail.py`); delivery happens
after that commits, in three short steps so no database transaction is open while talking
to the SMTP server (which would hold SQLite's single write lock for seconds):

1. **Claim** due QUEUED rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so two workers never
   take the same row) and, in the same transaction, count the attempt. What keeps other
   workers away while the messages are sent:

   * PostgreSQL: the claim is a session-level advisory lock per message, taken in the claim
     transaction on a database connection the round keeps until it ends (a direct one,
     `Database.session_engine`: behind a transaction pooler the locks would stay on a server
     connection that is handed to other clients). The claim dies
     with that session: a worker killed even by SIGKILL (or, thanks to TCP keepalives, a
     machine that vanished) drops its connection, PostgreSQL releases the locks, and since
     the row is still due, the next round of any worker takes it over, first in line. A
     worker that survives an error in its round can't tell whether the message it was
     sending got through, so it turns its unfinished claims into a lease
     (`next_attempt_at` pushed out) before it lets go.
   * SQLite (one machine, one writer): the lease, `next_attempt_at` pushed out long enough
     for the whole batch. Other workers skip a claimed row until the lease runs out.
2. **Send** each message through aiosmtplib, with the Message-ID stored on the row.
3. **Finish** each message as soon as the server answered, in a small transaction of its
   own (on PostgreSQL one autocommitted UPDATE on the round's connection): SENT with
   `sent_at` and, in the same transaction, its `email.sent` webhook (docs/webhooks.md; on
   PostgreSQL a transaction instead of the UPDATE alone only for an organization with an
   enabled endpoint), or the error with the next attempt after an exponential backoff, or,
   after the last attempt, FAILED with the connection in ERROR and the reason in its
   `error`. A refusal that `parse_smtp_reply` classifies HARD (a hard bounce: "550 5.1.1")
   is FAILED at once, suppresses the address and ends the connection BOUNCED
   (`engine/bounces.py`); a soft one (4xx, or a 5xx such as a full mailbox or a policy
   block) is retried like any failure.
   The attempt count is the fence: a row another worker re-claimed meanwhile is left alone.

**Throttles** (docs/email.md#throttles) are applied at claim time: a message whose mailbox
sent `mailbox_daily_limit` messages in the last 24 hours, or whose organization sent
`org_hourly_limit` in the last hour, stays QUEUED, THROTTLED until the window frees a slot.
Messages claimed by other rounds and not finished yet count as sent now. On PostgreSQL the
claim takes a transaction advisory lock per organization before it counts, so two workers'
counts and claims take turns and can't both take the last slot.
**Pacing** holds a message whose mailbox sent less than `send_interval` ago THROTTLED until
one interval after that send (each further message held in the same claim one interval
later), and the **send window** is placed again at claim: a message whose time came outside
it (a retry, a throttle's slot, a resumed connection) waits for its next opening.

A process that dies between the server's accept and step 3 (a millisecond or so) leaves the
row QUEUED; it is sent again, with the same Message-ID, by the worker that takes it over (on
SQLite when the lease has run out), so receivers can recognise the duplicate. That is the
only case of a second send: a SENT row is never claimed again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit

import aiosmtplib
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    column,
    func,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from sekvens.config import Settings
from sekvens.domain.away import AwayPeriod, sender_hold
from sekvens.domain.bounces import BounceType, parse_smtp_reply
from sekvens.domain.global_ids import to_global_id
from sekvens.domain.life_cycles import (
    RUNNING,
    ConnectionReason,
    ConnectionStatus,
    OutboxStatus,
    WaitReason,
)
from sekvens.domain.records import DO_NOT_EMAIL_FIELD
from sekvens.domain.send_windows import RecipientWindow, recipient_window
from sekvens.domain.suppression import normalize
from sekvens.domain.webhooks import WebhookEventType
from sekvens.engine.bounces import hard_bounce
from sekvens.engine.link_signing import LinkSigner
from sekvens.plugins.api import Clock
from sekvens.storage.connection_endings import end_connection
from sekvens.storage.db import Database
from sekvens.storage.tables import (
    Connection,
    Organization,
    OutboxMessage,
    Record,
    Sequence,
    SuppressedAddress,
    User,
)
from sekvens.storage.webhooks import emit, listening

log = logging.getLogger("sekvens.delivery")

#: Headers the deliverer writes itself; same-named headers stored on a message are ignored.
RESERVED_HEADERS = frozenset(
    {
        "message-id",
        "date",
        "from",
        "to",
        "cc",
        "bcc",
        "subject",
        "mime-version",
        "list-unsubscribe",
        "list-unsubscribe-post",
    }
)
#: Connection statuses a failed email turns into ERROR (a disconnected one stays as it is).
FAILABLE = (*RUNNING, ConnectionStatus.COMPLETED)
BACKOFF_MAX = timedelta(hours=12)
ERROR_MAX = 2000
#: PostgreSQL: the first key of the advisory locks that are delivery claims ("SEKV"); the
#: second is the outbox id modulo CLAIM_KEYS (an int4). Two messages whose ids differ by a
#: multiple of 2^31 share a key, which only makes one wait for the other's round.
CLAIM_NAMESPACE = 0x53454B56
CLAIM_KEYS = 2**31
#: PostgreSQL: the first key of the transaction advisory locks ("SKVT") that serialize the
#: claims of an organization while its sends are counted against the throttles; the second
#: is the organization id modulo CLAIM_KEYS.
THROTTLE_NAMESPACE = 0x534B5654
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
#: Pacing's tolerance (at most half the interval): a held message's slot is counted from its
#: claim, the send it waits after from when the server accepted it, a moment later; that
#: moment must not hold it a second time.
PACE_SLACK = timedelta(seconds=5)
#: The claim keys held by live sessions of this database, read from `pg_locks` (no locking).
_CLAIMED = text(
    "SELECT objid::bigint AS key FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2"
    f" AND classid = {CLAIM_NAMESPACE} AND granted"
    " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
).columns(column("key", BigInteger))
#: TCP keepalives for a worker's sessions while it holds claims (PostgreSQL): when a
#: worker's machine vanishes without closing its connections, PostgreSQL notices after
#: about idle + interval x count = 25 seconds and releases its locks.
KEEPALIVE = {"tcp_keepalives_idle": 10, "tcp_keepalives_interval": 5, "tcp_keepalives_count": 3}


def keepalive(local: bool) -> Select[Any]:
    """Sets KEEPALIVE for the transaction (`local`) or the session; PostgreSQL only."""
    return select(*(func.set_config(name, str(v), local) for name, v in KEEPALIVE.items()))


_STARTTLS = {
    "auto": None,
    "required": True,
    "true": True,
    "1": True,
    "off": False,
    "false": False,
    "0": False,
}


@dataclass(frozen=True)
class SmtpTarget:
    """Where mail goes: parsed from `smtp://user:pass@host:port` or `smtps://...` (TLS from
    the first byte). `smtp://` upgrades with STARTTLS when the server offers it; add
    `?starttls=required` or `?starttls=off` to insist or to never try."""

    hostname: str
    port: int
    use_tls: bool
    start_tls: bool | None
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        parts = urlsplit(url.strip())
        scheme = parts.scheme.lower()
        if scheme not in ("smtp", "smtps"):
            raise ValueError("SEKVENS_SMTP_URL must start with smtp:// or smtps://")
        if not parts.hostname:
            raise ValueError("SEKVENS_SMTP_URL names no host: smtp://user:pass@host:port")
        try:
            port = parts.port
        except ValueError:
            raise ValueError("SEKVENS_SMTP_URL has an invalid port") from None
        use_tls = scheme == "smtps"
        mode = parse_qs(parts.query).get("starttls", ["auto"])[-1].lower()
        if mode not in _STARTTLS:
            raise ValueError("starttls in SEKVENS_SMTP_URL is one of auto, required, off")
        return cls(
            hostname=parts.hostname,
            port=port or (465 if use_tls else 25),
            use_tls=use_tls,
            start_tls=False if use_tls else _STARTTLS[mode],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password is not None else None,
        )

    def __repr__(self) -> str:
        scheme = "smtps" if self.use_tls else "smtp"
        user = f"{self.username}:***@" if self.username else ""
        return f"SmtpTarget({scheme}://{user}{self.hostname}:{self.port})"


@dataclass
class Failure:
    text: str
    #: Not worth retrying (the message can't be built).
    permanent: bool = False
    #: How the server's refusal classifies; HARD gives up at once as a hard bounce.
    bounce: BounceType | None = None


@dataclass
class Throttle:
    """The recent sends of the organizations and mailboxes of a claim, newest first, and
    the limits (0: none) they are held to."""

    now: datetime
    mailbox_daily_limit: int
    org_hourly_limit: int
    #: (organization, None) or (organization, mailbox) -> send times, newest first.
    recent: dict[tuple[int, str | None], list[datetime]]
    #: The least time between two sends of one mailbox (pacing); zero: none.
    interval: timedelta = timedelta(0)
    #: (organization, mailbox) -> the slot the last message held for pacing was given, so
    #: the next one held in the same claim waits one interval more.
    paced: dict[tuple[int, str], datetime] = field(default_factory=dict)

    def hold(self, organization_id: int, mailbox: str) -> datetime | None:
        """When the message may go, if it is over a limit now; else None, and it counts."""
        box = (organization_id, mailbox)
        limits = (
            ((organization_id, None), self.org_hourly_limit, HOUR),
            (box, self.mailbox_daily_limit, DAY),
        )
        frees = [
            times[limit - 1] + window
            for key, limit, window in limits
            if limit and len(times := self.recent.setdefault(key, [])) >= limit
        ]
        if self.interval:
            if box in self.paced:
                frees.append(self.paced[box] + self.interval)
            elif (sent := self.recent.get(box)) and sent[0] > self.now - self.interval + min(
                PACE_SLACK, self.interval / 2
            ):
                frees.append(sent[0] + self.interval)
        if frees:
            if self.interval:
                self.paced[box] = max(frees)
            return max(frees)
        for key, limit, _ in limits:
            if limit or (self.interval and key == box):
                self.recent.setdefault(key, []).insert(0, self.now)
        return None


@dataclass
class Job:
    """A claimed message: what to send, and the attempt number that fences the result."""

    outbox_id: int
    attempt: int
    message: EmailMessage | None
    failure: Failure | None = None


class Deliverer:
    """Sends due outbox messages through SMTP. `run_due` is one round; the engine calls it."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        smtp: SmtpTarget,
        *,
        mail_from: str = "sekvens@localhost",
        max_attempts: int = 5,
        retry_base: timedelta = timedelta(minutes=1),
        timeout: float = 30.0,
        batch_size: int = 20,
        signer: LinkSigner | None = None,
        mailbox_daily_limit: int = 0,
        org_hourly_limit: int = 0,
        send_interval: timedelta = timedelta(0),
    ):
        if max_attempts < 1:
            raise ValueError("SEKVENS_MAIL_MAX_ATTEMPTS must be at least 1")
        if mailbox_daily_limit < 0 or org_hourly_limit < 0:
            raise ValueError(
                "SEKVENS_MAILBOX_DAILY_LIMIT and SEKVENS_ORG_HOURLY_LIMIT are 0 (no limit) or more"
            )
        if send_interval < timedelta(0):
            raise ValueError("SEKVENS_MAILBOX_SEND_INTERVAL is 0 (no pacing) or more")
        self.send_interval = send_interval
        self.mailbox_daily_limit = mailbox_daily_limit
        self.org_hourly_limit = org_hourly_limit
        self.db, self.clock, self.smtp = db, clock, smtp
        self.mail_from = mail_from
        self.max_attempts = max_attempts
        self.retry_base = retry_base
        self.timeout = timeout
        self.batch_size = batch_size
        self.signer = signer
        self.postgres = db.engine.dialect.name == "postgresql"
        #: How long a claimed batch is ours: every message may take a connect and a send.
        self.lease = timedelta(seconds=max(300.0, 2 * timeout * (batch_size + 1)))
        #: Wraps each write session, so a connection put in ERROR is announced like the
        #: engine's own changes (build_engine sets the engine's change bus `track` here).
        self.track: Callable[[AsyncSession], AsyncSession] = lambda session: session

    @classmethod
    def from_settings(
        cls, settings: Settings, db: Database, clock: Clock, signer: LinkSigner | None = None
    ) -> Deliverer | None:
        """The deliverer `SEKVENS_SMTP_URL` asks for; None without it (mail stays STORED)."""
        if not settings.smtp_url:
            return None
        return cls(
            db,
            clock,
            SmtpTarget.parse(settings.smtp_url),
            mail_from=settings.mail_from,
            max_attempts=settings.mail_max_attempts,
            retry_base=timedelta(seconds=settings.mail_retry_seconds),
            timeout=settings.smtp_timeout_seconds,
            signer=signer,
            mailbox_daily_limit=settings.mailbox_daily_limit,
            org_hourly_limit=settings.org_hourly_limit,
            send_interval=timedelta(seconds=settings.mailbox_send_interval_seconds),
        )

    def backoff(self, attempts: int) -> timedelta:
        """The wait after failed attempt number `attempts`: the base, doubled each time."""
        return min(self.retry_base * (2 ** max(attempts - 1, 0)), BACKOFF_MAX)

    # --- One round ---------------------------------------------------------------------------

    async def run_due(self) -> int:
        """Send what is due now; returns the number of messages attempted."""
        if self.signer is not None and self.signer.enabled:
            self.signer.check()  # a key problem is the operator's, not the messages'
        if not await self._due_exists(self.clock.now()):  # spares a connection, or
            return 0  # SQLite's write lock, on an idle poll
        if not self.postgres:
            return await self._deliver(None)
        # The round's own session: the claims are its advisory locks (see the module doc).
        async with self.db.session_engine.connect() as conn:
            try:
                return await self._deliver(conn)
            finally:
                await self._release(conn)

    async def _deliver(self, conn: AsyncConnection | None) -> int:
        jobs = await self.claim(conn)
        if not jobs:
            return 0
        if conn is not None:  # from here on, each statement is its own small commit
            await conn.execution_options(isolation_level="AUTOCOMMIT")
        unfinished = {job.outbox_id: job for job in jobs}
        client: aiosmtplib.SMTP | None = None
        connect_failure: Failure | None = None
        try:
            for job in jobs:
                failure = job.failure or connect_failure
                if failure is None:
                    if client is None:
                        try:
                            client = await self._connect()
                        except Exception as exc:
                            connect_failure = failure = Failure(_describe(exc))
                    if failure is None and client is not None:
                        failure = await self._send(client, job)
                        if failure is not None:
                            client.close()  # start the next message on a clean session
                            client = None
                await self.finish(job, failure, conn)
                del unfinished[job.outbox_id]
        finally:
            if client is not None:
                try:
                    await client.quit()
                except Exception:
                    client.close()
            if unfinished and conn is not None:
                await self._lease(conn, list(unfinished))
        return len(jobs)

    async def _lease(self, conn: AsyncConnection, ids: list[int]) -> None:
        """A round that failed in a live worker: its unfinished claims wait for the lease,
        since the message in progress may have been accepted (PostgreSQL)."""
        try:
            await conn.execute(
                update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    # paused meanwhile: it waits for the resume instead
                    OutboxMessage.wait_reason.is_distinct_from(WaitReason.CONNECTION_PAUSED),
                )
                .values(next_attempt_at=self.clock.now() + self.lease)
            )
        except Exception:
            log.exception("could not lease the unfinished outbox messages %s", ids)

    async def _release(self, conn: AsyncConnection) -> None:
        """Let go of the round's claims before its connection goes back to the pool; a
        connection that can't is closed, which releases them too."""
        try:
            await conn.execute(text("SELECT pg_advisory_unlock_all()"))
        except Exception:
            log.warning("could not release the delivery claims; closing the connection")
            await conn.invalidate()
        except BaseException:  # cancelled: don't hand a connection with locks to the pool
            await conn.invalidate()
            raise

    def _due(self, now: datetime) -> ColumnElement[bool]:
        paused = (
            select(Connection.id)
            .where(
                Connection.id == OutboxMessage.connection_id,
                Connection.status == ConnectionStatus.PAUSED,
            )
            .exists()
        )
        # A paused connection's message waits (a send window may have held it): it goes when
        # the connection resumes.
        due = and_(
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.next_attempt_at <= now,
            ~paused,
        )
        if self.postgres:  # and no live session holds a claim on it
            due = and_(due, (OutboxMessage.id % CLAIM_KEYS).not_in(_CLAIMED))
        return due

    async def _due_exists(self, now: datetime) -> bool:
        async with self.db.session() as session:
            found = await session.scalar(select(OutboxMessage.id).where(self._due(now)).limit(1))
            return found is not None

    async def claim(self, conn: AsyncConnection | None = None) -> list[Job]:
        """Claim a batch: with `conn` (PostgreSQL), by advisory locks held by that
        connection's session; without, by the lease."""
        now = self.clock.now()
        jobs: list[Job] = []
        session = (
            self.db.session(write=True)
            if conn is None
            else AsyncSession(bind=conn, expire_on_commit=False)
        )
        async with self.track(session) as session, session.begin():
            stmt = (
                select(OutboxMessage)
                .where(self._due(now))
                .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
                .limit(self.batch_size)
            )
            if self.postgres:
                stmt = stmt.with_for_update(skip_locked=True)
            rows = list(await session.scalars(stmt))
            if conn is not None and rows:
                rows = await self._lock(session, rows)
            suppressed = await self._suppressed(session, rows)
            do_not_email = await self._do_not_email(session, rows)
            away = await self._senders_away(session, rows, now)
            windows = await self._windows(session, rows)
            throttle = await self._throttle(session, rows, now)
            for row in rows:
                # Opted out since it was queued (a hard bounce, an unsubscribe, the record
                # marked "do not email" while the message waited for its send window).
                refused = (
                    f"{row.to_address} is on the suppression list."
                    if (row.organization_id, normalize(row.to_address)) in suppressed
                    else "The record is marked do not email."
                    if row.connection_id in do_not_email
                    else None
                )
                if refused is not None:
                    row.status, row.next_attempt_at, row.wait_reason = (
                        OutboxStatus.CANCELED,
                        None,
                        None,
                    )
                    row.last_error = refused
                    continue
                if row.attempts >= self.max_attempts:
                    # The last attempt's process died before it recorded the outcome.
                    await self.give_up(
                        session,
                        row,
                        f"the last attempt was interrupted ({row.last_error or 'no response'}); "
                        "the message may or may not have been delivered",
                    )
                    continue
                back = away.get((row.organization_id, (row.from_address or "").lower()))
                if back is not None:  # its sender is away: it goes when they are back
                    row.wait_reason, row.next_attempt_at, row.send_after = (
                        WaitReason.SENDER_AWAY,
                        back,
                        back,
                    )
                    continue
                opens = _window_opens(windows.get(row.connection_id or 0), now)
                if opens > now:  # a retry, a resumed connection or a throttled message whose
                    # time came after its window closed: the window's next opening
                    row.wait_reason, row.next_attempt_at, row.send_after = (
                        WaitReason.WAITING_FOR_SEND_WINDOW,
                        opens,
                        opens,
                    )
                    continue
                held = (
                    throttle.hold(row.organization_id, row.from_address or self.mail_from)
                    if throttle is not None
                    else None
                )
                if held is not None:  # its Date is the slot's time, as a send window's is
                    row.wait_reason, row.next_attempt_at, row.send_after = (
                        WaitReason.THROTTLED,
                        held,
                        held,
                    )
                    continue
                row.attempts += 1
                row.wait_reason = None  # its time has come
                if conn is None:
                    row.next_attempt_at = now + self.lease
                try:
                    jobs.append(Job(row.id, row.attempts, self.build(row)))
                except (ValueError, TypeError) as exc:  # a header the mail format refuses
                    failure = Failure(f"The message can't be built: {exc}", permanent=True)
                    jobs.append(Job(row.id, row.attempts, None, failure))
        return jobs

    async def _throttle(
        self, session: AsyncSession, rows: list[OutboxMessage], now: datetime
    ) -> Throttle | None:
        """The recent sends the rows are counted with; None without limits. On PostgreSQL
        the organizations' throttle locks first, held until the claim commits."""
        paced = self.send_interval > timedelta(0)
        if not rows or not (self.mailbox_daily_limit or self.org_hourly_limit or paced):
            return None
        orgs = sorted({row.organization_id for row in rows})
        if self.postgres:  # in id order, so two claims never wait for each other in a circle
            for org in orgs:
                await session.execute(
                    select(func.pg_advisory_xact_lock(THROTTLE_NAMESPACE, org % CLAIM_KEYS))
                )
        mailbox = func.coalesce(OutboxMessage.from_address, literal(self.mail_from))
        mailboxes = {row.from_address or self.mail_from for row in rows}
        recent: dict[tuple[int, str | None], list[datetime]] = {}

        def count(org: int, box: str, at: datetime, pace: bool = True) -> None:
            if self.org_hourly_limit and at > now - HOUR:
                recent.setdefault((org, None), []).append(at)
            if (self.mailbox_daily_limit or (paced and pace)) and box in mailboxes:
                recent.setdefault((org, box), []).append(at)

        # In flight: claimed by another round (its lease, or on PostgreSQL its claim lock),
        # or failed and waiting to retry, counted as sent now. Read before the sent ones: a
        # message finished between the two reads is counted twice, never missed. Pacing
        # counts only those being sent (a lease, a claim lock), not one RETRYING: that would
        # hold its mailbox for the whole backoff.
        leased = OutboxMessage.next_attempt_at > now  # a claim on SQLite, or a retry's wait
        in_flight = and_(
            leased,
            or_(
                OutboxMessage.wait_reason.is_(None),
                OutboxMessage.wait_reason == WaitReason.RETRYING,
            ),
        )
        sending = and_(leased, OutboxMessage.wait_reason.is_(None))
        if self.postgres:  # a claim lock: being sent, even if its connection paused meanwhile
            locked = (OutboxMessage.id % CLAIM_KEYS).in_(_CLAIMED)
            in_flight, sending = or_(in_flight, locked), or_(sending, locked)
        for org, box, pace in await session.execute(
            select(OutboxMessage.organization_id, mailbox, sending).where(
                OutboxMessage.organization_id.in_(orgs),
                OutboxMessage.status == OutboxStatus.QUEUED,
                OutboxMessage.attempts > 0,
                OutboxMessage.id.not_in([row.id for row in rows]),
                in_flight,
            )
        ):
            count(org, box, now, bool(pace))
        since = now - (DAY if self.mailbox_daily_limit else max(HOUR, self.send_interval))
        for org, box, sent_at in await session.execute(
            select(OutboxMessage.organization_id, mailbox, OutboxMessage.sent_at).where(
                OutboxMessage.organization_id.in_(orgs),
                OutboxMessage.sent_at > since,
                or_(OutboxMessage.sent_at > now - HOUR, mailbox.in_(mailboxes)),
            )
        ):
            count(org, box, cast(datetime, sent_at))  # set on every row selected
        for times in recent.values():
            times.sort(reverse=True)
        return Throttle(
            now, self.mailbox_daily_limit, self.org_hourly_limit, recent, self.send_interval
        )

    async def _suppressed(
        self, session: AsyncSession, rows: list[OutboxMessage]
    ) -> set[tuple[int, str]]:
        """(organization, address) of the rows' recipients on their suppression lists."""
        if not rows:
            return set()
        found = await session.execute(
            select(SuppressedAddress.organization_id, SuppressedAddress.address).where(
                SuppressedAddress.organization_id.in_({r.organization_id for r in rows}),
                SuppressedAddress.address.in_({normalize(r.to_address) for r in rows}),
            )
        )
        return {(org, address) for org, address in found}

    async def _windows(
        self, session: AsyncSession, rows: list[OutboxMessage]
    ) -> dict[int, RecipientWindow]:
        """The send windows of the rows' connections that have one, by connection: the
        sequence's (the organization's without one) in the record's time zone, as
        `Runner.send_window` places it when the step runs."""
        ids = {r.connection_id for r in rows if r.connection_id is not None}
        if not ids:
            return {}
        found = await session.execute(
            select(
                Connection.id,
                Sequence.send_window.label("own"),
                Organization.send_window.label("default"),
                Organization.default_time_zone,
                Organization.holidays,
                Record.fields,
            )
            .join(Sequence, Sequence.id == Connection.sequence_id)
            .join(Organization, Organization.id == Connection.organization_id)
            .join(Record, Record.id == Connection.record_id)
            .where(Connection.id.in_(ids))
        )
        windows: dict[int, RecipientWindow] = {}
        for row in found:
            window = recipient_window(
                row.own, row.default, row.fields, row.default_time_zone, row.holidays
            )
            if window is not None:
                windows[row.id] = window
        return windows

    async def _senders_away(
        self, session: AsyncSession, rows: list[OutboxMessage], now: datetime
    ) -> dict[tuple[int, str], datetime]:
        """(organization, address) of the rows' senders who are away now -> when they are
        back (`domain.away.sender_hold`): the users whose email is the message's From."""
        addresses = {r.from_address.lower() for r in rows if r.from_address}
        if not addresses:
            return {}
        found = await session.execute(
            select(User.organization_id, User.email, User.away_from, User.away_until).where(
                User.organization_id.in_({r.organization_id for r in rows}),
                User.email.in_(addresses),
                User.away_from <= now,
                User.away_until > now,
            )
        )
        away: dict[tuple[int, str], datetime] = {}
        for org, email, starts, ends in found:
            back = sender_hold(AwayPeriod.of(starts, ends, None), now)
            if back is not None:
                away[(org, email)] = back
        return away

    async def _do_not_email(self, session: AsyncSession, rows: list[OutboxMessage]) -> set[int]:
        """The rows' connections whose record is marked "do not email"."""
        ids = {r.connection_id for r in rows if r.connection_id is not None}
        if not ids:
            return set()
        found = await session.execute(
            select(Connection.id, Record.fields)
            .join(Record, Record.id == Connection.record_id)
            .where(Connection.id.in_(ids))
        )
        return {row.id for row in found if row.fields.get(DO_NOT_EMAIL_FIELD) is True}

    async def _lock(self, session: AsyncSession, rows: list[OutboxMessage]) -> list[OutboxMessage]:
        """The rows whose claim lock this session got. One another session took between its
        `pg_locks` check and ours is left to it."""
        locks = [func.pg_try_advisory_lock(CLAIM_NAMESPACE, row.id % CLAIM_KEYS) for row in rows]
        got = (await session.execute(keepalive(local=False).add_columns(*locks))).one()
        return [row for row, ok in zip(rows, got[len(KEEPALIVE) :], strict=True) if ok]

    def build(self, row: OutboxMessage) -> EmailMessage:
        """The email of an outbox row; the same Message-ID and Date on every attempt (the
        send window's opening for a message that waited for it, else when the step ran)."""
        msg = EmailMessage()
        for name, value in (row.headers or {}).items():
            if name.lower() not in RESERVED_HEADERS and not name.lower().startswith("content-"):
                msg[name] = str(value)
        msg["Message-ID"] = row.message_id
        msg["Date"] = format_datetime(row.send_after or row.created_at)
        msg["From"] = sender(row.from_address or self.mail_from, row.from_name)
        if row.reply_to:
            del msg["Reply-To"]
            msg["Reply-To"] = row.reply_to
        msg["To"] = row.to_address
        msg["Subject"] = row.subject
        text, html = row.text, row.html
        if self.signer is not None and self.signer.enabled:
            for name, value in self.signer.unsubscribe_headers(row.id).items():
                msg[name] = value
            text = self.signer.unsubscribe_footer(row.id, row.text)
            html = self.signer.decorate(row.id, row.text, row.html)
        msg.set_content(text)
        if html is not None:
            msg.add_alternative(html, subtype="html")
        return msg

    async def _connect(self) -> aiosmtplib.SMTP:
        t = self.smtp
        client = aiosmtplib.SMTP(
            hostname=t.hostname,
            port=t.port,
            use_tls=t.use_tls,
            start_tls=t.start_tls,
            username=t.username,
            password=t.password,
            timeout=self.timeout,
        )
        await client.connect()  # logs in too when the URL has a user
        return client

    async def _send(self, client: aiosmtplib.SMTP, job: Job) -> Failure | None:
        if job.message is None:  # a job without a message carries its failure instead
            raise ValueError(f"outbox message {job.outbox_id} has nothing to send")
        try:
            await client.send_message(job.message)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            replies = [f"{r.code} {r.message}" for r in exc.recipients]
            text = "; ".join(replies) or str(exc)
            return Failure(f"recipient refused: {text}", bounce=_bounce(replies))
        except aiosmtplib.SMTPDataError as exc:  # refused after the message was read
            return Failure(_describe(exc), bounce=_bounce([f"{exc.code} {exc.message}"]))
        except Exception as exc:
            return Failure(_describe(exc))
        return None

    async def finish(
        self, job: Job, failure: Failure | None, conn: AsyncConnection | None = None
    ) -> None:
        """Record the outcome of `job`, unless the row moved on without us. Sent: at once,
        in a single UPDATE (autocommitted on the round's connection `conn`)."""
        now = self.clock.now()
        if failure is None:
            sent = (
                update(OutboxMessage)
                .where(
                    OutboxMessage.id == job.outbox_id,
                    OutboxMessage.status == OutboxStatus.QUEUED,
                    OutboxMessage.attempts == job.attempt,
                )
                .values(
                    status=OutboxStatus.SENT,
                    sent_at=now,
                    next_attempt_at=None,
                    last_error=None,
                    wait_reason=None,  # a pause while it was being sent came too late
                )
                .returning(*SENT_HOOK_COLUMNS)
                .execution_options(synchronize_session=False)
            )
            if conn is not None and not await conn.scalar(listening_for(job.outbox_id)):
                done = (await conn.execute(sent)).first()  # no endpoint: nothing to emit
            else:  # the SENT and its webhook in one transaction
                async with self.db.session(write=True) as session, session.begin():
                    done = (await session.execute(sent)).first()
                    if done is not None:
                        await _emit_sent(session, done, now)
            if done is None:
                log.warning("outbox message %s changed while being sent; left as is", job.outbox_id)
            return
        async with self.track(self.db.session(write=True)) as session, session.begin():
            stmt = select(OutboxMessage).where(OutboxMessage.id == job.outbox_id)
            if self.postgres:
                stmt = stmt.with_for_update()
            row = await session.scalar(stmt)
            if row is None or row.status != OutboxStatus.QUEUED or row.attempts != job.attempt:
                log.warning("outbox message %s changed while being sent; left as is", job.outbox_id)
                return
            row.last_error = failure.text[:ERROR_MAX]
            if failure.bounce is BounceType.HARD:
                await self.give_up(session, row, failure.text, bounced=True)
            elif failure.permanent:
                await self.give_up(session, row, failure.text)
            elif row.attempts >= self.max_attempts:
                await self.give_up(
                    session, row, f"gave up after {row.attempts} attempts: {failure.text}"
                )
            elif row.wait_reason != WaitReason.CONNECTION_PAUSED:
                row.next_attempt_at = now + self.backoff(row.attempts)
                row.wait_reason = WaitReason.RETRYING
                # else its connection was paused while it was being sent: it keeps waiting for
                # the resume, which makes it due again
                log.info(
                    "outbox message %s: attempt %s failed (%s); next at %s",
                    row.id,
                    row.attempts,
                    failure.text,
                    row.next_attempt_at.isoformat(),
                )

    async def give_up(
        self, session: AsyncSession, row: OutboxMessage, reason: str, *, bounced: bool = False
    ) -> None:
        """FAILED, and the connection that sent it in ERROR with the reason (like
        `Runner.fail`), so the failure shows where sellers and managers look; `bounced`
        (a hard bounce): the address suppressed and the connection ended BOUNCED instead."""
        now = self.clock.now()
        row.status, row.next_attempt_at, row.wait_reason = OutboxStatus.FAILED, None, None
        row.last_error = reason[:ERROR_MAX]
        log.warning("outbox message %s to %s FAILED: %s", row.id, row.to_address, reason)
        if bounced:
            await hard_bounce(
                session, row.organization_id, row.connection_id, row.to_address, reason, now
            )
            return
        if row.connection_id is None:
            return
        stmt = select(Connection).where(Connection.id == row.connection_id)
        if self.postgres:
            stmt = stmt.with_for_update()
        conn = await session.scalar(stmt)
        if conn is None or conn.status not in FAILABLE:
            return
        error = f"Email to {row.to_address} could not be delivered: {reason}"
        log.warning("connection %s is in ERROR: %s", conn.id, error)
        if conn.status in RUNNING:
            await end_connection(
                session,
                conn,
                ConnectionStatus.ERROR,
                ConnectionReason.DELIVERY_FAILED,
                now,
                error=error,
            )
        else:  # completed before its last email failed: nothing open to close
            conn.status, conn.reason, conn.error = (
                ConnectionStatus.ERROR,
                ConnectionReason.DELIVERY_FAILED,
                error[:ERROR_MAX],
            )


#: What an `email.sent` webhook tells, returned by the UPDATE that records the send.
SENT_HOOK_COLUMNS = (
    OutboxMessage.id,
    OutboxMessage.organization_id,
    OutboxMessage.connection_id,
    OutboxMessage.message_id,
    OutboxMessage.to_address,
    OutboxMessage.from_address,
    OutboxMessage.subject,
)


async def _emit_sent(session: AsyncSession, row: Any, now: datetime) -> None:
    data = {
        "outboxMessageId": to_global_id("OutboxMessage", row.id),
        "connectionId": (
            to_global_id("SequenceTarget", row.connection_id) if row.connection_id else None
        ),
        "messageId": row.message_id,
        "to": row.to_address,
        "from": row.from_address,
        "subject": row.subject,
        "sentAt": now.isoformat(),
    }
    await emit(session, row.organization_id, WebhookEventType.EMAIL_SENT, data, now)


def listening_for(outbox_id: int) -> Select[tuple[bool]]:
    """Whether the organization of an outbox message has an enabled webhook endpoint."""
    org = select(OutboxMessage.organization_id).where(OutboxMessage.id == outbox_id)
    return listening(org.scalar_subquery())


def _window_opens(window: RecipientWindow | None, now: datetime) -> datetime:
    """`now` inside the window (or without one), else its next opening; `now` too for a
    window the holidays keep shut for years (the step would not have queued it)."""
    if window is None:
        return now
    try:
        return window.next_send_time(now)
    except ValueError:
        return now


def sender(address: str, name: str | None) -> str | Address:
    """The From of a message: the address with the display name (on one line, encoded as
    RFC 2047 words where it needs it), or the bare address without a name."""
    name = " ".join((name or "").split())
    if not name:
        return address
    try:
        return Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError):  # an address the header parser can't take whole
        return address


def _bounce(replies: list[str]) -> BounceType | None:
    """HARD when any of the server's replies is a hard bounce, else SOFT when any is soft."""
    found = {parse_smtp_reply(reply).bounce_type for reply in replies}
    return next((b for b in (BounceType.HARD, BounceType.SOFT) if b in found), None)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return f"{exc.code} {exc.message}"
    if isinstance(exc, asyncio.TimeoutError | TimeoutError):
        return f"timed out: {exc}" if str(exc) else "timed out"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
