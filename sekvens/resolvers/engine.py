"""Queries and mutations of running sequences: connect, up next, activities, events, outbox."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any, TypeVar

import strawberry
from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from sekvens.authoring.sequences import organization
from sekvens.domain.activity_actions import CLOSES, ActivityAction, Work
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.life_cycles import ActivityStatus
from sekvens.domain.roles import RECORD_WRITERS, SUPERVISORS
from sekvens.engine import activities as activity_ops
from sekvens.engine import connections as conn_ops
from sekvens.engine import jobs
from sekvens.engine.bounce_reports import BULK_MAX as BOUNCES_MAX
from sekvens.engine.bounce_reports import record_bounce_reports
from sekvens.engine.events import BULK_MAX as EVENTS_MAX
from sekvens.engine.events import EventInput, record_events
from sekvens.engine.events import EventResult as RecordedEvent
from sekvens.engine.inbound_messages import BULK_MAX as INBOUND_MAX
from sekvens.engine.inbound_messages import record_inbound_messages
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import context, record_filter
from sekvens.resolvers.sequences import sequence_pk
from sekvens.schema.engine import (
    Activity,
    ActivityActionResult,
    ActivityPayload,
    ActOnActivitiesInput,
    ActOnActivitiesPayload,
    BounceMessageResult,
    CodeCount,
    CompleteActivityInput,
    ConnectionFilter,
    ConnectionPayload,
    ConnectResult,
    ConnectSequenceByFilterInput,
    ConnectSequenceByFilterPayload,
    ConnectSequenceInput,
    ConnectSequencePayload,
    DisconnectSequenceInput,
    EventResult,
    InboundMessageResult,
    OutboxMessage,
    PauseConnectionInput,
    ReassignActivityInput,
    RecordBounceMessagesInput,
    RecordBounceMessagesPayload,
    RecordEngagementEventsInput,
    RecordEngagementEventsPayload,
    RecordInboundMessagesInput,
    RecordInboundMessagesPayload,
    RecordRefInput,
    ResumeConnectionInput,
    SequenceTarget,
    SkipActivityInput,
    SnoozeActivityInput,
    UpNextFilter,
)
from sekvens.schema.errors import ApiError, UserError
from sekvens.schema.jobs import Job
from sekvens.schema.pagination import paginate
from sekvens.schema.prefetch import PREFETCHABLE, node_fields
from sekvens.schema.records import Record as RecordNode
from sekvens.schema.relay import Connection, decode_id, to_global_id
from sekvens.schema.sequences import Sequence as SequenceNode
from sekvens.storage import audit
from sekvens.storage.connections import connections_query
from sekvens.storage.tables import Activity as ActivityRow
from sekvens.storage.tables import ActivityAssignee, Record, RecordType
from sekvens.storage.tables import Connection as ConnectionRow
from sekvens.storage.tables import OutboxMessage as OutboxRow


def _now(ctx: Context) -> Any:
    return ctx.services.engine.clock.now()


async def _records(
    ctx: Context, viewer: Viewer, refs: list[RecordRefInput], conflicts: dict[int, Problem]
) -> list[Record | None]:
    """Each reference's record in this organization, or None (two statements at most).

    A reference by id that also names a record type or external id must name the same
    record; otherwise it gets None and a problem in `conflicts` (by index)."""
    ids: dict[int, int] = {}
    keys: dict[int, tuple[str, str]] = {}
    for i, ref in enumerate(refs):
        if ref.id is not None:
            try:
                ids[i] = decode_id(ref.id, "Record", ["records", str(i), "id"])
            except DomainError:
                continue
        elif ref.record_type and ref.external_id:
            keys[i] = (ref.record_type, ref.external_id)
    found: dict[int, Record] = {}
    if ids:
        rows = await ctx.session.execute(
            select(Record, RecordType.name)
            .join(RecordType, RecordType.id == Record.record_type_id)
            .where(
                Record.id.in_(set(ids.values())), Record.organization_id == viewer.organization_id
            )
        )
        by_id = {r.id: (r, name) for r, name in rows}
        for i, pk in ids.items():
            if pk not in by_id:
                continue
            record, type_name = by_id[pk]
            ref = refs[i]
            for field, given, actual in (
                ("recordType", ref.record_type, type_name),
                ("externalId", ref.external_id, record.external_id),
            ):
                if given is not None and given != actual and i not in conflicts:
                    conflicts[i] = Problem(
                        ErrorCode.INVALID_VALUE,
                        f"The record with this id has {field} '{actual}', not '{given}': "
                        "give the id alone, or the record type and external id alone.",
                        ("records", str(i), field),
                    )
            if i not in conflicts:
                found[i] = record
    if keys:
        rows = await ctx.session.execute(
            select(Record, RecordType.name)
            .join(RecordType, RecordType.id == Record.record_type_id)
            .where(
                Record.organization_id == viewer.organization_id,
                tuple_(RecordType.name, Record.external_id).in_(set(keys.values())),
            )
        )
        by_key = {(name, r.external_id): r for r, name in rows}
        found.update({i: by_key[k] for i, k in keys.items() if k in by_key})
    return [found.get(i) for i in range(len(refs))]


def _id(global_id: str, type_name: str, field: str) -> int:
    return decode_id(global_id, type_name, [field])


async def prefetch_activities(ctx: Context, nodes: list[Activity], wanted: set[str]) -> None:
    """Load the records and sequences of a page of activities together (one batched
    statement each, through the request's loaders) and store them on the nodes."""
    wanted = wanted & set(PREFETCHABLE["Activity"])
    if not nodes or not wanted:
        return
    loaders = ctx.engine_loaders

    async def records() -> list[Any]:
        rows = await loaders.record.load_many([n.row.record_id for n in nodes])
        return [RecordNode.from_row(r) for r in rows]

    async def sequences() -> list[Any]:
        rows = await loaders.sequence.load_many([n.row.sequence_id for n in nodes])
        return [SequenceNode.from_row(r) for r in rows]

    jobs = {"record": records, "sequence": sequences}
    names = [name for name in jobs if name in wanted]
    results = await asyncio.gather(*(jobs[name]() for name in names))
    for i, node in enumerate(nodes):
        node.prefetched = {name: values[i] for name, values in zip(names, results, strict=True)}


@strawberry.type
class EngineQueries:
    @strawberry.field(
        description="The viewer's open activities, by due time, with record, sequence and step."
    )
    async def up_next(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: UpNextFilter | None = None,
    ) -> Connection[Activity]:
        ctx = context(info)
        f = filter or UpNextFilter()
        stmt = (
            select(ActivityRow)
            .join(ActivityAssignee, ActivityAssignee.activity_id == ActivityRow.id)
            .where(
                ActivityAssignee.user_id == ctx.viewer.user_id,
                ActivityRow.status == ActivityStatus.OPEN,
            )
        )
        try:
            if f.sequence_id is not None:
                stmt = stmt.where(
                    ActivityRow.sequence_id == sequence_pk(f.sequence_id, "sequenceId")
                )
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        if f.kind is not None:
            stmt = stmt.where(ActivityRow.activity_kind == f.kind.value)
        if f.due_before is not None:
            stmt = stmt.where(ActivityRow.due_at < f.due_before)
        stmt = stmt.order_by(ActivityRow.due_at, ActivityRow.id)
        page = await paginate(ctx, stmt, Activity.from_row, first, after)
        await prefetch_activities(ctx, [e.node for e in page.edges], node_fields(info))
        return page

    @strawberry.field(description="Connections of the organization, newest first.")
    async def connections(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        filter: ConnectionFilter | None = None,
    ) -> Connection[SequenceTarget]:
        ctx = context(info)
        f = filter or ConnectionFilter()
        try:
            stmt = connections_query(
                ctx.viewer.organization_id,
                sequence_pk(f.sequence_id) if f.sequence_id else None,
                _id(f.record_id, "Record", "recordId") if f.record_id else None,
                f.status.value if f.status else None,
            )
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        return await paginate(ctx, stmt, SequenceTarget.from_row, first, after)

    @strawberry.field(description="Automated emails, newest first; managers and administrators.")
    async def outbox(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[OutboxMessage]:
        ctx = context(info)
        try:
            ctx.require(SUPERVISORS)
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        stmt = (
            select(OutboxRow)
            .where(OutboxRow.organization_id == ctx.viewer.organization_id)
            .order_by(OutboxRow.id.desc())
        )
        return await paginate(ctx, stmt, OutboxMessage.from_row, first, after)


def audit_events(
    session: AsyncSession, viewer: Viewer, events: list[EventInput], results: list[RecordedEvent]
) -> None:
    """One audit entry per connection that recorded events: which, of what kind."""
    by_connection: dict[int, list[dict[str, str]]] = {}
    for event, result in zip(events, results, strict=True):
        if result.recorded and result.connection_id is not None:
            by_connection.setdefault(result.connection_id, []).append(
                {"event_id": event.event_id, "kind": event.kind}
            )
    for connection_id, recorded in by_connection.items():
        audit.record(
            session,
            viewer.organization_id,
            viewer.user_id,
            "connection.events_recorded",
            "connection",
            connection_id,
            {"events": recorded},
        )


R = TypeVar("R")


def _errors(problems: list[Problem], index: int) -> list[UserError]:
    return [UserError.from_problem(p, index) for p in problems]


async def _record_messages(
    ctx: Context,
    viewer: Viewer,
    messages: list[str],
    limit: int,
    record: Callable[..., Awaitable[tuple[list[R], list[EventInput], list[RecordedEvent]]]],
) -> list[R]:
    """Raw messages (`record`: bounce reports or inbound messages) recorded as events: at
    most `limit`, audited, and the engine woken for what they change."""
    if len(messages) > limit:
        raise DomainError.of(
            ErrorCode.TOO_MANY, f"At most {limit} messages per call.", ["messages"]
        )
    await organization(ctx.session, viewer)
    results, events, recorded = await record(
        ctx.session, ctx.services.engine.runner, viewer.organization_id, messages
    )
    audit_events(ctx.session, viewer, events, recorded)
    ctx.services.engine.wake()
    return results


def _connection_id(pk: int | None) -> strawberry.ID | None:
    return strawberry.ID(to_global_id("SequenceTarget", pk)) if pk is not None else None


def _item_error(problem: Problem, index: int) -> UserError:
    """A per-activity problem; one about the activity itself points at its place in the list."""
    if problem.field == ("activityId",):
        problem = replace(problem, field=("activityIds", str(index)))
    return UserError.from_problem(problem, index)


async def _one(ctx: Context, viewer: Viewer, activity_id: str, work: Work) -> dict[str, Any]:
    pk = _id(activity_id, "Activity", "activityId")
    activity = await activity_ops.act_on_one(ctx.session, viewer, pk, work, _now(ctx))
    if work.action in CLOSES:
        ctx.services.engine.wake()
    return {"activity": Activity.from_row(activity)}


async def _act_on_one(info: Info, activity_id: str, work: Work) -> ActivityPayload:
    async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
        return await _one(ctx, viewer, activity_id, work)

    return await mutate(info, ActivityPayload, run)


@strawberry.type
class EngineMutations:
    @strawberry.mutation(description="Connect up to 1000 records, with a result per record.")
    async def connect_sequence(
        self, info: Info, input: ConnectSequenceInput
    ) -> ConnectSequencePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            if len(input.records) > conn_ops.BULK_MAX:
                raise DomainError.of(
                    ErrorCode.TOO_MANY,
                    f"At most {conn_ops.BULK_MAX} records per call.",
                    ["records"],
                )
            conflicts: dict[int, Problem] = {}
            records = await _records(ctx, viewer, input.records, conflicts)
            results = await conn_ops.connect_records(
                ctx.session,
                viewer,
                sequence_pk(input.sequence_id),
                records,
                input.start_at,
                _now(ctx),
            )
            rows = {}
            ids = [r.connection_id for r in results if r.connection_id]
            if ids:
                rows = {
                    c.id: c
                    for c in await ctx.session.scalars(
                        select(ConnectionRow).where(ConnectionRow.id.in_(ids))
                    )
                }
            ctx.services.engine.wake()
            return {
                "results": [
                    ConnectResult(
                        index=r.index,
                        connection=SequenceTarget.from_row(rows[r.connection_id])
                        if r.connection_id
                        else None,
                        errors=_errors(
                            [conflicts[r.index]] if r.index in conflicts else r.problems, r.index
                        ),
                    )
                    for r in results
                ],
                "connected_count": len(ids),
            }

        return await mutate(info, ConnectSequencePayload, run)

    @strawberry.mutation(
        description="Connect every record matching a filter, in chunks; reports counts. Over"
        " SEKVENS_JOB_THRESHOLD matching records, or with asJob, it returns a job at once and"
        " the workers connect them (docs/jobs.md)."
    )
    async def connect_sequence_by_filter(
        self, info: Info, input: ConnectSequenceByFilterInput
    ) -> ConnectSequenceByFilterPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            pk = sequence_pk(input.sequence_id)
            f = await record_filter(ctx.session, viewer.organization_id, input.filter)
            total = await conn_ops.count_matching(ctx.session, viewer.organization_id, f)
            if input.as_job or total > ctx.settings.job_threshold:
                job = await jobs.create_connect_job(
                    ctx.session, viewer, pk, f, input.start_at, total, _now(ctx)
                )
                ctx.services.engine.wake()
                return {"job": Job.from_row(job)}
            done = await conn_ops.connect_by_filter(
                ctx.session, viewer, pk, f, input.start_at, _now(ctx)
            )
            ctx.services.engine.wake()
            return {
                "matched_count": done.matched,
                "connected_count": done.connected,
                "skipped": [CodeCount(code=c, count=n) for c, n in sorted(done.skipped.items())],
            }

        return await mutate(info, ConnectSequenceByFilterPayload, run)

    @strawberry.mutation(description="End a connection (reason USER_DISCONNECTED).")
    async def disconnect_sequence(
        self, info: Info, input: DisconnectSequenceInput
    ) -> ConnectionPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            conn = await conn_ops.disconnect(
                ctx.session,
                viewer,
                _id(input.connection_id, "SequenceTarget", "connectionId"),
                _now(ctx),
            )
            return {"connection": SequenceTarget.from_row(conn)}

        return await mutate(info, ConnectionPayload, run)

    @strawberry.mutation(description="Pause a connection, optionally until a time.")
    async def pause_connection(self, info: Info, input: PauseConnectionInput) -> ConnectionPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            conn = await conn_ops.pause(
                ctx.session,
                viewer,
                _id(input.connection_id, "SequenceTarget", "connectionId"),
                input.resume_at,
                _now(ctx),
            )
            return {"connection": SequenceTarget.from_row(conn)}

        return await mutate(info, ConnectionPayload, run)

    @strawberry.mutation
    async def resume_connection(
        self, info: Info, input: ResumeConnectionInput
    ) -> ConnectionPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            conn = await conn_ops.resume(
                ctx.session,
                viewer,
                _id(input.connection_id, "SequenceTarget", "connectionId"),
                _now(ctx),
            )
            ctx.services.engine.wake()
            return {"connection": SequenceTarget.from_row(conn)}

        return await mutate(info, ConnectionPayload, run)

    @strawberry.mutation(description="Complete an activity (a call with its outcome).")
    async def complete_activity(self, info: Info, input: CompleteActivityInput) -> ActivityPayload:
        work = Work(ActivityAction.COMPLETE, outcome=input.outcome, notes=input.notes)
        return await _act_on_one(info, input.activity_id, work)

    @strawberry.mutation(description="Skip an activity; a condition on it then takes NO.")
    async def skip_activity(self, info: Info, input: SkipActivityInput) -> ActivityPayload:
        return await _act_on_one(
            info, input.activity_id, Work(ActivityAction.SKIP, notes=input.notes)
        )

    @strawberry.mutation
    async def snooze_activity(self, info: Info, input: SnoozeActivityInput) -> ActivityPayload:
        return await _act_on_one(
            info, input.activity_id, Work(ActivityAction.SNOOZE, until=input.until)
        )

    @strawberry.mutation
    async def reassign_activity(self, info: Info, input: ReassignActivityInput) -> ActivityPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            users = tuple(_id(u, "User", "userIds") for u in input.user_ids)
            work = Work(ActivityAction.REASSIGN, user_ids=users)
            return await _one(ctx, viewer, input.activity_id, work)

        return await mutate(info, ActivityPayload, run)

    @strawberry.mutation(
        description="Complete, skip, snooze or reassign up to 200 activities at once, each as"
        " its single mutation would, with a result per activity (a refused one changes nothing"
        " and leaves the others alone)."
    )
    async def act_on_activities(
        self, info: Info, input: ActOnActivitiesInput
    ) -> ActOnActivitiesPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            ids: list[int | None] = []
            for global_id in input.activity_ids:
                try:
                    ids.append(_id(global_id, "Activity", "activityIds"))
                except DomainError:
                    ids.append(None)  # names no activity: NOT_FOUND in its result
            users = tuple(_id(u, "User", "userIds") for u in input.user_ids or ())
            work = Work(input.action, input.outcome, input.notes, input.until, users)
            results = await activity_ops.act(ctx.session, viewer, ids, work, _now(ctx))
            if work.action in CLOSES and any(isinstance(r, ActivityRow) for r in results):
                ctx.services.engine.wake()
            ok = sum(isinstance(r, ActivityRow) for r in results)
            return {
                "results": [
                    ActivityActionResult(
                        index=i,
                        activity_id=input.activity_ids[i],
                        ok=isinstance(r, ActivityRow),
                        activity=Activity.from_row(r) if isinstance(r, ActivityRow) else None,
                        errors=[] if isinstance(r, ActivityRow) else [_item_error(r, i)],
                    )
                    for i, r in enumerate(results)
                ],
                "ok_count": ok,
                "failed_count": len(results) - ok,
            }

        return await mutate(info, ActOnActivitiesPayload, run)

    @strawberry.mutation(
        description="Customer events (opens, replies, clicks…); idempotent by eventId."
    )
    async def record_engagement_events(
        self, info: Info, input: RecordEngagementEventsInput
    ) -> RecordEngagementEventsPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            if len(input.events) > EVENTS_MAX:
                raise DomainError.of(
                    ErrorCode.TOO_MANY, f"At most {EVENTS_MAX} events per call.", ["events"]
                )
            await organization(ctx.session, viewer)
            events = []
            for e in input.events:
                activity_id = None
                if e.activity_id is not None:
                    try:
                        activity_id = _id(e.activity_id, "Activity", "activityId")
                    except DomainError:
                        activity_id = -1
                record_id = None
                if e.record_id is not None:
                    try:
                        record_id = _id(e.record_id, "Record", "recordId")
                    except DomainError:
                        record_id = -1
                events.append(
                    EventInput(
                        event_id=e.event_id,
                        kind=e.kind.value,
                        occurred_at=e.occurred_at,
                        activity_id=activity_id,
                        message_id=e.message_id,
                        data=e.data if isinstance(e.data, dict) else {},
                        bounce_type=e.bounce_type,
                        return_date=e.return_date,
                        record_id=record_id,
                    )
                )
            results = await record_events(
                ctx.session, ctx.services.engine.runner, viewer.organization_id, events
            )
            audit_events(ctx.session, viewer, events, results)
            ctx.services.engine.wake()
            return {
                "results": [
                    EventResult(
                        index=r.index,
                        recorded=r.recorded,
                        duplicate=r.duplicate,
                        errors=_errors(r.problems, r.index),
                    )
                    for r in results
                ]
            }

        return await mutate(info, RecordEngagementEventsPayload, run, RECORD_WRITERS)

    @strawberry.mutation(
        description="Bounce messages (RFC 3464 delivery status notifications) as a mail server "
        "wrote them: each is matched to an automated email by the bounced Message-ID and "
        "recorded as an EMAIL_BOUNCED event, HARD or SOFT; idempotent per report."
    )
    async def record_bounce_messages(
        self, info: Info, input: RecordBounceMessagesInput
    ) -> RecordBounceMessagesPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            results = await _record_messages(
                ctx, viewer, input.messages, BOUNCES_MAX, record_bounce_reports
            )
            return {
                "results": [
                    BounceMessageResult(
                        index=r.index,
                        recorded=r.recorded,
                        duplicate=r.duplicate,
                        message_id=r.message_id,
                        address=r.address,
                        bounce_type=r.bounce_type,
                        status=r.status,
                        connection_id=_connection_id(r.connection_id),
                        errors=_errors(r.problems, r.index),
                    )
                    for r in results
                ]
            }

        return await mutate(info, RecordBounceMessagesPayload, run, RECORD_WRITERS)

    @strawberry.mutation(
        description="Messages that answer automated email (replies, automatic replies, "
        "bounces) as they arrived: each is matched to the email it answers by In-Reply-To or "
        "References and recorded as EMAIL_REPLIED, EMAIL_AUTO_REPLY (pausing the connection "
        "until the recipient is back) or, for a delivery status notification, EMAIL_BOUNCED; "
        "idempotent per Message-ID."
    )
    async def record_inbound_messages(
        self, info: Info, input: RecordInboundMessagesInput
    ) -> RecordInboundMessagesPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            results = await _record_messages(
                ctx, viewer, input.messages, INBOUND_MAX, record_inbound_messages
            )
            return {
                "results": [
                    InboundMessageResult(
                        index=r.index,
                        kind=r.kind,
                        recorded=r.recorded,
                        duplicate=r.duplicate,
                        message_id=r.message_id,
                        return_date=r.return_date,
                        connection_id=_connection_id(r.connection_id),
                        errors=_errors(r.problems, r.index),
                    )
                    for r in results
                ]
            }

        return await mutate(info, RecordInboundMessagesPayload, run, RECORD_WRITERS)
