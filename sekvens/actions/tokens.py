"""API tokens: create them (the secret is shown once) and revoke them.

A user creates and revokes their own tokens; an administrator anyone's in the organization.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.actions.users import get_user
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import ADMINISTRATORS, Actor
from sekvens.domain.scopes import Scope
from sekvens.storage import audit
from sekvens.storage import tokens as token_store
from sekvens.storage.tables import ApiToken, User
from sekvens.storage.types import utcnow


async def _owner(session: AsyncSession, actor: Actor | None, user_id: int | None) -> User:
    """The user a new token is for: `user_id`, or the actor themself when it is None."""
    if actor is None:
        user = await session.get(User, user_id) if user_id is not None else None
    elif user_id is None:
        user = await session.get(User, actor.user_id)
    else:
        user = await get_user(session, actor, user_id)
        if user.id != actor.user_id and not actor.has_any(ADMINISTRATORS):
            raise DomainError.of(
                ErrorCode.FORBIDDEN, "Only a SYSTEM_ADMINISTRATOR creates tokens for others."
            )
    if user is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such user.", ["userId"])
    return user


async def create_token(
    session: AsyncSession,
    actor: Actor | None,
    user_id: int | None,
    name: str,
    expires_at: datetime | None = None,
    scopes: Seq[Scope] = (Scope.FULL,),
) -> tuple[ApiToken, str]:
    """A new token for `user_id` (None: the actor) and its secret, which is not stored.

    `actor` None is the operator at the command line, who names the user; the audit entry
    then names no user.
    """
    if expires_at is not None and expires_at <= utcnow():
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            "A token expires in the future; leave expiresAt empty for one that doesn't.",
            ["expiresAt"],
        )
    if not scopes:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            "Give the token at least one scope (FULL for everything its user may do).",
            ["scopes"],
        )
    user = await _owner(session, actor, user_id)
    token, secret = await token_store.create_token(session, user, name, expires_at, tuple(scopes))
    audit.record(
        session,
        user.organization_id,
        actor.user_id if actor is not None else None,
        "token.created",
        "api_token",
        token.id,
        {"user_id": user.id, "scopes": token.scopes},
    )
    return token, secret


async def revoke_token(session: AsyncSession, actor: Actor, token_id: int) -> ApiToken:
    """Revoke a token at once: the actor's own, or any of the organization's as administrator."""
    token = await session.get(ApiToken, token_id)
    if (
        token is None
        or token.organization_id != actor.organization_id
        or (token.user_id != actor.user_id and not actor.has_any(ADMINISTRATORS))
    ):
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such token.", ["tokenId"])
    await token_store.revoke(session, token)
    await token_store.changed(session, token_ids=[token.id])  # cached verifications drop
    audit.record(
        session, actor.organization_id, actor.user_id, "token.revoked", "api_token", token.id
    )
    return token
