"""A seller's away period in GraphQL: the period, its inputs, and why an activity waits."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.types import Info

from sekvens.schema.enums import HoldReason

if TYPE_CHECKING:
    from sekvens.schema.users import User


@strawberry.type(
    description="A user's away period [from, until): their due activities go to the delegate"
    " or wait (the organization's awayPolicy), their automated emails wait until they are back."
)
class AwayPeriod:
    from_: datetime = strawberry.field(name="from")
    until: datetime
    delegate_pk: strawberry.Private[int | None]

    @strawberry.field(description="Who works their activities meanwhile (DELEGATE policy).")
    async def delegate(
        self, info: Info
    ) -> Annotated[User, strawberry.lazy("sekvens.schema.users")] | None:
        from sekvens.schema.users import User

        if self.delegate_pk is None:
            return None
        row = await info.context.loaders.user.load(self.delegate_pk)
        return User.from_row(row) if row is not None else None


@strawberry.input(description="Set a user's away period (it replaces one set before).")
class SetUserAwayInput:
    user_id: strawberry.ID
    from_: datetime = strawberry.field(name="from", description="When the period starts.")
    until: datetime = strawberry.field(description="When they are back (after from, and now).")
    delegate_id: strawberry.ID | None = strawberry.field(
        default=None,
        description="An active user of the organization, not away themselves meanwhile, who"
        " works their due activities under the DELEGATE policy; none: they wait.",
    )


@strawberry.input
class ClearUserAwayInput:
    user_id: strawberry.ID


@strawberry.type(description="Why an open activity waits, and until when.")
class ActivityHold:
    reason: HoldReason
    until: datetime = strawberry.field(description="When the first of them is back.")
