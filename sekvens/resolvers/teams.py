"""Mutations that administer teams and their members."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.users import get_user
from sekvens.schema.relay import decode_id
from sekvens.schema.users import (
    CreateTeamInput,
    DeleteTeamInput,
    DeleteTeamPayload,
    RemoveTeamMemberInput,
    SetTeamMemberInput,
    Team,
    TeamPayload,
    UpdateTeamInput,
)
from sekvens.storage import audit, teams
from sekvens.storage.tables import Team as TeamRow


async def get_team(ctx: Context, viewer: Viewer, global_id: str, field: str = "teamId") -> TeamRow:
    team = await ctx.session.get(TeamRow, decode_id(global_id, "Team", [field]))
    if team is None or team.organization_id != viewer.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such team in this organization.", [field])
    return team


def _log(ctx: Context, viewer: Viewer, action: str, team: TeamRow, **detail: Any) -> None:
    audit.record(
        ctx.session, viewer.organization_id, viewer.user_id, action, "team", team.id, detail
    )


@strawberry.type
class TeamMutations:
    @strawberry.mutation
    async def create_team(self, info: Info, input: CreateTeamInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await teams.create_team(
                ctx.session, viewer.organization_id, input.name, input.kind.value, input.description
            )
            _log(ctx, viewer, "team.created", team, name=team.name, kind=team.kind)
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation
    async def update_team(self, info: Info, input: UpdateTeamInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await get_team(ctx, viewer, input.team_id)
            await teams.update_team(ctx.session, team, input.name, input.description)
            _log(ctx, viewer, "team.updated", team, name=team.name)
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Delete a team; records it owned or gave access to lose it.")
    async def delete_team(self, info: Info, input: DeleteTeamInput) -> DeleteTeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await get_team(ctx, viewer, input.team_id)
            _log(ctx, viewer, "team.deleted", team, name=team.name)
            await ctx.session.delete(team)
            return {"deleted_team_id": input.team_id}

        return await mutate(info, DeleteTeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Add a member, or change their team role.")
    async def set_team_member(self, info: Info, input: SetTeamMemberInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await get_team(ctx, viewer, input.team_id)
            user = await get_user(ctx, viewer, input.user_id)
            await teams.set_member(ctx.session, team, user, input.team_role)
            _log(ctx, viewer, "team.member_set", team, user_id=user.id, team_role=input.team_role)
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation
    async def remove_team_member(self, info: Info, input: RemoveTeamMemberInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await get_team(ctx, viewer, input.team_id)
            user_id = decode_id(input.user_id, "User", ["userId"])
            if not await teams.remove_member(ctx.session, team, user_id):
                raise DomainError.of(ErrorCode.NOT_FOUND, "That user is not a member.", ["userId"])
            _log(ctx, viewer, "team.member_removed", team, user_id=user_id)
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)
