"""What a record change by `upsertRecords` does to the record's running connections, in the
upsert's transaction: a stage entering one of the sequence's exit stages ends the connection
STAGE_REACHED, a field condition becoming true ends it FIELD_CONDITION_MET (docs/exits.md);
else a step type that hears record changes (`StepType.on_record_change`) gets the change while
the connection waits at its step. A batch of changes costs a fixed number of statements."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.exit_criteria import ExitCriteria
from sekvens.domain.life_cycles import RUNNING, ConnectionPhase, ConnectionReason, ConnectionStatus
from sekvens.engine.runner import Runner
from sekvens.plugins.api import RecordChange
from sekvens.storage.connection_endings import end_connections
from sekvens.storage.db import is_postgres
from sekvens.storage.record_types import load_infos
from sekvens.storage.records import UpsertResult
from sekvens.storage.tables import Connection, Record, Sequence

#: The phases in which a connection waits at its current step (after its `execute`).
WAITING = (ConnectionPhase.WAIT, ConnectionPhase.EVENTS)


@dataclass(frozen=True)
class Changed:
    """One record an upsert changed: the change as a step type sees it, the record after it,
    and its fields before it."""

    change: RecordChange
    record: Record
    fields_before: dict[str, Any]


def changes_of(results: Seq[UpsertResult]) -> dict[int, Changed]:
    """The changes an upsert made to existing records' stage or fields, by record id."""
    changes: dict[int, Changed] = {}
    for result in results:
        if result.record is None or result.before is None:
            continue
        stage_before, fields_before = result.before
        fields_after: dict[str, Any] = result.record.fields or {}
        changed = {
            name: (fields_before.get(name), fields_after.get(name))
            for name in fields_before.keys() | fields_after.keys()
            if fields_before.get(name) != fields_after.get(name)
        }
        if changed or stage_before != result.record.stage:
            change = RecordChange(changed, stage_before, result.record.stage)
            changes[result.record.id] = Changed(change, result.record, fields_before)
    return changes


async def react_to_record_changes(
    session: AsyncSession, runner: Runner, organization_id: int, results: Seq[UpsertResult]
) -> int:
    """End or move the running connections of the records the upsert changed; returns how
    many ended or moved on. The exits end together, per reason (`end_connections`)."""
    changes = changes_of(results)
    if not changes:
        return 0
    stmt: Select[Connection, dict[str, Any] | None] = (
        select(Connection, Sequence.exit_criteria)
        .join(Sequence, Sequence.id == Connection.sequence_id)
        .where(Connection.record_id.in_(changes), Connection.status.in_(RUNNING))
        .order_by(Connection.id)
    )
    if is_postgres(session):
        stmt = stmt.with_for_update(of=Connection)
    rows = [(conn, ExitCriteria.of(stored)) for conn, stored in await session.execute(stmt)]
    if not rows:
        return 0
    types = (
        {t.id: info for t, info in (await load_infos(session, organization_id)).values()}
        if any(criteria.watches_records() for _, criteria in rows)
        else {}
    )
    ending: dict[ConnectionReason, list[int]] = {}
    hearing: list[Connection] = []
    hooks = any(t.hears_record_changes() for t in runner.registry.all())
    for conn, criteria in rows:
        changed = changes[conn.record_id]
        if criteria.watches_records():
            met = criteria.met_by(
                types[changed.record.record_type_id],
                changed.change.stage_before,
                changed.change.stage_after,
                changed.fields_before,
                changed.record.fields or {},
            )
            if met is not None:
                ending.setdefault(met[0], []).append(conn.id)
                continue
        if hooks and conn.status == ConnectionStatus.CONNECTED and conn.phase in WAITING:
            hearing.append(conn)
    now = runner.clock.now()
    touched = 0
    for reason, ids in ending.items():
        ended = await end_connections(
            session, Connection.id.in_(ids), ConnectionStatus.DISCONNECTED, reason, now
        )
        touched += len(ended)
    if hearing:
        touched += await _hear(session, runner, hearing, changes)
    return touched


async def _hear(
    session: AsyncSession, runner: Runner, conns: list[Connection], changes: dict[int, Changed]
) -> int:
    """Hand the changes to the step types that hear them; how many connections moved on."""
    batch = runner.batch(session)
    await batch.load(conns)
    moved = 0
    for conn in conns:
        step = batch.graphs[conn.version_id].steps.get(conn.current_step_key or "")
        if step is not None and runner.registry.hears_record_changes(step.type):
            moved += await runner.on_record_change(batch, conn, changes[conn.record_id].change)
    await batch.write()
    return moved
