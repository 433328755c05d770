"""Customer engagement: record events once, wake the conditions waiting for them, exit on
reply or on a booked meeting, pause for the recipient's automatic reply. Each recorded event
of a kind in `WEBHOOK_TYPES` queues its webhook (email.delivered, ...) in the same
transaction."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy import Select, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sekvens.domain.auto_replies import RETURN_MAX
from sekvens.domain.auto_reply_pauses import auto_reply_resume_at
from sekvens.domain.bounces import BounceType
from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.exit_criteria import ExitCriteria
from sekvens.domain.global_ids import to_global_id
from sekvens.domain.life_cycles import (
    RUNNING,
    ConnectionPhase,
    ConnectionReason,
    ConnectionStatus,
    PauseReason,
)
from sekvens.domain.send_windows import recipient_time_zone
from sekvens.domain.webhooks import WebhookEventType
from sekvens.engine.bounces import hard_bounce
from sekvens.engine.runner import Batch, Runner, event_view
from sekvens.plugins.api import EventKind
from sekvens.storage import audit, connection_pauses
from sekvens.storage.db import is_postgres
from sekvens.storage.tables import (
    Activity,
    Connection,
    EngagementEvent,
    OutboxMessage,
    Record,
    Sequence,
)
from sekvens.storage.webhooks import emit

BULK_MAX = 1000
EVENT_ID_MAX = 200
#: The webhook each kind of event sends (an auto-reply or a download sends none).
WEBHOOK_TYPES = {
    EventKind.EMAIL_DELIVERED: WebhookEventType.EMAIL_DELIVERED,
    EventKind.EMAIL_OPENED: WebhookEventType.EMAIL_OPENED,
    EventKind.LINK_CLICKED: WebhookEventType.EMAIL_CLICKED,
    EventKind.EMAIL_REPLIED: WebhookEventType.EMAIL_REPLIED,
    EventKind.EMAIL_BOUNCED: WebhookEventType.EMAIL_BOUNCED,
}


@dataclass
class EventInput:
    event_id: str
    kind: str
    occurred_at: datetime
    activity_id: int | None = None
    message_id: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    #: EMAIL_BOUNCED only: HARD or SOFT; None reads `data.bounceType`, else HARD.
    bounce_type: BounceType | None = None
    #: EMAIL_AUTO_REPLY only: the day the recipient is back; None reads `data.returnDate`.
    return_date: date | None = None
    #: MEETING_BOOKED only: the record the meeting is with (else the activity's record).
    record_id: int | None = None


@dataclass
class EventResult:
    index: int
    recorded: bool = False
    duplicate: bool = False
    #: The connection a recorded event concerns.
    connection_id: int | None = None
    problems: list[Problem] = field(default_factory=list)


async def record_events(
    session: AsyncSession, runner: Runner, organization_id: int, events: Seq[EventInput]
) -> list[EventResult]:
    """Store new events (a known event id is a duplicate, not an error) and react to them."""
    results = [EventResult(i) for i in range(len(events))]
    known = set(
        await session.scalars(
            select(EngagementEvent.event_id).where(
                EngagementEvent.organization_id == organization_id,
                EngagementEvent.event_id.in_([e.event_id for e in events]),
            )
        )
    )
    by_id = {
        a.id: a
        for a in await session.scalars(
            select(Activity).where(
                Activity.organization_id == organization_id,
                Activity.id.in_([e.activity_id for e in events if e.activity_id is not None]),
            )
        )
    }
    messages = [e.message_id for e in events if e.message_id]
    by_message = (
        {
            a.message_id: a
            for a in await session.scalars(
                select(Activity).where(
                    Activity.organization_id == organization_id,
                    Activity.message_id.in_(messages),
                )
            )
        }
        if messages
        else {}
    )
    record_ids = {e.record_id for e in events if e.record_id is not None}
    known_records = (
        set(
            await session.scalars(
                select(Record.id).where(
                    Record.organization_id == organization_id, Record.id.in_(record_ids)
                )
            )
        )
        if record_ids
        else set()
    )
    stored: list[tuple[EngagementEvent, Activity]] = []
    meetings: list[tuple[EngagementEvent, int | None, int | None]] = []
    for event, result in zip(events, results, strict=True):
        at = ("events", str(result.index))
        if not event.event_id.strip() or len(event.event_id) > EVENT_ID_MAX:
            result.problems.append(
                Problem(
                    ErrorCode.INVALID_VALUE,
                    f"An event id is 1 to {EVENT_ID_MAX} characters.",
                    (*at, "eventId"),
                )
            )
            continue
        if event.event_id in known:
            result.duplicate = True
            continue
        data, problem = _bounce_data(event, at)
        if problem is None:
            problem = _return_date(event, data, at)
        if problem is None:
            problem = _record(event, known_records, at)
        if problem is not None:
            result.problems.append(problem)
            continue
        activity = (
            by_id.get(event.activity_id) if event.activity_id else by_message.get(event.message_id)
        )
        meeting = event.kind == EventKind.MEETING_BOOKED
        if activity is None and not (meeting and event.record_id is not None):
            what = "record id, activity id or message id" if meeting else "id or message id"
            result.problems.append(
                Problem(ErrorCode.NOT_FOUND, f"No activity with that {what}.", at)
            )
            continue
        if meeting and event.record_id is not None:
            data["recordId"] = to_global_id("Record", event.record_id)
        known.add(event.event_id)
        row = EngagementEvent(
            organization_id=organization_id,
            event_id=event.event_id,
            kind=event.kind,
            activity_id=activity.id if activity else None,
            connection_id=activity.connection_id if activity else None,
            message_id=event.message_id or (activity.message_id if activity else None),
            occurred_at=event.occurred_at,
            data=data,
        )
        session.add(row)
        if meeting:
            meetings.append((row, event.record_id, activity.connection_id if activity else None))
        elif activity is not None:
            stored.append((row, activity))
        if (hook := WEBHOOK_TYPES.get(EventKind(event.kind))) is not None:
            await emit(session, organization_id, hook, _hook_data(row), event.occurred_at)
        result.recorded = True
        result.connection_id = activity.connection_id if activity else None
    await session.flush()
    await react(session, runner, stored)
    await _meetings_booked(session, runner, meetings)
    return results


def _record(event: EventInput, known: set[int], at: tuple[str, ...]) -> Problem | None:
    """Why the event's record id is wrong (given for another kind than MEETING_BOOKED, or
    not a record of the organization), or None."""
    if event.record_id is None:
        return None
    if event.kind != EventKind.MEETING_BOOKED:
        message = "Only a MEETING_BOOKED event names a record."
        return Problem(ErrorCode.INVALID_VALUE, message, (*at, "recordId"))
    if event.record_id not in known:
        return Problem(ErrorCode.NOT_FOUND, "No record with that id.", (*at, "recordId"))
    return None


async def _meetings_booked(
    session: AsyncSession,
    runner: Runner,
    meetings: Seq[tuple[EngagementEvent, int | None, int | None]],
) -> None:
    """A booked meeting ends every running connection of its record (the record named, else
    the activity's connection's) in a sequence whose exit criteria have `meetingBooked`."""
    if not meetings:
        return
    by_connection = {c for _, r, c in meetings if r is None and c is not None}
    by_record = {r for _, r, _ in meetings if r is not None}
    of_activity = aliased(Connection)
    stmt: Select[Connection, dict[str, Any] | None] = (
        select(Connection, Sequence.exit_criteria)
        .join(Sequence, Sequence.id == Connection.sequence_id)
        .where(
            or_(
                Connection.record_id.in_(by_record),
                Connection.record_id.in_(
                    select(of_activity.record_id).where(of_activity.id.in_(by_connection))
                ),
            ),
            Connection.status.in_(RUNNING),
        )
        .order_by(Connection.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=Connection)
    for conn, criteria in await session.execute(stmt):
        if ExitCriteria.of(criteria).meeting_booked:
            await runner.end(
                session,
                conn,
                ConnectionStatus.DISCONNECTED,
                ConnectionReason.MEETING_BOOKED,
                "A meeting was booked.",
            )


def _hook_data(row: EngagementEvent) -> dict[str, Any]:
    """An engagement webhook's `data`."""
    return {
        "eventId": row.event_id,
        "kind": row.kind,
        "activityId": to_global_id("Activity", row.activity_id) if row.activity_id else None,
        "connectionId": (
            to_global_id("SequenceTarget", row.connection_id) if row.connection_id else None
        ),
        "messageId": row.message_id,
        "occurredAt": row.occurred_at.isoformat(),
        "data": row.data,
    }


