"""Due times: working time in the user's zone, weekends, holidays, daylight saving."""

from __future__ import annotations

import time as clock
from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekvens.domain import calendar
from sekvens.domain.calendar import (
    add_calendar_time,
    add_working_days,
    add_working_time,
    due_after,
    next_working_instant,
)
from sekvens.domain.working_hours import DEFAULT_WORKING_HOURS

OSLO = ZoneInfo("Europe/Oslo")
H = timedelta(hours=1)
M = timedelta(minutes=1)

Hours = list[dict[str, Any]]


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)


def hours(*spec: tuple[Iterable[int], str, str]) -> Hours:
    return [{"weekday": d, "start": s, "end": e} for days, s, e in spec for d in days]


WEEKDAYS = range(1, 6)
EVERY_DAY = range(1, 8)
SPLIT = hours((WEEKDAYS, "09:00", "12:00"), (WEEKDAYS, "13:00", "17:00"))


def add(
    start: datetime,
    duration: timedelta,
    zone: str = "UTC",
    working_hours: Sequence[dict[str, Any]] = DEFAULT_WORKING_HOURS,
    holidays: Iterable[str | date] = (),
) -> datetime:
    return add_working_time(
        start, duration, time_zone=zone, working_hours=working_hours, holidays=holidays
    )


def first(
    at: datetime,
    zone: str = "UTC",
    working_hours: Sequence[dict[str, Any]] = DEFAULT_WORKING_HOURS,
    holidays: Iterable[str | date] = (),
) -> datetime:
    return next_working_instant(at, time_zone=zone, working_hours=working_hours, holidays=holidays)


# --- the ordinary week (2026-01-05 is a Monday) ------------------------------------------


def test_inside_working_hours() -> None:
    assert add(utc(2026, 1, 7, 10), 3 * H) == utc(2026, 1, 7, 13)
    assert add(utc(2026, 1, 7, 10, 17, 30), 90 * M) == utc(2026, 1, 7, 11, 47, 30)


def test_before_and_after_working_hours() -> None:
    assert add(utc(2026, 1, 7, 7), H) == utc(2026, 1, 7, 10)
    assert add(utc(2026, 1, 7, 18), H) == utc(2026, 1, 8, 10)
    assert add(utc(2026, 1, 7, 17), H) == utc(2026, 1, 8, 10)


def test_weekend_is_skipped() -> None:
    assert add(utc(2026, 1, 10, 10), H) == utc(2026, 1, 12, 10)  # Saturday
    assert add(utc(2026, 1, 9, 16), 2 * H) == utc(2026, 1, 12, 10)  # Friday 16:00 + 2 h


def test_running_out_at_the_end_of_the_day_stays_on_that_day() -> None:
    assert add(utc(2026, 1, 9, 15), 2 * H) == utc(2026, 1, 9, 17)
    assert add(utc(2026, 1, 9, 15), 2 * H + timedelta(microseconds=1)) == utc(
        2026, 1, 12, 9, 0, 0, 1
    )


def test_days_and_weeks_of_working_time() -> None:
    assert add(utc(2026, 1, 5, 9), 40 * H) == utc(2026, 1, 9, 17)
    assert add(utc(2026, 1, 5, 9), 41 * H) == utc(2026, 1, 12, 10)
    # 720 working hours = 18 weeks of 40 hours (a wait of 30 *days* counts working days:
    # `due_after`, below).
    assert add(utc(2026, 1, 5, 9), timedelta(days=30)) == utc(2026, 5, 8, 17)


def test_christmas_and_the_year_end() -> None:
    christmas = ["2026-12-24", "2026-12-25", "2026-12-31", "2027-01-01"]
    # Wednesday 23rd 16:00; Thursday and Friday are holidays.
    assert add(utc(2026, 12, 23, 16), 2 * H, holidays=christmas) == utc(2026, 12, 28, 10)
    # Wednesday 30th 16:00; New Year's Eve and Day are off.
    assert add(utc(2026, 12, 30, 16), 2 * H, holidays=christmas) == utc(2027, 1, 4, 10)
    assert add(utc(2026, 12, 30, 16), 2 * H) == utc(2026, 12, 31, 10)
    # In Oslo (UTC+1 in winter), date objects work as well as ISO strings.
    days = [date(2026, 12, 24), date(2026, 12, 25)]
    assert add(utc(2026, 12, 23, 15), 2 * H, "Europe/Oslo", holidays=days) == utc(2026, 12, 28, 9)


def test_a_holiday_on_a_weekend_changes_nothing() -> None:
    assert add(utc(2026, 1, 9, 16), 2 * H, holidays=["2026-01-10"]) == utc(2026, 1, 12, 10)


def add_split(start: datetime, duration: timedelta) -> datetime:
    return add(start, duration, working_hours=SPLIT)


def test_several_intervals_a_day_with_split_hours() -> None:
    monday = (2026, 1, 5)
    assert add_split(utc(*monday, 11), H) == utc(*monday, 12)
    assert add_split(utc(*monday, 11), 2 * H) == utc(*monday, 14)
    assert add_split(utc(*monday, 11), 5 * H) == utc(*monday, 17)
    assert add_split(utc(*monday, 11), 6 * H) == utc(2026, 1, 6, 10)
    assert add_split(utc(*monday, 12, 30), 30 * M) == utc(*monday, 13, 30)
    assert add_split(utc(2026, 1, 9, 16), 2 * H) == utc(2026, 1, 12, 10)
    assert first(utc(*monday, 12, 30), working_hours=SPLIT) == utc(*monday, 13)
    assert first(utc(*monday, 12), working_hours=SPLIT) == utc(*monday, 13)


