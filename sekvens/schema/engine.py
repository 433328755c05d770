"""Running sequences: connections, activities, engagement events, the outbox, statistics."""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON
from strawberry.types import Info

from sekvens.domain import life_cycles
from sekvens.domain.away import AwayPeriod, held_until
from sekvens.schema.audit import AuditLogEntry
from sekvens.schema.away import ActivityHold
from sekvens.schema.enums import (
    ActivityAction,
    ActivityKind,
    ActivityStatus,
    BounceType,
    ConnectionReason,
    ConnectionStatus,
    EmailOptOut,
    EventKind,
    HoldReason,
    OutboxStatus,
    PauseReason,
    WaitReason,
)
from sekvens.schema.errors import UserError
from sekvens.schema.pagination import paginate
from sekvens.schema.records import Record, RecordFilterInput
from sekvens.schema.relay import Connection, Node, to_global_id
from sekvens.schema.send_windows import Wait
from sekvens.schema.sequences import Sequence
from sekvens.schema.steps import Step, step_of
from sekvens.schema.users import User
from sekvens.storage.audit import entries
from sekvens.storage.tables import Activity as ActivityRow
from sekvens.storage.tables import Connection as ConnectionRow
from sekvens.storage.tables import OutboxMessage as OutboxRow

if TYPE_CHECKING:
    from sekvens.schema.jobs import Job


async def _step(info: Info, sequence_id: int, version_id: int, key: str | None) -> Step | None:
    if key is None:
        return None
    loaders = info.context.sequence_loaders
    version = await loaders.version.load(version_id)
    seq = await info.context.engine_loaders.sequence.load(sequence_id)
    if version is None or seq is None:
        return None
    design = await loaders.design(sequence_id, seq.record_type_id, version)
    return step_of(design, key) if key in design.graph.steps else None


