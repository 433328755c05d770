"""Working hours of a user: which weekdays, from when to when, in the user's time zone."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sekvens.domain.errors import ErrorCode, Problem

TIME_RE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")

#: Monday to Friday, 09:00 to 17:00 (ISO weekdays: 1 is Monday).
DEFAULT_WORKING_HOURS: list[dict[str, Any]] = [
    {"weekday": d, "start": "09:00", "end": "17:00"} for d in range(1, 6)
]


def check_time_zone(name: str, path: tuple[str, ...]) -> Problem | None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a directory, a long name
        return Problem(ErrorCode.INVALID_VALUE, f"'{name}' is not an IANA time zone.", path)
    return None


def check_working_hours(
    hours: Sequence[Mapping[str, Any]], path: tuple[str, ...] = ("workingHours",)
) -> list[Problem]:
    """Each entry is {weekday 1-7, start HH:MM, end HH:MM} with start before end."""
    problems = []
    for i, h in enumerate(hours):
        at = (*path, str(i))
        weekday, start, end = h.get("weekday"), h.get("start", ""), h.get("end", "")
        if not isinstance(weekday, int) or not 1 <= weekday <= 7:
            problems.append(
                Problem(ErrorCode.INVALID_VALUE, "Weekday must be 1 (Monday) to 7.", at)
            )
        elif not (TIME_RE.match(start) and TIME_RE.match(end)):
            problems.append(Problem(ErrorCode.INVALID_VALUE, "Times must be HH:MM (24-hour).", at))
        elif start >= end:
            problems.append(Problem(ErrorCode.INVALID_VALUE, "Start must be before end.", at))
    return problems