def test_overlapping_and_touching_intervals_are_merged() -> None:
    messy = hours(([1], "09:00", "12:00"), ([1], "11:00", "13:00"), ([1], "13:00", "14:00"))
    assert add(utc(2026, 1, 5, 9), 5 * H, working_hours=messy) == utc(2026, 1, 5, 14)
    assert add(utc(2026, 1, 5, 9), 6 * H, working_hours=messy) == utc(2026, 1, 12, 10)


def test_a_week_with_only_some_working_days() -> None:
    tuesdays = hours(([2], "10:00", "11:00"))
    assert add(utc(2026, 1, 5, 9), 3 * H, working_hours=tuesdays) == utc(2026, 1, 20, 11)


# --- zero durations ----------------------------------------------------------------------


def test_zero_duration_is_the_next_working_instant() -> None:
    inside = utc(2026, 1, 7, 10, 15)
    assert add(inside, timedelta(0)) == inside
    assert first(inside) == inside
    assert add(utc(2026, 1, 7, 9), timedelta(0)) == utc(2026, 1, 7, 9)
    assert add(utc(2026, 1, 7, 7), timedelta(0)) == utc(2026, 1, 7, 9)
    # The end of the day is not working time.
    assert add(utc(2026, 1, 9, 17), timedelta(0)) == utc(2026, 1, 12, 9)
    assert first(utc(2026, 1, 10, 12)) == utc(2026, 1, 12, 9)


# --- daylight saving ---------------------------------------------------------------------
# Europe/Oslo: 2026-03-29 02:00 CET -> 03:00 CEST; 2026-10-25 03:00 CEST -> 02:00 CET.
# America/New_York: 2026-03-08 02:00 EST -> 03:00 EDT; 2026-11-01 02:00 EDT -> 01:00 EST.


def test_oslo_spring_forward_week() -> None:
    oslo = "Europe/Oslo"
    # Friday 16:00 CET + 2 h = Monday 10:00 CEST.
    assert add(utc(2026, 3, 27, 15), 2 * H, oslo) == utc(2026, 3, 30, 8)
    # Thursday 09:00 CET + 3 working days = Monday 17:00 CEST.
    assert add(utc(2026, 3, 26, 8), 24 * H, oslo) == utc(2026, 3, 30, 15)
    # Working every day: the change day itself has 8 hours from 09:00 to 17:00.
    assert add(utc(2026, 3, 28, 8), 16 * H, oslo, hours((EVERY_DAY, "09:00", "17:00"))) == utc(
        2026, 3, 29, 15
    )
    assert add(utc(2026, 3, 29, 7), 8 * H, oslo, hours((EVERY_DAY, "09:00", "17:00"))) == utc(
        2026, 3, 29, 15
    )


def test_oslo_fall_back_week() -> None:
    oslo = "Europe/Oslo"
    # Friday 16:00 CEST + 2 h = Monday 10:00 CET.
    assert add(utc(2026, 10, 23, 14), 2 * H, oslo) == utc(2026, 10, 26, 9)
    assert add(utc(2026, 10, 22, 7), 24 * H, oslo) == utc(2026, 10, 26, 16)
    assert add(utc(2026, 10, 24, 7), 16 * H, oslo, hours((EVERY_DAY, "09:00", "17:00"))) == utc(
        2026, 10, 25, 16
    )


def test_new_york_spring_forward_week() -> None:
    ny = "America/New_York"
    assert add(utc(2026, 3, 6, 21), 2 * H, ny) == utc(2026, 3, 9, 14)  # Fri 16:00 EST
    assert add(utc(2026, 3, 5, 14), 24 * H, ny) == utc(2026, 3, 9, 21)  # Thu 09:00 EST
    assert add(utc(2026, 3, 2, 14), 40 * H, ny) == utc(2026, 3, 6, 22)  # the week before
    assert add(utc(2026, 3, 9, 13), 40 * H, ny) == utc(2026, 3, 13, 21)  # the week after
    assert add(utc(2026, 3, 2, 14), 80 * H, ny) == utc(2026, 3, 13, 21)  # both


def test_new_york_fall_back_week() -> None:
    ny = "America/New_York"
    assert add(utc(2026, 10, 30, 20), 2 * H, ny) == utc(2026, 11, 2, 15)  # Fri 16:00 EDT
    assert add(utc(2026, 10, 29, 13), 24 * H, ny) == utc(2026, 11, 2, 22)  # Thu 09:00 EDT
    assert add(utc(2026, 10, 26, 13), 80 * H, ny) == utc(2026, 11, 6, 22)


def test_an_interval_across_the_change_counts_real_time() -> None:
    nights = hours((EVERY_DAY, "00:00", "06:00"))
    oslo = "Europe/Oslo"
    # 2026-03-29 00:00-06:00 is 5 real hours; Monday's night starts at 22:00 UTC.
    assert add(utc(2026, 3, 28, 23), 5 * H, oslo, nights) == utc(2026, 3, 29, 4)
    assert add(utc(2026, 3, 28, 23), 6 * H, oslo, nights) == utc(2026, 3, 29, 23)
    # 2026-10-25 00:00-06:00 is 7 real hours (02:00-03:00 happens twice).
    assert add(utc(2026, 10, 24, 22), 7 * H, oslo, nights) == utc(2026, 10, 25, 5)
    assert add(utc(2026, 10, 24, 22), 8 * H, oslo, nights) == utc(2026, 10, 26, 0)


def test_a_skipped_start_time_starts_when_the_clock_jumps() -> None:
    sunday = hours(([7], "02:30", "04:00"))
    oslo = "Europe/Oslo"
    # 02:30 doesn't exist on 2026-03-29: working time starts at 03:00 CEST.
    assert first(utc(2026, 3, 28, 12), oslo, sunday) == utc(2026, 3, 29, 1)
    assert add(utc(2026, 3, 28, 12), H, oslo, sunday) == utc(2026, 3, 29, 2)
    assert add(utc(2026, 3, 28, 12), H + M, oslo, sunday) == utc(2026, 4, 5, 0, 31)