@strawberry.type(
    description="A connection: one record running through one sequence version"
    " (Dynamics: sequence target)."
)
class SequenceTarget(Node):
    row: strawberry.Private[ConnectionRow]
    status: ConnectionStatus
    reason: ConnectionReason | None
    steps_done: int
    current_step_key: str | None
    next_run_at: datetime | None
    resume_at: datetime | None
    pause_reason: PauseReason | None = strawberry.field(
        description="Why it is PAUSED (null when not): USER, or AUTO_REPLY until resumeAt."
    )
    error: str | None = strawberry.field(description="Why it is in ERROR, or how a step ended it.")
    error_code: str | None = strawberry.field(
        description="The code behind an ERROR, e.g. ALREADY_CONNECTED for a refused hand-over."
    )
    created_at: datetime
    ended_at: datetime | None
    enrolled_by: str | None = strawberry.field(
        description="The key of the enrollment rule that connected it (Sequence"
        ".enrollmentRules); null when a user or a hand-over did."
    )

    @classmethod
    def from_row(cls, row: ConnectionRow) -> SequenceTarget:
        return cls(
            id=strawberry.ID(to_global_id("SequenceTarget", row.id)),
            row=row,
            status=ConnectionStatus(row.status),
            reason=ConnectionReason(row.reason) if row.reason else None,
            steps_done=row.steps_done,
            current_step_key=row.current_step_key if row.status in life_cycles.RUNNING else None,
            next_run_at=row.next_run_at,
            resume_at=row.resume_at,
            pause_reason=PauseReason(row.pause_reason) if row.pause_reason else None,
            error=row.error,
            error_code=row.error_code,
            created_at=row.created_at,
            ended_at=row.ended_at,
            enrolled_by=row.enrolled_by,
        )

    @strawberry.field(description="Days since the connection reached its current step.")
    def days_in_current_step(self, info: Info) -> float | None:
        if self.row.step_entered_at is None or self.row.status not in life_cycles.RUNNING:
            return None
        elapsed = info.context.services.engine.clock.now() - self.row.step_entered_at
        return round(elapsed.total_seconds() / 86400, 2)

    @strawberry.field(
        description="Its next automated email that waits to go out (the earliest), why and"
        " until when; null when none waits."
    )
    async def waiting(self, info: Info) -> Wait | None:
        found = await info.context.engine_loaders.wait_of_connection.load(self.row.id)
        if found is None:
            return None
        reason, until = found
        return Wait(reason=WaitReason(reason), until=until)

    @strawberry.field(description="The sequence version number it runs on.")
    async def version(self, info: Info) -> int:
        row = await info.context.sequence_loaders.version.load(self.row.version_id)
        return row.number

    @strawberry.field
    async def current_step(self, info: Info) -> Step | None:
        return await _step(info, self.row.sequence_id, self.row.version_id, self.current_step_key)

    @strawberry.field
    async def record(self, info: Info) -> Record:
        return Record.from_row(await info.context.engine_loaders.record.load(self.row.record_id))

    @strawberry.field
    async def sequence(self, info: Info) -> Sequence:
        return Sequence.from_row(
            await info.context.engine_loaders.sequence.load(self.row.sequence_id)
        )

    @strawberry.field
    async def activities(self, info: Info) -> list[Activity]:
        rows = await info.context.engine_loaders.activities_of_connection.load(self.row.id)
        return [Activity.from_row(r) for r in rows]

    @strawberry.field(
        description="Who connected, paused, resumed, disconnected it or recorded events on it,"
        " when and through which token; newest first."
    )
    async def audit_log(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[AuditLogEntry]:

        stmt = entries(self.row.organization_id, "connection", self.row.id)
        return await paginate(info.context, stmt, AuditLogEntry.from_row, first, after)


@strawberry.type(
    description="A step instance for a seller: an email, call, task or LinkedIn action."
)
class Activity(Node):
    row: strawberry.Private[ActivityRow]
    step_key: str
    step_type: str
    kind: ActivityKind | None
    subject: str
    instructions: str
    data: JSON = strawberry.field(
        description="What the step prepared, e.g. a rendered email draft."
    )
    status: ActivityStatus
    close_reason: ConnectionReason | None = strawberry.field(
        description="For a CANCELED activity: why its connection ended."
    )
    outcome: str | None
    notes: str
    proposed_due_at: datetime = strawberry.field(description="When the sequence reached the step.")
    due_at: datetime = strawberry.field(description="When it is due (working time, snoozes).")
    closed_at: datetime | None
    message_id: str | None
    #: Filled in by up next for its page (`schema.prefetch`): field name -> value.
    prefetched: strawberry.Private[dict[str, object] | None] = None

    @classmethod
    def from_row(cls, row: ActivityRow) -> Activity:
        return cls(
            id=strawberry.ID(to_global_id("Activity", row.id)),
            row=row,
            step_key=row.step_key,
            step_type=row.step_type,
            kind=ActivityKind(row.activity_kind) if row.activity_kind else None,
            subject=row.subject,
            instructions=row.instructions,
            data=JSON(row.data),
            status=ActivityStatus(row.status),
            close_reason=ConnectionReason(row.close_reason) if row.close_reason else None,
            outcome=row.outcome,
            notes=row.notes,
            proposed_due_at=row.proposed_due_at,
            due_at=row.due_at,
            closed_at=row.closed_at,
            message_id=row.message_id,
        )

    @strawberry.field(
        description="For an email activity: why the record must not get email (the seller"
        " should not send it), or null."
    )
    async def email_opt_out(self, info: Info) -> EmailOptOut | None:
        if self.row.activity_kind != "EMAIL":
            return None
        reason = await info.context.engine_loaders.opt_out.load(self.row.record_id)
        return EmailOptOut(reason) if reason else None

    @strawberry.field
    async def assignees(self, info: Info) -> list[User]:
        ids = await info.context.engine_loaders.assignees.load(self.row.id)
        users = await info.context.loaders.user.load_many(ids)
        return [User.from_row(u) for u in users if u is not None]

    @strawberry.field(
        description="For an open activity whose assignees are all away when it is due (now,"
        " when overdue) and nobody took it over: why it waits and until when; else null."
    )
    async def hold(self, info: Info) -> ActivityHold | None:
        if self.row.status != life_cycles.ActivityStatus.OPEN:
            return None
        ids = await info.context.engine_loaders.assignees.load(self.row.id)
        users = await info.context.loaders.user.load_many(ids)
        now = info.context.services.engine.clock.now()
        until = held_until(
            [AwayPeriod.of(u.away_from, u.away_until, None) if u else None for u in users],
            max(now, self.row.due_at),
        )
        return ActivityHold(reason=HoldReason.ASSIGNEE_AWAY, until=until) if until else None

    @strawberry.field(description="The away seller it was moved from to their delegate, if any.")
    async def delegated_from(self, info: Info) -> User | None:
        if self.row.delegated_from_id is None:
            return None
        row = await info.context.loaders.user.load(self.row.delegated_from_id)
        return User.from_row(row) if row is not None else None

    @strawberry.field
    async def record(self, info: Info) -> Record:
        return Record.from_row(await info.context.engine_loaders.record.load(self.row.record_id))

    @strawberry.field
    async def sequence(self, info: Info) -> Sequence:
        return Sequence.from_row(
            await info.context.engine_loaders.sequence.load(self.row.sequence_id)
        )

    @strawberry.field
    async def step(self, info: Info) -> Step | None:
        conn = await info.context.engine_loaders.connection.load(self.row.connection_id)
        return await _step(info, self.row.sequence_id, conn.version_id, self.row.step_key)

    @strawberry.field
    async def connection(self, info: Info) -> SequenceTarget:
        return SequenceTarget.from_row(
            await info.context.engine_loaders.connection.load(self.row.connection_id)
        )


@strawberry.type(description="An automated email in the outbox.")
class OutboxMessage(Node):
    to: str
    from_address: str | None
    from_name: str | None = strawberry.field(
        description="The sender's display name (sender identity); null: the bare address."
    )
    reply_to: str | None = strawberry.field(description="The Reply-To address; null: none.")
    subject: str
    text: str
    html: str | None
    message_id: str
    status: OutboxStatus
    attempts: int
    last_error: str | None
    wait_reason: WaitReason | None = strawberry.field(
        description="Why a QUEUED message is not sent yet; it goes at nextAttemptAt."
    )
    next_attempt_at: datetime | None = strawberry.field(
        description="When a QUEUED message is due: its send time, or its next retry."
    )
    send_after: datetime | None = strawberry.field(
        description="The send window's opening or the throttle's free slot the message"
        " waited for (its Date header); null: it could go at once."
    )
    created_at: datetime
    sent_at: datetime | None
    variant: str | None = strawberry.field(
        description="The A/B variant of its step the message is (A to D); null: no test."
    )

    @classmethod
    def from_row(cls, row: OutboxRow) -> OutboxMessage:
        return cls(
            id=strawberry.ID(to_global_id("OutboxMessage", row.id)),
            to=row.to_address,
            from_address=row.from_address,
            from_name=row.from_name,
            reply_to=row.reply_to,
            subject=row.subject,
            text=row.text,
            html=row.html,
            message_id=row.message_id,
            status=OutboxStatus(row.status),
            attempts=row.attempts,
            last_error=row.last_error,
            wait_reason=WaitReason(row.wait_reason) if row.wait_reason else None,
            next_attempt_at=row.next_attempt_at,
            send_after=row.send_after,
            created_at=row.created_at,
            sent_at=row.sent_at,
            variant=row.variant,
        )


# --- Inputs and payloads ------------------------------------------------------------------


@strawberry.input(description="A record by id, or by record type and external id.")
class RecordRefInput:
    id: strawberry.ID | None = None
    record_type: str | None = None
    external_id: str | None = None


@strawberry.input
class ConnectSequenceInput:
    sequence_id: strawberry.ID
    records: list[RecordRefInput] = strawberry.field(description="At most 1000 per call.")
    start_at: datetime | None = strawberry.field(default=None, description="Delay the start.")


@strawberry.type
class ConnectResult:
    index: int
    connection: SequenceTarget | None
    errors: list[UserError]


@strawberry.type
class ConnectSequencePayload:
    errors: list[UserError]
    results: list[ConnectResult] = strawberry.field(default_factory=list)
    connected_count: int = 0


@strawberry.input
class ConnectSequenceByFilterInput:
    sequence_id: strawberry.ID
    filter: RecordFilterInput
    start_at: datetime | None = None
    as_job: bool = strawberry.field(
        default=False,
        description="Run as a job even below SEKVENS_JOB_THRESHOLD matching records"
        " (docs/jobs.md).",
    )


@strawberry.type
class CodeCount:
    code: str
    count: int


@strawberry.type
class ConnectSequenceByFilterPayload:
    errors: list[UserError]
    matched_count: int = strawberry.field(default=0, description="0 when it runs as a job.")
    connected_count: int = 0
    skipped: list[CodeCount] = strawberry.field(default_factory=list)
    job: Annotated[Job, strawberry.lazy("sekvens.schema.jobs")] | None = strawberry.field(
        default=None,
        description="Above SEKVENS_JOB_THRESHOLD matching records (or with asJob) the"
        " connecting runs as this job, and the counts above stay 0: follow it with job(id)"
        " or jobChanged.",
    )


@strawberry.input
class DisconnectSequenceInput:
    connection_id: strawberry.ID


@strawberry.input
class PauseConnectionInput:
    connection_id: strawberry.ID
    resume_at: datetime | None = strawberry.field(
        default=None, description="Resume by itself then."
    )


@strawberry.input
class ResumeConnectionInput:
    connection_id: strawberry.ID


@strawberry.type
class ConnectionPayload:
    errors: list[UserError]
    connection: SequenceTarget | None = None


@strawberry.input
class CompleteActivityInput:
    activity_id: strawberry.ID
    outcome: str | None = strawberry.field(default=None, description="A call's outcome.")
    notes: str | None = None


@strawberry.input
class SkipActivityInput:
    activity_id: strawberry.ID
    notes: str | None = None


@strawberry.input
class SnoozeActivityInput:
    activity_id: strawberry.ID
    until: datetime


@strawberry.input
class ReassignActivityInput:
    activity_id: strawberry.ID
    user_ids: list[strawberry.ID]


@strawberry.type
class ActivityPayload:
    errors: list[UserError]
    activity: Activity | None = None


@strawberry.input(description="One action for many activities (up to 200), as in up next.")
class ActOnActivitiesInput:
    activity_ids: list[strawberry.ID] = strawberry.field(
        description="At most 200, each once; each gets a result."
    )
    action: ActivityAction
    outcome: str | None = strawberry.field(default=None, description="COMPLETE: a call's outcome.")
    notes: str | None = strawberry.field(default=None, description="COMPLETE and SKIP.")
    until: datetime | None = strawberry.field(default=None, description="SNOOZE: required.")
    user_ids: list[strawberry.ID] | None = strawberry.field(
        default=None, description="REASSIGN: required; the new assignees."
    )


@strawberry.type(description="What happened to one activity of actOnActivities.")
class ActivityActionResult:
    index: int = strawberry.field(description="Its position in activityIds.")
    activity_id: strawberry.ID
    ok: bool = strawberry.field(description="Whether the action was done (errors is empty).")
    activity: Activity | None = strawberry.field(description="The activity as changed, when ok.")
    errors: list[UserError]


@strawberry.type
class ActOnActivitiesPayload:
    errors: list[UserError] = strawberry.field(
        description="Why the call as a whole was refused (then nothing changed)."
    )
    results: list[ActivityActionResult] = strawberry.field(default_factory=list)
    ok_count: int = 0
    failed_count: int = 0


@strawberry.input
class EngagementEventInput:
    event_id: str = strawberry.field(description="Your id for the event; a repeat is ignored.")
    kind: EventKind
    activity_id: strawberry.ID | None = None
    message_id: str | None = None
    occurred_at: datetime
    data: JSON | None = None
    bounce_type: BounceType | None = strawberry.field(
        default=None,
        description="EMAIL_BOUNCED only: HARD (the default) suppresses the address and ends the "
        "connection BOUNCED; SOFT is recorded only. Null reads data.bounceType.",
    )
    return_date: date | None = strawberry.field(
        default=None,
        description="EMAIL_AUTO_REPLY only: the day the recipient is back; the connection "
        "is paused until its start in the record's time zone. Null reads data.returnDate, "
        "else SEKVENS_AUTO_REPLY_PAUSE_DAYS (5) working days.",
    )
    record_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="MEETING_BOOKED only: the record the meeting is with (a meeting need not"
        " answer an email); without it, the record of the activity (activityId or messageId)."
        " It ends the record's connections in sequences whose exitCriteria have meetingBooked.",
    )


