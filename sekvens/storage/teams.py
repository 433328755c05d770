"""Teams (OWNER or ACCESS) and their members with an optional team role."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.teams import TeamKind
from sekvens.storage.db import rows_matched
from sekvens.storage.tables import Team, TeamMember, User

NAME_MAX = 160


def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise DomainError.of(ErrorCode.REQUIRED, "A team needs a name.", ["name"])
    if len(name) > NAME_MAX:
        raise DomainError.of(ErrorCode.TOO_LONG, f"Name is over {NAME_MAX} characters.", ["name"])
    return name


async def _check_unique(
    session: AsyncSession, organization_id: int, name: str, own_id: int | None
) -> None:
    existing = await get_by_name(session, organization_id, name)
    if existing and existing.id != own_id:
        raise DomainError.of(ErrorCode.DUPLICATE, f"A team named '{name}' exists.", ["name"])


async def create_team(
    session: AsyncSession, organization_id: int, name: str, kind: str, description: str = ""
) -> Team:
    name = _check_name(name)
    if kind not in set(TeamKind):
        raise DomainError.of(ErrorCode.INVALID_VALUE, "Team kind is OWNER or ACCESS.", ["kind"])
    await _check_unique(session, organization_id, name, None)
    team = Team(organization_id=organization_id, name=name, kind=kind, description=description)
    session.add(team)
    await session.flush()
    return team


async def update_team(
    session: AsyncSession, team: Team, name: str | None, description: str | None
) -> Team:
    if name is not None:
        name = _check_name(name)
        await _check_unique(session, team.organization_id, name, team.id)
        team.name = name
    if description is not None:
        team.description = description
    await session.flush()
    return team


async def get_by_name(session: AsyncSession, organization_id: int, name: str) -> Team | None:
    return await session.scalar(
        select(Team).where(Team.organization_id == organization_id, Team.name == name.strip())
    )


async def set_member(
    session: AsyncSession, team: Team, user: User, team_role: str | None
) -> TeamMember:
    """Add `user` to `team`, or change their team role if already a member."""
    if user.organization_id != team.organization_id:
        raise DomainError.of(
            ErrorCode.OTHER_ORGANIZATION, "That user belongs to another organization.", ["userId"]
        )
    member = await session.get(TeamMember, (team.id, user.id))
    role = (team_role or "").strip() or None
    if member is None:
        member = TeamMember(team_id=team.id, user_id=user.id, team_role=role)
        session.add(member)
    else:
        member.team_role = role
    await session.flush()
    return member


async def remove_member(session: AsyncSession, team: Team, user_id: int) -> bool:
    return bool(
        await rows_matched(
            session,
            delete(TeamMember).where(TeamMember.team_id == team.id, TeamMember.user_id == user_id),
        )
    )