def test_a_repeated_time_is_working_time_both_times() -> None:
    sunday = hours(([7], "02:30", "04:00"))
    oslo = "Europe/Oslo"
    # 2026-10-25: 02:30-03:00 CEST (00:30-01:00 UTC), then 02:30-04:00 CET (01:30-03:00 UTC).
    assert first(utc(2026, 10, 24, 12), oslo, sunday) == utc(2026, 10, 25, 0, 30)
    assert add(utc(2026, 10, 24, 12), 30 * M, oslo, sunday) == utc(2026, 10, 25, 1)
    assert add(utc(2026, 10, 24, 12), 31 * M, oslo, sunday) == utc(2026, 10, 25, 1, 31)
    assert add(utc(2026, 10, 24, 12), 2 * H, oslo, sunday) == utc(2026, 10, 25, 3)
    assert first(utc(2026, 10, 25, 1), oslo, sunday) == utc(2026, 10, 25, 1, 30)


def test_a_fall_back_across_midnight_keeps_time_order() -> None:
    # St. John's, 2008-11-02 00:01 NDT (UTC-2:30) went back to 2008-11-01 23:01 NST (UTC-3:30):
    # Saturday's last half hour happens twice, Sunday's first minute comes in between.
    late = hours(([6], "23:30", "23:59"), ([7], "00:00", "00:30"))
    zone = "America/St_Johns"
    start = utc(2008, 11, 2, 2)  # Saturday 23:30 NDT
    assert add(start, 29 * M, zone, late) == utc(2008, 11, 2, 2, 29)
    assert add(start, 30 * M, zone, late) == utc(2008, 11, 2, 2, 31)  # Sunday 00:00-00:01 NDT
    assert add(start, 31 * M, zone, late) == utc(2008, 11, 2, 3, 1)  # Saturday 23:31 NST
    assert add(start, 59 * M, zone, late) == utc(2008, 11, 2, 3, 29)
    assert add(start, 60 * M, zone, late) == utc(2008, 11, 2, 3, 31)  # Sunday 00:01 NST
    assert add(start, 89 * M, zone, late) == utc(2008, 11, 2, 4)
    assert first(utc(2008, 11, 2, 2, 45), zone, late) == utc(2008, 11, 2, 3)
    # Starting in Sunday's first minute, Saturday's repeated half hour is still ahead.
    saturday = hours(([6], "23:30", "23:59"))
    assert first(utc(2008, 11, 2, 2, 30, 30), zone, saturday) == utc(2008, 11, 2, 3)


# --- zones -------------------------------------------------------------------------------


def test_tokyo_user_compared_with_a_utc_user() -> None:
    tokyo = "Asia/Tokyo"  # UTC+9, no DST
    # Wednesday 00:00 UTC is 09:00 in Tokyo.
    assert add(utc(2026, 1, 7, 0), H, tokyo) == utc(2026, 1, 7, 1)
    assert add(utc(2026, 1, 7, 0), H) == utc(2026, 1, 7, 10)
    # Friday 07:30 UTC is 16:30 in Tokyo: the hour ends Monday 09:30 JST.
    assert add(utc(2026, 1, 9, 7, 30), H, tokyo) == utc(2026, 1, 12, 0, 30)
    assert add(utc(2026, 1, 9, 7, 30), H) == utc(2026, 1, 9, 10)


def test_holidays_are_whole_days_in_the_users_zone() -> None:
    tokyo = "Asia/Tokyo"
    # Monday 23:30 UTC is Tuesday 08:30 in Tokyo, and Tuesday the 13th is a holiday.
    off = ["2026-01-13"]
    assert add(utc(2026, 1, 12, 23, 30), H, tokyo, holidays=off) == utc(2026, 1, 14, 1)
    assert add(utc(2026, 1, 12, 23, 30), H, tokyo) == utc(2026, 1, 13, 1)
    # For a UTC user, Monday 16:30 UTC is Monday: half an hour then, half an hour on Wednesday.
    assert add(utc(2026, 1, 12, 16, 30), H, holidays=off) == utc(2026, 1, 14, 9, 30)


def test_any_aware_start_is_accepted_and_the_result_is_utc() -> None:
    start = datetime(2026, 1, 9, 16, tzinfo=OSLO)  # 15:00 UTC
    result = add(start, 2 * H, "Europe/Oslo")
    assert result == utc(2026, 1, 12, 9)
    assert result.utcoffset() == timedelta(0)


# --- calendar time and the entry point ---------------------------------------------------


def test_calendar_time_is_absolute_time() -> None:
    start = datetime(2026, 3, 28, 12, tzinfo=OSLO)  # 11:00 UTC, CET
    assert add_calendar_time(start, 24 * H) == utc(2026, 3, 29, 11)  # 13:00 CEST
    assert add_calendar_time(utc(2026, 1, 9, 16), 2 * H) == utc(2026, 1, 9, 18)
    assert add_calendar_time(utc(2026, 1, 9, 16), 2 * H).tzinfo == UTC


def test_due_after_chooses_by_the_sequence_setting() -> None:
    kwargs: dict[str, Any] = {
        "time_zone": "Europe/Oslo",
        "working_hours": DEFAULT_WORKING_HOURS,
        "holidays": ["2026-01-12"],
    }
    friday = utc(2026, 1, 9, 15)  # 16:00 in Oslo
    assert due_after(friday, 2 * H, skip_non_working_time=True, **kwargs) == utc(2026, 1, 13, 9)
    assert due_after(friday, 2 * H, skip_non_working_time=False, **kwargs) == utc(2026, 1, 9, 17)
    assert due_after(friday, timedelta(0), skip_non_working_time=False, **kwargs) == friday


