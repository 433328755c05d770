"""Due times: add a wait to an instant, counting either all time or only working time.

With "skip non-working time" a wait counts the assignee's working calendar, read on the
assignee's wall clock in their IANA time zone, and skips the organization's holidays (each a
whole local day off). A wait of D days and H hours (`due_after`) ends D *working days* later
at the same point of the working day (`add_working_days`), then H working hours are added
(`add_working_time`). The rule with worked examples is in docs/working-time.md.

*Working time*: an instant is working time when the user's wall clock at that instant shows a
date that is not a holiday and a time of day inside one of that weekday's intervals (start
inclusive, end exclusive).

*Working hours* (`add_working_time`) follow from that rule, including daylight saving:

- An interval is counted in real elapsed time. A 09:00-17:00 day is 8 hours on a DST-change
  day too (the change happens outside it); an interval that spans the change is an hour
  shorter (spring forward) or longer (fall back, the repeated wall-clock times count twice).
- A wall-clock time that doesn't exist (skipped by spring forward) is never shown, so an
  interval starting or ending inside the gap starts or ends at the moment the clock jumps.
- A wall-clock time that occurs twice (fall back) is working time both times (zoneinfo's
  fold=0 and fold=1 instants).

*Working days* (`add_working_days`): a working day is a local date whose weekday has working
intervals and which is not a holiday.

- Counting begins at the next working instant when the start is not working time: Saturday
  10:00 + 1 day is read from Monday 09:00 and gives Tuesday 09:00.
- The result is the same wall-clock time on the Dth following working day: Monday 15:56 + 1
  day is Tuesday 15:56, or Wednesday 15:56 when Tuesday is a holiday; Friday 15:56 + 1 day is
  Monday 15:56. Across a daylight-saving change the wall-clock time stays, so the elapsed time
  is an hour more or less.
- When that wall-clock time is not working time on that day (a shorter day, split hours) the
  result is the next working instant after it. A wall-clock time skipped by spring forward
  stands for the moment the clock jumps; one that occurs twice (fall back) for its first
  occurrence.

Pure: standard library only. Offsets are looked up with zoneinfo; everything else is
integer arithmetic in microseconds, a day at a time, with cached per-day offsets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sekvens.domain.working_hours import check_working_hours

__all__ = [
    "MAX_IDLE_DAYS",
    "add_calendar_time",
    "add_working_days",
    "add_working_time",
    "due_after",
    "next_working_instant",
]

#: Give up (ValueError) when this many consecutive local days hold no working time.
MAX_IDLE_DAYS = 3 * 366

_US = 1_000_000
_DAY_S = 86_400
_EPOCH_NAIVE = datetime(1970, 1, 1)
_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_LAST_ORDINAL = date.max.toordinal() - 8  # room for a week ahead and the next midnight
_ONE_US = timedelta(microseconds=1)
_ONE_S = timedelta(seconds=1)

#: ISO weekday (1 = Monday) -> that day's working intervals as (start, end) seconds of the day,
#: sorted, overlapping or touching intervals merged.
_Schedule = dict[int, tuple[tuple[int, int], ...]]
_Interval = tuple[int, int]  # UTC microseconds since the epoch, start < end


def add_calendar_time(start: datetime, duration: timedelta) -> datetime:
    """`start` plus `duration` of elapsed (absolute) time, in UTC.

    Plain addition on the time line: adding 24 hours across a DST change gives 24 real hours
    (a different wall-clock time in zones that changed), never wall-clock arithmetic. A result
    past the calendar's end is a ValueError, as for the working-time functions.
    """
    try:
        return _to_utc(start, "start") + duration
    except OverflowError:
        raise ValueError("The time is beyond the supported dates.") from None


def add_working_time(
    start: datetime,
    duration: timedelta,
    *,
    time_zone: str,
    working_hours: Sequence[Mapping[str, Any]],
    holidays: Iterable[str | date] = (),
) -> datetime:
    """The instant (UTC) at which `duration` of working time after `start` has elapsed.

    Counting begins at `start` when it is working time, otherwise at the next working
    instant. A positive duration that runs out exactly at the end of an interval gives that
    end (Friday 15:00 + 2 h = Friday 17:00); a zero duration gives the next working instant
    (`start` itself when `start` is working time; the end of an interval is not working time).

    Raises ValueError for a naive `start`, a negative duration, an unknown time zone,
    invalid working hours or holidays, a schedule without any working time, or when more
    than `MAX_IDLE_DAYS` consecutive days hold no working time (for example every working
    day is a holiday).
    """
    start_us = _to_us(start)
    if duration < timedelta(0):
        raise ValueError("The duration must not be negative.")
    tz = _zone(time_zone)
    schedule = _schedule(working_hours)
    days_off = _holiday_ordinals(holidays)
    try:
        result = _advance(start_us, duration // _ONE_US, tz, schedule, days_off)
        return _EPOCH_UTC + timedelta(microseconds=result)
    except OverflowError as e:
        raise ValueError("The due time is beyond the supported range of dates.") from e


def add_working_days(
    start: datetime,
    days: int,
    *,
    time_zone: str,
    working_hours: Sequence[Mapping[str, Any]],
    holidays: Iterable[str | date] = (),
) -> datetime:
    """The same point of the working day `days` working days after `start` (UTC).

    A *working day* is a local date (in `time_zone`) whose weekday has working hours and which
    is not a holiday. Counting begins at the next working instant when `start` is not working
    time (Saturday 10:00 counts from Monday 09:00, so + 1 day gives Tuesday 09:00). The result
    is that instant's wall-clock time on the `days`th following working day (Monday 15:56 + 1
    gives Tuesday 15:56, or Wednesday 15:56 when Tuesday is a holiday). When that wall-clock
    time is not working time on that day (a shorter day, split hours) the result is the next
    working instant after it; a wall-clock time skipped by spring forward stands for the moment
    the clock jumps, and one that occurs twice (fall back) for its first occurrence. Zero days
    give the next working instant. See docs/working-time.md for worked examples.

    Raises ValueError as `add_working_time` does, and for a negative number of days.
    """
    if days < 0:
        raise ValueError("The number of days must not be negative.")
    return _working_due(start, days, timedelta(0), time_zone, working_hours, holidays)


def next_working_instant(
    at: datetime,
    *,
    time_zone: str,
    working_hours: Sequence[Mapping[str, Any]],
    holidays: Iterable[str | date] = (),
) -> datetime:
    """`at` (in UTC) when it is working time, otherwise the start of the next working time."""
    return add_working_time(
        at, timedelta(0), time_zone=time_zone, working_hours=working_hours, holidays=holidays
    )


def due_after(
    start: datetime,
    duration: timedelta,
    *,
    skip_non_working_time: bool,
    time_zone: str,
    working_hours: Sequence[Mapping[str, Any]],
    holidays: Iterable[str | date] = (),
) -> datetime:
    """When a wait of `duration` that begins at `start` ends (UTC).

    With `skip_non_working_time` the working calendar counts: `duration.days` are working days
    (`add_working_days`), and the rest of the duration is then added as working hours
    (`add_working_time`): 1 day 2 hours from Monday 15:56 is Tuesday 15:56 + 2 working hours,
    Wednesday 09:56 with 09:00-17:00 days. Otherwise all time counts (`add_calendar_time`; the
    schedule is then not consulted).
    """
    if skip_non_working_time:
        if duration < timedelta(0):
            raise ValueError("The duration must not be negative.")
        days = duration.days
        return _working_due(
            start, days, duration - timedelta(days=days), time_zone, working_hours, holidays
        )
    return add_calendar_time(start, duration)


def _working_due(
    start: datetime,
    days: int,
    rest: timedelta,
    time_zone: str,
    working_hours: Sequence[Mapping[str, Any]],
    holidays: Iterable[str | date],
) -> datetime:
    """`days` working days, then `rest` of working hours, after `start`."""
    start_us = _to_us(start)
    tz = _zone(time_zone)
    schedule = _schedule(working_hours)
    days_off = _holiday_ordinals(holidays)
    try:
        at = _advance(start_us, 0, tz, schedule, days_off)
        if days:
            at = _same_time_later(at, days, tz, schedule, days_off)
        result = _advance(at, rest // _ONE_US, tz, schedule, days_off)
        return _EPOCH_UTC + timedelta(microseconds=result)
    except OverflowError as e:
        raise ValueError("The due time is beyond the supported range of dates.") from e


# --- inputs -----------------------------------------------------------------------------


def _to_utc(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"'{name}' must be timezone-aware.")
    return moment.astimezone(UTC)


def _to_us(moment: datetime) -> int:
    return (_to_utc(moment, "start") - _EPOCH_UTC) // _ONE_US


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as e:
        raise ValueError(f"'{name}' is not an IANA time zone.") from e


def _schedule(working_hours: Sequence[Mapping[str, Any]]) -> _Schedule:
    problems = check_working_hours(working_hours)
    if problems:
        raise ValueError("Invalid working hours: " + problems[0].message)
    by_day: dict[int, list[tuple[int, int]]] = {}
    for h in working_hours:
        by_day.setdefault(h["weekday"], []).append((_seconds(h["start"]), _seconds(h["end"])))
    if not by_day:
        raise ValueError("The working hours hold no working time.")
    schedule: _Schedule = {}
    for weekday, intervals in by_day.items():
        merged: list[tuple[int, int]] = []
        for s, e in sorted(intervals):
            if merged and s <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], e))
            else:
                merged.append((s, e))
        schedule[weekday] = tuple(merged)
    return schedule


def _seconds(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 3600 + int(minutes) * 60


def _holiday_ordinals(holidays: Iterable[str | date]) -> frozenset[int]:
    ordinals = set()
    for h in holidays:
        if isinstance(h, datetime):
            raise ValueError(f"A holiday is a date, not a datetime: {h!r}.")
        if isinstance(h, date):
            ordinals.add(h.toordinal())
        else:
            try:
                ordinals.add(date.fromisoformat(h).toordinal())
            except (TypeError, ValueError) as e:
                raise ValueError(f"A holiday must be an ISO date (YYYY-MM-DD): {h!r}.") from e
    return frozenset(ordinals)


# --- time zone arithmetic ---------------------------------------------------------------


def _wall_offset(tz: ZoneInfo, wall_s: int, fold: int) -> int:
    """UTC offset (seconds) that zoneinfo gives the wall-clock time `wall_s` with `fold`."""
    moment = _EPOCH_NAIVE + timedelta(seconds=wall_s)
    return _offset(tz, moment.replace(fold=1) if fold else moment)


def _offset(tz: ZoneInfo, wall: datetime) -> int:
    """UTC offset (seconds) that zoneinfo gives the naive wall-clock time `wall` (and its fold)."""
    offset = tz.utcoffset(wall)
    if offset is None:  # never for a ZoneInfo
        raise ValueError(f"Time zone {tz.key} gives no UTC offset.")
    return offset // _ONE_S


def _utc_offset(tz: ZoneInfo, utc_s: int) -> int:
    """UTC offset (seconds) in force at the instant `utc_s` (seconds since the epoch)."""
    moment = tz.fromutc((_EPOCH_NAIVE + timedelta(seconds=utc_s)).replace(tzinfo=tz))
    offset = moment.utcoffset()
    if offset is None:  # never for a ZoneInfo
        raise ValueError(f"Time zone {tz.key} gives no UTC offset.")
    return offset // _ONE_S


@lru_cache(maxsize=16_384)
def _midnight_offsets(tz: ZoneInfo, ordinal: int) -> tuple[int, int]:
    """The fold=0 and fold=1 offsets of local midnight starting the day `ordinal`.

    Equal unless midnight is skipped or repeated. When a day's two midnights (its own and the
    next day's) give one offset, no offset change happens during the day: tzdata has no two
    changes within a day of each other (the closest since 1970 are about a week apart).
    """
    midnight = datetime.combine(date.fromordinal(ordinal), time())
    return _offset(tz, midnight), _offset(tz, midnight.replace(fold=1))


def _day_intervals(
    tz: ZoneInfo, ordinal: int, intervals: tuple[tuple[int, int], ...]
) -> list[_Interval]:
    """The UTC instants whose wall-clock reading falls in one of the day's intervals."""
    midnight = (ordinal - _EPOCH_ORDINAL) * _DAY_S
    a0, a1 = _midnight_offsets(tz, ordinal)
    b0, b1 = _midnight_offsets(tz, ordinal + 1)
    if a0 == a1 == b0 == b1:  # the usual day: one offset throughout
        return [((midnight + s - a0) * _US, (midnight + e - a0) * _US) for s, e in intervals]
    result: list[_Interval] = []
    for s, e in intervals:
        result.extend(_interval_across_change(tz, midnight + s, midnight + e))
    result.sort()
    return result


