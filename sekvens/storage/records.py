"""CRM records: bulk upsert by external id with per-item problems, and filtered listing."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.life_cycles import ConnectionReason, ConnectionStatus
from sekvens.domain.records import FieldType, RecordTypeInfo, check_fields
from sekvens.domain.teams import TeamKind
from sekvens.storage import audit
from sekvens.storage.connection_endings import end_connections
from sekvens.storage.record_types import load_infos
from sekvens.storage.search import any_contains
from sekvens.storage.tables import Connection, Record, RecordType, Team, User
from sekvens.storage.types import utcnow

EXTERNAL_ID_MAX = 200
NAME_MAX = 400
BULK_MAX = 1000


@dataclass
class RecordInput:
    """One record as a CRM pushes it. `fields` are merged into the stored values."""

    record_type: str
    external_id: str
    name: str | None = None
    owner_user_id: int | None = None
    owner_team_id: int | None = None
    access_team_id: int | None = None
    stage: str | None = None
    is_active: bool | None = None
    fields: dict[str, Any] = field(default_factory=dict)


@dataclass
class UpsertResult:
    index: int
    record: Record | None = None
    created: bool = False
    problems: list[Problem] = field(default_factory=list)
    #: An updated record's stage and fields before the update (what changed: record_changes).
    before: tuple[str | None, dict[str, Any]] | None = None


async def upsert_records(
    session: AsyncSession,
    organization_id: int,
    actor_user_id: int,
    items: Sequence[RecordInput],
    now: datetime | None = None,
) -> list[UpsertResult]:
    """Validate every item, then insert or update the valid ones in a few statements; a
    deactivated record's connections end at `now` (the engine's clock; default the system's).

    Items with problems are not written; the caller decides whether the valid rest is kept.
    """
    types = {t.name: (t, info) for t, info in (await load_infos(session, organization_id)).values()}
    results = [UpsertResult(i) for i in range(len(items))]

    user_emails = {
        v.strip().lower()
        for item in items
        if item.record_type in types
        for name, v in item.fields.items()
        if isinstance(v, str)
        and (f := types[item.record_type][1].fields.get(name))
        and f.type is FieldType.USER_LOOKUP
    }
    user_ids = {i.owner_user_id for i in items if i.owner_user_id is not None}
    team_ids = {t for i in items for t in (i.owner_team_id, i.access_team_id) if t is not None}
    known_users = (
        set(
            await session.scalars(
                select(User.id).where(
                    User.organization_id == organization_id, User.id.in_(user_ids)
                )
            )
        )
        if user_ids
        else set()
    )
    known_emails = (
        set(
            await session.scalars(
                select(User.email).where(
                    User.organization_id == organization_id, User.email.in_(user_emails)
                )
            )
        )
        if user_emails
        else set()
    )
    teams = (
        {
            t.id: t.kind
            for t in await session.scalars(
                select(Team).where(Team.organization_id == organization_id, Team.id.in_(team_ids))
            )
        }
        if team_ids
        else {}
    )

    seen: set[tuple[str, str]] = set()
    for item, result in zip(items, results, strict=True):
        result.problems = _check_item(item, types, known_users, known_emails, teams)
        named = (item.record_type, item.external_id.strip())
        if named in seen:
            result.problems.append(
                Problem(
                    ErrorCode.DUPLICATE,
                    "This external id appears twice in the call.",
                    ("externalId",),
                )
            )
        seen.add(named)

    valid = [(item, r) for item, r in zip(items, results, strict=True) if not r.problems]
    if not valid:
        return results
    keys = [(types[i.record_type][0].id, i.external_id.strip()) for i, _ in valid]
    existing = {
        (r.record_type_id, r.external_id): r
        for r in await session.scalars(
            select(Record).where(
                Record.organization_id == organization_id,
                tuple_(Record.record_type_id, Record.external_id).in_(keys),
            )
        )
    }
    deactivated: list[int] = []
    for (item, result), key in zip(valid, keys, strict=True):
        row = existing.get(key)
        if row is None:
            row = Record(
                organization_id=organization_id,
                record_type_id=key[0],
                external_id=key[1],
                name=(item.name or key[1]).strip(),
                owner_user_id=item.owner_user_id
                if item.owner_user_id or item.owner_team_id
                else actor_user_id,
                owner_team_id=item.owner_team_id,
                access_team_id=item.access_team_id,
                stage=item.stage,
                is_active=True if item.is_active is None else item.is_active,
                fields=_normalize(types[item.record_type][1], item.fields),
            )
            session.add(row)
            result.created = True
        else:
            if row.is_active and item.is_active is False:
                deactivated.append(row.id)
            result.before = (row.stage, dict(row.fields))
            _apply(row, item, _normalize(types[item.record_type][1], item.fields))
        result.record = row
    await session.flush()
    # A deactivated record leaves every sequence it runs in.
    if deactivated:
        await end_connections(
            session,
            Connection.record_id.in_(deactivated),
            ConnectionStatus.DISCONNECTED,
            ConnectionReason.RECORD_DEACTIVATED,
            now or utcnow(),
        )
    audit.record(
        session,
        organization_id,
        actor_user_id,
        "records.upserted",
        "record",
        None,
        {
            "created": sum(r.created for _, r in valid),
            "updated": sum(not r.created for _, r in valid),
        },
    )
    return results


async def deactivate_missing(
    session: AsyncSession,
    organization_id: int,
    record_type_id: int,
    missing: Any,
    after_id: int,
    limit: int,
    now: datetime,
) -> list[int]:
    """Deactivate up to `limit` active records of the type, above `after_id` in id order, for
    which the SQL condition `missing` holds (not in a full sync), ending the connections
    they run in (RECORD_DEACTIVATED); returns their ids, in order."""
    ids = list(
        await session.scalars(
            select(Record.id)
            .where(
                Record.organization_id == organization_id,
                Record.record_type_id == record_type_id,
                Record.is_active.is_(True),
                Record.id > after_id,
                missing,
            )
            .order_by(Record.id)
            .limit(limit)
        )
    )
    if ids:
        await session.execute(
            update(Record).where(Record.id.in_(ids)).values(is_active=False, updated_at=now)
        )
        await end_connections(
            session,
            Connection.record_id.in_(ids),
            ConnectionStatus.DISCONNECTED,
            ConnectionReason.RECORD_DEACTIVATED,
            now,
        )
    return ids


def _normalize(info: RecordTypeInfo, values: dict[str, Any]) -> dict[str, Any]:
    """User lookups hold the user's email, compared case-insensitively."""
    return {
        k: v.strip().lower()
        if isinstance(v, str) and info.fields[k].type is FieldType.USER_LOOKUP
        else v
        for k, v in values.items()
    }