def _bounce_data(event: EventInput, at: tuple[str, ...]) -> tuple[dict[str, Any], Problem | None]:
    """The event's data, with `bounceType` HARD or SOFT on an EMAIL_BOUNCED event; or why
    its bounce type is wrong (given for another kind, not HARD or SOFT, or two that differ)."""
    data = dict(event.data)
    if event.kind != EventKind.EMAIL_BOUNCED:
        if event.bounce_type is not None:
            message = "Only an EMAIL_BOUNCED event has a bounce type."
            return data, Problem(ErrorCode.INVALID_VALUE, message, (*at, "bounceType"))
        return data, None
    given = data.get("bounceType")
    if given is not None and str(given).upper() not in BounceType.__members__:
        message = "data.bounceType is HARD or SOFT."
        return data, Problem(ErrorCode.INVALID_VALUE, message, (*at, "data", "bounceType"))
    from_data = BounceType(str(given).upper()) if given is not None else None
    if event.bounce_type and from_data and event.bounce_type != from_data:
        message = "bounceType and data.bounceType differ."
        return data, Problem(ErrorCode.INVALID_VALUE, message, (*at, "bounceType"))
    data["bounceType"] = str(event.bounce_type or from_data or BounceType.HARD)
    return data, None


def _return_date(event: EventInput, data: dict[str, Any], at: tuple[str, ...]) -> Problem | None:
    """Put an EMAIL_AUTO_REPLY event's return date in `data.returnDate` (ISO); or say why
    it is wrong (given for another kind, not an ISO date, or two that differ)."""
    if event.kind != EventKind.EMAIL_AUTO_REPLY:
        if event.return_date is not None:
            message = "Only an EMAIL_AUTO_REPLY event has a return date."
            return Problem(ErrorCode.INVALID_VALUE, message, (*at, "returnDate"))
        return None
    given = data.get("returnDate")
    from_data = None
    if given is not None:
        try:
            from_data = date.fromisoformat(str(given))
        except ValueError:
            message = "data.returnDate is a date (YYYY-MM-DD)."
            return Problem(ErrorCode.INVALID_VALUE, message, (*at, "data", "returnDate"))
    if event.return_date and from_data and event.return_date != from_data:
        message = "returnDate and data.returnDate differ."
        return Problem(ErrorCode.INVALID_VALUE, message, (*at, "returnDate"))
    day = event.return_date or from_data
    if day is None:
        data.pop("returnDate", None)
    elif day - event.occurred_at.date() > RETURN_MAX:
        # As a date read from a message's text: a year ahead at most (never "for ever").
        message = "A return date is at most 366 days after the auto-reply."
        field = ("returnDate",) if event.return_date else ("data", "returnDate")
        return Problem(ErrorCode.INVALID_VALUE, message, (*at, *field))
    else:
        data["returnDate"] = day.isoformat()
    return None


