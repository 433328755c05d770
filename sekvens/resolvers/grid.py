"""Per-user grid layouts: `gridPreferences` and `saveGridPreferences`.

Any signed-in user reads and saves their own layouts, and only their own.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain import grid
from sekvens.domain.errors import DomainError
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import context
from sekvens.schema.errors import ApiError
from sekvens.schema.grid import (
    GridPreferences,
    SaveGridPreferencesInput,
    SaveGridPreferencesPayload,
)
from sekvens.storage import grid as grid_store


@strawberry.type
class GridQueries:
    @strawberry.field(
        description="The viewer's layout of a grid (the home grid: `sequences`), or the default."
    )
    async def grid_preferences(self, info: Info, view: str = "sequences") -> GridPreferences:
        ctx = context(info)
        try:
            grid.check_view(view)
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        row = await grid_store.get(ctx.reader, ctx.viewer.user_id, view)
        return GridPreferences.of(
            view, row.columns if row else None, row.updated_at if row else None
        )


@strawberry.type
class GridMutations:
    @strawberry.mutation(
        description="Save the viewer's column order, visibility and widths of a grid; an empty "
        "list of columns restores the default."
    )
    async def save_grid_preferences(
        self, info: Info, input: SaveGridPreferencesInput
    ) -> SaveGridPreferencesPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            columns = grid.check_layout(
                input.view,
                [grid.GridColumn(c.column, c.visible, c.width) for c in input.columns],
            )
            if columns:
                await grid_store.save(
                    ctx.session, viewer.user_id, input.view, [c.to_json() for c in columns]
                )
            else:
                await grid_store.clear(ctx.session, viewer.user_id, input.view)
            row = await grid_store.get(ctx.session, viewer.user_id, input.view)
            return {
                "preferences": GridPreferences.of(
                    input.view, row.columns if row else None, row.updated_at if row else None
                )
            }

        return await mutate(info, SaveGridPreferencesPayload, run)
