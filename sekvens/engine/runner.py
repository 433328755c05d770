"""Advance connections through their steps: run each step's plugin and apply its outcome.

Everything a step does (activities, outbox messages, record updates, the connection's new
state) is written in the caller's transaction, so a step is applied completely or not at
all; idempotency keys (connection, step) make a repeated run create nothing twice.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import flag_modified

from sekvens.domain.assignment import AssignmentRule, resolve
from sekvens.domain.auto_reply_pauses import AUTO_REPLY_PAUSE_DAYS
from sekvens.domain.away import Seller, assign
from sekvens.domain.due_times import WorkingTime, activity_due, wait_ends, working_time
from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.global_ids import from_global_id, key_of, to_global_id
from sekvens.domain.life_cycles import (
    ActivityStatus,
    AwayPolicy,
    ConnectionPhase,
    ConnectionReason,
    ConnectionStatus,
)
from sekvens.domain.records import DO_NOT_EMAIL_FIELD, RecordTypeInfo, check_value
from sekvens.domain.send_windows import RecipientWindow, recipient_window
from sekvens.domain.sender_identity import effective_identity
from sekvens.domain.sequence_graph import SequenceGraph, Step
from sekvens.domain.steps import Branch
from sekvens.domain.suppression import normalize
from sekvens.domain.webhooks import WebhookEventType
from sekvens.engine.connections import new_connections
from sekvens.engine.mail import OutboxMail
from sekvens.plugins.api import (
    ActivityKind,
    ActivityView,
    Clock,
    CreateActivity,
    Done,
    EngagementEvent,
    EventKind,
    ExecutionContext,
    Exit,
    Fail,
    HandOver,
    Outcome,
    RecipientOptedOut,
    RecordChange,
    RecordView,
    TakeBranch,
    WaitFor,
    WaitForEvents,
    WaitUntil,
)
from sekvens.plugins.api import ActivityStatus as ViewStatus
from sekvens.plugins.registry import PluginFailure, Registry
from sekvens.storage import audit, organizations, parties, record_types, suppression
from sekvens.storage import sequences as seq_store
from sekvens.storage.connection_endings import end_connection
from sekvens.storage.tables import (
    Activity,
    ActivityAssignee,
    Connection,
    Organization,
    OutboxMessage,
    Record,
    Sequence,
    SequenceVersion,
    User,
)
from sekvens.storage.tables import EngagementEvent as EngagementEventRow
from sekvens.storage.webhooks import activity_data, emit

log = logging.getLogger("sekvens.engine")

#: Automatic steps chained in one run before the engine yields (a tree has no loops, so this
#: only bounds very long all-automatic paths).
MAX_CHAIN = 500


#: The columns of a connection a step changes (`Batch.write` writes them all).
STATE_COLUMNS = (
    "status",
    "reason",
    "phase",
    "step_state",
    "resume_at",
    "pause_reason",
    "current_step_key",
    "steps_done",
    "step_entered_at",
    "next_run_at",
    "error",
    "error_code",
    "ended_at",
)


async def activity_created(session: AsyncSession, activity: Activity, assignees: list[int]) -> None:
    """Queue the `activity.created` webhook of a new manual activity (with its id)."""
    data = activity_data(activity, assigneeIds=[to_global_id("User", u) for u in assignees])
    await emit(
        session,
        activity.organization_id,
        WebhookEventType.ACTIVITY_CREATED,
        data,
        activity.created_at,
    )


def activity_view(
    step_key: str,
    step_type: str,
    kind: str | None,
    status: str,
    outcome: str | None,
    message_id: str | None,
    closed_at: datetime | None,
) -> ActivityView:
    """An activity as `ExecutionContext.previous_activity` shows it."""
    return ActivityView(
        step_key=step_key,
        type=step_type,
        activity_kind=ActivityKind(kind) if kind else None,
        status=ViewStatus(status if status != ActivityStatus.CANCELED else ViewStatus.SKIPPED),
        outcome=outcome,
        message_id=message_id,
        closed_at=closed_at,
    )


def event_view(row: EngagementEventRow) -> EngagementEvent:
    """A stored engagement event as a condition's `on_event` sees it."""
    return EngagementEvent(
        row.event_id, EventKind(row.kind), row.occurred_at, row.message_id, dict(row.data)
    )


