"""Mutations that administer users, their roles, and API tokens."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import ADMINISTRATORS, Role
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.relay import decode_id
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
from sekvens.storage import audit, organizations, tokens, users
from sekvens.storage.tables import ApiToken as TokenRow
from sekvens.storage.tables import User as UserRow
from sekvens.storage.types import utcnow


def _hours(hours: list[WorkingHoursInput] | None) -> list[dict[str, Any]] | None:
    return None if hours is None else [asdict(h) for h in hours]


async def get_user(ctx: Context, viewer: Viewer, global_id: str, field: str = "userId") -> UserRow:
    user = await ctx.session.get(UserRow, decode_id(global_id, "User", [field]))
    if user is None or user.organization_id != viewer.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such user in this organization.", [field])
    return user


@strawberry.type
class UserMutations:
    @strawberry.mutation(
        description="Add a user to the viewer's organization. Administrators only."
    )
    async def create_user(self, info: Info, input: CreateUserInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            org = await organizations.get(ctx.session, viewer.organization_id)
            assert org is not None
            user = await users.create_user(
                ctx.session,
                org,
                input.email,
                input.name,
                input.roles,
                input.time_zone,
                _hours(input.working_hours),
            )
            audit.record(
                ctx.session,
                org.id,
                viewer.user_id,
                "user.created",
                "user",
                user.id,
                {"email": user.email, "roles": sorted(input.roles)},
            )
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run, ADMINISTRATORS)

    @strawberry.mutation(
        description="Change a user's profile. Administrators, or the user themself."
    )
    async def update_user(self, info: Info, input: UpdateUserInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            user = await get_user(ctx, viewer, input.user_id)
            is_admin = viewer.has_any(ADMINISTRATORS)
            if user.id != viewer.user_id and not is_admin:
                raise DomainError.of(
                    ErrorCode.FORBIDDEN, "This needs the role SYSTEM_ADMINISTRATOR."
                )
            if input.is_active is not None and not is_admin:
                raise DomainError.of(
                    ErrorCode.FORBIDDEN,
                    "Only a SYSTEM_ADMINISTRATOR (de)activates users.",
                    ["isActive"],
                )
            if input.is_active is False and user.id == viewer.user_id:
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE, "You can't deactivate yourself.", ["isActive"]
                )
            await users.update_user(
                ctx.session,
                user,
                input.name,
                input.time_zone,
                _hours(input.working_hours),
                input.is_active,
            )
            audit.record(
                ctx.session, viewer.organization_id, viewer.user_id, "user.updated", "user", user.id
            )
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run)

    @strawberry.mutation(description="Replace a user's roles. Administrators only.")
    async def set_user_roles(self, info: Info, input: SetUserRolesInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            user = await get_user(ctx, viewer, input.user_id)
            roles = await users.set_roles(ctx.session, user, input.roles)
            if Role.SYSTEM_ADMINISTRATOR not in roles and not await users.count_admins(
                ctx.session, viewer.organization_id
            ):
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE,
                    "The organization must keep at least one active SYSTEM_ADMINISTRATOR.",
                    ["roles"],
                )
            audit.record(
                ctx.session,
                viewer.organization_id,
                viewer.user_id,
                "user.roles_set",
                "user",
                user.id,
                {"roles": sorted(r.value for r in roles)},
            )
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="A new API token; its secret is returned once.")
    async def create_api_token(
        self, info: Info, input: CreateApiTokenInput
    ) -> CreateApiTokenPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            if input.expires_at is not None and input.expires_at <= utcnow():
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE,
                    "A token expires in the future; leave expiresAt empty for one that doesn't.",
                    ["expiresAt"],
                )
            if not input.scopes:
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE,
                    "Give the token at least one scope (FULL for everything its user may do).",
                    ["scopes"],
                )
            user_id = input.user_id
            if user_id is None:
                user = await ctx.session.get(UserRow, viewer.user_id)
            else:
                user = await get_user(ctx, viewer, user_id)
                if user.id != viewer.user_id and not viewer.has_any(ADMINISTRATORS):
                    raise DomainError.of(
                        ErrorCode.FORBIDDEN,
                        "Only a SYSTEM_ADMINISTRATOR creates tokens for others.",
                    )
            assert user is not None
            token, secret = await tokens.create_token(
                ctx.session, user, input.name, input.expires_at, tuple(input.scopes)
            )
            audit.record(
                ctx.session,
                viewer.organization_id,
                viewer.user_id,
                "token.created",
                "api_token",
                token.id,
                {"user_id": user.id, "scopes": token.scopes},
            )
            return {"token": ApiToken.from_row(token), "secret": secret}

        return await mutate(info, CreateApiTokenPayload, run)

    @strawberry.mutation(description="Revoke a token at once. Your own, or any as administrator.")
    async def revoke_api_token(
        self, info: Info, input: RevokeApiTokenInput
    ) -> RevokeApiTokenPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            token = await ctx.session.get(
                TokenRow, decode_id(input.token_id, "ApiToken", ["tokenId"])
            )
            if (
                token is None
                or token.organization_id != viewer.organization_id
                or (token.user_id != viewer.user_id and not viewer.has_any(ADMINISTRATORS))
            ):
                raise DomainError.of(ErrorCode.NOT_FOUND, "No such token.", ["tokenId"])
            await tokens.revoke(ctx.session, token)
            audit.record(
                ctx.session,
                viewer.organization_id,
                viewer.user_id,
                "token.revoked",
                "api_token",
                token.id,
            )
            return {"token": ApiToken.from_row(token)}

        return await mutate(info, RevokeApiTokenPayload, run)