# --- working days (a wait of N days) -------------------------------------------------------
# Europe/Oslo, 09:00-17:00 Monday to Friday unless said otherwise. 2026-01-05 is a Monday.

D = timedelta(days=1)


def wait(
    start: datetime,
    duration: timedelta,
    zone: str = "Europe/Oslo",
    working_hours: Sequence[dict[str, Any]] = DEFAULT_WORKING_HOURS,
    holidays: Iterable[str | date] = (),
) -> datetime:
    return due_after(
        start,
        duration,
        skip_non_working_time=True,
        time_zone=zone,
        working_hours=working_hours,
        holidays=holidays,
    )


def oslo(*args: int) -> datetime:
    return datetime(*args, tzinfo=OSLO)


def test_one_day_is_the_same_time_on_the_next_working_day() -> None:
    monday = oslo(2026, 1, 5, 15, 56)
    assert wait(monday, D) == oslo(2026, 1, 6, 15, 56)
    assert wait(monday, D) == utc(2026, 1, 6, 14, 56)
    assert wait(monday, 2 * D) == oslo(2026, 1, 7, 15, 56)
    assert add_working_days(
        monday, 1, time_zone="Europe/Oslo", working_hours=DEFAULT_WORKING_HOURS
    ) == oslo(2026, 1, 6, 15, 56)
    # Seconds and microseconds are kept too.
    assert wait(oslo(2026, 1, 5, 9, 0, 17, 5), D) == oslo(2026, 1, 6, 9, 0, 17, 5)


def test_friday_plus_one_day_is_monday() -> None:
    assert wait(oslo(2026, 1, 9, 15, 56), D) == oslo(2026, 1, 12, 15, 56)
    assert wait(oslo(2026, 1, 9, 9), 5 * D) == oslo(2026, 1, 16, 9)


def test_holidays_are_not_working_days() -> None:
    monday = oslo(2026, 1, 5, 15, 56)
    assert wait(monday, D, holidays=["2026-01-06"]) == oslo(2026, 1, 7, 15, 56)
    assert wait(monday, D, holidays=["2026-01-06", "2026-01-07"]) == oslo(2026, 1, 8, 15, 56)
    # A holiday on a weekend changes nothing.
    assert wait(oslo(2026, 1, 9, 15, 56), D, holidays=["2026-01-10"]) == oslo(2026, 1, 12, 15, 56)
    # Wednesday 23 December; Christmas Eve and Day are holidays, then the weekend.
    christmas = ["2026-12-24", "2026-12-25"]
    assert wait(oslo(2026, 12, 23, 15, 56), D, holidays=christmas) == oslo(2026, 12, 28, 15, 56)


def test_holidays_are_dates_in_the_users_zone() -> None:
    tokyo = "Asia/Tokyo"
    # Monday 23:30 UTC is Tuesday 08:30 in Tokyo: counting starts Tuesday 09:00 JST.
    assert wait(utc(2026, 1, 12, 23, 30), D, tokyo) == utc(2026, 1, 14, 0)
    # When Tuesday the 13th is a holiday in Tokyo, counting starts Wednesday 09:00 JST.
    assert wait(utc(2026, 1, 12, 23, 30), D, tokyo, holidays=["2026-01-13"]) == utc(2026, 1, 15, 0)
    # For a UTC user the same instant is Monday 23:30: counting starts Tuesday 09:00 UTC.
    assert wait(utc(2026, 1, 12, 23, 30), D, "UTC") == utc(2026, 1, 14, 9)


def test_counting_starts_at_the_next_working_instant() -> None:
    # Saturday 10:00: counting starts Monday 09:00, so one day is Tuesday 09:00.
    assert wait(oslo(2026, 1, 10, 10), D) == oslo(2026, 1, 13, 9)
    # Before the day starts, after it ends, and at its end (not working time).
    assert wait(oslo(2026, 1, 5, 7), D) == oslo(2026, 1, 6, 9)
    assert wait(oslo(2026, 1, 5, 18), D) == oslo(2026, 1, 7, 9)
    assert wait(oslo(2026, 1, 5, 17), D) == oslo(2026, 1, 7, 9)
    assert wait(oslo(2026, 1, 5, 16, 59), D) == oslo(2026, 1, 6, 16, 59)
    # Friday evening, Monday a holiday: counting starts Tuesday 09:00.
    assert wait(oslo(2026, 1, 9, 18), D, holidays=["2026-01-12"]) == oslo(2026, 1, 14, 9)


def test_a_time_that_is_not_working_time_on_the_day_moves_on() -> None:
    # Fridays end at 13:00: Thursday 15:56 + 1 day is Friday 15:56, after hours: Monday 09:00.
    short_friday = hours((range(1, 5), "09:00", "17:00"), ([5], "09:00", "13:00"))
    assert wait(oslo(2026, 1, 8, 15, 56), D, working_hours=short_friday) == oslo(2026, 1, 12, 9)
    assert wait(oslo(2026, 1, 8, 12, 56), D, working_hours=short_friday) == oslo(2026, 1, 9, 12, 56)
    # A lunch break on Tuesdays only: Monday 12:30 + 1 day is Tuesday 13:00.
    lunch = hours(
        ([1, 3, 4, 5], "09:00", "17:00"), ([2], "09:00", "12:00"), ([2], "13:00", "17:00")
    )
    assert wait(oslo(2026, 1, 5, 12, 30), D, working_hours=lunch) == oslo(2026, 1, 6, 13)
    # Split hours every day: a start in the break counts from 13:00.
    assert wait(oslo(2026, 1, 5, 12, 30), D, working_hours=SPLIT) == oslo(2026, 1, 6, 13)
    assert wait(oslo(2026, 1, 5, 11), D, working_hours=SPLIT) == oslo(2026, 1, 6, 11)
    # Days off in the schedule are not working days: Tuesdays and Thursdays only.
    two_days = hours(([2, 4], "09:00", "17:00"))
    assert wait(oslo(2026, 1, 6, 10), D, working_hours=two_days) == oslo(2026, 1, 8, 10)
    assert wait(oslo(2026, 1, 6, 10), 2 * D, working_hours=two_days) == oslo(2026, 1, 13, 10)


