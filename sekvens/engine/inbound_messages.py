"""Inbound messages fed in as they arrived (answers to the organization's automated email):
each is classified and recorded as an engagement event on the email it answers, so it acts
like one (`engine/events.py`). A delivery status notification takes the bounce path
(`engine/bounce_reports.py`); a message `recognize_auto_reply` calls automatic is an
`EMAIL_AUTO_REPLY` with the return date it states (pausing the connection until then); any
other is a person's reply, `EMAIL_REPLIED`, except that a mail system's message (a null
`Return-Path`, or from MAILER-DAEMON or postmaster) is no one's reply: it is refused
(`MAIL_SYSTEM_MESSAGE`). The email answered is found by the message's `In-Reply-To`, then
`References` (newest first), among the organization's outbox.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.auto_replies import recognize_auto_reply
from sekvens.domain.bounces import parse_dsn
from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.mail_text import header, message_from
from sekvens.domain.send_windows import recipient_time_zone
from sekvens.engine.bounce_reports import record_bounce_reports
from sekvens.engine.events import EventInput, EventResult, record_events
from sekvens.engine.runner import Runner
from sekvens.plugins.api import EventKind
from sekvens.storage import organizations
from sekvens.storage.tables import Connection, OutboxMessage, Record

#: Messages in one call.
BULK_MAX = 100
#: Characters in one message.
MESSAGE_MAX = 1_000_000

_MESSAGE_ID_RE = re.compile(r"<[^<>\s]{1,198}>")
_MAIL_SYSTEM_RE = re.compile(r"(?:^|[\s<\"])(?:mailer-daemon|postmaster)@", re.IGNORECASE)


@dataclass
class InboundResult:
    index: int
    #: What it was recorded as: EMAIL_BOUNCED, EMAIL_AUTO_REPLY or EMAIL_REPLIED.
    kind: EventKind | None = None
    recorded: bool = False
    duplicate: bool = False
    #: The outbox message it answers.
    message_id: str | None = None
    return_date: date | None = None
    connection_id: int | None = None
    problems: list[Problem] = field(default_factory=list)


async def record_inbound_messages(
    session: AsyncSession, runner: Runner, organization_id: int, raws: Seq[str]
) -> tuple[list[InboundResult], list[EventInput], list[EventResult]]:
    """Classify, match and record each message; returns the results and the events recorded
    (with their results, for the audit)."""
    results = [InboundResult(i) for i in range(len(raws))]
    dsns: list[tuple[InboundResult, str]] = []
    answers: list[tuple[InboundResult, str, list[str], str, bool]] = []
    for result, raw in zip(results, raws, strict=True):
        at = ("messages", str(result.index))
        if len(raw) > MESSAGE_MAX:
            message = f"A message is at most {MESSAGE_MAX} characters."
            result.problems.append(Problem(ErrorCode.TOO_LONG, message, at))
        elif parse_dsn(raw) is not None:
            result.kind = EventKind.EMAIL_BOUNCED
            dsns.append((result, raw))
        else:
            parsed = message_from(raw)
            answered = _answered(header(parsed, "In-Reply-To"), header(parsed, "References"))
            event_id = _event_id(header(parsed, "Message-ID"), raw)
            mail_system = _from_mail_system(header(parsed, "Return-Path"), header(parsed, "From"))
            answers.append((result, raw, answered, event_id, mail_system))
    events, recorded = await _bounces(session, runner, organization_id, dsns)
    sent = {
        message_id: conn_id
        for message_id, conn_id in await session.execute(
            select(OutboxMessage.message_id, OutboxMessage.connection_id).where(
                OutboxMessage.organization_id == organization_id,
                OutboxMessage.connection_id.is_not(None),
                OutboxMessage.message_id.in_({m for _, _, ids, _, _ in answers for m in ids}),
            )
        )
        if conn_id is not None
    }
    zones = await _zones(session, organization_id, set(sent.values()))
    now = runner.clock.now()
    replies: list[EventInput] = []
    eventful: list[InboundResult] = []
    for result, raw, answered, event_id, mail_system in answers:
        message_id = next((m for m in answered if m in sent), None)
        if message_id is None:
            message = (
                "It answers none of this organization's automated emails"
                " (by In-Reply-To or References)."
            )
            result.problems.append(
                Problem(ErrorCode.UNKNOWN_MESSAGE, message, ("messages", str(result.index)))
            )
            continue
        result.message_id = message_id
        auto = recognize_auto_reply(raw, ZoneInfo(zones.get(sent[message_id], "UTC")), now)
        data: dict[str, str] = {"source": "INBOUND"}
        if auto.is_auto_reply:
            result.kind, result.return_date = EventKind.EMAIL_AUTO_REPLY, auto.return_date
            data["signals"] = ",".join(auto.signals)
        elif mail_system:
            message = (
                "A mail system's message (a null Return-Path, or from MAILER-DAEMON or "
                "postmaster) that is neither a delivery status notification nor an auto-reply."
            )
            result.problems.append(
                Problem(ErrorCode.MAIL_SYSTEM_MESSAGE, message, ("messages", str(result.index)))
            )
            continue
        else:
            result.kind = EventKind.EMAIL_REPLIED
        replies.append(
            EventInput(
                event_id=event_id,
                kind=result.kind,
                occurred_at=now,
                message_id=message_id,
                data=data,
                return_date=result.return_date,
            )
        )
        eventful.append(result)
    outcomes = await record_events(session, runner, organization_id, replies)
    for result, outcome in zip(eventful, outcomes, strict=True):
        result.recorded, result.duplicate = outcome.recorded, outcome.duplicate
        result.connection_id = outcome.connection_id
        result.problems.extend(
            Problem(p.code, p.message, ("messages", str(result.index))) for p in outcome.problems
        )
    return results, [*events, *replies], [*recorded, *outcomes]


async def _bounces(
    session: AsyncSession,
    runner: Runner,
    organization_id: int,
    dsns: Seq[tuple[InboundResult, str]],
) -> tuple[list[EventInput], list[EventResult]]:
    """Record the delivery status notifications as `recordBounceMessages` does."""
    if not dsns:
        return [], []
    bounces, events, recorded = await record_bounce_reports(
        session, runner, organization_id, [raw for _, raw in dsns]
    )
    for (result, _), bounce in zip(dsns, bounces, strict=True):
        result.recorded, result.duplicate = bounce.recorded, bounce.duplicate
        result.message_id, result.connection_id = bounce.message_id, bounce.connection_id
        result.problems.extend(
            Problem(p.code, p.message, ("messages", str(result.index))) for p in bounce.problems
        )
    return events, recorded


async def _zones(session: AsyncSession, organization_id: int, conn_ids: set[int]) -> dict[int, str]:
    """The time zone of each connection's record (the organization's default without one)."""
    if not conn_ids:
        return {}
    default = (await organizations.existing(session, organization_id)).default_time_zone
    rows = await session.execute(
        select(Connection.id, Record.fields)
        .join(Record, Record.id == Connection.record_id)
        .where(Connection.id.in_(conn_ids))
    )
    zones: dict[int, str] = {}
    for row in rows:
        zones[row.id] = recipient_time_zone(row.fields or {}, default)
    return zones


def _answered(in_reply_to: str | None, references: str | None) -> list[str]:
    """The Message-IDs a message answers, the likeliest first: `In-Reply-To`, then
    `References` from the newest."""
    ids = _MESSAGE_ID_RE.findall(in_reply_to or "")
    ids += reversed(_MESSAGE_ID_RE.findall(references or ""))
    return list(dict.fromkeys(ids))


def _from_mail_system(return_path: str | None, sender: str | None) -> bool:
    """A null `Return-Path` (RFC 5321 bounces and RFC 3834 automatic answers), or a `From`
    of MAILER-DAEMON or postmaster."""
    null_path = return_path is not None and return_path.strip() in ("<>", "")
    return null_path or bool(_MAIL_SYSTEM_RE.search(sender or ""))


def _event_id(message_id: str | None, raw: str) -> str:
    """The same message fed twice is one event: by its Message-ID, else its text."""
    key = message_id.strip() if message_id and message_id.strip() else raw
    return f"inbound:{hashlib.sha256(key.encode('utf-8', 'surrogatepass')).hexdigest()[:40]}"
