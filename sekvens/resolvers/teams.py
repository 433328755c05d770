"""Mutations that administer teams and their members. The rules are `actions/teams.py`."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import teams
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
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


def _team_pk(global_id: strawberry.ID) -> int:
    return decode_id(global_id, "Team", ["teamId"])


def _user_pk(global_id: strawberry.ID) -> int:
    return decode_id(global_id, "User", ["userId"])


@strawberry.type
class TeamMutations:
    @strawberry.mutation
    async def create_team(self, info: Info, input: CreateTeamInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await teams.create_team(
                ctx.session, viewer, input.name, input.kind.value, input.description
            )
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation
    async def update_team(self, info: Info, input: UpdateTeamInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await teams.update_team(
                ctx.session, viewer, _team_pk(input.team_id), input.name, input.description
            )
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Delete a team; records it owned or gave access to lose it.")
    async def delete_team(self, info: Info, input: DeleteTeamInput) -> DeleteTeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            await teams.delete_team(ctx.session, viewer, _team_pk(input.team_id))
            return {"deleted_team_id": input.team_id}

        return await mutate(info, DeleteTeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Add a member, or change their team role.")
    async def set_team_member(self, info: Info, input: SetTeamMemberInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await teams.set_team_member(
                ctx.session,
                viewer,
                _team_pk(input.team_id),
                _user_pk(input.user_id),
                input.team_role,
            )
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)

    @strawberry.mutation
    async def remove_team_member(self, info: Info, input: RemoveTeamMemberInput) -> TeamPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            team = await teams.remove_team_member(
                ctx.session, viewer, _team_pk(input.team_id), _user_pk(input.user_id)
            )
            return {"team": Team.from_row(team)}

        return await mutate(info, TeamPayload, run, ADMINISTRATORS)
