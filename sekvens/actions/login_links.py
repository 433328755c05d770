"""Sign-in links and web sessions: an operator prints a one-time link for a user; opening it
exchanges its code for a short-lived session token; signing out revokes the token.

The codes and tokens are stored hashed. A code that is unknown, used or expired gets one and
the same answer, so an answer tells nothing about codes.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import Actor
from sekvens.domain.scopes import Scope
from sekvens.storage import audit, login_links
from sekvens.storage import tokens as token_store
from sekvens.storage.tables import ApiToken, User
from sekvens.storage.types import utcnow

#: How long a printed sign-in link works.
LINK_LIFETIME = timedelta(minutes=15)
#: How long the session token a link exchanges for works.
SESSION_LIFETIME = timedelta(hours=12)
SESSION_TOKEN_NAME = "web session"
INVALID = (
    "This sign-in link does not work: it is wrong, used already or expired "
    "(links work once, for 15 minutes). Ask for a new one."
)


async def create_login_link(session: AsyncSession, user: User) -> str:
    """A one-time code for an active `user` (the operator at the command line asks)."""
    if not user.is_active:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE, f"{user.email} is deactivated: no sign-in link.", ["email"]
        )
    link, code = await login_links.create_link(session, user, LINK_LIFETIME)
    audit.record(
        session,
        user.organization_id,
        None,
        "login_link.created",
        "login_link",
        link.id,
        {"user_id": user.id},
    )
    return code


async def exchange_login_link(session: AsyncSession, code: str) -> tuple[ApiToken, str]:
    """A session token (and its secret) for the link's user; the link is used up."""
    link = await login_links.use_link(session, code.strip()) if code.strip() else None
    user = await session.get(User, link.user_id) if link is not None else None
    if link is None or user is None or not user.is_active:
        raise DomainError.of(ErrorCode.INVALID_VALUE, INVALID, ["code"])
    token, secret = await token_store.create_token(
        session, user, SESSION_TOKEN_NAME, utcnow() + SESSION_LIFETIME, (Scope.FULL,)
    )
    link.token_id = token.id
    audit.record(
        session,
        user.organization_id,
        user.id,
        "login_link.used",
        "api_token",
        token.id,
        {"login_link_id": link.id},
    )
    return token, secret


async def sign_out(
    session: AsyncSession, actor: Actor, token_id: int | None, everywhere: bool = False
) -> int:
    """Revoke the token the actor signed in with (and, `everywhere`, every web session of
    theirs); the number of tokens revoked."""
    revoked: list[ApiToken] = []
    own = await session.get(ApiToken, token_id) if token_id is not None else None
    if own is not None and own.revoked_at is None:
        revoked.append(own)
    if everywhere:
        others = await login_links.session_tokens(session, actor.user_id)
        revoked += [t for t in others if own is None or t.id != own.id]
    for token in revoked:
        await token_store.revoke(session, token)
        audit.record(
            session,
            actor.organization_id,
            actor.user_id,
            "token.revoked",
            "api_token",
            token.id,
            {"by": "sign_out"},
        )
    await token_store.changed(session, token_ids=[t.id for t in revoked])
    return len(revoked)
