"""The kinds of teams."""

from __future__ import annotations

from enum import StrEnum


class TeamKind(StrEnum):
    """OWNER teams own records and sequences; ACCESS teams collaborate on a record."""

    OWNER = "OWNER"
    ACCESS = "ACCESS"
