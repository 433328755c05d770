"""Connect records to a sequence, and disconnect, pause and resume connections."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol

from sqlalchemy import func, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring.sequences import get_sequence
from sekvens.domain.assignment import AssignmentRule, resolve
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.global_ids import to_global_id
from sekvens.domain.life_cycles import (
    RUNNING,
    ConnectionPhase,
    ConnectionReason,
    ConnectionStatus,
    PauseReason,
    SequenceStatus,
)
from sekvens.domain.roles import SUPERVISORS, Actor, owns_record
from sekvens.domain.webhooks import WebhookEventType
from sekvens.storage import audit, connection_pauses, organizations, parties
from sekvens.storage.connection_endings import end_connection
from sekvens.storage.db import is_postgres
from sekvens.storage.parties import RecordOwners
from sekvens.storage.records import RecordFilter, filtered
from sekvens.storage.tables import (
    Activity,
    ActivityAssignee,
    Connection,
    Organization,
    Record,
    Sequence,
    SequenceStep,
    TeamMember,
    in_list,
)
from sekvens.storage.webhooks import emit

BULK_MAX = 1000


class ConnectableRecord(RecordOwners, Protocol):
    """What connecting reads of a record: a `Record`, or a `RecordColumns`."""

    @property
    def organization_id(self) -> int: ...
    @property
    def record_type_id(self) -> int: ...
    @property
    def is_active(self) -> bool: ...


_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})


class RecordColumns(NamedTuple):
    """The columns of a record that connecting reads, selected without building a `Record`
    (bulk connect); `fields` only when the assignment rule reads a field."""

    id: int
    organization_id: int
    record_type_id: int
    is_active: bool
    owner_user_id: int | None
    owner_team_id: int | None
    access_team_id: int | None
    fields: Mapping[str, Any] = _NO_FIELDS


_CONNECT_COLUMNS = (
    Record.id,
    Record.organization_id,
    Record.record_type_id,
    Record.is_active,
    Record.owner_user_id,
    Record.owner_team_id,
    Record.access_team_id,
)


@dataclass
class ConnectResult:
    index: int
    connection_id: int | None = None
    record_id: int | None = None
    problems: list[Problem] = field(default_factory=list)


async def _active_sequence(session: AsyncSession, actor: Actor, sequence_id: int) -> Sequence:
    seq = await get_sequence(session, actor, sequence_id, edit=False)
    if seq.status != SequenceStatus.ACTIVE or seq.current_version_id is None:
        raise DomainError.of(
            ErrorCode.SEQUENCE_INACTIVE, "Only an active sequence accepts records.", ["sequenceId"]
        )
    return seq


async def _start_key(session: AsyncSession, version_id: int) -> str:
    key = await session.scalar(
        select(SequenceStep.key).where(
            SequenceStep.version_id == version_id, SequenceStep.parent_key.is_(None)
        )
    )
    if key is None:
        raise LookupError(f"Version {version_id} has no START step.")
    return key


async def _quota_left(session: AsyncSession, org: Organization, now: datetime) -> int | None:
    if org.monthly_connection_quota is None:
        return None
    month = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = (
        await session.scalar(
            select(func.count())
            .select_from(Connection)
            .where(Connection.organization_id == org.id, Connection.created_at >= month)
        )
        or 0
    )
    return max(org.monthly_connection_quota - used, 0)


async def connect_records(
    session: AsyncSession,
    actor: Actor,
    sequence_id: int,
    records: Seq[ConnectableRecord | None],
    start_at: datetime | None,
    now: datetime,
) -> list[ConnectResult]:
    """Connect each record (None: it was not found) as `actor`, and say per record what
    happened (see `new_connections`)."""
    seq = await _active_sequence(session, actor, sequence_id)
    org = await organizations.existing(session, actor.organization_id)
    forbidden: set[int] = set()
    if not actor.has_any(SUPERVISORS):
        team_ids = await _team_ids(session, actor)
        forbidden = {
            i
            for i, r in enumerate(records)
            if r is not None
            and not owns_record(actor, team_ids, r.owner_user_id, r.owner_team_id, r.access_team_id)
        }
    allowed = [None if i in forbidden else r for i, r in enumerate(records)]
    results = await new_connections(session, org, seq, allowed, actor.user_id, start_at, now)
    for i in forbidden:
        results[i].problems = [
            Problem(
                ErrorCode.FORBIDDEN,
                "A SALESPERSON connects only records they or their teams own.",
                ("records", str(i)),
            )
        ]
    return results


FILTER_CHUNK = 1000


@dataclass
class FilterConnectResult:
    """What connecting by filter did: records matched, connected, and skipped by the code
    of their first problem."""

    matched: int = 0
    connected: int = 0
    skipped: Counter[str] = field(default_factory=Counter)


async def connect_by_filter(
    session: AsyncSession,
    actor: Actor,
    sequence_id: int,
    filter: RecordFilter,
    start_at: datetime | None,
    now: datetime,
) -> FilterConnectResult:
    """Connect every record of the actor's organization matching `filter`, in chunks of
    `FILTER_CHUNK` (the session forgets each chunk's rows after it)."""
    # NOT_FOUND even if none match
    await get_sequence(session, actor, sequence_id, edit=False)
    out = FilterConnectResult()
    last_id = 0
    while (
        chunk := await connect_chunk(
            session, actor, sequence_id, filter, last_id, FILTER_CHUNK, start_at, now
        )
    ).matched:
        last_id = chunk.last_id
        out.matched += chunk.matched
        out.connected += chunk.connected
        out.skipped.update(chunk.skipped)
        session.expunge_all()
    return out


@dataclass
class ChunkConnectResult(FilterConnectResult):
    """One chunk of connecting by filter, and the id of its last record (0: none matched)."""

    last_id: int = 0


async def connect_chunk(
    session: AsyncSession,
    actor: Actor,
    sequence_id: int,
    filter: RecordFilter,
    after_id: int,
    limit: int,
    start_at: datetime | None,
    now: datetime,
) -> ChunkConnectResult:
    """Connect the first `limit` records matching `filter` whose id is above `after_id`, with
    the connect rules and refusals of `connect_records`. Only the columns connecting reads
    are loaded, not `Record` entities."""
    seq = await get_sequence(session, actor, sequence_id, edit=False)
    with_fields = bool(seq.assign_field)
    columns = (*_CONNECT_COLUMNS, Record.fields) if with_fields else _CONNECT_COLUMNS
    stmt = filtered(actor.organization_id, filter).with_only_columns(*columns)
    chunk = [
        RecordColumns._make(row if with_fields else (*row, _NO_FIELDS))
        for row in await session.execute(stmt.where(Record.id > after_id).limit(limit))
    ]
    out = ChunkConnectResult()
    if not chunk:
        return out
    results = await connect_records(session, actor, sequence_id, chunk, start_at, now)
    out.last_id = chunk[-1].id
    out.matched = len(chunk)
    out.connected = sum(1 for r in results if r.connection_id)
    out.skipped.update(p.code.value for r in results for p in r.problems[:1])
    return out


async def count_matching(session: AsyncSession, organization_id: int, filter: RecordFilter) -> int:
    """How many records of the organization match `filter` now."""
    stmt = filtered(organization_id, filter).with_only_columns(func.count(Record.id)).order_by(None)
    return await session.scalar(stmt) or 0


async def _team_ids(session: AsyncSession, actor: Actor) -> frozenset[int]:
    return frozenset(
        await session.scalars(select(TeamMember.team_id).where(TeamMember.user_id == actor.user_id))
    )


async def _require_may_act(session: AsyncSession, actor: Actor, conn: Connection) -> None:
    """Managers and administrators act on any connection; a salesperson on those they
    connected, of records they own, or with an activity assigned to them."""
    if actor.has_any(SUPERVISORS) or conn.connected_by_id == actor.user_id:
        return
    record = await session.get(Record, conn.record_id)
    if record is None:
        raise LookupError(f"Connection {conn.id} has no record {conn.record_id}.")
    team_ids = await _team_ids(session, actor)
    if owns_record(
        actor, team_ids, record.owner_user_id, record.owner_team_id, record.access_team_id
    ):
        return
    assigned = await session.scalar(
        select(ActivityAssignee.user_id)
        .join(Activity, Activity.id == ActivityAssignee.activity_id)
        .where(Activity.connection_id == conn.id, ActivityAssignee.user_id == actor.user_id)
        .limit(1)
    )
    if assigned is None:
        raise DomainError.of(
            ErrorCode.FORBIDDEN,
            "A SALESPERSON acts only on connections they made, of records they or their teams "
            "own, or with an activity assigned to them.",
            ["connectionId"],
        )


async def new_connections(
    session: AsyncSession,
    org: Organization,
    seq: Sequence,
    records: Seq[ConnectableRecord | None],
    connected_by_id: int | None,
    start_at: datetime | None,
    now: datetime,
    handed_over_from: int | None = None,
) -> list[ConnectResult]:
    """Connect `records` to `seq` at its START step: the one way a connection begins, for a
    user's connect and for a hand-over alike. The connect rules: the sequence is active, and
    per record: found, of the sequence's record type, active, not running in this sequence
    already, someone to assign, the monthly quota not used up. Writes one audit entry
    (`sequence.records_connected`)."""
    if seq.status != SequenceStatus.ACTIVE or seq.current_version_id is None:
        inactive = Problem(ErrorCode.SEQUENCE_INACTIVE, "The sequence is not active.", ())
        return [ConnectResult(i, problems=[inactive]) for i in range(len(records))]
    results = [ConnectResult(i) for i in range(len(records))]
    present = [r for r in records if r is not None]
    rule = AssignmentRule.of(seq.assign_to, seq.assign_field, seq.member_condition or {})
    found = await parties.parties_for(session, org.id, present, rule, connected_by_id)
    quota = await _quota_left(session, org, now)
    start_key = await _start_key(session, seq.current_version_id)
    rows: list[tuple[ConnectResult, dict[str, Any]]] = []
    seen: set[int] = set()
    for record, result in zip(records, results, strict=True):
        if record is None:
            result.problems.append(
                Problem(ErrorCode.NOT_FOUND, "No such record.", ("records", str(result.index)))
            )
            continue
        result.record_id = record.id
        problem: Problem | None = None
        if record.organization_id != org.id:
            problem = Problem(ErrorCode.NOT_FOUND, "No such record.", ())
        elif record.record_type_id != seq.record_type_id:
            problem = Problem(
                ErrorCode.WRONG_RECORD_TYPE,
                "The record is of another record type than the sequence.",
                (),
            )
        elif not record.is_active:
            problem = Problem(ErrorCode.RECORD_INACTIVE, "The record is deactivated.", ())
        elif record.id in seen:
            problem = Problem(
                ErrorCode.ALREADY_CONNECTED, "The record runs in this sequence already.", ()
            )
        elif not resolve(rule, found[record.id]):
            problem = Problem(
                ErrorCode.NO_ASSIGNEE,
                f"The assignment rule ({seq.assign_to}) names nobody for this record.",
                (),
            )
        elif quota is not None and len(rows) >= quota:
            problem = Problem(
                ErrorCode.QUOTA_EXCEEDED,
                f"The organization's monthly quota of {org.monthly_connection_quota}"
                " connections is used up.",
                (),
            )
        if problem:
            result.problems.append(
                Problem(problem.code, problem.message, ("records", str(result.index)))
            )
            continue
        seen.add(record.id)
        rows.append(
            (
                result,
                {
                    "organization_id": org.id,
                    "sequence_id": seq.id,
                    "version_id": seq.current_version_id,
                    "record_id": record.id,
                    "status": ConnectionStatus.CONNECTED,
                    "phase": ConnectionPhase.EXECUTE,
                    "step_state": {},
                    "current_step_key": start_key,
                    "steps_done": 0,
                    "step_entered_at": now,
                    "next_run_at": max(start_at, now) if start_at else now,
                    "connected_by_id": connected_by_id,
                    "created_at": now,
                    "updated_at": now,
                },
            )
        )
    if rows:
        # A record already running in this sequence is refused by the partial unique index;
        # asking the index (not a SELECT first) keeps this linear and free of races.
        dialect_insert = pg_insert if is_postgres(session) else sqlite_insert
        stmt = (
            dialect_insert(Connection)
            .on_conflict_do_nothing(
                index_elements=["sequence_id", "record_id"],
                # The partial unique index's own predicate, as literal SQL (no bound
                # parameters: the insert runs as an executemany).
                index_where=text(in_list("status", RUNNING)),
            )
            .returning(Connection.id, Connection.record_id)
        )
        inserted = dict(
            (record_id, conn_id)
            for conn_id, record_id in await session.execute(stmt, [r for _, r in rows])
        )
        for result, row in rows:
            result.connection_id = inserted.get(row["record_id"])
            if result.connection_id is None:
                result.problems.append(
                    Problem(
                        ErrorCode.ALREADY_CONNECTED,
                        "The record runs in this sequence already.",
                        ("records", str(result.index)),
                    )
                )
        rows = [(result, row) for result, row in rows if result.connection_id is not None]
        for _, row in rows:
            data = {
                "connectionId": to_global_id("SequenceTarget", inserted[row["record_id"]]),
                "sequenceId": to_global_id("Sequence", seq.id),
                "recordId": to_global_id("Record", row["record_id"]),
                "status": ConnectionStatus.CONNECTED,
                "startAt": row["next_run_at"].isoformat(),
                "handedOverFrom": (
                    to_global_id("SequenceTarget", handed_over_from) if handed_over_from else None
                ),
            }
            await emit(session, org.id, WebhookEventType.CONNECTION_STARTED, data, now)
        detail: dict[str, Any] = {"count": len(rows)}
        if handed_over_from is not None:
            detail["handed_over_from_connection"] = handed_over_from
        audit.record(
            session,
            org.id,
            None if handed_over_from is not None else connected_by_id,
            "sequence.records_connected",
            "sequence",
            seq.id,
            detail,
        )
    return results


async def get_connection(
    session: AsyncSession, actor: Actor, connection_id: int, lock: bool = True
) -> Connection:
    stmt = select(Connection).where(Connection.id == connection_id)
    if lock and is_postgres(session):
        stmt = stmt.with_for_update()
    conn = await session.scalar(stmt)
    if conn is None or conn.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such connection.", ["connectionId"])
    return conn


def _require_running(conn: Connection) -> None:
    if conn.status not in RUNNING:
        raise DomainError.of(
            ErrorCode.CONNECTION_ENDED,
            f"The connection has ended ({conn.status}).",
            ["connectionId"],
        )


async def disconnect(
    session: AsyncSession, actor: Actor, connection_id: int, now: datetime
) -> Connection:
    conn = await get_connection(session, actor, connection_id)
    await get_sequence(session, actor, conn.sequence_id, edit=False)
    await _require_may_act(session, actor, conn)
    _require_running(conn)
    await end_connection(
        session, conn, ConnectionStatus.DISCONNECTED, ConnectionReason.USER_DISCONNECTED, now
    )
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "connection.disconnected",
        "connection",
        conn.id,
    )
    return conn