@dataclass
class Batch:
    """Rows shared by the connections processed together, loaded once per batch."""

    session: AsyncSession
    registry: Registry
    #: The runner's graphs by version id, each with its version's creation time: SQLite may
    #: give a deleted version's id to a new one, so the time tells a reused id.
    cache: dict[int, tuple[datetime, SequenceGraph]]
    graphs: dict[int, SequenceGraph] = field(default_factory=dict)
    orgs: dict[int, Organization] = field(default_factory=dict)
    sequences: dict[int, Sequence] = field(default_factory=dict)
    records: dict[int, Record] = field(default_factory=dict)
    types: dict[int, tuple[str, RecordTypeInfo]] = field(default_factory=dict)
    users: dict[int, User] = field(default_factory=dict)
    #: Assignees per connection, resolved once per batch (a step asks several times).
    assignees: dict[int, list[int]] = field(default_factory=dict)
    #: Assignees of the batch's connections resolved in `load` with one `parties_for` per
    #: sequence; taken into `assignees` at a connection's first ask, dropped for a record
    #: whose fields a step changes before then (`Updater.set_field`).
    prefetched: dict[int, list[int]] = field(default_factory=dict)
    #: Record id of each of the batch's connections.
    conn_records: dict[int, int] = field(default_factory=dict)
    #: The latest activity of each (connection, step) of the batch (`previous_activity`).
    latest: dict[tuple[int, str], ActivityView] = field(default_factory=dict)
    #: Idempotency keys of the batch's connections' activities and outbox messages (with
    #: the message id): the "done already?" checks need no query.
    activity_keys: set[str] = field(default_factory=set)
    outbox: dict[str, str] = field(default_factory=dict)
    #: (connection, step) whose activity has engagement events (`replay_events`).
    with_events: set[tuple[int, str]] = field(default_factory=set)
    #: Connections whose rows above were loaded.
    loaded: set[int] = field(default_factory=set)
    #: Writes wait for `write` at the end of the batch (no flush inside a step), so the
    #: batch's rows go out together; new activities' assignees wait there for their ids.
    defer: bool = False
    #: Per organization: the addresses in the batch's records' fields (normalized) and
    #: which of them are suppressed, so sending to a record's address needs no query.
    suppression: dict[int, tuple[set[str], set[str]]] = field(default_factory=dict)
    pending_assignees: list[tuple[Activity, list[int]]] = field(default_factory=list)
    #: Deferred: the new manual activities whose `activity.created` webhooks wait for their ids.
    created: list[tuple[Activity, list[int]]] = field(default_factory=list)
    #: The connections of the batch (`write`).
    conns: list[Connection] = field(default_factory=list)

    async def write(self) -> None:
        """Write what the batch deferred: its rows, then the new activities' assignees.

        Every changed connection writes all its state columns, so their UPDATEs share one
        set of columns and go out as one executemany, not one per set of changed columns."""
        dirty = self.session.dirty if self.defer else ()
        for conn in self.conns:
            if conn in dirty and self.session.is_modified(conn):
                for name in STATE_COLUMNS:
                    flag_modified(conn, name)
        await self.session.flush()
        for activity, users in self.created:
            await activity_created(self.session, activity, users)
        self.created.clear()
        if not self.pending_assignees:
            return
        self.session.add_all(
            ActivityAssignee(activity_id=activity.id, user_id=u)
            for activity, users in self.pending_assignees
            for u in users
        )
        self.pending_assignees.clear()
        await self.session.flush()

    async def load(self, conns: Seq[Connection]) -> None:
        s = self.session
        need = {c.sequence_id for c in conns} - set(self.sequences)
        if need:
            for seq in await s.scalars(select(Sequence).where(Sequence.id.in_(need))):
                self.sequences[seq.id] = seq
        need = {c.record_id for c in conns} - set(self.records)
        if need:
            for record in await s.scalars(select(Record).where(Record.id.in_(need))):
                self.records[record.id] = record
        for org_id in {c.organization_id for c in conns} - set(self.orgs):
            self.orgs[org_id] = await organizations.existing(s, org_id)
            for type_id, (record_type, info) in (await record_types.load_infos(s, org_id)).items():
                self.types[type_id] = (record_type.name, info)
        need = {c.version_id for c in conns} - set(self.graphs)
        if need:
            rows = await s.execute(
                select(SequenceVersion.id, SequenceVersion.created_at).where(
                    SequenceVersion.id.in_(need)
                )
            )
            created = {version_id: at for version_id, at in rows}
            for version_id in need:
                cached = self.cache.get(version_id)
                if cached is None or cached[0] != created.get(version_id):
                    steps = (await seq_store.steps_of(s, [version_id]))[version_id]
                    graph = SequenceGraph(seq_store.to_steps(steps), self.registry.shape)
                    cached = self.cache[version_id] = (created[version_id], graph)
                self.graphs[version_id] = cached[1]
        await self._prefetch([c for c in conns if c.id not in self.loaded])

    async def _prefetch(self, conns: Seq[Connection]) -> None:
        """What the steps of `conns` would otherwise ask one connection at a time."""
        if not conns:
            return
        s = self.session
        ids = [c.id for c in conns]
        self.loaded.update(ids)
        self.conns.extend(conns)
        for c in conns:
            self.conn_records[c.id] = c.record_id
        rows = await s.execute(
            select(
                Activity.id,
                Activity.connection_id,
                Activity.step_key,
                Activity.step_type,
                Activity.activity_kind,
                Activity.status,
                Activity.outcome,
                Activity.message_id,
                Activity.closed_at,
                Activity.idempotency_key,
            )
            .where(Activity.connection_id.in_(ids))
            .order_by(Activity.id)
        )
        for row in rows:
            self.activity_keys.add(row.idempotency_key)
            self.latest[(row.connection_id, row.step_key)] = activity_view(
                row.step_key,
                row.step_type,
                row.activity_kind,
                row.status,
                row.outcome,
                row.message_id,
                row.closed_at,
            )
        outbox = select(OutboxMessage.idempotency_key, OutboxMessage.message_id).where(
            OutboxMessage.connection_id.in_(ids)
        )
        self.outbox.update({key: message_id for key, message_id in await s.execute(outbox)})
        events = (
            select(Activity.connection_id, Activity.step_key)
            .join(EngagementEventRow, EngagementEventRow.activity_id == Activity.id)
            .where(Activity.connection_id.in_(ids))
            .distinct()
        )
        self.with_events.update((cid, key) for cid, key in await s.execute(events))
        addresses: dict[int, set[str]] = {}
        for c in conns:
            fields = self.records[c.record_id].fields or {}
            addresses.setdefault(c.organization_id, set()).update(
                normalize(v) for v in fields.values() if isinstance(v, str) and "@" in v
            )
        for org_id, emails in addresses.items():
            checked, suppressed = self.suppression.setdefault(org_id, (set(), set()))
            suppressed.update(await suppression.suppressed_among(s, org_id, emails - checked))
            checked.update(emails)
        groups: dict[tuple[int, int, int | None], list[Connection]] = {}
        for c in conns:
            groups.setdefault((c.organization_id, c.sequence_id, c.connected_by_id), []).append(c)
        for (org_id, seq_id, by), group in groups.items():
            seq = self.sequences[seq_id]
            rule = AssignmentRule.of(seq.assign_to, seq.assign_field, seq.member_condition or {})
            records = list({c.record_id: self.records[c.record_id] for c in group}.values())
            found = await parties.parties_for(s, org_id, records, rule, by)
            for c in group:
                self.prefetched[c.id] = resolve(rule, found[c.record_id])
        wanted = {u for found in self.prefetched.values() for u in found[:1]} - set(self.users)
        if wanted:
            for user in await s.scalars(select(User).where(User.id.in_(wanted))):
                self.users[user.id] = user

    def record_changed(self, record_id: int) -> None:
        """A step changed the record's fields: its connections' assignees are resolved again."""
        for conn_id, rid in self.conn_records.items():
            if rid == record_id:
                self.prefetched.pop(conn_id, None)

    async def user(self, user_id: int) -> User | None:
        if user_id not in self.users:
            row = await self.session.get(User, user_id)
            if row is None:
                return None
            self.users[user_id] = row
        return self.users[user_id]


