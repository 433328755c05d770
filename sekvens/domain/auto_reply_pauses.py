"""How long the recipient's automatic reply (out of office) pauses a connection.

A return date pauses until the start of that day on the recipient's calendar. Without one,
the pause lasts `AUTO_REPLY_PAUSE_DAYS` working days: it ends at the start of the Nth working
day after the day the reply came, a working day being Monday to Friday and not one of the
organization's holidays (the recipient's own working week is unknown). docs/email.md ("Out
of office: the recipient") has the rule.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

#: Working days an automatic reply without a return date pauses a connection.
AUTO_REPLY_PAUSE_DAYS = 5


def working_days_after(day: date, days: int, holidays: Iterable[str | date] = ()) -> date:
    """The `days`th working day (Monday to Friday, not a holiday) after `day`; `day` itself
    when `days` is 0. ValueError past the last date."""
    if days < 0:
        raise ValueError("The number of days must not be negative.")
    off = {h if isinstance(h, date) else date.fromisoformat(h) for h in holidays}
    while days:
        if day == date.max:
            raise ValueError("The day is beyond the supported range of dates.")
        day += timedelta(days=1)
        if day.isoweekday() <= 5 and day not in off:
            days -= 1
    return day


def start_of_day(day: date, time_zone: str) -> datetime:
    """The first instant (UTC) of `day` on the wall clock of `time_zone`; ValueError when
    that lies outside the years 1 to 9999."""
    try:
        return datetime.combine(day, time(0), tzinfo=ZoneInfo(time_zone)).astimezone(UTC)
    except OverflowError:
        raise ValueError("The day is beyond the supported range of dates.") from None


def auto_reply_resume_at(
    return_date: date | None,
    received_at: datetime,
    time_zone: str,
    holidays: Iterable[str | date] = (),
    days: int = AUTO_REPLY_PAUSE_DAYS,
) -> datetime:
    """When a connection paused by an automatic reply received at `received_at` resumes:
    the start of `return_date`, else of the `days`th working day after the day it came,
    in `time_zone`. ValueError when that is beyond the supported range of dates."""
    if return_date is None:
        if received_at.tzinfo is None:
            received_at = received_at.replace(tzinfo=UTC)
        received = received_at.astimezone(ZoneInfo(time_zone)).date()
        return_date = working_days_after(received, days, holidays)
    return start_of_day(return_date, time_zone)
