"""Sequence statistics, counted live with a few GROUP BY queries for any number of sequences.

* connections by status and by reason, and the running ones by the step they are at;
* activities by step and status (CANCELED: closed because their connection ended);
* email engagement by step: how many of the step's activities were delivered, opened,
  replied to, clicked or bounced (each activity counted once per kind, however many events
  it had), through `engagement_events` joined to their activity;
* per A/B variant of an automated email step: its emails sent (outbox SENT) and the same
  engagement counts, through the activity's outbox message (`outbox.variant`); a step's
  variants add up to its engagement numbers, as each activity has one message;
* queued automated emails that wait, by wait reason (`waiting_counts`, asked for apart).
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass, field

from sqlalchemy import ColumnElement, case, distinct, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.life_cycles import RUNNING, ActivityStatus, ConnectionStatus, OutboxStatus
from sekvens.domain.steps import EventKind
from sekvens.storage.tables import Activity, Connection, EngagementEvent, OutboxMessage

#: Engagement kinds counted, and the StepCounts field each one adds to.
EVENT_FIELDS: dict[str, str] = {
    EventKind.EMAIL_DELIVERED: "delivered",
    EventKind.EMAIL_OPENED: "opened",
    EventKind.EMAIL_REPLIED: "replied",
    EventKind.LINK_CLICKED: "clicked",
    EventKind.EMAIL_BOUNCED: "bounced",
}
ACTIVITY_FIELDS: dict[str, str] = {
    ActivityStatus.OPEN: "open",
    ActivityStatus.COMPLETED: "completed",
    ActivityStatus.SKIPPED: "skipped",
    ActivityStatus.CANCELED: "canceled",
}


@dataclass
class VariantCounts:
    label: str
    #: Its emails the SMTP server accepted (outbox SENT).
    sent: int = 0
    delivered: int = 0
    opened: int = 0
    replied: int = 0
    clicked: int = 0
    bounced: int = 0


@dataclass
class StepCounts:
    step_key: str
    #: Running connections (CONNECTED or PAUSED) at this step now.
    current: int = 0
    open: int = 0
    completed: int = 0
    skipped: int = 0
    canceled: int = 0
    delivered: int = 0
    opened: int = 0
    replied: int = 0
    clicked: int = 0
    bounced: int = 0
    #: label -> an A/B variant's numbers (none: the step had no test)
    variants: dict[str, VariantCounts] = field(default_factory=dict)

    def variant(self, label: str) -> VariantCounts:
        if label not in self.variants:
            self.variants[label] = VariantCounts(label)
        return self.variants[label]


@dataclass
class SequenceCounts:
    sequence_id: int
    #: status -> connections (every status present, zero when none)
    by_status: dict[str, int] = field(default_factory=lambda: dict.fromkeys(ConnectionStatus, 0))
    #: reason -> ended connections with that reason
    by_reason: dict[str, int] = field(default_factory=dict)
    steps: dict[str, StepCounts] = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(self.by_status.values())

    def step(self, key: str) -> StepCounts:
        if key not in self.steps:
            self.steps[key] = StepCounts(key)
        return self.steps[key]


async def sequence_counts(
    session: AsyncSession, sequence_ids: Seq[int]
) -> dict[int, SequenceCounts]:
    """Counts of each sequence (three statements whatever the number of sequences)."""
    ids = sorted(set(sequence_ids))
    out = {i: SequenceCounts(i) for i in ids}
    if not ids:
        return out

    at_step: ColumnElement[str | None] = case(
        (Connection.status.in_(RUNNING), Connection.current_step_key), else_=None
    )
    connection_rows = await session.execute(
        select(Connection.sequence_id, Connection.status, Connection.reason, at_step, func.count())
        .where(Connection.sequence_id.in_(ids))
        .group_by(Connection.sequence_id, Connection.status, Connection.reason, at_step)
    )
    for sequence_id, status, reason, step_key, n in connection_rows:
        counts = out[sequence_id]
        counts.by_status[status] = counts.by_status.get(status, 0) + n
        if reason:
            counts.by_reason[reason] = counts.by_reason.get(reason, 0) + n
        if step_key:
            counts.step(step_key).current += n

    # An activity's outbox message (at most one: message ids are unique) gives its variant.
    by_message = OutboxMessage.message_id == Activity.message_id
    activity_rows = await session.execute(
        select(
            Activity.sequence_id,
            Activity.step_key,
            Activity.status,
            OutboxMessage.variant,
            OutboxMessage.status,
            func.count(),
        )
        .outerjoin(OutboxMessage, by_message)
        .where(Activity.sequence_id.in_(ids))
        .group_by(
            Activity.sequence_id,
            Activity.step_key,
            Activity.status,
            OutboxMessage.variant,
            OutboxMessage.status,
        )
    )
    for sequence_id, step_key, status, variant, mail_status, n in activity_rows:
        name = ACTIVITY_FIELDS.get(status)
        if name:
            step = out[sequence_id].step(step_key)
            setattr(step, name, getattr(step, name) + n)
            if variant:
                step.variant(variant).sent += n if mail_status == OutboxStatus.SENT else 0

    event_rows = await session.execute(
        select(
            Activity.sequence_id,
            Activity.step_key,
            OutboxMessage.variant,
            EngagementEvent.kind,
            func.count(distinct(EngagementEvent.activity_id)),
        )
        .join(Activity, Activity.id == EngagementEvent.activity_id)
        .outerjoin(OutboxMessage, by_message)
        .where(Activity.sequence_id.in_(ids), EngagementEvent.kind.in_(EVENT_FIELDS))
        .group_by(
            Activity.sequence_id, Activity.step_key, OutboxMessage.variant, EngagementEvent.kind
        )
    )
    for sequence_id, step_key, variant, kind, n in event_rows:
        step = out[sequence_id].step(step_key)
        name = EVENT_FIELDS[kind]
        setattr(step, name, getattr(step, name) + n)
        if variant:
            shares = step.variant(variant)
            setattr(shares, name, getattr(shares, name) + n)
    return out


async def waiting_counts(
    session: AsyncSession, sequence_ids: Seq[int]
) -> dict[int, dict[str, int]]:
    """Per sequence: its queued automated emails that wait, by wait reason (one statement)."""
    out: dict[int, dict[str, int]] = {i: {} for i in sequence_ids}
    if not out:
        return out
    rows = await session.execute(
        select(Connection.sequence_id, OutboxMessage.wait_reason, func.count())
        .join(Connection, Connection.id == OutboxMessage.connection_id)
        .where(
            Connection.sequence_id.in_(sorted(out)),
            OutboxMessage.status == OutboxStatus.QUEUED,
            OutboxMessage.wait_reason.is_not(None),
        )
        .group_by(Connection.sequence_id, OutboxMessage.wait_reason)
    )
    for sequence_id, reason, count in rows:
        out[sequence_id][str(reason)] = count  # never null: the rows selected have one
    return out