def test_days_then_working_hours() -> None:
    monday = oslo(2026, 1, 5, 15, 56)
    # Tuesday 15:56, then 2 working hours: 1 h 4 min on Tuesday, 56 min on Wednesday.
    assert wait(monday, D + 2 * H) == oslo(2026, 1, 7, 9, 56)
    assert wait(monday, D + H + 4 * M) == oslo(2026, 1, 6, 17)
    # Hours alone are working hours, as before.
    assert wait(monday, 2 * H) == oslo(2026, 1, 6, 9, 56)
    assert wait(monday, 23 * H) == oslo(2026, 1, 8, 14, 56)
    # Zero days is the hours rule.
    assert wait(oslo(2026, 1, 10, 10), timedelta(0)) == oslo(2026, 1, 12, 9)


def test_oslo_spring_forward_keeps_the_wall_clock_time() -> None:
    # 2026-03-29 02:00 CET -> 03:00 CEST. Friday 15:56 CET + 1 day = Monday 15:56 CEST.
    assert wait(oslo(2026, 3, 27, 15, 56), D) == oslo(2026, 3, 30, 15, 56)
    assert wait(oslo(2026, 3, 27, 15, 56), D) == utc(2026, 3, 30, 13, 56)
    # Working every day: Saturday 15:56 + 1 day is Sunday 15:56, 23 real hours later.
    every_day = hours((EVERY_DAY, "09:00", "17:00"))
    saturday = oslo(2026, 3, 28, 15, 56)
    assert wait(saturday, D, working_hours=every_day) == oslo(2026, 3, 29, 15, 56)
    assert wait(saturday, D, working_hours=every_day) - saturday == 23 * H
    # 02:30 doesn't exist on Sunday: the wait ends when the clock jumps, at 03:00 CEST.
    nights = hours((EVERY_DAY, "00:00", "06:00"))
    assert wait(oslo(2026, 3, 28, 2, 30), D, working_hours=nights) == utc(2026, 3, 29, 1)
    assert wait(oslo(2026, 3, 28, 2, 30), D, working_hours=nights) == oslo(2026, 3, 29, 3)


def test_oslo_fall_back_keeps_the_wall_clock_time() -> None:
    # 2026-10-25 03:00 CEST -> 02:00 CET. Friday 15:56 CEST + 1 day = Monday 15:56 CET.
    assert wait(oslo(2026, 10, 23, 15, 56), D) == oslo(2026, 10, 26, 15, 56)
    assert wait(oslo(2026, 10, 23, 15, 56), D) == utc(2026, 10, 26, 14, 56)
    every_day = hours((EVERY_DAY, "09:00", "17:00"))
    saturday = oslo(2026, 10, 24, 15, 56)
    assert wait(saturday, D, working_hours=every_day) == oslo(2026, 10, 25, 15, 56)
    assert wait(saturday, D, working_hours=every_day) - saturday == 25 * H
    # 02:30 happens twice on Sunday: the first time (CEST) counts ...
    nights = hours((EVERY_DAY, "00:00", "06:00"))
    assert wait(oslo(2026, 10, 24, 2, 30), D, working_hours=nights) == utc(2026, 10, 25, 0, 30)
    # ... and from the second time, Monday's 02:30 is the only one.
    second = utc(2026, 10, 25, 1, 30)
    assert second.astimezone(OSLO).replace(tzinfo=None) == datetime(2026, 10, 25, 2, 30)
    assert wait(second, D, working_hours=nights) == oslo(2026, 10, 26, 2, 30)


def test_fifty_day_waits() -> None:
    # 50 working days of 5 a week: 10 calendar weeks.
    assert wait(oslo(2026, 1, 5, 15, 56), 50 * D) == oslo(2026, 3, 16, 15, 56)
    # Across spring forward (3 March CET to 11 May CEST): still 15:56 on the wall.
    assert wait(oslo(2026, 3, 2, 15, 56), 50 * D) == oslo(2026, 5, 11, 15, 56)
    # With Norway's spring holidays: Easter (2, 3 and 6 April), 1 May, Ascension (14 May).
    spring = ["2026-04-02", "2026-04-03", "2026-04-06", "2026-05-01", "2026-05-14"]
    assert wait(oslo(2026, 3, 2, 15, 56), 50 * D, holidays=spring) == oslo(2026, 5, 18, 15, 56)
    # In New York and Tokyo too.
    ny = ZoneInfo("America/New_York")
    start = datetime(2026, 9, 14, 10, 30, tzinfo=ny)  # a Monday, EDT
    assert wait(start, 50 * D, "America/New_York") == datetime(2026, 11, 23, 10, 30, tzinfo=ny)
    tokyo = ZoneInfo("Asia/Tokyo")
    start = datetime(2026, 1, 5, 16, 59, tzinfo=tokyo)
    assert wait(start, 50 * D, "Asia/Tokyo") == datetime(2026, 3, 16, 16, 59, tzinfo=tokyo)


def test_without_skipping_a_day_is_24_hours() -> None:
    start = oslo(2026, 3, 27, 15, 56)  # Friday before spring forward
    kwargs: dict[str, Any] = {"time_zone": "Europe/Oslo", "working_hours": DEFAULT_WORKING_HOURS}
    assert due_after(start, D, skip_non_working_time=False, **kwargs) == start + 24 * H
    assert due_after(start, 2 * D, skip_non_working_time=False, **kwargs) == utc(
        2026, 3, 29, 14, 56
    )


