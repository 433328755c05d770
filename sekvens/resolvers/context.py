"""The per-request context: settings, database session, viewer, loaders, plugin registry."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import Actor, Role, describe
from sekvens.domain.scopes import Scope
from sekvens.resolvers.engine_loaders import EngineLoaders
from sekvens.resolvers.loaders import Loaders
from sekvens.resolvers.sequence_loaders import SequenceLoaders
from sekvens.schema.users import User
from sekvens.services import Services
from sekvens.storage.audit import TOKEN_KEY
from sekvens.storage.tokens import CACHE_KEY


@dataclass(frozen=True)
class Viewer(Actor):
    """Who is calling: a user of one organization, with their roles, and the token it
    came with and that token's scopes; `user`: their row as read with the token (cached
    with it, and dropped with it when the user changes), which `viewer { user }` answers
    from without a statement; None where it could be stale (a websocket's long life)."""

    token_id: int | None = None
    scopes: frozenset[Scope] = frozenset({Scope.FULL})
    user: User | None = field(default=None, compare=False, repr=False)


class SerializedReads:
    """One session shared by fields that GraphQL resolves concurrently: they take turns.

    An AsyncSession allows one operation at a time, while graphql-core runs sibling fields
    (and DataLoader batches) concurrently. Reads go through here; mutations, which run
    one after another, use the session directly.
    """

    def __init__(self, context: Context):
        self._context = context
        self._lock = asyncio.Lock()

    async def execute(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._context.session.execute(*args, **kwargs)

    async def scalars(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._context.session.scalars(*args, **kwargs)

    async def scalar(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._context.session.scalar(*args, **kwargs)

    async def get(self, *args: Any, **kwargs: Any) -> Any:
        async with self._lock:
            return await self._context.session.get(*args, **kwargs)


class Context:
    """Created for each HTTP request or websocket connection."""

    def __init__(
        self, services: Services, viewer: Viewer | None, request: Any = None, response: Any = None
    ):
        self.services = services
        self.settings = services.settings
        self.viewer_or_none = viewer
        self.request = request
        self.response = response
        #: A websocket's connection_init payload: Strawberry sets it on a context that has it.
        self.connection_params: dict[str, Any] | None = None
        self._session: AsyncSession | None = None
        self._loaders: Loaders | None = None
        self._sequence_loaders: SequenceLoaders | None = None
        self._engine_loaders: EngineLoaders | None = None
        self.writing = False
        self._reads = SerializedReads(self)
        self.reader = cast(AsyncSession, self._reads)
        self._over = False
        #: The failed-authentication limit of the caller's address (the app sets them):
        #: seconds until it may try again (0: now), and "this attempt failed".
        self.auth_failure_wait: Callable[[], float] = lambda: 0.0
        self.auth_failed: Callable[[], None] = lambda: None

    @property
    def viewer(self) -> Viewer:
        """The authenticated viewer; `UNAUTHENTICATED` when the request carries no token."""
        if self.viewer_or_none is None:
            raise DomainError.of(
                ErrorCode.UNAUTHENTICATED,
                "Sign in: send 'Authorization: Bearer <token>' (tokens: `sekvens token create`).",
            )
        return self.viewer_or_none

    def require(self, roles: frozenset[Role] | None = None) -> Viewer:
        viewer = self.viewer
        if roles is not None and not viewer.has_any(roles):
            raise DomainError.of(ErrorCode.FORBIDDEN, f"This needs the role {describe(roles)}.")
        return viewer

    @property
    def session(self) -> AsyncSession:
        if self._session is None:
            if self._over:
                raise RuntimeError("The request is over: its database session is closed.")
            self._session = self.services.db.session(write=self.writing)
            self._session.info[CACHE_KEY] = self.services.auth_cache  # changes drop entries
            if self.viewer_or_none is not None:  # audit entries name the token
                self._session.info[TOKEN_KEY] = self.viewer_or_none.token_id
        return self._session

    @property
    def loaders(self) -> Loaders:
        if self._loaders is None:
            self._loaders = Loaders(self.reader, self.viewer.organization_id)
        return self._loaders

    @property
    def sequence_loaders(self) -> SequenceLoaders:
        if self._sequence_loaders is None:
            self._sequence_loaders = SequenceLoaders(
                self.reader, self.viewer.organization_id, self.services.registry
            )
        return self._sequence_loaders

    @property
    def engine_loaders(self) -> EngineLoaders:
        if self._engine_loaders is None:
            self._engine_loaders = EngineLoaders(self.reader, self.viewer.organization_id)
        return self._engine_loaders

    def reset_loaders(self) -> None:
        """Forget cached rows (after a mutation changed them)."""
        self._loaders = None
        self._sequence_loaders = None
        self._engine_loaders = None

    async def close(self, final: bool = False) -> None:
        """Close the session, once a read in flight is done: a DataLoader batch runs in a task
        of its own and can outlive the resolver that asked for it (when a sibling failed and
        GraphQL cancelled the rest). `final`: the request is over, nothing opens another."""
        self._over = self._over or final
        async with self._reads._lock:
            if self._session is not None:
                session, self._session = self._session, None
                await session.close()
