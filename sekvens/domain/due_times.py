"""When a connection's work is due: the calendar it counts in, and the engine's two rules.

The engine (`engine.runner`) and the timeline preview (`engine.preview`) both call these, so
the times a preview shows are the times the engine writes:

- `working_time`: the calendar of the assignee (the first one the assignment rule names): their
  time zone and working hours, the organization's time zone and the default hours without
  them, and the organization's holidays.
- `activity_due`: a step that creates an activity makes it due when the step is reached, or
  (skip non-working time) at the next working instant of that calendar.
- `wait_ends`: a wait (`WaitFor`, a condition's time limit) that begins at an instant ends
  `calendar.due_after` later.

Pure: no I/O; the calendar maths is `domain.calendar`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypedDict

from sekvens.domain.calendar import due_after, next_working_instant
from sekvens.domain.working_hours import DEFAULT_WORKING_HOURS


class WorkingTime(TypedDict):
    """The calendar a connection's work is due in (the keywords of `domain.calendar`)."""

    time_zone: str
    working_hours: Sequence[Mapping[str, Any]]
    holidays: Sequence[str]


def working_time(
    default_time_zone: str,
    holidays: Sequence[str],
    user_time_zone: str | None = None,
    user_working_hours: Sequence[Mapping[str, Any]] | None = None,
) -> WorkingTime:
    """The assignee's calendar: their time zone and working hours (None or empty: the
    organization's `default_time_zone` and `DEFAULT_WORKING_HOURS`), with the holidays."""
    return WorkingTime(
        time_zone=user_time_zone or default_time_zone,
        working_hours=user_working_hours or DEFAULT_WORKING_HOURS,
        holidays=holidays,
    )


def activity_due(
    reached: datetime, *, skip_non_working_time: bool, calendar: WorkingTime
) -> datetime:
    """When an activity created at `reached` is due: then, or with `skip_non_working_time`
    the next working instant of `calendar` (`reached` itself inside working hours)."""
    if skip_non_working_time:
        return next_working_instant(reached, **calendar)
    return reached


def wait_ends(
    start: datetime, duration: timedelta, *, skip_non_working_time: bool, calendar: WorkingTime
) -> datetime:
    """When a wait of `duration` that begins at `start` ends (`calendar.due_after`)."""
    return due_after(start, duration, skip_non_working_time=skip_non_working_time, **calendar)
