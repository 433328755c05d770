"""Search patterns for LIKE: the text case-folded, its wildcards taken literally."""

from __future__ import annotations

#: The escape character the patterns use: pass `escape=ESCAPE` to `like`.
ESCAPE = "\\"


def contains(text: str) -> str:
    """A LIKE pattern (with `ESCAPE`) matching values that contain `text`, case-folded."""
    escaped = text.casefold().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
