"""Automatic enrollment (segments): records that upsertRecords creates matching, or changes
so that they start matching, an enrollment rule of an active sequence are connected to it.

`watch` runs before the upsert (it remembers the records' state before the change), `enroll`
after it. A candidate goes through the connect rules of `new_connections` (record type,
active, not running already, an assignee, the quota); refusals, and records a rule does
not take again (`EnrollmentRule.may_reenroll`), are not errors of the upsert: they are
counted by code in the audit entry `sequence.records_enrolled`. Statements per upsert: one
when the organization has no rule for the records' types; else a fixed few plus a few per
(sequence, rule) that connects, whatever the batch size.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence as Seq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.enrollment import EnrollmentRule, RecordState, rules_of
from sekvens.domain.life_cycles import SequenceStatus
from sekvens.engine.connections import new_connections
from sekvens.storage import audit, organizations
from sekvens.storage.record_types import load_infos
from sekvens.storage.records import RecordInput, UpsertResult
from sekvens.storage.tables import Connection, Record, RecordType, Sequence


@dataclass
class Watch:
    """The active sequences with rules for the upserted record types (by record type id),
    and the state of the records before the upsert (by record id)."""

    organization_id: int
    sequences: dict[int, list[tuple[Sequence, list[EnrollmentRule]]]] = field(default_factory=dict)
    before: dict[int, RecordState] = field(default_factory=dict)


def _state(r: Any) -> RecordState:
    return RecordState(
        owner_user_id=r.owner_user_id,
        owner_team_id=r.owner_team_id,
        stage=r.stage,
        is_active=r.is_active,
        name=r.name,
        external_id=r.external_id,
        fields=dict(r.fields or {}),
    )


async def watch(session: AsyncSession, organization_id: int, items: Seq[Any]) -> Watch:
    """What `enroll` needs to know before records `items` (RecordInputs; others are
    ignored) are upserted."""
    out = Watch(organization_id)
    inputs = [i for i in items if isinstance(i, RecordInput)]
    names = {i.record_type for i in inputs}
    if not names:
        return out
    type_ids: dict[str, int] = {}
    for seq, type_name in await session.execute(
        select(Sequence, RecordType.name)
        .join(RecordType, RecordType.id == Sequence.record_type_id)
        .where(
            Sequence.organization_id == organization_id,
            Sequence.status == SequenceStatus.ACTIVE,
            Sequence.current_version_id.is_not(None),
            RecordType.name.in_(names),
        )
        .order_by(Sequence.id)
    ):
        if rules := rules_of(seq.enrollment_rules):
            out.sequences.setdefault(seq.record_type_id, []).append((seq, rules))
            type_ids[type_name] = seq.record_type_id
    keys = [
        (type_ids[i.record_type], i.external_id.strip())
        for i in inputs
        if i.record_type in type_ids
    ]
    if keys:
        rows = await session.execute(
            select(
                Record.id,
                Record.owner_user_id,
                Record.owner_team_id,
                Record.stage,
                Record.is_active,
                Record.name,
                Record.external_id,
                Record.fields,
            ).where(
                Record.organization_id == organization_id,
                tuple_(Record.record_type_id, Record.external_id).in_(keys),
            )
        )
        out.before = {row.id: _state(row) for row in rows}
    return out


async def enroll(
    session: AsyncSession, watched: Watch, results: Seq[UpsertResult], now: datetime
) -> int:
    """Connect the upserted records that start matching a rule; how many were connected."""
    starting: dict[tuple[int, int], list[EnrollmentRule]] = defaultdict(list)
    sequences: dict[int, Sequence] = {}
    records: dict[int, Record] = {}
    infos = None
    for result in results:
        record = result.record
        if record is None or record.record_type_id not in watched.sequences:
            continue
        if infos is None:
            infos = await load_infos(session, watched.organization_id)
        info = infos[record.record_type_id][1]
        before = None if result.created else watched.before.get(record.id)
        after = _state(record)
        for seq, rules in watched.sequences[record.record_type_id]:
            for rule in rules:
                if rule.starts_matching(info, before, after):
                    starting[(seq.id, record.id)].append(rule)
                    sequences[seq.id], records[record.id] = seq, record
    if not starting:
        return 0
    past: dict[tuple[int, int], list[tuple[str | None, datetime]]] = defaultdict(list)
    for seq_id, record_id, by, started in await session.execute(
        select(
            Connection.sequence_id,
            Connection.record_id,
            Connection.enrolled_by,
            Connection.created_at,
        ).where(Connection.sequence_id.in_(sequences), Connection.record_id.in_(records))
    ):
        past[(seq_id, record_id)].append((by, started))
    groups: dict[tuple[int, str], list[Record]] = defaultdict(list)
    skipped: dict[tuple[int, str], Counter[str]] = defaultdict(Counter)
    for (seq_id, record_id), rules in starting.items():
        reasons = [rule.may_reenroll(past[(seq_id, record_id)], now) for rule in rules]
        chosen = next((r for r, why in zip(rules, reasons, strict=True) if why is None), None)
        if chosen is None:
            skipped[(seq_id, rules[0].key)][str(reasons[0])] += 1
        else:
            groups[(seq_id, chosen.key)].append(records[record_id])
    org = await organizations.existing(session, watched.organization_id)
    connected = 0
    for (seq_id, key), members in groups.items():
        outcome = await new_connections(session, org, sequences[seq_id], members, None, None, now)
        ids = [r.connection_id for r in outcome if r.connection_id is not None]
        if ids:
            await session.execute(
                update(Connection)
                .where(Connection.id.in_(ids))
                .values(enrolled_by=key)
                .execution_options(synchronize_session=False)
            )
        connected += len(ids)
        counts = skipped.pop((seq_id, key), Counter())
        counts.update(p.code.value for r in outcome for p in r.problems[:1])
        _log(session, org.id, seq_id, key, len(ids), counts)
    for (seq_id, key), counts in skipped.items():
        _log(session, org.id, seq_id, key, 0, counts)
    return connected


def _log(
    session: AsyncSession,
    organization_id: int,
    sequence_id: int,
    key: str,
    connected: int,
    skipped: Counter[str],
) -> None:
    audit.record(
        session,
        organization_id,
        None,
        "sequence.records_enrolled",
        "sequence",
        sequence_id,
        {"rule": key, "connected": connected, "skipped": {c: n for c, n in skipped.items() if n}},
    )
