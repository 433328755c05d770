"""A seller's away period in GraphQL: its inputs, and why an activity waits (the period
itself is `schema.users.AwayPeriod`)."""

from __future__ import annotations

from datetime import datetime

import strawberry

from sekvens.schema.enums import HoldReason


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
