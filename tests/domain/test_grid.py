"""Grid layouts: a saved layout is completed with the view's other columns, hidden."""

from __future__ import annotations

import pytest

from sekvens.domain import grid
from sekvens.domain.errors import DomainError


def test_saved_layout_is_completed_and_forgets_unknown_columns() -> None:
    saved = [
        {"column": "OWNER", "visible": True, "width": 200},
        {"column": "GONE_SINCE_LAST_RELEASE", "visible": True, "width": 90},
        {"column": "OWNER", "visible": False, "width": None},
    ]
    shown = grid.layout("sequences", saved)
    assert shown[0] == grid.GridColumn("OWNER", True, 200)
    assert [c.column for c in shown] == ["OWNER"] + [
        c for c in grid.columns_of("sequences") if c != "OWNER"
    ]
    assert not any(c.visible for c in shown[1:])
    assert grid.layout("sequences", None) == grid.default_layout("sequences")


def test_check_layout_collects_every_problem() -> None:
    with pytest.raises(DomainError) as e:
        grid.check_layout(
            "sequences",
            [grid.GridColumn("NAME", width=10), grid.GridColumn("NAME"), grid.GridColumn("X")],
        )
    assert [(p.code, p.field) for p in e.value.problems] == [
        ("INVALID_VALUE", ("columns", "0", "width")),
        ("DUPLICATE", ("columns", "1", "column")),
        ("INVALID_VALUE", ("columns", "2", "column")),
    ]
    assert grid.check_layout("sequences", []) == []
