"""API tokens: random, shown once, stored as a SHA-256 hash, revocable, with a last-used time."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.scopes import Scope, normalized
from sekvens.storage.tables import ApiToken, User
from sekvens.storage.types import utcnow

PREFIX = "skv_"
#: last_used_at is written at most this often per token, so reads stay reads.
TOUCH_INTERVAL = timedelta(minutes=1)
#: The longest token name.
NAME_MAX = 100


def hash_token(plaintext: str) -> str:
    return hashlib.sha256(plaintext.encode()).hexdigest()


async def create_token(
    session: AsyncSession,
    user: User,
    name: str = "api",
    expires_at: datetime | None = None,
    scopes: tuple[Scope, ...] = (Scope.FULL,),
) -> tuple[ApiToken, str]:
    """A new token for `user` with `scopes`; the plaintext is returned once, never stored."""
    if len(name.strip()) > NAME_MAX:
        raise DomainError.of(
            ErrorCode.TOO_LONG, f"A token name is at most {NAME_MAX} characters.", ["name"]
        )
    plaintext = PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        organization_id=user.organization_id,
        user_id=user.id,
        name=name.strip() or "api",
        token_hash=hash_token(plaintext),
        prefix=plaintext[: len(PREFIX) + 4],
        expires_at=expires_at,
        scopes=[s.value for s in normalized(scopes)],
    )
    session.add(token)
    await session.flush()
    return token, plaintext


@dataclass(frozen=True)
class Authenticated:
    token_id: int
    user: User
    needs_touch: bool
    scopes: frozenset[Scope]


async def authenticate(session: AsyncSession, plaintext: str) -> Authenticated | None:
    """The active user behind a valid, unrevoked, unexpired token, or None."""
    digest = hash_token(plaintext)
    row = (
        await session.execute(
            select(ApiToken, User)
            .join(User, User.id == ApiToken.user_id)
            .where(ApiToken.token_hash == digest)
        )
    ).first()
    if row is None:
        return None
    token, user = row
    now = utcnow()
    if (
        not hmac.compare_digest(token.token_hash, digest)
        or token.revoked_at is not None
        or (token.expires_at is not None and token.expires_at <= now)
        or not user.is_active
    ):
        return None
    stale = token.last_used_at is None or now - token.last_used_at >= TOUCH_INTERVAL
    return Authenticated(token.id, user, stale, scopes_of(token))


def scopes_of(token: ApiToken) -> frozenset[Scope]:
    """The token's scopes; one the server does not know (a newer version's) grants nothing."""
    return frozenset(Scope(s) for s in token.scopes or () if s in Scope.__members__)


async def touch(session: AsyncSession, token_id: int) -> None:
    await session.execute(
        update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=utcnow())
    )


async def revoke(session: AsyncSession, token: ApiToken) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        await session.flush()
