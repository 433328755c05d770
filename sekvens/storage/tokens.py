"""API tokens: random, shown once, stored as a SHA-256 hash, revocable, with a last-used time."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import event, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.scopes import Scope, normalized
from sekvens.storage.tables import ApiToken, User
from sekvens.storage.types import utcnow

PREFIX = "skv_"
#: last_used_at is written at most this often per token, so reads stay reads.
TOUCH_INTERVAL = timedelta(minutes=1)
#: The longest token name.
NAME_MAX = 100
#: PostgreSQL channel of "these tokens and users changed": every API process drops them from
#: its cache of verified tokens (`AuthCache`). Its payload: {"u": [user ids], "t": [token ids]}.
AUTH_CHANNEL = "sekvens_auth"
_CHANGED_KEY = "sekvens_auth_changed"
_LISTENING_KEY = "sekvens_auth_listening"
#: An AsyncSession's info key for the AuthCache of the app the session serves.
CACHE_KEY = "sekvens_auth_cache"


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
    expires_at: datetime | None = None
    last_used_at: datetime | None = None


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
    return Authenticated(
        token.id, user, stale, scopes_of(token), token.expires_at, token.last_used_at
    )


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


# --- The cache of verified tokens ----------------------------------------------------------

V = TypeVar("V")


@dataclass
class _Entry(Generic[V]):
    value: V
    user_id: int
    token_id: int
    expires_at: datetime | None
    #: monotonic time after which the entry is read again from the database
    fresh_until: float
    last_used_at: datetime | None


class AuthCache(Generic[V]):
    """Verified tokens, briefly, by token hash: a request with a cached token makes no
    statement to authenticate (and takes no pooled connection for it).

    An entry lives `ttl` seconds at most and never past its token's `expires_at`. Changes
    drop entries at once: `changed()` (a revoked token, a deactivated user, new roles, a
    changed profile: entries may hold the user's row) drops them in this process after the
    commit and, on PostgreSQL, notifies every process on AUTH_CHANNEL in the same
    transaction. On PostgreSQL the cache serves only while its process listens for those
    notifications (`listening`); otherwise every request reads the database, as without a
    cache.
    """

    def __init__(self, ttl: float, max_entries: int = 10_000, is_sqlite: bool = True):
        self.ttl = ttl
        self.max_entries = max_entries
        self.is_sqlite = is_sqlite
        #: Whether notifications from other processes reach `drop` (PostgreSQL).
        self.listening: Callable[[], bool] = lambda: False
        #: Bumped by every drop: a lookup that began before a drop does not cache its result.
        self.generation = 0
        self._entries: dict[str, _Entry[V]] = {}
        _CACHES.add(self)

    @property
    def enabled(self) -> bool:
        return self.ttl > 0 and (self.is_sqlite or self.listening())

    def get(self, digest: str) -> _Entry[V] | None:
        entry = self._entries.get(digest)
        if entry is None:
            return None
        if entry.fresh_until <= time.monotonic() or (
            entry.expires_at is not None and entry.expires_at <= utcnow()
        ):
            self._entries.pop(digest, None)
            return None
        return entry

    def put(
        self,
        digest: str,
        generation: int,
        value: V,
        found: Authenticated,
        expires_at: datetime | None,
        last_used_at: datetime | None,
    ) -> None:
        """Cache `value` for `digest`, unless something was dropped since `generation`."""
        if generation != self.generation or not self.enabled:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.pop(next(iter(self._entries)))  # the oldest
        self._entries[digest] = _Entry(
            value,
            found.user.id,
            found.token_id,
            expires_at,
            time.monotonic() + self.ttl,
            last_used_at,
        )

    def drop(self, user_ids: Iterable[int] | None = None, token_ids: Iterable[int] = ()) -> None:
        """Forget the entries of these users and tokens; `user_ids` None: everything."""
        self.generation += 1
        if user_ids is None:
            self._entries.clear()
            return
        users, tokens = set(user_ids), set(token_ids)
        for digest, entry in list(self._entries.items()):
            if entry.user_id in users or entry.token_id in tokens:
                self._entries.pop(digest, None)

    def __len__(self) -> int:
        return len(self._entries)


_CACHES: weakref.WeakSet[AuthCache[Any]] = weakref.WeakSet()


def drop_everywhere(user_ids: Iterable[int] | None, token_ids: Iterable[int] = ()) -> None:
    """Drop entries from every cache of this process (SQLite: the only process there is)."""
    users = None if user_ids is None else list(user_ids)
    tokens = list(token_ids)
    for cache in list(_CACHES):
        cache.drop(users, tokens)


def auth_payload(payload: str) -> tuple[list[int], list[int]]:
    """(user ids, token ids) of an AUTH_CHANNEL notification."""
    data = json.loads(payload)
    return [int(u) for u in data.get("u", ())], [int(t) for t in data.get("t", ())]


async def changed(
    session: AsyncSession, user_ids: Iterable[int] = (), token_ids: Iterable[int] = ()
) -> None:
    """Tokens and users whose authentication changed in `session`'s transaction (revoked,
    deactivated, new roles, a changed profile): cached verifications of them are dropped
    when it commits, in this process and, on PostgreSQL, in every process that listens
    (notified in the same transaction, so only if it commits)."""
    users, tokens = sorted(set(user_ids)), sorted(set(token_ids))
    if not users and not tokens:
        return
    sync = session.sync_session
    if _LISTENING_KEY not in sync.info:
        sync.info[_LISTENING_KEY] = True
        event.listen(sync, "after_commit", _after_commit)
        event.listen(sync, "after_soft_rollback", _after_rollback)
    pending = sync.info.setdefault(_CHANGED_KEY, (set(), set()))
    pending[0].update(users)
    pending[1].update(tokens)
    if session.get_bind().dialect.name == "postgresql":
        payload = json.dumps({"u": users, "t": tokens}, separators=(",", ":"))
        await session.execute(
            text("SELECT pg_notify(:channel, :payload)"),
            {"channel": AUTH_CHANNEL, "payload": payload},
        )


def _after_commit(sync: Session) -> None:
    if sync.in_nested_transaction():
        return
    pending = sync.info.pop(_CHANGED_KEY, None)
    if pending is None:
        return
    users, tokens = pending
    if sync.get_bind().dialect.name == "sqlite":
        drop_everywhere(users, tokens)  # one process: every cache there is
        return
    own = sync.info.get(CACHE_KEY)
    if own is not None:  # at once here; other processes (and apps) by the notification
        own.drop(users, tokens)


def _after_rollback(sync: Session, _previous: Any) -> None:
    if sync.in_transaction():
        return  # a savepoint rolled back; the outer transaction may still commit
    sync.info.pop(_CHANGED_KEY, None)
