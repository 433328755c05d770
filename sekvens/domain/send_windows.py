"""Send windows: when an automated email may go out, read on the recipient's wall clock.

A window is a weekly schedule: chosen ISO weekdays (1 is Monday) and one start and end time
(HH:MM, start before end), in the recipient's IANA time zone, with the organization's holidays
(dates in that zone) closed all day. It is a working calendar of `calendar.py` with one
interval on each chosen weekday, so `RecipientWindow.next_send_time` is
`next_working_instant`: the instant itself when it lies inside the window (the start counts,
the end doesn't), otherwise the window's next opening, daylight saving included. No window
(None) means any time.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sekvens.domain.calendar import next_working_instant
from sekvens.domain.errors import DomainError, ErrorCode, Problem
from sekvens.domain.working_hours import TIME_RE, check_time_zone

#: The record field that holds the recipient's IANA time zone (a default field of the built-in
#: record types; custom ones add a text field of that name).
TIME_ZONE_FIELD = "time_zone"


@dataclass(frozen=True)
class SendWindow:
    """Weekdays (sorted, distinct, 1-7) and a start before an end (HH:MM)."""

    weekdays: tuple[int, ...]
    start: str
    end: str

    @classmethod
    def from_json(cls, data: Mapping[str, Any] | None) -> SendWindow | None:
        """The window a row stores (None: no window, any time)."""
        if not data:
            return None
        return cls(tuple(data["weekdays"]), data["start"], data["end"])

    def to_json(self) -> dict[str, Any]:
        return {"weekdays": list(self.weekdays), "start": self.start, "end": self.end}

    def working_hours(self) -> list[dict[str, Any]]:
        """The window as working hours for `domain.calendar`."""
        return [{"weekday": d, "start": self.start, "end": self.end} for d in self.weekdays]


@dataclass(frozen=True)
class SendWindowRequest:
    """A change of a send-window setting: a new window, or (`weekdays` None) none."""

    weekdays: tuple[int, ...] | None = None
    start: str = ""
    end: str = ""

    def stored(self, path: tuple[str, ...] = ("sendWindow",)) -> dict[str, Any] | None:
        """The window as a row stores it (None: no window); DomainError when it is invalid."""
        if self.weekdays is None:
            return None
        window, problems = send_window(self.weekdays, self.start, self.end, path)
        if window is None:
            raise DomainError(problems)
        return window.to_json()


def send_window(
    weekdays: Iterable[int], start: str, end: str, path: tuple[str, ...] = ("sendWindow",)
) -> tuple[SendWindow | None, list[Problem]]:
    """The window asked for, or the problems with it (`INVALID_VALUE`, at `path` + field)."""
    days = list(weekdays)
    problems = []
    if not days:
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "Choose at least one weekday.", (*path, "weekdays"))
        )
    elif any(not 1 <= d <= 7 for d in days) or len(set(days)) != len(days):
        problems.append(
            Problem(
                ErrorCode.INVALID_VALUE,
                "Weekdays are distinct numbers from 1 (Monday) to 7 (Sunday).",
                (*path, "weekdays"),
            )
        )
    for name, value in (("start", start), ("end", end)):
        if not TIME_RE.match(value):
            problems.append(
                Problem(ErrorCode.INVALID_VALUE, "Times are HH:MM (24-hour).", (*path, name))
            )
    if not problems and start >= end:
        problems.append(
            Problem(ErrorCode.INVALID_VALUE, "The start must be before the end.", (*path, "start"))
        )
    if problems:
        return None, problems
    return SendWindow(tuple(sorted(days)), start, end), []


def recipient_time_zone(fields: Mapping[str, Any], default: str) -> str:
    """The record's time zone (its `TIME_ZONE_FIELD` when that holds an IANA name), else
    `default` (the organization's)."""
    value = fields.get(TIME_ZONE_FIELD)
    if isinstance(value, str) and value and check_time_zone(value, (TIME_ZONE_FIELD,)) is None:
        return value
    return default


@dataclass(frozen=True)
class RecipientWindow:
    """A send window placed in a recipient's time zone, with the holidays it skips."""

    window: SendWindow
    time_zone: str
    holidays: tuple[str, ...] = ()

    def next_send_time(self, at: datetime) -> datetime:
        """`at` (in UTC) when it is inside the window, otherwise the window's next opening.

        Raises ValueError when the window holds no time for years (every day a holiday).
        """
        return next_working_instant(
            at,
            time_zone=self.time_zone,
            working_hours=self.window.working_hours(),
            holidays=self.holidays,
        ).astimezone(UTC)


def recipient_window(
    own: Mapping[str, Any] | None,
    default: Mapping[str, Any] | None,
    fields: Mapping[str, Any],
    default_time_zone: str,
    holidays: Sequence[str],
) -> RecipientWindow | None:
    """The send window of a connection's automated email: the sequence's (`own`; the
    organization's `default` without one) in the record's time zone (`recipient_time_zone`),
    skipping the holidays; None: no window. The engine's steps and delivery and the timeline
    preview all place it here."""
    window = SendWindow.from_json(own or default)
    if window is None:
        return None
    return RecipientWindow(window, recipient_time_zone(fields, default_time_zone), tuple(holidays))