@strawberry.input
class RecordEngagementEventsInput:
    events: list[EngagementEventInput]


@strawberry.type
class EventResult:
    index: int
    recorded: bool
    duplicate: bool
    errors: list[UserError]


@strawberry.type
class RecordEngagementEventsPayload:
    errors: list[UserError]
    results: list[EventResult] = strawberry.field(default_factory=list)


@strawberry.input
class RecordBounceMessagesInput:
    messages: list[str] = strawberry.field(
        description="Bounce messages as the mail server wrote them (RFC 5322 text with a "
        "message/delivery-status part); at most 100."
    )


@strawberry.type(description="What one bounce message of recordBounceMessages said and did.")
class BounceMessageResult:
    index: int = strawberry.field(description="Its position in messages.")
    recorded: bool = strawberry.field(description="Recorded as a new EMAIL_BOUNCED event.")
    duplicate: bool = strawberry.field(description="The same report was recorded before.")
    message_id: str | None = strawberry.field(description="The bounced outbox message's.")
    address: str | None = strawberry.field(description="The recipient that bounced.")
    bounce_type: BounceType | None
    status: str | None = strawberry.field(description="Its enhanced status code, e.g. 5.1.1.")
    connection_id: strawberry.ID | None = strawberry.field(
        description="The SequenceTarget that sent the message."
    )
    errors: list[UserError]


