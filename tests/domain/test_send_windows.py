"""Send windows: the next send time against a minute-by-minute walk of the recipient's wall
clock, across daylight-saving changes; window input checks; the recipient's time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sekvens.domain.send_windows import (
    RecipientWindow,
    SendWindow,
    recipient_time_zone,
    send_window,
)

ZONES = [
    "Europe/Oslo",
    "America/New_York",
    "Australia/Lord_Howe",  # a half-hour change
    "America/Sao_Paulo",  # changed at midnight until 2019
    "Asia/Tokyo",
    "UTC",
]
MINUTE = timedelta(minutes=1)


def reference(
    at: datetime, weekdays: set[int], start: time, end: time, zone: str, holidays: set[date]
) -> datetime:
    """The first instant from `at` on, stepping through whole UTC minutes, whose wall-clock
    reading in `zone` is on a chosen weekday, not a holiday, and from `start` to before `end`."""

    tz = ZoneInfo(zone)

    def inside(moment: datetime) -> bool:
        local = moment.astimezone(tz)
        return (
            local.isoweekday() in weekdays
            and local.date() not in holidays
            and start <= local.time().replace(tzinfo=None) < end
        )

    if inside(at):
        return at
    moment = at.replace(second=0, microsecond=0) + MINUTE
    while not inside(moment):
        moment += MINUTE
    return moment


def hhmm(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


# Start instants in the months with daylight-saving changes, north and south.
starts = st.builds(
    lambda year, month, day, seconds: (
        datetime(year, month, day, tzinfo=UTC) + timedelta(seconds=seconds)
    ),
    st.integers(2017, 2027),
    st.sampled_from([2, 3, 4, 10, 11]),
    st.integers(1, 28),
    st.integers(0, 86_399),
)


@st.composite
def windows(draw: st.DrawFn) -> tuple[set[int], int, int]:
    weekdays = draw(st.sets(st.integers(1, 7), min_size=1))
    # Night windows too, so openings and closings fall into skipped and repeated hours.
    start = draw(st.one_of(st.integers(0, 4 * 60), st.integers(0, 23 * 60 + 58)))
    end = draw(st.integers(start + 1, 23 * 60 + 59))
    return weekdays, start, end


@settings(max_examples=300, deadline=None)
@given(
    at=starts,
    window=windows(),
    zone=st.sampled_from(ZONES),
    holiday_offsets=st.sets(st.integers(-1, 10), max_size=4),
)
def test_next_send_time_matches_a_walk_of_the_wall_clock(
    at: datetime, window: tuple[set[int], int, int], zone: str, holiday_offsets: set[int]
) -> None:
    weekdays, start, end = window
    local_day = at.astimezone(ZoneInfo(zone)).date()
    holidays = {local_day + timedelta(days=d) for d in holiday_offsets}
    placed = RecipientWindow(
        SendWindow(tuple(sorted(weekdays)), hhmm(start), hhmm(end)),
        zone,
        tuple(d.isoformat() for d in holidays),
    )
    expected = reference(
        at,
        weekdays,
        time(start // 60, start % 60),
        time(end // 60, end % 60),
        zone,
        holidays,
    )
    assert placed.next_send_time(at) == expected


def test_22_00_waits_for_the_next_working_morning_and_holidays_are_skipped() -> None:
    weekdays = SendWindow((1, 2, 3, 4, 5), "08:00", "18:00")
    ny = ZoneInfo("America/New_York")
    tuesday_22 = datetime(2026, 11, 3, 22, 0, tzinfo=ny)
    assert RecipientWindow(weekdays, "America/New_York").next_send_time(tuesday_22) == datetime(
        2026, 11, 4, 8, 0, tzinfo=ny
    )
    with_holiday = RecipientWindow(weekdays, "America/New_York", ("2026-11-04",))
    assert with_holiday.next_send_time(tuesday_22) == datetime(2026, 11, 5, 8, 0, tzinfo=ny)
    # Friday evening waits for Monday; inside the window it goes at once.
    friday = datetime(2026, 11, 6, 18, 0, tzinfo=ny)
    assert RecipientWindow(weekdays, "America/New_York").next_send_time(friday) == datetime(
        2026, 11, 9, 8, 0, tzinfo=ny
    )
    inside = datetime(2026, 11, 6, 17, 59, 59, tzinfo=ny)
    assert RecipientWindow(weekdays, "America/New_York").next_send_time(inside) == inside


@pytest.mark.parametrize(
    ("weekdays", "start", "end", "field"),
    [
        ([], "08:00", "18:00", "weekdays"),
        ([0, 1], "08:00", "18:00", "weekdays"),
        ([1, 1], "08:00", "18:00", "weekdays"),
        ([8], "08:00", "18:00", "weekdays"),
        ([1], "8:00", "18:00", "start"),
        ([1], "08:00", "24:00", "end"),
        ([1], "18:00", "08:00", "start"),
        ([1], "08:00", "08:00", "start"),
    ],
)
def test_bad_windows_are_refused_with_their_field(
    weekdays: list[int], start: str, end: str, field: str
) -> None:
    window, problems = send_window(weekdays, start, end)
    assert window is None
    assert [(p.code, p.field) for p in problems] == [("INVALID_VALUE", ("sendWindow", field))]


def test_the_recipient_zone_is_the_record_field_when_it_names_one() -> None:
    assert recipient_time_zone({"time_zone": "Europe/Oslo"}, "UTC") == "Europe/Oslo"
    assert recipient_time_zone({"time_zone": "Mars/Olympus"}, "Asia/Tokyo") == "Asia/Tokyo"
    assert recipient_time_zone({"time_zone": "../etc/passwd"}, "UTC") == "UTC"
    assert recipient_time_zone({"time_zone": 3}, "UTC") == "UTC"
    assert recipient_time_zone({}, "America/New_York") == "America/New_York"
