"""Grid layouts kept per user and view: the columns, their order, visibility and widths."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import strawberry

from sekvens.domain import grid
from sekvens.schema.errors import UserError


@strawberry.type(description="One column of a grid as a user laid it out.")
class GridColumn:
    column: str = strawberry.field(
        description="The column's name, e.g. NAME, STATUS, TAGS (see `availableColumns`)."
    )
    visible: bool
    width: int | None = strawberry.field(
        description="In pixels; null leaves the width to the client."
    )


@strawberry.type(description="The viewer's layout of one grid: every column of the view, in order.")
class GridPreferences:
    view: str
    columns: list[GridColumn] = strawberry.field(
        description="Every column of the view: the saved ones in their order, then the others "
        "(hidden); the default layout when nothing is saved."
    )
    available_columns: list[str] = strawberry.field(
        description="The view's columns in their default order."
    )
    is_default: bool = strawberry.field(description="True when nothing is saved for this view.")
    updated_at: datetime | None

    @classmethod
    def of(
        cls, view: str, saved: Sequence[dict] | None, updated_at: datetime | None
    ) -> GridPreferences:
        return cls(
            view=view,
            columns=[
                GridColumn(column=c.column, visible=c.visible, width=c.width)
                for c in grid.layout(view, saved)
            ],
            available_columns=grid.columns_of(view),
            is_default=not saved,
            updated_at=updated_at if saved else None,
        )


@strawberry.input
class GridColumnInput:
    column: str
    visible: bool = True
    width: int | None = strawberry.field(
        default=None,
        description=f"In pixels, {grid.WIDTH_MIN} to {grid.WIDTH_MAX}; null: the client's default.",
    )


@strawberry.input
class SaveGridPreferencesInput:
    view: str = "sequences"
    columns: list[GridColumnInput] = strawberry.field(
        description="In display order; columns left out come after, hidden. An empty list "
        "restores the default layout."
    )


@strawberry.type
class SaveGridPreferencesPayload:
    errors: list[UserError]
    preferences: GridPreferences | None = None