async def pause(
    session: AsyncSession,
    actor: Actor,
    connection_id: int,
    resume_at: datetime | None,
    now: datetime,
) -> Connection:
    conn = await get_connection(session, actor, connection_id)
    await _require_may_act(session, actor, conn)
    _require_running(conn)
    if conn.status == ConnectionStatus.PAUSED:  # answered as resuming a running one is
        raise DomainError.of(
            ErrorCode.INVALID_VALUE, "The connection is paused already.", ["connectionId"]
        )
    if resume_at is not None and resume_at <= now:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE, "Resume in the future, or leave it empty.", ["resumeAt"]
        )
    await connection_pauses.pause(session, conn, PauseReason.USER, resume_at, now)
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "connection.paused",
        "connection",
        conn.id,
        {"resume_at": resume_at.isoformat() if resume_at else None},
    )
    return conn


async def resume(
    session: AsyncSession, actor: Actor, connection_id: int, now: datetime
) -> Connection:
    conn = await get_connection(session, actor, connection_id)
    await _require_may_act(session, actor, conn)
    if conn.status != ConnectionStatus.PAUSED:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE, "The connection is not paused.", ["connectionId"]
        )
    await connection_pauses.resume(session, conn, now)
    audit.record(
        session, actor.organization_id, actor.user_id, "connection.resumed", "connection", conn.id
    )
    return conn
