"""Teams and their members. Administrators only (the caller checks the role)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.actions.users import get_user
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import Actor
from sekvens.storage import audit
from sekvens.storage import teams as team_store
from sekvens.storage.tables import Team


def _log(session: AsyncSession, actor: Actor, action: str, team: Team, **detail: Any) -> None:
    audit.record(session, actor.organization_id, actor.user_id, action, "team", team.id, detail)


async def get_team(
    session: AsyncSession, actor: Actor, team_id: int, field: str = "teamId"
) -> Team:
    team = await session.get(Team, team_id)
    if team is None or team.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such team in this organization.", [field])
    return team


async def create_team(
    session: AsyncSession, actor: Actor, name: str, kind: str, description: str
) -> Team:
    team = await team_store.create_team(session, actor.organization_id, name, kind, description)
    _log(session, actor, "team.created", team, name=team.name, kind=team.kind)
    return team


async def update_team(
    session: AsyncSession, actor: Actor, team_id: int, name: str | None, description: str | None
) -> Team:
    team = await get_team(session, actor, team_id)
    await team_store.update_team(session, team, name, description)
    _log(session, actor, "team.updated", team, name=team.name)
    return team


async def delete_team(session: AsyncSession, actor: Actor, team_id: int) -> None:
    """Delete a team; records it owned or gave access to lose it."""
    team = await get_team(session, actor, team_id)
    _log(session, actor, "team.deleted", team, name=team.name)
    await session.delete(team)


async def set_team_member(
    session: AsyncSession, actor: Actor, team_id: int, user_id: int, team_role: str | None
) -> Team:
    """Add a member, or change their team role."""
    team = await get_team(session, actor, team_id)
    user = await get_user(session, actor, user_id)
    await team_store.set_member(session, team, user, team_role)
    _log(session, actor, "team.member_set", team, user_id=user.id, team_role=team_role)
    return team


async def remove_team_member(
    session: AsyncSession, actor: Actor, team_id: int, user_id: int
) -> Team:
    team = await get_team(session, actor, team_id)
    if not await team_store.remove_member(session, team, user_id):
        raise DomainError.of(ErrorCode.NOT_FOUND, "That user is not a member.", ["userId"])
    _log(session, actor, "team.member_removed", team, user_id=user_id)
    return team