def _interval_across_change(tz: ZoneInfo, start_s: int, end_s: int) -> list[_Interval]:
    """Preimage of the wall-clock interval [start_s, end_s) on a day whose offset changes.

    With one change at instant T from offset A to offset B, the instants are those before T
    reading [start, end) with offset A and those from T on reading it with offset B.
    """
    lo = min(start_s - _wall_offset(tz, start_s, 0), start_s - _wall_offset(tz, start_s, 1))
    hi = max(end_s - _wall_offset(tz, end_s, 0), end_s - _wall_offset(tz, end_s, 1))
    before, after = _utc_offset(tz, lo), _utc_offset(tz, hi)
    if before == after:  # the change is outside this interval
        return [((start_s - before) * _US, (end_s - before) * _US)]
    # The first second at which `after` is in force (changes happen on whole seconds).
    low, high = lo, hi
    while high - low > 1:
        middle = (low + high) // 2
        if _utc_offset(tz, middle) == before:
            low = middle
        else:
            high = middle
    change = high
    pieces: list[tuple[int, int]] = []
    first = (start_s - before, min(end_s - before, change))
    second = (max(start_s - after, change), end_s - after)
    for s, e in (first, second):
        if s < e:
            if pieces and pieces[-1][1] == s:
                pieces[-1] = (pieces[-1][0], e)
            else:
                pieces.append((s, e))
    return [(s * _US, e * _US) for s, e in pieces]


