"""How long an auto-reply pauses: the Nth working day after a day (checked against counting
every day of a span), and the resume instant at the start of that day in a time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sekvens.domain.auto_reply_pauses import (
    AUTO_REPLY_PAUSE_DAYS,
    auto_reply_resume_at,
    start_of_day,
    working_days_after,
)

ZONES = ["UTC", "Europe/Oslo", "America/New_York", "Pacific/Auckland", "America/Santiago"]
days_ = st.dates(date(2000, 1, 1), date(2090, 12, 31))


def reference(day: date, n: int, holidays: set[date]) -> date:
    """The first day after `day` by which `n` working days (weekday, not a holiday) have
    passed, found by counting the working days of every span."""
    span = [day + timedelta(days=i) for i in range(1, 4 * n + len(holidays) + 8)]
    working = [d for d in span if d.weekday() < 5 and d not in holidays]
    return day if n == 0 else working[n - 1]


@given(day=days_, n=st.integers(0, 30), offsets=st.sets(st.integers(0, 40), max_size=8))
def test_the_nth_working_day_skips_weekends_and_holidays(
    day: date, n: int, offsets: set[int]
) -> None:
    holidays = {day + timedelta(days=o) for o in offsets}
    found = working_days_after(day, n, [h.isoformat() for h in holidays])
    assert found == reference(day, n, holidays)
    assert n == 0 or (found.weekday() < 5 and found not in holidays)


def test_a_friday_with_a_holiday_the_wednesday_after() -> None:
    friday = date(2027, 1, 8)
    assert working_days_after(friday, 5, ["2027-01-13"]) == date(2027, 1, 18)
    assert working_days_after(friday, 1) == date(2027, 1, 11)
    with pytest.raises(ValueError):
        working_days_after(friday, -1)


@given(
    received=st.datetimes(datetime(2000, 1, 1), datetime(2090, 1, 1), timezones=st.just(UTC)),
    zone=st.sampled_from(ZONES),
    back_in=st.one_of(st.none(), st.integers(1, 366)),
)
def test_it_resumes_at_the_start_of_the_return_day_in_the_zone(
    received: datetime, zone: str, back_in: int | None
) -> None:
    tz = ZoneInfo(zone)
    local = received.astimezone(tz).date()
    back = local + timedelta(days=back_in) if back_in is not None else None
    resume = auto_reply_resume_at(back, received, zone)
    expected_day = back or working_days_after(local, AUTO_REPLY_PAUSE_DAYS)
    wall = resume.astimezone(tz)
    assert resume.tzinfo is not None and resume > received
    # 00:00 of that day, or the moment the clock jumps when midnight is skipped.
    assert wall.date() == expected_day and wall.time() < time(1, 0, 1)
    assert resume == datetime.combine(expected_day, time(0), tz).astimezone(UTC)


def test_five_working_days_from_friday_in_new_york() -> None:
    friday_evening = datetime(2027, 1, 8, 23, 30, tzinfo=ZoneInfo("America/New_York"))
    resume = auto_reply_resume_at(None, friday_evening.astimezone(UTC), "America/New_York")
    assert resume == datetime(2027, 1, 15, 5, 0, tzinfo=UTC)  # Friday 00:00 EST


def test_the_ends_of_the_calendar_are_a_value_error() -> None:
    """Year 1's midnight in Oslo is before the first instant there is, and the working days
    after 31 December 9999 are after the last: ValueError, which callers expect, never
    OverflowError."""
    with pytest.raises(ValueError):
        start_of_day(date(1, 1, 1), "Europe/Oslo")
    with pytest.raises(ValueError):
        working_days_after(date.max, 1)
    with pytest.raises(ValueError):
        auto_reply_resume_at(None, datetime(9999, 12, 31, 20, tzinfo=UTC), "UTC")
