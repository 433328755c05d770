"""The suppression list: list, add (by hand or as an import) and remove addresses.

Anyone may add an address (a prospect asks a seller to stop); listing and removing are for
managers and administrators.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import SUPERVISORS
from sekvens.domain.suppression import BULK_MAX, SuppressionSource
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import context
from sekvens.schema.errors import ApiError, UserError
from sekvens.schema.pagination import paginate
from sekvens.schema.relay import Connection
from sekvens.schema.suppression import (
    AddSuppressedAddressesInput,
    AddSuppressedAddressesPayload,
    RemoveSuppressedAddressesInput,
    RemoveSuppressedAddressesPayload,
    SuppressedAddress,
    SuppressedAddressResult,
)
from sekvens.storage import suppression

SEARCH_MAX = 254


def _bulk(addresses: list[str]) -> None:
    if not addresses:
        raise DomainError.of(ErrorCode.REQUIRED, "Name at least one address.", ["addresses"])
    if len(addresses) > BULK_MAX:
        raise DomainError.of(
            ErrorCode.TOO_MANY, f"At most {BULK_MAX} addresses per call.", ["addresses"]
        )


@strawberry.type
class SuppressionQueries:
    @strawberry.field(
        description="The organization's suppression list, newest first; managers and"
        " administrators."
    )
    async def suppressed_addresses(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        search: str | None = None,
    ) -> Connection[SuppressedAddress]:
        ctx = context(info)
        try:
            ctx.require(SUPERVISORS)
            if search is not None and len(search) > SEARCH_MAX:
                raise DomainError.of(
                    ErrorCode.TOO_LONG, f"Search at most {SEARCH_MAX} characters.", ["search"]
                )
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        stmt = suppression.listed(ctx.viewer.organization_id, search)
        return await paginate(ctx, stmt, SuppressedAddress.from_row, first, after)


@strawberry.type
class SuppressionMutations:
    @strawberry.mutation(
        description="Put addresses on the suppression list (up to 1000; one already there is"
        " kept), with a result per address. Automated email to them stops at once."
    )
    async def add_suppressed_addresses(
        self, info: Info, input: AddSuppressedAddressesInput
    ) -> AddSuppressedAddressesPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            _bulk(input.addresses)
            source = SuppressionSource(input.source.value)
            if source not in (SuppressionSource.MANUAL, SuppressionSource.IMPORT):
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE,
                    "Add addresses as MANUAL or IMPORT; the other sources are the service's.",
                    ["source"],
                )
            results = await suppression.add(
                ctx.session,
                viewer.organization_id,
                input.addresses,
                source,
                input.note,
                viewer.user_id,
                ctx.services.engine.clock.now(),
            )
            problems = [p for r in results for p in r.problems]
            if problems and all(r.problems for r in results):
                raise DomainError(problems)
            return {
                "results": [
                    SuppressedAddressResult(
                        index=r.index,
                        entry=SuppressedAddress.from_row(r.entry) if r.entry else None,
                        added=r.added,
                        errors=[UserError.from_problem(p, r.index) for p in r.problems],
                    )
                    for r in results
                ],
                "added_count": sum(r.added for r in results),
            }

        return await mutate(info, AddSuppressedAddressesPayload, run)

    @strawberry.mutation(
        description="Take addresses off the suppression list; managers and administrators."
    )
    async def remove_suppressed_addresses(
        self, info: Info, input: RemoveSuppressedAddressesInput
    ) -> RemoveSuppressedAddressesPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            _bulk(input.addresses)
            removed = await suppression.remove(ctx.session, viewer.organization_id, input.addresses)
            return {"removed_count": removed}

        return await mutate(info, RemoveSuppressedAddressesPayload, run, SUPERVISORS)