def _earliest_instant_of_day(tz: ZoneInfo, ordinal: int) -> int:
    """A lower bound (microseconds) for every instant whose reading is on day `ordinal` or later.

    Usually exact; when midnight is skipped it is an hour or so early, which only delays
    handing out intervals that are already known.
    """
    a0, a1 = _midnight_offsets(tz, ordinal)
    return ((ordinal - _EPOCH_ORDINAL) * _DAY_S - max(a0, a1)) * _US


# --- working days -----------------------------------------------------------------------


def _same_time_later(
    at_us: int, days: int, tz: ZoneInfo, schedule: _Schedule, days_off: frozenset[int]
) -> int:
    """The first instant from `at_us` on that reads `at_us`'s wall-clock time (or later, in a
    spring-forward gap) on the `days`th working day after `at_us`'s local date.

    Not yet moved to working time: the caller does that.
    """
    at_s, micro = divmod(at_us, _US)
    wall_s = at_s + _utc_offset(tz, at_s)
    ordinal = wall_s // _DAY_S + _EPOCH_ORDINAL
    target = _nth_working_day(ordinal, days, schedule, days_off)
    if target > _LAST_ORDINAL:
        raise OverflowError
    target_wall = (target - _EPOCH_ORDINAL) * _DAY_S + wall_s % _DAY_S
    return _first_reading(tz, target_wall, micro, at_us)