def test_working_days_refusals() -> None:
    kwargs: dict[str, Any] = {"time_zone": "Europe/Oslo", "working_hours": DEFAULT_WORKING_HOURS}
    with pytest.raises(ValueError, match="negative"):
        add_working_days(oslo(2026, 1, 5, 9), -1, **kwargs)
    with pytest.raises(ValueError, match="negative"):
        due_after(oslo(2026, 1, 5, 9), -H, skip_non_working_time=True, **kwargs)
    with pytest.raises(ValueError, match="timezone-aware"):
        due_after(datetime(2026, 1, 5, 9), D, skip_non_working_time=True, **kwargs)
    with pytest.raises(ValueError, match="supported range"):
        due_after(utc(9999, 12, 20, 9), 30 * D, skip_non_working_time=True, **kwargs)
    # Working days that are all holidays: the start already has no working time ahead.
    mondays = hours(([1], "09:00", "17:00"))
    every_monday = [date(2026, 1, 5) + timedelta(weeks=n) for n in range(52 * 5)]
    with pytest.raises(ValueError, match="No working time within"):
        wait(utc(2026, 1, 1), D, working_hours=mondays, holidays=every_monday)


# --- refusals ----------------------------------------------------------------------------


def test_no_working_hours_is_an_error() -> None:
    with pytest.raises(ValueError, match="no working time"):
        add(utc(2026, 1, 5, 9), H, working_hours=[])
    with pytest.raises(ValueError, match="no working time"):
        due_after(
            utc(2026, 1, 5, 9),
            H,
            skip_non_working_time=True,
            time_zone="UTC",
            working_hours=[],
            holidays=[],
        )
    # Without skipping, the schedule isn't consulted.
    assert due_after(
        utc(2026, 1, 5, 9),
        H,
        skip_non_working_time=False,
        time_zone="UTC",
        working_hours=[],
        holidays=[],
    ) == utc(2026, 1, 5, 10)


def test_a_schedule_that_is_always_on_holiday_gives_up() -> None:
    mondays = hours(([1], "09:00", "17:00"))
    every_monday = [date(2026, 1, 5) + timedelta(weeks=n) for n in range(52 * 5)]
    with pytest.raises(ValueError, match="No working time within"):
        add(utc(2026, 1, 1), H, working_hours=mondays, holidays=every_monday)


def test_invalid_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        add(datetime(2026, 1, 5, 9), H)
    with pytest.raises(ValueError, match="negative"):
        add(utc(2026, 1, 5, 9), -H)
    with pytest.raises(ValueError, match="IANA"):
        add(utc(2026, 1, 5, 9), H, "Mars/Olympus_Mons")
    with pytest.raises(ValueError, match="Start must be before end"):
        add(utc(2026, 1, 5, 9), H, working_hours=hours(([1], "17:00", "09:00")))
    with pytest.raises(ValueError, match="Weekday"):
        add(utc(2026, 1, 5, 9), H, working_hours=hours(([0], "09:00", "17:00")))
    with pytest.raises(ValueError, match="ISO date"):
        add(utc(2026, 1, 5, 9), H, holidays=["25.12.2026"])
    with pytest.raises(ValueError, match="supported range"):
        add(utc(9999, 12, 31, 9), timedelta(days=30))


# --- speed -------------------------------------------------------------------------------


def test_thirty_days_of_working_time_are_quick() -> None:
    christmas = ["2026-12-24", "2026-12-25", "2026-12-31"]
    runs = 200
    began = clock.perf_counter()
    for _ in range(runs):
        add(utc(2026, 11, 2, 12), timedelta(days=30), "Europe/Oslo", SPLIT, christmas)
    per_call = (clock.perf_counter() - began) / runs
    assert per_call < 0.002, f"{per_call * 1e6:.0f} µs per call"


def test_thirty_working_days_are_quick() -> None:
    christmas = ["2026-12-24", "2026-12-25", "2026-12-31"]
    runs = 200
    began = clock.perf_counter()
    for _ in range(runs):
        wait(utc(2026, 11, 2, 12), timedelta(days=30, hours=23), "Europe/Oslo", SPLIT, christmas)
    per_call = (clock.perf_counter() - began) / runs
    assert per_call < 0.002, f"{per_call * 1e6:.0f} µs per call"


# --- against a slow reference ------------------------------------------------------------

ZONES = {
    "UTC": [],
    "Europe/Oslo": [date(2026, 3, 29), date(2026, 10, 25)],
    "America/New_York": [date(2026, 3, 8), date(2026, 11, 1)],
    "Asia/Tokyo": [],
    "Australia/Lord_Howe": [date(2026, 4, 5), date(2026, 10, 4)],  # 30-minute changes
    "Pacific/Chatham": [date(2026, 4, 5), date(2026, 9, 27)],  # at 02:45 / 03:45
    "America/St_Johns": [date(2008, 11, 2), date(2026, 3, 8), date(2026, 11, 1)],
    "America/Sao_Paulo": [date(2018, 11, 4), date(2019, 2, 17)],  # at midnight
    "America/Boa_Vista": [date(2000, 10, 8), date(2000, 10, 15)],  # a week of DST
    "Asia/Gaza": [date(2040, 10, 20), date(2040, 10, 27)],  # six days apart
    "Asia/Kathmandu": [],
}
ANY_DAY = [date(2026, 1, 1) + timedelta(days=n) for n in range(0, 730, 17)]


def is_working(at: datetime, tz: ZoneInfo, hours_: Hours, days_off: set[date]) -> bool:
    local = at.astimezone(tz)
    if local.date() in days_off:
        return False
    minute = local.hour * 60 + local.minute
    return any(
        h["weekday"] == local.isoweekday() and minutes(h["start"]) <= minute < minutes(h["end"])
        for h in hours_
    )


