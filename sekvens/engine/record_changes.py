"""What a record change by `upsertRecords` does to the record's running connections, in the
upsert's transaction: a stage entering one of the sequence's exit stages ends the connection
STAGE_REACHED, a field condition becoming true ends it FIELD_CONDITION_MET (docs/exits.md);
else a step type that hears record changes (`StepType.on_record_change`) gets the change while
the connection waits at its step. The connections of a batch load in a few statements."""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.exit_criteria import ExitCriteria
from sekvens.domain.life_cycles import RUNNING, ConnectionPhase, ConnectionStatus
from sekvens.engine.runner import Runner
from sekvens.plugins.api import RecordChange
from sekvens.storage.db import is_postgres
from sekvens.storage.records import UpsertResult
from sekvens.storage.tables import Connection, Sequence

#: The phases in which a connection waits at its current step (after its `execute`).
WAITING = (ConnectionPhase.WAIT, ConnectionPhase.EVENTS)


def changes_of(results: Seq[UpsertResult]) -> dict[int, RecordChange]:
    """The changes an upsert made to existing records' stage or fields, by record id."""
    changes: dict[int, RecordChange] = {}
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
            changes[result.record.id] = RecordChange(changed, stage_before, result.record.stage)
    return changes


async def react_to_record_changes(
    session: AsyncSession, runner: Runner, results: Seq[UpsertResult]
) -> int:
    """End or move the running connections of the records the upsert changed; returns how
    many ended or moved on."""
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
    hooks = any(t.hears_record_changes() for t in runner.registry.all())
    concerned = [
        (conn, criteria)
        for conn, stored in await session.execute(stmt)
        if (criteria := ExitCriteria.of(stored)).watches_records()
        or (hooks and conn.status == ConnectionStatus.CONNECTED and conn.phase in WAITING)
    ]
    if not concerned:
        return 0
    batch = runner.batch(session)
    await batch.load([conn for conn, _ in concerned])
    ended = 0  # or moved on
    for conn, criteria in concerned:
        change = changes[conn.record_id]
        record = batch.records[conn.record_id]
        _, info = batch.types[record.record_type_id]
        fields_after = record.fields or {}
        fields_before = {
            **fields_after,
            **{name: before for name, (before, _) in change.fields.items()},
        }
        met = criteria.met_by(
            info, change.stage_before, change.stage_after, fields_before, fields_after
        )
        if met is not None:
            reason, detail = met
            await runner.end(session, conn, ConnectionStatus.DISCONNECTED, reason, detail)
            ended += 1
            continue
        if conn.status != ConnectionStatus.CONNECTED or conn.phase not in WAITING:
            continue
        step = batch.graphs[conn.version_id].steps.get(conn.current_step_key or "")
        if step is not None and runner.registry.hears_record_changes(step.type):
            ended += await runner.on_record_change(batch, conn, change)
    await batch.write()
    return ended
