"""Mutations that administer users, their roles, and API tokens.

The rules are `actions/users.py` and `actions/tokens.py`.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import tokens, users
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.domain.sender_identity import IdentityChange
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.relay import decode_id
from sekvens.schema.sender_identity import identity_part
from sekvens.schema.users import (
    ApiToken,
    CreateApiTokenInput,
    CreateApiTokenPayload,
    CreateUserInput,
    RevokeApiTokenInput,
    RevokeApiTokenPayload,
    SetUserRolesInput,
    UpdateUserInput,
    User,
    UserPayload,
    WorkingHoursInput,
)


def _hours(hours: list[WorkingHoursInput] | None) -> list[dict[str, Any]] | None:
    return None if hours is None else [asdict(h) for h in hours]


def _user_pk(global_id: strawberry.ID) -> int:
    return decode_id(global_id, "User", ["userId"])


@strawberry.type
class UserMutations:
    @strawberry.mutation(
        description="Add a user to the viewer's organization. Administrators only."
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            user = await users.create_user(
                ctx.session,
                viewer,
                viewer.organization_id,
                input.email,
                input.name,
                input.roles,
                input.time_zone,
                _hours(input.working_hours),
            )
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run, ADMINISTRATORS)

    @strawberry.mutation(
        description="Change a user's profile. Administrators, or the user themself."
    )
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            identity = IdentityChange(
                name=identity_part(input.sender_name),
                reply_to=identity_part(input.reply_to),
                signature=identity_part(input.signature),
            )
            if identity != IdentityChange():
                await users.set_sender_identity(
                    ctx.session, viewer, _user_pk(input.user_id), identity
                )
            user = await users.update_user(
                ctx.session,
                viewer,
                _user_pk(input.user_id),
                input.name,
                input.time_zone,
                _hours(input.working_hours),
                input.is_active,
            )
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run)

    @strawberry.mutation(description="Replace a user's roles. Administrators only.")
    async def set_user_roles(self, info: Info, input: SetUserRolesInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            user = await users.set_user_roles(
                ctx.session, viewer, _user_pk(input.user_id), input.roles
            )
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="A new API token; its secret is returned once.")
    async def create_api_token(
        self, info: Info, input: CreateApiTokenInput
    ) -> CreateApiTokenPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            token, secret = await tokens.create_token(
                ctx.session,
                viewer,
                None if input.user_id is None else _user_pk(input.user_id),
                input.name,
                input.expires_at,
                input.scopes,
            )
            return {"token": ApiToken.from_row(token), "secret": secret}

        return await mutate(info, CreateApiTokenPayload, run)

    @strawberry.mutation(description="Revoke a token at once. Your own, or any as administrator.")
    async def revoke_api_token(
        self, info: Info, input: RevokeApiTokenInput
    ) -> RevokeApiTokenPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            token = await tokens.revoke_token(
                ctx.session, viewer, decode_id(input.token_id, "ApiToken", ["tokenId"])
            )
            return {"token": ApiToken.from_row(token)}

        return await mutate(info, RevokeApiTokenPayload, run)