def _nth_working_day(ordinal: int, days: int, schedule: _Schedule, days_off: frozenset[int]) -> int:
    """The `days`th working day (ordinal) after the day `ordinal`."""
    per_week = len(schedule)  # the weekdays with working hours
    remaining = days
    give_up = ordinal + MAX_IDLE_DAYS
    while True:
        if ordinal > _LAST_ORDINAL:
            raise OverflowError
        if remaining > per_week and not any(
            day in days_off for day in range(ordinal + 1, ordinal + 8)
        ):
            remaining -= per_week
            ordinal += 7
            give_up = ordinal + MAX_IDLE_DAYS
            continue
        ordinal += 1
        if ordinal > give_up:
            raise ValueError(
                f"No working day within {MAX_IDLE_DAYS} days: check the working hours "
                "and the holidays."
            )
        if (ordinal - 1) % 7 + 1 in schedule and ordinal not in days_off:  # 1 is a Monday
            remaining -= 1
            give_up = ordinal + MAX_IDLE_DAYS
            if remaining == 0:
                return ordinal


def _first_reading(tz: ZoneInfo, wall_s: int, micro: int, not_before_us: int) -> int:
    """The first instant (microseconds) from `not_before_us` on whose wall clock reads
    `wall_s` + `micro`, or the moment the clock jumps past it when it is skipped.

    zoneinfo's fold=0 is the first occurrence of a repeated time. The wall-clock time asked
    for is at least a day after `not_before_us`'s, so it can come before that instant only
    across an offset change of a day or more (a guard: then the second occurrence, or
    `not_before_us` itself).
    """
    for fold in (0, 1):
        u = wall_s - _wall_offset(tz, wall_s, fold)
        if u + _utc_offset(tz, u) != wall_s:  # skipped by spring forward
            return max(_jump_before(tz, wall_s, u) * _US, not_before_us)
        if u * _US + micro >= not_before_us:
            return u * _US + micro
    return not_before_us