def _apply(row: Record, item: RecordInput, fields: dict[str, Any]) -> None:
    if item.name is not None:
        row.name = item.name.strip()
    if item.owner_user_id is not None:
        row.owner_user_id, row.owner_team_id = item.owner_user_id, None
    elif item.owner_team_id is not None:
        row.owner_user_id, row.owner_team_id = None, item.owner_team_id
    if item.access_team_id is not None:
        row.access_team_id = item.access_team_id
    if item.stage is not None:
        row.stage = item.stage
    if item.is_active is not None:
        row.is_active = item.is_active
    if fields:
        row.fields = {**row.fields, **fields}


def _check_item(
    item: RecordInput,
    types: dict[str, tuple[RecordType, RecordTypeInfo]],
    known_users: set[int],
    known_emails: set[str],
    teams: dict[int, str],
) -> list[Problem]:
    problems: list[Problem] = []
    if item.record_type not in types:
        names = ", ".join(sorted(types))
        return [
            Problem(
                ErrorCode.UNKNOWN_RECORD_TYPE,
                f"No record type '{item.record_type}'. Record types: {names}.",
                ("recordType",),
            )
        ]
    info = types[item.record_type][1]
    external_id = item.external_id.strip()
    if not external_id:
        problems.append(
            Problem(ErrorCode.REQUIRED, "A record needs an external id.", ("externalId",))
        )
    elif len(external_id) > EXTERNAL_ID_MAX:
        problems.append(
            Problem(
                ErrorCode.TOO_LONG,
                f"External id is over {EXTERNAL_ID_MAX} characters.",
                ("externalId",),
            )
        )
    if item.name is not None and len(item.name) > NAME_MAX:
        problems.append(
            Problem(ErrorCode.TOO_LONG, f"Name is over {NAME_MAX} characters.", ("name",))
        )
    if item.owner_user_id is not None and item.owner_team_id is not None:
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "A record is owned by a user or a team, not both.",
                ("ownerTeamId",),
            )
        )
    if item.owner_user_id is not None and item.owner_user_id not in known_users:
        problems.append(
            Problem(ErrorCode.UNKNOWN_USER, "No such user in this organization.", ("ownerUserId",))
        )
    for team_id, kind, path in (
        (item.owner_team_id, TeamKind.OWNER, "ownerTeamId"),
        (item.access_team_id, TeamKind.ACCESS, "accessTeamId"),
    ):
        if team_id is None:
            continue
        if team_id not in teams:
            problems.append(
                Problem(ErrorCode.UNKNOWN_TEAM, "No such team in this organization.", (path,))
            )
        elif teams[team_id] != kind:
            problems.append(
                Problem(ErrorCode.WRONG_TEAM_KIND, f"This must be an {kind} team.", (path,))
            )
    if item.stage is not None and item.stage not in info.stages:
        stages = ", ".join(info.stages) or "none"
        problems.append(
            Problem(
                ErrorCode.UNKNOWN_STAGE,
                f"'{item.stage}' is not a stage of {info.name} ({stages}).",
                ("stage",),
            )
        )
    problems.extend(check_fields(info, item.fields))
    for name, value in item.fields.items():
        f = info.fields.get(name)
        if (
            f is not None
            and f.type is FieldType.USER_LOOKUP
            and isinstance(value, str)
            and value.strip().lower() not in known_emails
            and not any(p.field == ("fields", name) for p in problems)
        ):
            problems.append(
                Problem(ErrorCode.UNKNOWN_USER, f"No user with email '{value}'.", ("fields", name))
            )
    return problems


