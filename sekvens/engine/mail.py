"""Automated email: plugins send through the outbox, once per step; delivery happens later.

`OutboxMail` is the `MailTransport` a step sees. It writes the message to the outbox table
in the step's own transaction, keyed by the step's idempotency key, so executing a step
twice stores (and later delivers) one message. It refuses (`RecipientOptedOut`) a record
marked "do not email" and an address on the organization's suppression list, and
(`MessageTooLarge`) a message whose subject or text is longer than a rendered template may be.
A message reached outside its recipient's send window is queued to go when the window opens
(`WAITING_FOR_SEND_WINDOW`, with that time as its `next_attempt_at` and `send_after`).
`previous_message` finds the connection's latest earlier message, to reply to in its thread.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.life_cycles import OutboxStatus, WaitReason
from sekvens.domain.send_windows import RecipientWindow
from sekvens.domain.suppression import normalize
from sekvens.domain.templates import MAX_SUBJECT_OUTPUT, MAX_TEMPLATE_OUTPUT
from sekvens.plugins.api import MailMessage, RecipientOptedOut, SentMessage
from sekvens.storage import suppression
from sekvens.storage.tables import OutboxMessage

MESSAGE_DOMAIN = "sekvens.local"
#: The statuses of a message a later one may reply to: it reached, or will reach, the recipient.
THREADED = (OutboxStatus.STORED, OutboxStatus.QUEUED, OutboxStatus.SENT)


class MessageTooLarge(ValueError):
    """A message over the outbox's caps: `MAX_SUBJECT_OUTPUT` characters of subject,
    `MAX_TEMPLATE_OUTPUT` of text and of html each. Nothing is stored."""


def check_size(message: MailMessage) -> None:
    """Raise `MessageTooLarge` when `message` is over the outbox's caps."""
    parts = (
        ("subject", message.subject, MAX_SUBJECT_OUTPUT),
        ("text", message.text, MAX_TEMPLATE_OUTPUT),
        ("html", message.html or "", MAX_TEMPLATE_OUTPUT),
    )
    for name, value, cap in parts:
        if len(value) > cap:
            raise MessageTooLarge(
                f"The message's {name} has {len(value):,} characters; the outbox stores at"
                f" most {cap:,}."
            )


class OutboxMail:
    def __init__(
        self,
        session: AsyncSession,
        organization_id: int,
        connection_id: int | None,
        now: datetime,
        deliver: bool,
        default_from: str | None = None,
        do_not_email: bool = False,
        sent: dict[str, str] | None = None,
        flush: bool = True,
        suppression: tuple[set[str], set[str]] | None = None,
        send_window: RecipientWindow | None = None,
        step_key: str | None = None,
    ):
        self.session = session
        self.organization_id = organization_id
        self.connection_id = connection_id
        self.now = now
        self.deliver = deliver
        self.default_from = default_from
        self.do_not_email = do_not_email
        #: The idempotency keys and message ids of the connection's messages, when the
        #: caller loaded them (the engine's batch): a key "<connection id>:..." not in it
        #: was not sent, so it needs no query.
        self.sent = sent
        #: False: the message is written with the caller's other rows (the engine's batch).
        self.flush = flush
        #: (addresses checked, those suppressed) of the organization, normalized, when the
        #: caller loaded them; other addresses are looked up.
        self.suppression = suppression
        #: The recipient's send window; None: the message may go at once.
        self.send_window = send_window
        #: The idempotency key of the step's own message (not its "previous message").
        self.step_key = step_key

    async def send(self, message: MailMessage) -> str:
        key = message.idempotency_key or uuid.uuid4().hex
        if self.sent is not None and key in self.sent:
            return self.sent[key]
        if self.sent is not None and key.startswith(f"{self.connection_id}:"):
            existing = None
        else:
            existing = await self.session.scalar(
                select(OutboxMessage.message_id).where(OutboxMessage.idempotency_key == key)
            )
        if existing is not None:
            return existing
        check_size(message)
        if self.do_not_email:
            raise RecipientOptedOut("The record is marked 'do not email'.")
        address = normalize(message.to)
        if self.suppression is not None and address in self.suppression[0]:
            suppressed = address in self.suppression[1]
        else:
            with self.session.no_autoflush:  # nothing pending decides it: no early flush
                suppressed = await suppression.is_suppressed(
                    self.session, self.organization_id, message.to
                )
        if suppressed:
            raise RecipientOptedOut(f"{message.to} is on the organization's suppression list.")
        message_id = f"<{uuid.uuid4().hex}@{MESSAGE_DOMAIN}>"
        send_after = None
        if self.deliver and self.send_window is not None:
            opens = self.send_window.next_send_time(self.now)
            send_after = opens if opens > self.now else None
        self.session.add(
            OutboxMessage(
                organization_id=self.organization_id,
                connection_id=self.connection_id,
                idempotency_key=key,
                message_id=message_id,
                to_address=message.to,
                from_address=message.from_address or self.default_from,
                from_name=message.from_name or None,
                reply_to=message.reply_to or None,
                subject=message.subject,
                text=message.text,
                html=message.html,
                headers=dict(message.headers),
                variant=message.variant,
                status=OutboxStatus.QUEUED if self.deliver else OutboxStatus.STORED,
                next_attempt_at=(send_after or self.now) if self.deliver else None,
                wait_reason=WaitReason.WAITING_FOR_SEND_WINDOW if send_after else None,
                send_after=send_after,
                created_at=self.now,
            )
        )
        if self.flush:
            await self.session.flush()
        if self.sent is not None:
            self.sent[key] = message_id
        return message_id

    async def previous_message(self) -> SentMessage | None:
        """The connection's latest message (by id) that is STORED, QUEUED or SENT, other than
        the step's own; its References header as stored."""
        if self.connection_id is None:
            return None
        query = (
            select(OutboxMessage.message_id, OutboxMessage.subject, OutboxMessage.headers)
            .where(
                OutboxMessage.connection_id == self.connection_id,
                OutboxMessage.status.in_(THREADED),
            )
            .order_by(OutboxMessage.id.desc())
            .limit(1)
        )
        if self.step_key is not None:
            query = query.where(OutboxMessage.idempotency_key != self.step_key)
        row = (await self.session.execute(query)).first()
        if row is None:
            return None
        headers = row.headers or {}
        references = next((str(v) for k, v in headers.items() if k.lower() == "references"), "")
        return SentMessage(row.message_id, row.subject, tuple(references.split()))
