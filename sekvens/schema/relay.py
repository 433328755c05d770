"""Relay building blocks: the Node interface, global ids, and cursor connections."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

import strawberry

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.global_ids import KEY_MAX
from sekvens.domain.global_ids import from_global_id as from_global_id
from sekvens.domain.global_ids import key_of as key_of
from sekvens.domain.global_ids import to_global_id as to_global_id

NodeT = TypeVar("NodeT")


def decode_id(
    global_id: str | strawberry.ID, type_name: str, field: Sequence[str] = ("id",)
) -> int:
    """The integer key of a global id of `type_name`; a NOT_FOUND problem otherwise (also for
    a key beyond the database's integer range, which names no row)."""
    kind, pk = from_global_id(str(global_id))
    key = key_of(pk) if kind == type_name else None
    if key is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, f"No {type_name} with id '{global_id}'.", field)
    return key


@strawberry.interface(description="An object with a global id, fetchable with `node(id:)`.")
class Node:
    id: strawberry.ID


@strawberry.type
class PageInfo:
    has_next_page: bool
    has_previous_page: bool
    start_cursor: str | None
    end_cursor: str | None


@strawberry.type
class Edge(Generic[NodeT]):
    cursor: str
    node: NodeT


def offset_cursor(offset: int) -> str:
    return base64.urlsafe_b64encode(f"o:{offset}".encode()).decode().rstrip("=")


#: Offsets beyond this are past the end of any list (and fit the database's integers).
OFFSET_MAX = KEY_MAX // 4


def cursor_offset(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode((cursor + "=" * (-len(cursor) % 4)).encode()).decode()
        kind, _, value = raw.partition(":")
        if kind == "o" and value.isascii() and value.isdigit():
            return OFFSET_MAX if len(value) > 18 else min(int(value), OFFSET_MAX)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        pass
    raise DomainError.of(ErrorCode.INVALID_VALUE, f"'{cursor}' is not a valid cursor.", ["after"])


@dataclass(frozen=True)
class Window:
    """Which rows a `first/after/last/before` request asks for, as offset and limit."""

    offset: int
    limit: int

    @classmethod
    def of(
        cls,
        first: int | None,
        after: str | None,
        last: int | None,
        before: str | None,
        cap: int,
        total: int | None = None,
    ) -> Window:
        for name, value in (("first", first), ("last", last)):
            if value is not None and value < 0:
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE, f"'{name}' can't be negative.", [name]
                )
            if value is not None and value > cap:
                raise DomainError.of(
                    ErrorCode.TOO_MANY, f"'{name}' is at most {cap} per page.", [name]
                )
        start = cursor_offset(after) + 1 if after else 0
        end = cursor_offset(before) if before else None
        if last is not None and end is None:
            if total is None:
                raise ValueError("`last` without `before` needs the total")
            end = total
        if first is None and last is not None and end is not None:  # the last rows up to `end`
            begin = max(start, end - last)
            return cls(begin, max(end - begin, 0))
        limit = first if first is not None else cap
        if end is not None:
            limit = min(limit, max(end - start, 0))
        return cls(start, limit)


@strawberry.type(description="A page of a list, with cursors to move on and the total count.")
class Connection(Generic[NodeT]):
    edges: list[Edge[NodeT]]
    page_info: PageInfo
    _total: strawberry.Private[Callable[[], Awaitable[int]]]

    @strawberry.field(description="Nodes of this page, without the edge wrapper.")
    def nodes(self) -> list[NodeT]:
        return [e.node for e in self.edges]

    @strawberry.field(description="How many items the whole list holds.")
    async def total_count(self) -> int:
        return await self._total()


def build_connection(
    nodes: Sequence[NodeT],
    window: Window,
    has_more: bool,
    total: Callable[[], Awaitable[int]],
) -> Connection[NodeT]:
    """A page of `nodes` fetched at `window` (has_more: a row beyond the window existed)."""
    edges = [Edge(cursor=offset_cursor(window.offset + i), node=n) for i, n in enumerate(nodes)]
    return Connection(
        edges=edges,
        page_info=PageInfo(
            has_next_page=has_more,
            has_previous_page=window.offset > 0,
            start_cursor=edges[0].cursor if edges else None,
            end_cursor=edges[-1].cursor if edges else None,
        ),
        _total=total,
    )
