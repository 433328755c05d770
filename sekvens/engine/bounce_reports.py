"""Bounce messages fed in as a mail server writes them: each delivery status notification
(RFC 3464) is parsed, matched to the organization's outbox by the bounced Message-ID and
recorded as an `EMAIL_BOUNCED` event, HARD or SOFT, so it acts like one (`engine/events.py`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.bounces import BounceType, DeliveryReport, RecipientStatus, parse_dsn
from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.suppression import normalize
from sekvens.engine.events import EventInput, EventResult, record_events
from sekvens.engine.runner import Runner
from sekvens.plugins.api import EventKind
from sekvens.storage.tables import OutboxMessage

#: Messages in one call.
BULK_MAX = 100


@dataclass
class BounceResult:
    index: int
    recorded: bool = False
    duplicate: bool = False
    #: The bounced message's Message-ID, the recipient that bounced and how.
    message_id: str | None = None
    address: str | None = None
    bounce_type: BounceType | None = None
    status: str | None = None
    connection_id: int | None = None
    problems: list[Problem] = field(default_factory=list)


async def record_bounce_reports(
    session: AsyncSession, runner: Runner, organization_id: int, raws: Seq[str]
) -> tuple[list[BounceResult], list[EventInput], list[EventResult]]:
    """Parse and record each message; returns the results and the events recorded (with
    their results, for the audit)."""
    results = [BounceResult(i) for i in range(len(raws))]
    reports: list[tuple[BounceResult, DeliveryReport, str]] = []
    for result, raw in zip(results, raws, strict=True):
        at = ("messages", str(result.index))
        report = parse_dsn(raw)
        if report is None:
            message = "Not a delivery status notification (no message/delivery-status part)."
            result.problems.append(Problem(ErrorCode.NOT_A_DSN, message, at))
        elif not report.bounces:
            message = "The report says the message was delivered or relayed, not that it bounced."
            result.problems.append(Problem(ErrorCode.NO_BOUNCE, message, at))
        elif report.original_message_id is None:
            message = "The report names no Message-ID of the bounced message."
            result.problems.append(Problem(ErrorCode.UNKNOWN_MESSAGE, message, at))
        else:
            reports.append((result, report, report.original_message_id))
    sent = {
        row.message_id: row
        for row in await session.execute(
            select(
                OutboxMessage.message_id, OutboxMessage.to_address, OutboxMessage.connection_id
            ).where(
                OutboxMessage.organization_id == organization_id,
                OutboxMessage.message_id.in_({m for _, _, m in reports}),
            )
        )
    }
    now = runner.clock.now()
    events: list[EventInput] = []
    eventful: list[BounceResult] = []
    for result, report, message_id in reports:
        row = sent.get(message_id)
        if row is None:
            message = f"No automated email of this organization has the Message-ID {message_id}."
            result.problems.append(
                Problem(ErrorCode.UNKNOWN_MESSAGE, message, ("messages", str(result.index)))
            )
            continue
        bounce = _recipient(report, row.to_address)
        result.message_id, result.address = message_id, bounce.address
        result.bounce_type, result.status = bounce.bounce_type, bounce.status
        data = {
            "source": "DSN",
            "recipient": bounce.address,
            "action": bounce.action,
            "status": bounce.status,
            "diagnostic": bounce.diagnostic,
            "reportingMta": report.reporting_mta,
        }
        events.append(
            EventInput(
                event_id=_event_id(message_id, bounce),
                kind=EventKind.EMAIL_BOUNCED,
                occurred_at=now,
                message_id=message_id,
                data={k: str(v) for k, v in data.items() if v is not None},
                bounce_type=bounce.bounce_type,
            )
        )
        eventful.append(result)
    recorded = await record_events(session, runner, organization_id, events)
    for result, outcome in zip(eventful, recorded, strict=True):
        result.recorded, result.duplicate = outcome.recorded, outcome.duplicate
        result.connection_id = outcome.connection_id
        result.problems.extend(
            Problem(p.code, p.message, ("messages", str(result.index))) for p in outcome.problems
        )
    return results, events, recorded


def _recipient(report: DeliveryReport, to_address: str) -> RecipientStatus:
    """The bounce that concerns the outbox message's recipient (its hard one first); a report
    whose recipients all differ (a forwarded address) counts as the recipient's."""
    address = normalize(to_address)
    mine = [
        b
        for b in report.bounces
        if normalize(b.address) == address
        or normalize(b.original_recipient or "").endswith(address)
    ]
    candidates = mine or list(report.bounces)
    return next((b for b in candidates if b.bounce_type is BounceType.HARD), candidates[0])


def _event_id(message_id: str, bounce: RecipientStatus) -> str:
    """The same report fed twice is one event; a later report on the same message (a delay,
    then the failure) is another."""
    key = "\n".join((message_id, normalize(bounce.address), str(bounce.action), str(bounce.status)))
    return f"dsn:{hashlib.sha256(key.encode()).hexdigest()[:40]}"