async def react(
    session: AsyncSession, runner: Runner, stored: Seq[tuple[EngagementEvent, Activity]]
) -> None:
    await _hard_bounces(session, runner, [e for e, _ in stored])
    conn_ids = {a.connection_id for _, a in stored}
    if not conn_ids:
        return
    stmt = select(Connection).where(Connection.id.in_(conn_ids), Connection.status.in_(RUNNING))
    if is_postgres(session):
        stmt = stmt.with_for_update()
    conns = {c.id: c for c in await session.scalars(stmt)}
    if not conns:
        return
    batch = runner.batch(session)
    await batch.load(list(conns.values()))
    for event, activity in sorted(stored, key=lambda pair: pair[0].occurred_at):
        conn = conns.get(activity.connection_id)
        if conn is None or conn.status not in RUNNING:
            continue
        seq: Sequence = batch.sequences[conn.sequence_id]
        if event.kind == EventKind.EMAIL_AUTO_REPLY:
            days = runner.auto_reply_pause_days
            await _pause_for_auto_reply(batch, conn, event, days, runner.clock.now())
            continue
        if event.kind == EventKind.EMAIL_REPLIED and conn.pause_reason == PauseReason.AUTO_REPLY:
            # a person answered: they are back
            await connection_pauses.resume(session, conn, runner.clock.now())
        if event.kind == EventKind.EMAIL_REPLIED and seq.exit_on_reply:
            await runner.end(
                session,
                conn,
                ConnectionStatus.DISCONNECTED,
                ConnectionReason.EXIT_CRITERION_MET,
                "The customer replied.",
            )
            continue
        if (
            conn.status == ConnectionStatus.CONNECTED
            and conn.phase == ConnectionPhase.EVENTS
            and _awaits(batch, conn, activity)
        ):
            await runner.on_event(batch, conn, event_view(event))