def _jump_before(tz: ZoneInfo, wall_s: int, after_jump_s: int) -> int:
    """The instant (seconds) the clock jumped over the skipped wall-clock time `wall_s`.

    `after_jump_s` is zoneinfo's fold=0 reading of `wall_s` (the offset before the change
    applied), which lies after the jump; `wall_s` read with the later offset lies before it.
    """
    low, high = wall_s - _utc_offset(tz, after_jump_s), after_jump_s
    before = _utc_offset(tz, low)
    while high - low > 1:
        middle = (low + high) // 2
        if _utc_offset(tz, middle) == before:
            low = middle
        else:
            high = middle
    return high


# --- the walk ---------------------------------------------------------------------------


def _advance(
    start_us: int, duration_us: int, tz: ZoneInfo, schedule: _Schedule, days_off: frozenset[int]
) -> int:
    """Walk the working intervals from `start_us` in time order, a local day at a time.

    Intervals wait in `pending` until no later day can produce an earlier interval: after a
    fall-back change across midnight, the start of the next day can come before the repeated
    end of this one.
    """
    start_s = start_us // _US
    local = _EPOCH_NAIVE + timedelta(seconds=start_s + _utc_offset(tz, start_s))
    # The day before too: after a fall-back change across midnight, the previous day's
    # repeated end can still lie ahead.
    ordinal = local.toordinal() - 1
    remaining = duration_us
    week_us = _week_length_us(schedule)
    pending: list[_Interval] = []
    give_up = ordinal + MAX_IDLE_DAYS
    while True:
        if ordinal > _LAST_ORDINAL:
            raise OverflowError
        if ordinal > give_up:
            raise ValueError(
                f"No working time within {MAX_IDLE_DAYS} days: check the working hours "
                "and the holidays."
            )
        if (
            not pending
            and remaining > week_us
            and _earliest_instant_of_day(tz, ordinal) >= start_us
            and _plain_week(tz, ordinal, days_off)
        ):
            # A whole week on one offset without holidays: its working time is known.
            remaining -= week_us
            ordinal += 7
            give_up = ordinal + MAX_IDLE_DAYS
            continue
        intervals = schedule.get((ordinal - 1) % 7 + 1)  # ordinal 1 is a Monday
        if intervals and ordinal not in days_off:
            pending.extend(_day_intervals(tz, ordinal, intervals))
            pending.sort()
        if pending:
            bound = _earliest_instant_of_day(tz, ordinal + 1)
            taken = 0
            for s, e in pending:
                if s >= bound:
                    break
                taken += 1
                if e <= start_us:
                    continue
                s = max(s, start_us)
                give_up = ordinal + MAX_IDLE_DAYS
                if remaining == 0:
                    return s
                if remaining <= e - s:
                    return s + remaining
                remaining -= e - s
            del pending[:taken]
        ordinal += 1


def _week_length_us(schedule: _Schedule) -> int:
    return sum(e - s for intervals in schedule.values() for s, e in intervals) * _US


def _plain_week(tz: ZoneInfo, ordinal: int, days_off: frozenset[int]) -> bool:
    """No holiday in the 7 days from `ordinal`, and one UTC offset throughout them."""
    offsets = _midnight_offsets(tz, ordinal)
    if offsets[0] != offsets[1]:
        return False
    for day in range(ordinal + 1, ordinal + 8):
        if _midnight_offsets(tz, day) != offsets:
            return False
    return not any(day in days_off for day in range(ordinal, ordinal + 7))