def minutes(hhmm: str) -> int:
    return int(hhmm[:2]) * 60 + int(hhmm[3:])


def reference(
    start: datetime, duration: int, tz: ZoneInfo, hours_: Hours, days_off: set[date]
) -> datetime:
    """Step a minute at a time (start and every boundary are on whole minutes)."""
    at = start
    while True:
        if is_working(at, tz, hours_, days_off):
            if duration == 0:
                return at
            duration -= 1
            if duration == 0:
                return at + M
        at += M


def working_minutes(
    start: datetime, end: datetime, tz: ZoneInfo, hours_: Hours, days_off: set[date]
) -> int:
    count, at = 0, start
    while at < end:
        count += is_working(at, tz, hours_, days_off)
        at += M
    return count


def hhmm(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


@st.composite
def schedules(draw: st.DrawFn) -> Hours:
    entries = draw(
        st.lists(
            st.tuples(
                st.integers(1, 7),
                st.integers(0, 1438),
                st.integers(1, 600),
            ),
            min_size=1,
            max_size=8,
        )
    )
    return [
        {"weekday": d, "start": hhmm(s), "end": hhmm(min(s + length, 1439))}
        for d, s, length in entries
    ]


@st.composite
def cases(draw: st.DrawFn) -> tuple[datetime, int, str, Hours, set[date]]:
    zone = draw(st.sampled_from(sorted(ZONES)))
    changes = ZONES[zone]
    near_change = bool(changes) and draw(st.booleans())
    anchor = draw(st.sampled_from(changes if near_change else ANY_DAY))
    hours_ = draw(schedules())
    if near_change:  # working time over the change, and late on the day before
        early = draw(st.integers(0, 240))
        hours_.append(
            {
                "weekday": anchor.isoweekday(),
                "start": hhmm(early),
                "end": hhmm(early + draw(st.integers(1, 360))),
            }
        )
        if draw(st.booleans()):
            late = draw(st.integers(1200, 1438))
            hours_.append(
                {
                    "weekday": (anchor - timedelta(days=1)).isoweekday(),
                    "start": hhmm(late),
                    "end": "23:59",
                }
            )
    start = datetime.combine(anchor, datetime.min.time(), UTC) + M * draw(
        st.integers(-2 * 1440, 1440)
    )
    days_off = {anchor + timedelta(days=n) for n in draw(st.sets(st.integers(-3, 8), max_size=3))}
    week = sum(minutes(h["end"]) - minutes(h["start"]) for h in hours_)
    duration = draw(st.integers(0, min(600, week)))
    return start, duration, zone, hours_, days_off


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_matches_a_minute_by_minute_reference(
    case: tuple[datetime, int, str, Hours, set[date]],
) -> None:
    start, duration, zone, hours_, days_off = case
    tz = ZoneInfo(zone)
    result = add(start, duration * M, zone, hours_, sorted(days_off))
    assert result >= start
    assert working_minutes(start, result, tz, hours_, days_off) == duration
    assert result == reference(start, duration, tz, hours_, days_off)


def limit(wait: int, hours_: Hours) -> int:
    """Between 1 and about ten weeks' worth of the schedule's working minutes."""
    week = sum(minutes(h["end"]) - minutes(h["start"]) for h in hours_)
    return 1 + wait % (10 * week)


@settings(max_examples=150, deadline=None)
@given(
    cases(),
    st.integers(1, 60 * 24 * 20),
    st.integers(1, 60 * 24 * 20),
)
def test_waits_add_up(
    case: tuple[datetime, int, str, Hours, set[date]], first_wait: int, second_wait: int
) -> None:
    start, _, zone, hours_, days_off = case
    first_wait, second_wait = limit(first_wait, hours_), limit(second_wait, hours_)
    once = add(start, (first_wait + second_wait) * M, zone, hours_, days_off)
    twice = add(
        add(start, first_wait * M, zone, hours_, days_off), second_wait * M, zone, hours_, days_off
    )
    assert once == twice


@settings(max_examples=150, deadline=None)
@given(cases(), st.integers(0, 60 * 24 * 60))
def test_skipping_whole_weeks_changes_nothing(
    case: tuple[datetime, int, str, Hours, set[date]], wait: int
) -> None:
    start, _, zone, hours_, days_off = case
    wait = limit(wait, hours_) - 1
    fast = add(start, wait * M, zone, hours_, days_off)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(calendar, "_plain_week", lambda *_: False)
        slow = add(start, wait * M, zone, hours_, days_off)
    assert fast == slow


# --- working days against a day-by-day reference -----------------------------------------
# Written apart from the implementation: local dates one at a time, the wall-clock time found
# by walking minutes on zoneinfo's readings, then working minutes walked one at a time.

DAY_ZONES = {
    zone: ZONES[zone]
    for zone in (
        "UTC",
        "Europe/Oslo",
        "America/New_York",
        "Australia/Lord_Howe",
        "Asia/Tokyo",
        "America/Sao_Paulo",
    )
}


def is_working_day(day: date, hours_: Hours, days_off: set[date]) -> bool:
    return day not in days_off and any(h["weekday"] == day.isoweekday() for h in hours_)


def first_reading(day: date, clock_time: time, tz: ZoneInfo) -> datetime:
    """The first minute whose wall clock reads `clock_time` on `day`, or later."""
    wall = datetime.combine(day, clock_time)
    at = datetime.combine(day, time(), UTC) - timedelta(hours=15)  # before any zone's `day`
    while at.astimezone(tz).replace(tzinfo=None) < wall:
        at += M
    return at


def reference_wait(
    start: datetime, days: int, minutes_: int, tz: ZoneInfo, hours_: Hours, days_off: set[date]
) -> datetime:
    at = reference(start, 0, tz, hours_, days_off)  # the next working instant
    if days:
        local = at.astimezone(tz)
        day, counted = local.date(), 0
        while counted < days:
            day += timedelta(days=1)
            counted += is_working_day(day, hours_, days_off)
        at = first_reading(day, local.time(), tz)
    return reference(at, minutes_, tz, hours_, days_off)


TYPICAL = [
    DEFAULT_WORKING_HOURS,
    SPLIT,
    hours(([1, 2, 4], "08:00", "16:00"), ([5], "08:00", "12:00")),
]


def change_walls(anchor: date, tz: ZoneInfo) -> tuple[datetime, datetime]:
    """The wall-clock readings just before and at the offset change around `anchor`."""
    at = datetime.combine(anchor, time(), UTC) - timedelta(hours=15)
    before = at.astimezone(tz).utcoffset()
    while (at + M).astimezone(tz).utcoffset() == before:
        at += M
    at += M
    after = at.astimezone(tz).utcoffset()
    assert before is not None and after is not None
    naive = at.replace(tzinfo=None)
    return naive + before, naive + after


@st.composite
def day_cases(draw: st.DrawFn) -> tuple[datetime, int, int, str, Hours, set[date]]:
    zone = draw(st.sampled_from(sorted(DAY_ZONES)))
    tz = ZoneInfo(zone)
    changes = DAY_ZONES[zone]
    near_change = bool(changes) and draw(st.booleans())
    anchor = draw(st.sampled_from(changes if near_change else ANY_DAY))
    hours_ = [dict(h) for h in draw(st.sampled_from(TYPICAL))] if draw(st.booleans()) else []
    hours_ += draw(schedules()) if not hours_ or draw(st.booleans()) else []
    days_off = {anchor + timedelta(days=n) for n in draw(st.sets(st.integers(-12, 12), max_size=4))}
    if near_change and draw(st.booleans()):
        # Aimed: start at a wall-clock time near the skipped or repeated times, some days
        # before, working at that time of day, and wait the working days up to the change.
        walls = change_walls(anchor, tz)
        low, high = min(walls), max(walls)
        span = (high - low) // M
        target = low + M * draw(st.integers(-30, span + 30))
        clock_ = target.hour * 60 + target.minute
        begin = max(0, min(clock_, 1438) - draw(st.integers(0, 120)))
        end = min(1439, clock_ + draw(st.integers(1, 120)))
        weekdays = draw(st.sets(st.integers(1, 7), min_size=1)) | {target.isoweekday()}
        hours_ += [{"weekday": d, "start": hhmm(begin), "end": hhmm(end)} for d in weekdays]
        first_day = target.date() - timedelta(days=draw(st.integers(1, 9)))
        weekdays.add(first_day.isoweekday())
        hours_.append({"weekday": first_day.isoweekday(), "start": hhmm(begin), "end": hhmm(end)})
        start = datetime.combine(first_day, target.time(), tz).astimezone(UTC)
        days = sum(
            is_working_day(first_day + timedelta(days=n), hours_, days_off)
            for n in range(1, (target.date() - first_day).days + 1)
        )
        days = max(days, 1)
    else:
        days = draw(st.integers(0, 12) | st.integers(13, 60))
        # Up to ten days before the anchor, so that the wait crosses it.
        start = datetime.combine(anchor, time(), UTC) + M * draw(st.integers(-10 * 1440, 1440))
        if near_change and draw(st.booleans()):  # working time over the change
            early = draw(st.integers(0, 240))
            hours_.append(
                {
                    "weekday": anchor.isoweekday(),
                    "start": hhmm(early),
                    "end": hhmm(early + draw(st.integers(1, 360))),
                }
            )
    week = sum(minutes(h["end"]) - minutes(h["start"]) for h in hours_)
    minutes_ = draw(st.integers(0, min(23 * 60, week)))
    return start, days, minutes_, zone, hours_, days_off


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day_cases())
def test_working_days_match_a_day_by_day_reference(
    case: tuple[datetime, int, int, str, Hours, set[date]],
) -> None:
    start, days, minutes_, zone, hours_, days_off = case
    tz = ZoneInfo(zone)
    result = wait(start, timedelta(days=days, minutes=minutes_), zone, hours_, sorted(days_off))
    assert result == reference_wait(start, days, minutes_, tz, hours_, days_off)
    assert result >= start
    if days or minutes_ == 0:
        only_days = add_working_days(
            start, days, time_zone=zone, working_hours=hours_, holidays=days_off
        )
        assert is_working(only_days, tz, hours_, days_off)
        assert only_days == reference_wait(start, days, 0, tz, hours_, days_off)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(day_cases())
def test_more_days_never_end_sooner(
    case: tuple[datetime, int, int, str, Hours, set[date]],
) -> None:
    start, days, _, zone, hours_, days_off = case

    def after(n: int) -> datetime:
        return add_working_days(start, n, time_zone=zone, working_hours=hours_, holidays=days_off)

    assert after(days) <= after(days + 1)
    if days:
        # One day from a working instant lands on a later local working day.
        tz = ZoneInfo(zone)
        begin, end = after(0).astimezone(tz).date(), after(days).astimezone(tz).date()
        assert end > begin
        assert is_working_day(end, hours_, days_off)


@settings(max_examples=150, deadline=None)
@given(day_cases())
def test_zero_days_is_the_hours_rule(
    case: tuple[datetime, int, int, str, Hours, set[date]],
) -> None:
    start, _, minutes_, zone, hours_, days_off = case
    assert wait(start, minutes_ * M, zone, hours_, days_off) == add(
        start, minutes_ * M, zone, hours_, days_off
    )