async def _pause_for_auto_reply(
    batch: Batch, conn: Connection, event: EngagementEvent, days: int, now: datetime
) -> None:
    """Pause a CONNECTED connection until the recipient is back (`auto_reply_resume_at`, in
    the record's time zone; `days` working days without a return date); a later return date
    extends an automatic pause; a pause by a user, or a return that is not in the future, is
    left alone."""
    org = batch.orgs[conn.organization_id]
    zone = recipient_time_zone(batch.records[conn.record_id].fields, org.default_time_zone)
    given = (event.data or {}).get("returnDate")
    return_date = date.fromisoformat(given) if given else None
    try:
        until = auto_reply_resume_at(return_date, event.occurred_at, zone, org.holidays, days)
    except ValueError:  # an occurredAt at the end of time: no return to wait for
        return
    if until <= now:
        return
    extends = conn.pause_reason == PauseReason.AUTO_REPLY and (
        conn.resume_at is None or conn.resume_at < until
    )
    if conn.status != ConnectionStatus.CONNECTED and not extends:
        return
    await connection_pauses.pause(batch.session, conn, PauseReason.AUTO_REPLY, until, now)
    audit.record(
        batch.session,
        conn.organization_id,
        None,
        "connection.paused",
        "connection",
        conn.id,
        {"reason": PauseReason.AUTO_REPLY.value, "resume_at": until.isoformat()},
    )


async def _hard_bounces(
    session: AsyncSession, runner: Runner, events: Seq[EngagementEvent]
) -> None:
    """A hard bounce of one of the organization's automated emails suppresses its address
    and ends its connection (BOUNCED); a soft one is only recorded."""
    bounced = {
        (e.organization_id, e.message_id): e
        for e in events
        if e.kind == EventKind.EMAIL_BOUNCED
        and e.message_id
        and (e.data or {}).get("bounceType") == BounceType.HARD
    }
    if not bounced:
        return
    organization_id = next(iter(bounced))[0]
    rows = await session.execute(
        select(
            OutboxMessage.message_id, OutboxMessage.connection_id, OutboxMessage.to_address
        ).where(
            OutboxMessage.organization_id == organization_id,
            OutboxMessage.message_id.in_({m for _, m in bounced}),
        )
    )
    for message_id, connection_id, address in rows:
        event = bounced[(organization_id, message_id)]
        detail = str((event.data or {}).get("diagnostic") or "an EMAIL_BOUNCED event")
        await hard_bounce(
            session, organization_id, connection_id, address, detail, runner.clock.now()
        )


def _awaits(batch: Batch, conn: Connection, activity: Activity) -> bool:
    """Whether the condition the connection waits at tests this activity."""
    graph = batch.graphs[conn.version_id]
    for key in graph.ancestors(conn.current_step_key or ""):
        if graph.shape(key).activity_kind is not None:
            return key == activity.step_key
    return False
