"""Web sessions: exchanging a one-time sign-in link for a session token, and signing out."""

from __future__ import annotations

from datetime import datetime

import strawberry

from sekvens.schema.errors import UserError


@strawberry.input
class ExchangeLoginLinkInput:
    code: str = strawberry.field(
        description="The code of a link printed by `sekvens user login-link`."
    )


@strawberry.type
class ExchangeLoginLinkPayload:
    errors: list[UserError]
    token: str | None = strawberry.field(
        default=None,
        description="A session token of the link's user (send it as 'Authorization: Bearer"
        " <token>'); shown only this once.",
    )
    expires_at: datetime | None = strawberry.field(
        default=None, description="When the session token stops working."
    )


@strawberry.input
class SignOutInput:
    everywhere: bool = strawberry.field(
        default=False,
        description="Also end every other web session of yours (tokens of sign-in links);"
        " API tokens you created stay.",
    )


@strawberry.type
class SignOutPayload:
    errors: list[UserError]
    revoked: bool = strawberry.field(
        default=False, description="Whether the token of this request was revoked."
    )
    revoked_count: int = strawberry.field(
        default=0, description="How many tokens were revoked (more than one with everywhere)."
    )