class Updater:
    """The `RecordUpdater` a step sees: checked against the record type, audited."""

    def __init__(self, batch: Batch, record: Record, info: RecordTypeInfo, step_key: str):
        self.batch, self.record, self.info, self.step_key = batch, record, info, step_key

    async def set_field(self, name: str, value: Any) -> None:
        f = self.info.fields.get(name)
        if f is None:
            raise ValueError(f"record type {self.info.name} has no field {name}")
        problem = check_value(f, value, ("fields", name))
        if problem:
            raise ValueError(problem.message)
        self.record.fields = {**self.record.fields, name: value}
        self.batch.record_changed(self.record.id)
        audit.record(
            self.batch.session,
            self.record.organization_id,
            None,
            "record.field_updated",
            "record",
            self.record.id,
            {"field": name, "value": value, "step": self.step_key},
        )


class Runner:
    def __init__(
        self,
        registry: Registry,
        clock: Clock,
        deliver_mail: bool = False,
        auto_reply_pause_days: int = AUTO_REPLY_PAUSE_DAYS,
    ):
        self.registry = registry
        self.clock = clock
        self.deliver_mail = deliver_mail
        #: How long an auto-reply without a return date pauses (SEKVENS_AUTO_REPLY_PAUSE_DAYS).
        self.auto_reply_pause_days = auto_reply_pause_days
        #: Versions with connections are immutable (ACTIVE or RETIRED), so graphs are cached.
        self.graphs: dict[int, tuple[datetime, SequenceGraph]] = {}

    def batch(self, session: AsyncSession) -> Batch:
        return Batch(session, self.registry, self.graphs)

    # --- Advancing ---------------------------------------------------------------------

    async def advance(self, batch: Batch, conn: Connection) -> None:
        """Run the connection's due work and every automatic step after it."""
        for _ in range(MAX_CHAIN):
            if conn.status != ConnectionStatus.CONNECTED or conn.phase == ConnectionPhase.ACTIVITY:
                return
            graph = batch.graphs[conn.version_id]
            key = conn.current_step_key
            if key is None or key not in graph.steps:
                await self.fail(
                    batch.session, conn, f"Step '{key}' is not in the sequence version."
                )
                return
            if conn.phase == ConnectionPhase.WAIT:
                await self.follow(batch.session, conn, graph, key, Branch.NEXT)
                continue
            step = graph.steps[key]
            try:
                ctx = await self.context(batch, conn, step)
                if conn.phase == ConnectionPhase.EVENTS:
                    outcome = await self.registry.run_on_deadline(step.type, ctx)
                else:
                    outcome = await self.registry.run_execute(step.type, ctx)
            except PluginFailure as failure:
                await self.fail(batch.session, conn, failure.message, code=failure.code)
                return
            except RecipientOptedOut as opted_out:
                if await self.opted_out(batch, conn, graph, step, opted_out):
                    return
                continue
            if await self.apply(batch, conn, graph, step, ctx, outcome):
                return
        await self.fail(batch.session, conn, f"More than {MAX_CHAIN} automatic steps in a row.")

    async def on_event(self, batch: Batch, conn: Connection, event: EngagementEvent) -> bool:
        """Hand an event to the condition the connection waits at; True when it moved on."""
        return await self._react(
            batch, conn, lambda step, ctx: self.registry.run_on_event(step.type, ctx, event)
        )

    async def on_record_change(self, batch: Batch, conn: Connection, change: RecordChange) -> bool:
        """Hand a change of the record to the step the connection waits at (if its type hears
        record changes); True when it moved on."""
        return await self._react(
            batch,
            conn,
            lambda step, ctx: self.registry.run_on_record_change(step.type, ctx, change),
        )

    async def _react(
        self,
        batch: Batch,
        conn: Connection,
        call: Callable[[Step, ExecutionContext[Any]], Awaitable[Outcome | None]],
    ) -> bool:
        """Apply what the step's plugin answers `call` with (None: keep waiting)."""
        graph = batch.graphs[conn.version_id]
        step = graph.steps[conn.current_step_key or ""]
        try:
            ctx = await self.context(batch, conn, step)
            outcome = await call(step, ctx)
        except PluginFailure as failure:
            await self.fail(batch.session, conn, failure.message, code=failure.code)
            return True
        conn.step_state = dict(ctx.state)
        if outcome is None:
            return False
        if not await self.apply(batch, conn, graph, step, ctx, outcome):
            await self.advance(batch, conn)
        return True

    async def apply(
        self,
        batch: Batch,
        conn: Connection,
        graph: SequenceGraph,
        step: Step,
        ctx: ExecutionContext[Any],
        outcome: Outcome,
    ) -> bool:
        """Write an outcome; True when the connection now waits (or ended)."""
        now = self.clock.now()
        conn.step_state = dict(ctx.state)
        if isinstance(outcome, CreateActivity):
            return await self.create_activity(batch, conn, step, outcome)
        if isinstance(outcome, Done | TakeBranch):
            if isinstance(outcome, Done) and graph.shape(step.key).activity_kind is not None:
                await self.record_automatic_activity(batch, conn, step, ctx.state.get("message_id"))
            return await self.follow(batch.session, conn, graph, step.key, outcome.branch.value)
        if isinstance(outcome, WaitFor | WaitForEvents):
            duration = outcome.duration if isinstance(outcome, WaitFor) else outcome.deadline
            conn.phase = (
                ConnectionPhase.WAIT if isinstance(outcome, WaitFor) else ConnectionPhase.EVENTS
            )
            conn.next_run_at = await self.due(batch, conn, now, duration)
            if isinstance(outcome, WaitForEvents) and ctx.previous_activity is not None:
                await self.replay_events(batch, conn, ctx.previous_activity.step_key)
            return True
        if isinstance(outcome, WaitUntil):
            conn.phase, conn.next_run_at = ConnectionPhase.WAIT, max(outcome.at, now)
            return True
        if isinstance(outcome, Exit):
            await self.end(
                batch.session,
                conn,
                ConnectionStatus.DISCONNECTED,
                ConnectionReason.EXIT_CRITERION_MET,
                outcome.reason or None,
            )
            return True
        if isinstance(outcome, Fail):
            known = outcome.code in ConnectionReason.__members__
            await self.end(
                batch.session,
                conn,
                ConnectionStatus.ERROR,
                ConnectionReason(outcome.code) if known else ConnectionReason.STEP_FAILED,
                outcome.message,
                None if known else outcome.code,
            )
            return True
        if isinstance(outcome, HandOver):
            await self.hand_over(batch, conn, outcome.sequence)
            return True
        await self.fail(batch.session, conn, f"Unknown outcome {outcome!r}.")
        return True

    async def replay_events(self, batch: Batch, conn: Connection, activity_step: str) -> None:
        """Events that happened before the condition was reached count too (an open during
        the wait before it, say): hand them over in order until the condition moves on."""
        waiting_at = conn.current_step_key
        if conn.id in batch.loaded and (conn.id, activity_step) not in batch.with_events:
            return
        stored = await batch.session.scalars(
            select(EngagementEventRow)
            .join(Activity, Activity.id == EngagementEventRow.activity_id)
            .where(Activity.connection_id == conn.id, Activity.step_key == activity_step)
            .order_by(EngagementEventRow.occurred_at, EngagementEventRow.id)
        )
        for row in list(stored):
            if (
                conn.status != ConnectionStatus.CONNECTED
                or conn.current_step_key != waiting_at
                or conn.phase != ConnectionPhase.EVENTS
            ):
                return
            await self.on_event(batch, conn, event_view(row))

    async def follow(
        self, session: AsyncSession, conn: Connection, graph: SequenceGraph, key: str, branch: str
    ) -> bool:
        now = self.clock.now()
        conn.steps_done += 1
        child = graph.follower(key, branch)
        if child is None:
            await self.end(
                session, conn, ConnectionStatus.COMPLETED, ConnectionReason.SEQUENCE_COMPLETED
            )
            return True
        conn.current_step_key, conn.phase, conn.step_state = child, ConnectionPhase.EXECUTE, {}
        conn.step_entered_at, conn.next_run_at = now, now
        return False

    async def end(
        self,
        session: AsyncSession,
        conn: Connection,
        status: ConnectionStatus,
        reason: ConnectionReason,
        detail: str | None = None,
        code: str | None = None,
    ) -> None:
        """End the connection and close its work (`storage.connection_endings`)."""
        if status is ConnectionStatus.ERROR:
            log.warning("connection %s is in ERROR (%s): %s", conn.id, reason, detail)
        await end_connection(
            session,
            conn,
            status,
            reason,
            self.clock.now(),
            error=detail,
            error_code=code,
        )

    async def fail(
        self,
        session: AsyncSession,
        conn: Connection,
        message: str,
        reason: ConnectionReason = ConnectionReason.STEP_FAILED,
        code: str | None = None,
    ) -> None:
        await self.end(session, conn, ConnectionStatus.ERROR, reason, message, code)

    async def opted_out(
        self,
        batch: Batch,
        conn: Connection,
        graph: SequenceGraph,
        step: Step,
        opted_out: RecipientOptedOut,
    ) -> bool:
        """An automated email was due for an opted-out recipient: skip the step when the
        sequence says so, otherwise end the connection (OPTED_OUT); True when it ended."""
        seq = batch.sequences[conn.sequence_id]
        if not seq.skip_opted_out_email:
            await self.end(
                batch.session,
                conn,
                ConnectionStatus.DISCONNECTED,
                ConnectionReason.OPTED_OUT,
                opted_out.message,
            )
            return True
        if graph.shape(step.key).activity_kind is not None:
            await self.record_automatic_activity(
                batch, conn, step, None, ActivityStatus.SKIPPED, opted_out.message
            )
        return await self.follow(batch.session, conn, graph, step.key, Branch.NEXT)

    # --- What a step sees ----------------------------------------------------------------

    async def context(self, batch: Batch, conn: Connection, step: Step) -> ExecutionContext[Any]:
        record = batch.records[conn.record_id]
        type_name, info = batch.types[record.record_type_id]
        org = batch.orgs[conn.organization_id]
        graph = batch.graphs[conn.version_id]
        config = self.registry.load_config(step.type, step.config)
        assignees = await self.assignees(batch, conn)
        sender = await batch.user(assignees[0]) if assignees else None
        identity = effective_identity(org, sender)
        return ExecutionContext(
            config=config,
            record=RecordView(
                id=str(record.id),
                record_type=type_name,
                external_id=record.external_id,
                name=record.name,
                fields=dict(record.fields),
                stage=record.stage,
                owner_user_id=str(record.owner_user_id) if record.owner_user_id else None,
                owner_team_id=str(record.owner_team_id) if record.owner_team_id else None,
                is_active=record.is_active,
            ),
            record_type=info,
            connection_id=str(conn.id),
            sequence_id=str(conn.sequence_id),
            step=self.registry.step_ref(graph, step.key),
            previous_activity=await self.previous_activity(batch, conn, graph, step.key),
            clock=self.clock,
            mail=OutboxMail(
                batch.session,
                conn.organization_id,
                conn.id,
                self.clock.now(),
                self.deliver_mail,
                identity.address,
                do_not_email=record.fields.get(DO_NOT_EMAIL_FIELD) is True,
                sent=batch.outbox if conn.id in batch.loaded else None,
                flush=not batch.defer,
                suppression=batch.suppression.get(conn.organization_id),
                send_window=self.send_window(batch, conn, record),
                step_key=f"{conn.id}:{step.key}",
            ),
            records=Updater(batch, record, info, step.key),
            idempotency_key=f"{conn.id}:{step.key}",
            state=dict(conn.step_state or {}),
            call_outcomes=tuple(org.call_outcomes),
            sender=identity.address,
            sender_identity=identity,
        )

    async def previous_activity(
        self, batch: Batch, conn: Connection, graph: SequenceGraph, key: str
    ) -> ActivityView | None:
        for k in graph.ancestors(key):
            if graph.shape(k).activity_kind is None:
                continue
            if conn.id in batch.loaded:
                return batch.latest.get((conn.id, k))
            row = await batch.session.scalar(
                select(Activity)
                .where(Activity.connection_id == conn.id, Activity.step_key == k)
                .order_by(Activity.id.desc())
                .limit(1)
            )
            if row is None:
                return None
            return activity_view(
                k,
                row.step_type,
                row.activity_kind,
                row.status,
                row.outcome,
                row.message_id,
                row.closed_at,
            )
        return None

    async def assignees(self, batch: Batch, conn: Connection) -> list[int]:
        if conn.id in batch.assignees:
            return batch.assignees[conn.id]
        if conn.id in batch.prefetched:
            batch.assignees[conn.id] = batch.prefetched.pop(conn.id)
            return batch.assignees[conn.id]
        seq = batch.sequences[conn.sequence_id]
        record = batch.records[conn.record_id]
        rule = AssignmentRule.of(seq.assign_to, seq.assign_field, seq.member_condition or {})
        found = await parties.parties_for(
            batch.session, conn.organization_id, [record], rule, conn.connected_by_id
        )
        batch.assignees[conn.id] = resolve(rule, found[record.id])
        return batch.assignees[conn.id]

    def send_window(self, batch: Batch, conn: Connection, record: Record) -> RecipientWindow | None:
        """The sequence's send window (the organization's when it has none) in the record's
        time zone (the organization's default without one), skipping the holidays."""
        org = batch.orgs[conn.organization_id]
        seq = batch.sequences[conn.sequence_id]
        return recipient_window(
            seq.send_window, org.send_window, record.fields, org.default_time_zone, org.holidays
        )

    async def working_time(self, batch: Batch, conn: Connection) -> WorkingTime:
        """The first assignee's calendar (`domain.due_times.working_time`)."""
        org = batch.orgs[conn.organization_id]
        assignees = await self.assignees(batch, conn)
        user = await batch.user(assignees[0]) if assignees else None
        return working_time(
            org.default_time_zone,
            org.holidays,
            user.time_zone if user else None,
            user.working_hours if user else None,
        )

    async def due(
        self, batch: Batch, conn: Connection, start: datetime, duration: timedelta
    ) -> datetime:
        seq = batch.sequences[conn.sequence_id]
        return wait_ends(
            start,
            duration,
            skip_non_working_time=seq.skip_non_working_time,
            calendar=await self.working_time(batch, conn),
        )

    # --- Activities -----------------------------------------------------------------------

    async def add_activity(
        self, batch: Batch, conn: Connection, step: Step, now: datetime, **fields: Any
    ) -> Activity | None:
        """The step's activity with `fields`, written now; None when the step has one
        already (its idempotency key is the connection and the step). The columns with a
        default that `fields` leaves out are set too: every new activity (an email's or a
        task's) then has the same columns, so a batch's new activities are one INSERT."""
        key = f"{conn.id}:{step.key}"
        if conn.id in batch.loaded:
            if key in batch.activity_keys:
                return None
        elif await batch.session.scalar(select(Activity.id).where(Activity.idempotency_key == key)):
            return None
        activity = Activity(
            organization_id=conn.organization_id,
            connection_id=conn.id,
            sequence_id=conn.sequence_id,
            record_id=conn.record_id,
            step_key=step.key,
            step_type=step.type,
            activity_kind=batch.graphs[conn.version_id].shape(step.key).activity_kind,
            proposed_due_at=now,
            idempotency_key=key,
            created_at=now,
            **{"instructions": "", "data": {}, "notes": "", "delegated_from_id": None, **fields},
        )
        batch.session.add(activity)
        if not batch.defer:
            await batch.session.flush()
        batch.activity_keys.add(key)
        batch.latest[(conn.id, step.key)] = activity_view(
            step.key,
            step.type,
            activity.activity_kind,
            activity.status,
            activity.outcome,
            activity.message_id,
            activity.closed_at,
        )
        return activity

    async def create_activity(
        self, batch: Batch, conn: Connection, step: Step, outcome: CreateActivity
    ) -> bool:
        assignees = await self.assignees(batch, conn)
        if not assignees:
            await self.fail(
                batch.session,
                conn,
                "The assignment rule names nobody for this record now.",
                ConnectionReason.NO_ASSIGNEE,
                ErrorCode.NO_ASSIGNEE,
            )
            return True
        now = self.clock.now()
        due = now
        if batch.sequences[conn.sequence_id].skip_non_working_time:  # else no calendar needed
            due = activity_due(
                now, skip_non_working_time=True, calendar=await self.working_time(batch, conn)
            )
        assignees, delegated_from = await self.away_assignees(batch, conn, assignees, due)
        activity = await self.add_activity(
            batch,
            conn,
            step,
            now,
            subject=outcome.subject[:400],
            instructions=outcome.instructions,
            data=dict(outcome.data),
            status=ActivityStatus.OPEN,
            due_at=due,
            delegated_from_id=delegated_from,
        )
        if activity is not None and batch.defer:
            batch.pending_assignees.append((activity, list(assignees)))
            batch.created.append((activity, list(assignees)))
        elif activity is not None:
            batch.session.add_all(
                ActivityAssignee(activity_id=activity.id, user_id=u) for u in assignees
            )
            await activity_created(batch.session, activity, assignees)
        conn.phase, conn.next_run_at = ConnectionPhase.ACTIVITY, None
        return True

    async def away_assignees(
        self, batch: Batch, conn: Connection, assignees: list[int], due: datetime
    ) -> tuple[list[int], int | None]:
        """An activity due while an assignee is away goes to their delegate under the
        organization's DELEGATE policy (`domain.away.assign`); with the one it was moved from."""
        sellers: dict[int, Seller] = {}
        for user_id in assignees:
            user = await batch.user(user_id)
            if user is None or user.away_until is None:
                continue
            sellers[user_id] = seller = Seller.of(user)
            if seller.away_at(due) and user.away_delegate_id is not None:
                delegate = await batch.user(user.away_delegate_id)
                if delegate is not None:
                    sellers[delegate.id] = Seller.of(delegate)
        if not sellers:
            return assignees, None
        policy = AwayPolicy(batch.orgs[conn.organization_id].away_policy)
        return assign(assignees, sellers, policy, due)

    async def record_automatic_activity(
        self,
        batch: Batch,
        conn: Connection,
        step: Step,
        message_id: str | None,
        status: ActivityStatus = ActivityStatus.COMPLETED,
        notes: str = "",
    ) -> None:
        """Automatic work with an activity kind (an automated email) is kept as a closed
        activity, so history, statistics and conditions see it like manual work."""
        now = self.clock.now()
        await self.add_activity(
            batch,
            conn,
            step,
            now,
            subject=step.name,
            status=status,
            notes=notes,
            due_at=now,
            closed_at=now,
            message_id=message_id,
        )

    # --- Hand-over ------------------------------------------------------------------------

    async def hand_over(self, batch: Batch, conn: Connection, target_ref: str) -> None:
        """End the connection (ADVANCED_TO_OTHER_SEQUENCE) and connect its record to the
        target sequence under the rules of `connectSequence`; when a rule refuses, the
        connection ends in ERROR (HAND_OVER_REFUSED) with the rule's code instead."""
        kind, pk = from_global_id(target_ref)
        key = key_of(pk) if kind == "Sequence" else None
        stmt = select(Sequence).where(Sequence.organization_id == conn.organization_id)
        stmt = (
            stmt.where(Sequence.id == key)
            if key is not None
            else stmt.where(Sequence.key == target_ref)
        )
        target = await batch.session.scalar(stmt)
        org = batch.orgs[conn.organization_id]
        record = batch.records[conn.record_id]
        source = batch.sequences[conn.sequence_id]
        problem = None
        if target is None or target.id == source.id:
            problem = Problem(
                ErrorCode.NOT_FOUND, f"There is no other sequence '{target_ref}' to advance to.", ()
            )
        else:
            result = (
                await new_connections(
                    batch.session,
                    org,
                    target,
                    [record],
                    conn.connected_by_id,
                    None,
                    self.clock.now(),
                    handed_over_from=conn.id,
                )
            )[0]
            problem = result.problems[0] if result.problems else None
        if problem is not None:
            await self.fail(
                batch.session,
                conn,
                f"Can't advance to sequence '{target_ref}': {problem.message}",
                ConnectionReason.HAND_OVER_REFUSED,
                problem.code,
            )
            return
        await self.end(
            batch.session,
            conn,
            ConnectionStatus.DISCONNECTED,
            ConnectionReason.ADVANCED_TO_OTHER_SEQUENCE,
        )
