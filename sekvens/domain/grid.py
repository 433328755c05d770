"""Grid layouts: which columns a user's grid shows, in which order, how wide.

Pure rules: the columns each view has, the checks on a saved layout, and the layout a user
sees (their saved one, completed with the columns it does not mention, or the default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sekvens.domain.errors import DomainError, ErrorCode, Problem

WIDTH_MIN = 40
WIDTH_MAX = 2000

#: The views with a layout, each with its columns in default order and whether a column is
#: shown by default. The home grid's columns are the ones it sorts and filters on (their
#: names are those of `SequenceOrderField`, plus TAGS).
VIEWS: Mapping[str, tuple[tuple[str, bool], ...]] = {
    "sequences": (
        ("NAME", True),
        ("STATUS", True),
        ("RECORD_TYPE", True),
        ("OWNER", True),
        ("TAGS", True),
        ("IS_PERSONAL", True),
        ("CREATED_AT", True),
        ("MODIFIED_AT", True),
        ("ACTIVE_CONNECTIONS", True),
        ("STEP_COUNT", False),
    ),
}


@dataclass(frozen=True)
class GridColumn:
    column: str
    visible: bool = True
    #: Pixels; None leaves the width to the client.
    width: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"column": self.column, "visible": self.visible, "width": self.width}


def columns_of(view: str) -> list[str]:
    return [name for name, _ in VIEWS[view]]


def check_view(view: str, field: Sequence[str] = ("view",)) -> None:
    if view not in VIEWS:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            f"No grid view '{view}'; the views are: {', '.join(VIEWS)}.",
            field,
        )


def default_layout(view: str) -> list[GridColumn]:
    return [GridColumn(name, visible) for name, visible in VIEWS[view]]


def check_layout(view: str, columns: Sequence[GridColumn]) -> list[GridColumn]:
    """The layout to store, or a `DomainError` naming each bad entry (`columns.<i>.<field>`).

    An empty list means "back to the default"; otherwise at least one column is visible.
    """
    check_view(view)
    known = columns_of(view)
    problems: list[Problem] = []
    seen: set[str] = set()
    for i, c in enumerate(columns):
        at = ("columns", str(i))
        if c.column not in known:
            problems.append(
                Problem(
                    ErrorCode.INVALID_VALUE,
                    f"The {view} grid has no column '{c.column}'; its columns are: "
                    f"{', '.join(known)}.",
                    (*at, "column"),
                )
            )
        elif c.column in seen:
            problems.append(
                Problem(
                    ErrorCode.DUPLICATE,
                    f"The column {c.column} is listed more than once.",
                    (*at, "column"),
                )
            )
        seen.add(c.column)
        if c.width is not None and not WIDTH_MIN <= c.width <= WIDTH_MAX:
            problems.append(
                Problem(
                    ErrorCode.INVALID_VALUE,
                    f"A column's width is {WIDTH_MIN} to {WIDTH_MAX} pixels (or null).",
                    (*at, "width"),
                )
            )
    if columns and not problems and not any(c.visible for c in columns):
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "Show at least one column (an empty list restores the default layout).",
                ("columns",),
            )
        )
    if problems:
        raise DomainError(problems)
    return list(columns)


def layout(view: str, saved: Sequence[Mapping[str, Any]] | None) -> list[GridColumn]:
    """What the user sees: the saved columns in their order (leaving out any the view no
    longer has), then the view's other columns, hidden; the default when nothing is saved."""
    if not saved:
        return default_layout(view)
    known = columns_of(view)
    out: list[GridColumn] = []
    for item in saved:
        name = item.get("column")
        if name in known and all(c.column != name for c in out):
            width = item.get("width")
            out.append(GridColumn(name, bool(item.get("visible", True)), width if width else None))
    listed = {c.column for c in out}
    out += [GridColumn(name, False) for name in known if name not in listed]
    return out
