"""Turn an ordered SELECT into a page of a cursor connection."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.config import Settings
from sekvens.schema.relay import Connection, Window, build_connection

NodeT = TypeVar("NodeT")


class Reading(Protocol):
    """What a page needs of the request's context (`resolvers.context.Context` has it)."""

    @property
    def reader(self) -> AsyncSession: ...

    @property
    def settings(self) -> Settings: ...


async def paginate(
    ctx: Reading,
    stmt: Select[Any],
    to_node: Callable[[Any], NodeT],
    first: int | None = None,
    after: str | None = None,
    last: int | None = None,
    before: str | None = None,
) -> Connection[NodeT]:
    """One statement for the page (plus one for `totalCount` only when it is asked for)."""
    session = ctx.reader
    total_cache: list[int] = []

    async def total() -> int:
        if not total_cache:
            count = select(func.count()).select_from(stmt.order_by(None).subquery())
            total_cache.append(await session.scalar(count) or 0)
        return total_cache[0]

    needs_total = last is not None and not before  # an empty cursor is no cursor
    window = Window.of(
        first,
        after,
        last,
        before,
        ctx.settings.page_size_max,
        await total() if needs_total else None,
    )
    rows = list(await session.scalars(stmt.offset(window.offset).limit(window.limit + 1)))
    has_more = len(rows) > window.limit
    return build_connection([to_node(r) for r in rows[: window.limit]], window, has_more, total)
