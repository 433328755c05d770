"""Search patterns for LIKE: the text folded, its wildcards (`%`, `_`) and the escape character
taken literally. Every search goes through here."""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, func, or_

#: The escape character the patterns use: pass `escape=ESCAPE` to `like`.
ESCAPE = "\\"


def _literal(text: str) -> str:
    return text.replace(ESCAPE, ESCAPE * 2).replace("%", ESCAPE + "%").replace("_", ESCAPE + "_")


def contains(text: str) -> str:
    """A LIKE pattern (with `ESCAPE`) matching case-folded values that contain `text`."""
    return f"%{_literal(text.casefold())}%"


def any_contains(text: str, *columns: Any) -> ColumnElement[bool]:
    """Any of `columns`, lower-cased by the database, contains `text` (lower-cased too)."""
    pattern = f"%{_literal(text.lower())}%"
    return or_(*(func.lower(column).like(pattern, escape=ESCAPE) for column in columns))
