"""One-time sign-in links: a random code, stored as a SHA-256 hash, valid briefly, used once."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.storage.tables import ApiToken, LoginLink, User
from sekvens.storage.tokens import hash_token
from sekvens.storage.types import utcnow


async def create_link(
    session: AsyncSession, user: User, lifetime: timedelta
) -> tuple[LoginLink, str]:
    """A new link for `user`; its code is returned once, never stored."""
    code = secrets.token_urlsafe(32)
    link = LoginLink(
        organization_id=user.organization_id,
        user_id=user.id,
        code_hash=hash_token(code),
        expires_at=utcnow() + lifetime,
    )
    session.add(link)
    await session.flush()
    return link, code


async def use_link(
    session: AsyncSession, code: str, now: datetime | None = None
) -> LoginLink | None:
    """Mark the link of `code` used, if it is unused and unexpired; None otherwise.

    One conditional UPDATE: of two exchanges of one code at once, exactly one gets the link.
    """
    now = now or utcnow()
    link_id = await session.scalar(
        update(LoginLink)
        .where(
            LoginLink.code_hash == hash_token(code),
            LoginLink.used_at.is_(None),
            LoginLink.expires_at > now,
        )
        .values(used_at=now)
        .returning(LoginLink.id)
    )
    if link_id is None:
        return None
    return await session.get(LoginLink, link_id, populate_existing=True)


async def session_tokens(session: AsyncSession, user_id: int) -> list[ApiToken]:
    """The user's unrevoked tokens that sign-in links were exchanged for."""
    return list(
        await session.scalars(
            select(ApiToken)
            .join(LoginLink, LoginLink.token_id == ApiToken.id)
            .where(LoginLink.user_id == user_id, ApiToken.revoked_at.is_(None))
        )
    )
