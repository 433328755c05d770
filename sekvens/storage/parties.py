"""Load who an assignment rule may pick for a batch of records, in a fixed number of queries."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.assignment import AssignmentRule, AssignTo, Member, RecordParties
from sekvens.storage.tables import TeamMember, User, UserRole


class RecordOwners(Protocol):
    """What the assignment reads of a record: a `Record`, or only these columns of one
    (`fields` is read only when the rule names a field)."""

    @property
    def id(self) -> int: ...
    @property
    def owner_user_id(self) -> int | None: ...
    @property
    def owner_team_id(self) -> int | None: ...
    @property
    def access_team_id(self) -> int | None: ...
    @property
    def fields(self) -> Mapping[str, Any]: ...


async def parties_for(
    session: AsyncSession,
    organization_id: int,
    records: Sequence[RecordOwners],
    rule: AssignmentRule,
    current_user_id: int | None,
) -> dict[int, RecordParties]:
    team_ids = {t for r in records for t in (r.owner_team_id, r.access_team_id) if t is not None}
    members: dict[int, list[tuple[int, str | None]]] = defaultdict(list)
    user_ids = {r.owner_user_id for r in records if r.owner_user_id is not None}
    if current_user_id is not None:
        user_ids.add(current_user_id)
    if team_ids:
        for m in await session.scalars(select(TeamMember).where(TeamMember.team_id.in_(team_ids))):
            members[m.team_id].append((m.user_id, m.team_role))
            user_ids.add(m.user_id)
    emails: dict[str, int] = {}
    if rule.assign_to == AssignTo.RECORD_FIELD and rule.field_name:
        wanted = {
            str(r.fields.get(rule.field_name)).lower()
            for r in records
            if r.fields.get(rule.field_name)
        }
        if wanted:
            for user in await session.scalars(
                select(User).where(
                    User.organization_id == organization_id,
                    User.email.in_(wanted),
                    User.is_active.is_(True),
                )
            ):
                emails[user.email] = user.id
    active = (
        set(
            await session.scalars(
                select(User.id).where(User.id.in_(user_ids), User.is_active.is_(True))
            )
        )
        if user_ids
        else set()
    )
    roles: dict[int, set[str]] = defaultdict(set)
    if rule.user_roles and active:
        for user_id, role in await session.execute(
            select(UserRole.user_id, UserRole.role).where(UserRole.user_id.in_(active))
        ):
            roles[user_id].add(role)

    def team(team_id: int | None) -> tuple[Member, ...]:
        if team_id is None:
            return ()
        return tuple(
            Member(user_id, team_role, frozenset(roles.get(user_id, ())))
            for user_id, team_role in members.get(team_id, [])
            if user_id in active
        )

    out = {}
    for r in records:
        field_value = r.fields.get(rule.field_name) if rule.field_name else None
        out[r.id] = RecordParties(
            owner_user_id=r.owner_user_id if r.owner_user_id in active else None,
            owning_team=team(r.owner_team_id),
            access_team=team(r.access_team_id),
            field_user_id=emails.get(str(field_value).lower()) if field_value else None,
            current_user_id=current_user_id if current_user_id in active else None,
        )
    return out
