"""The query root: the viewer, `node`, and the users, teams, record types and records."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import Role as DomainRole
from sekvens.resolvers.context import Context
from sekvens.resolvers.nodes import load_node
from sekvens.schema.errors import ApiError
from sekvens.schema.organization import Organization
from sekvens.schema.pagination import paginate
from sekvens.schema.records import Record, RecordFilterInput, RecordType
from sekvens.schema.relay import Connection, Node, decode_id
from sekvens.schema.users import Role, Team, TeamKind, User
from sekvens.storage import organizations, record_types
from sekvens.storage.records import RecordFilter, filtered
from sekvens.storage.search import any_contains
from sekvens.storage.tables import RecordType as RecordTypeRow
from sekvens.storage.tables import Team as TeamRow
from sekvens.storage.tables import User as UserRow
from sekvens.storage.tables import UserRole


def context(info: Info) -> Context:
    """The request context, with the viewer required (an `UNAUTHENTICATED` error otherwise)."""
    ctx: Context = info.context
    try:
        ctx.require()
    except DomainError as e:
        raise ApiError.from_domain(e) from None
    return ctx


#: The longest search text a list takes (docs/security.md).
SEARCH_MAX = 200


def check_search(search: str | None, field: Sequence[str] = ("search",)) -> None:
    if search is not None and len(search) > SEARCH_MAX:
        raise DomainError.of(
            ErrorCode.TOO_LONG, f"A search is at most {SEARCH_MAX} characters.", field
        )


async def check_record_type(
    session: Any, organization_id: int, name: str | None, field: Sequence[str]
) -> None:
    """UNKNOWN_RECORD_TYPE for a filter's record type that the organization lacks."""
    if name is not None and await record_types.get_by_name(session, organization_id, name) is None:
        raise DomainError.of(ErrorCode.UNKNOWN_RECORD_TYPE, f"No record type '{name}'.", field)


async def record_filter(session: Any, organization_id: int, f: RecordFilterInput) -> RecordFilter:
    """The storage filter of a `filter` argument or input field; refusals name `filter.…`."""
    check_search(f.search, ["filter", "search"])
    await check_record_type(session, organization_id, f.record_type, ["filter", "recordType"])
    return RecordFilter(
        record_type=f.record_type,
        owner_user_id=_decode(f.owner_user_id, "User", "ownerUserId"),
        owner_team_id=_decode(f.owner_team_id, "Team", "ownerTeamId"),
        stage=f.stage,
        is_active=f.is_active,
        search=f.search,
        external_ids=f.external_ids,
    )


def _decode(global_id: strawberry.ID | None, type_name: str, field: str) -> int | None:
    return None if global_id is None else decode_id(global_id, type_name, ["filter", field])


async def _run(ctx: Context, call: Callable[[], Awaitable[Any]]) -> Any:
    try:
        return await call()
    except DomainError as e:
        raise ApiError.from_domain(e) from None


@strawberry.type(description="Who is calling.")
class Viewer:
    user: User
    organization_id: strawberry.Private[int]

    @strawberry.field
    async def organization(self, info: Info) -> Organization:
        """Read only when asked for: `viewer { user { email } }` makes no statement (the user
        comes with the verified token)."""
        org = await organizations.existing(context(info).reader, self.organization_id)
        return Organization.from_row(org)

    @strawberry.field
    async def roles(self, info: Info) -> list[Role]:
        return await info.context.loaders.roles.load(self.user.pk)


@strawberry.type
class CoreQueries:
    @strawberry.field(description="The signed-in user and their organization.")
    async def viewer(self, info: Info) -> Viewer:
        ctx = context(info)
        viewer = ctx.viewer
        user = viewer.user or User.from_row(await ctx.loaders.user.load(viewer.user_id))
        return Viewer(user=user, organization_id=viewer.organization_id)

    @strawberry.field(
        description="Any object by its global id; null when not visible to the viewer."
    )
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return await load_node(context(info), str(id))

    @strawberry.field
    async def organization(self, info: Info) -> Organization:
        ctx = context(info)
        org = await organizations.existing(ctx.reader, ctx.viewer.organization_id)
        return Organization.from_row(org)

    @strawberry.field(description="Users of the organization, by name.")
    async def users(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        search: str | None = None,
        role: Role | None = None,
        is_active: bool | None = None,
    ) -> Connection[User]:
        ctx = context(info)
        try:
            check_search(search)
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        stmt = select(UserRow).where(UserRow.organization_id == ctx.viewer.organization_id)
        if search:
            stmt = stmt.where(any_contains(search.strip(), UserRow.name, UserRow.email))
        if role is not None:
            stmt = stmt.where(
                UserRow.id.in_(
                    select(UserRole.user_id).where(UserRole.role == DomainRole(role).value)
                )
            )
        if is_active is not None:
            stmt = stmt.where(UserRow.is_active.is_(is_active))
        stmt = stmt.order_by(UserRow.name, UserRow.id)
        return await _run(
            ctx, lambda: paginate(ctx, stmt, User.from_row, first, after, last, before)
        )

    @strawberry.field
    async def teams(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        kind: TeamKind | None = None,
    ) -> Connection[Team]:
        ctx = context(info)
        stmt = select(TeamRow).where(TeamRow.organization_id == ctx.viewer.organization_id)
        if kind is not None:
            stmt = stmt.where(TeamRow.kind == kind.value)
        stmt = stmt.order_by(TeamRow.name, TeamRow.id)
        return await _run(
            ctx, lambda: paginate(ctx, stmt, Team.from_row, first, after, last, before)
        )

    @strawberry.field
    async def record_types(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[RecordType]:
        ctx = context(info)
        stmt = (
            select(RecordTypeRow)
            .where(RecordTypeRow.organization_id == ctx.viewer.organization_id)
            .order_by(RecordTypeRow.name)
        )
        return await _run(
            ctx, lambda: paginate(ctx, stmt, RecordType.from_row, first, after, last, before)
        )

    @strawberry.field(description="Records of the organization, in the order they arrived.")
    async def records(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: RecordFilterInput | None = None,
    ) -> Connection[Record]:
        ctx = context(info)

        async def run() -> Connection[Record]:
            f = await record_filter(
                ctx.reader, ctx.viewer.organization_id, filter or RecordFilterInput()
            )
            stmt = filtered(ctx.viewer.organization_id, f)
            return await paginate(ctx, stmt, Record.from_row, first, after, last, before)

        return await _run(ctx, run)
