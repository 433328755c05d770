"""Mutations that set and clear a user's away period. The rules are `actions/away.py`."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import away
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.schema.away import ClearUserAwayInput, SetUserAwayInput
from sekvens.schema.relay import decode_id
from sekvens.schema.users import User, UserPayload


@strawberry.type
class AwayMutations:
    @strawberry.mutation(
        description="Set a user's away period and delegate (replacing one set before). The"
        " user themself, or a SALES_MANAGER, SEQUENCE_MANAGER or SYSTEM_ADMINISTRATOR."
    )
    async def set_user_away(self, info: Info, input: SetUserAwayInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            user_id = decode_id(input.user_id, "User", ["userId"])
            delegate_id = (
                decode_id(input.delegate_id, "User", ["delegateId"])
                if input.delegate_id is not None
                else None
            )
            user = await away.set_away(
                ctx.session,
                viewer,
                user_id,
                input.from_,
                input.until,
                delegate_id,
                ctx.services.engine.clock.now(),
            )
            ctx.services.engine.wake()
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run)

    @strawberry.mutation(
        description="End a user's away period now, or drop one to come: their held work is"
        " theirs again and their held automated emails go."
    )
    async def clear_user_away(self, info: Info, input: ClearUserAwayInput) -> UserPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            user = await away.clear_away(
                ctx.session,
                viewer,
                decode_id(input.user_id, "User", ["userId"]),
                ctx.services.engine.clock.now(),
            )
            ctx.services.engine.wake()
            return {"user": User.from_row(user)}

        return await mutate(info, UserPayload, run)
