"""Sender identities in GraphQL: who automated emails come from."""

from __future__ import annotations

import strawberry


@strawberry.type(
    description="Who automated emails come from: display name, address, Reply-To and"
    " signature (the merge fields sender.name, sender.email, sender.reply_to,"
    " sender.signature). Null parts are not set here."
)
class SenderIdentity:
    name: str | None = strawberry.field(description="Display name in the From header.")
    address: str | None = strawberry.field(description="The From address.")
    reply_to: str | None = strawberry.field(description="The Reply-To address.")
    signature: str | None = strawberry.field(description="Plain text, for {{ sender.signature }}.")


def identity_part(value: str | None) -> str | None:
    """The change an optional identity argument asks for: omitted (None: no change), null
    (""; clear), or a text."""
    if value is strawberry.UNSET:
        return None
    return "" if value is None else value