@dataclass
class RecordFilter:
    record_type: str | None = None
    owner_user_id: int | None = None
    owner_team_id: int | None = None
    stage: str | None = None
    is_active: bool | None = None
    search: str | None = None
    external_ids: list[str] | None = None


def filtered(organization_id: int, f: RecordFilter) -> Select[Record]:
    """Records of the organization matching `f`, in id order."""
    stmt = select(Record).where(Record.organization_id == organization_id)
    if f.record_type is not None:
        stmt = stmt.join(RecordType, RecordType.id == Record.record_type_id).where(
            RecordType.name == f.record_type
        )
    conditions = []
    if f.owner_user_id is not None:
        conditions.append(Record.owner_user_id == f.owner_user_id)
    if f.owner_team_id is not None:
        conditions.append(Record.owner_team_id == f.owner_team_id)
    if f.stage is not None:
        conditions.append(Record.stage == f.stage)
    if f.is_active is not None:
        conditions.append(Record.is_active.is_(f.is_active))
    if f.external_ids:
        conditions.append(Record.external_id.in_(f.external_ids))
    if f.search:
        conditions.append(any_contains(f.search.strip(), Record.name, Record.external_id))
    if conditions:
        stmt = stmt.where(and_(*conditions))
    return stmt.order_by(Record.id)