@strawberry.type
class RecordBounceMessagesPayload:
    errors: list[UserError]
    results: list[BounceMessageResult] = strawberry.field(default_factory=list)


@strawberry.input
class RecordInboundMessagesInput:
    messages: list[str] = strawberry.field(
        description="Messages that answer automated email, as they arrived (whole RFC 5322 "
        "text); at most 100, each at most 1,000,000 characters."
    )


@strawberry.type(description="What one message of recordInboundMessages was and did.")
class InboundMessageResult:
    index: int = strawberry.field(description="Its position in messages.")
    kind: EventKind | None = strawberry.field(
        description="Recorded as: EMAIL_BOUNCED (a delivery status notification), "
        "EMAIL_AUTO_REPLY (an automatic reply) or EMAIL_REPLIED (a person's reply)."
    )
    recorded: bool = strawberry.field(description="Recorded as a new event.")
    duplicate: bool = strawberry.field(description="The same message was recorded before.")
    message_id: str | None = strawberry.field(description="The outbox message it answers.")
    return_date: date | None = strawberry.field(
        description="EMAIL_AUTO_REPLY: the return date its text states, if any."
    )
    connection_id: strawberry.ID | None = strawberry.field(
        description="The SequenceTarget that sent the message it answers."
    )
    errors: list[UserError]


@strawberry.type
class RecordInboundMessagesPayload:
    errors: list[UserError]
    results: list[InboundMessageResult] = strawberry.field(default_factory=list)


@strawberry.input
class UpNextFilter:
    sequence_id: strawberry.ID | None = None
    kind: ActivityKind | None = None
    due_before: datetime | None = None


@strawberry.input
class ConnectionFilter:
    sequence_id: strawberry.ID | None = None
    record_id: strawberry.ID | None = None
    status: ConnectionStatus | None = None
