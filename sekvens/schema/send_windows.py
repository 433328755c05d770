"""Send windows in GraphQL: the window type, its input, and why an email waits."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry

from sekvens.domain.send_windows import SendWindow as Window
from sekvens.domain.send_windows import SendWindowRequest
from sekvens.schema.enums import WaitReason


@strawberry.type(
    description="When automated emails go out: on these weekdays from start to end, on the"
    " recipient's wall clock (the record's time_zone field, else the organization's default"
    " time zone), never on the organization's holidays."
)
class SendWindow:
    weekdays: list[int] = strawberry.field(description="ISO weekdays: 1 is Monday, 7 Sunday.")
    start: str = strawberry.field(description="HH:MM, the first minute inside the window.")
    end: str = strawberry.field(description="HH:MM, the first minute after it.")

    @classmethod
    def of(cls, stored: dict[str, Any] | None) -> SendWindow | None:
        window = Window.from_json(stored)
        if window is None:
            return None
        return cls(weekdays=list(window.weekdays), start=window.start, end=window.end)


@strawberry.input(description="A send window; the defaults are Monday to Friday 08:00-18:00.")
class SendWindowInput:
    weekdays: list[int] = strawberry.field(default_factory=lambda: [1, 2, 3, 4, 5])
    start: str = "08:00"
    end: str = "18:00"


def window_request(value: SendWindowInput | None) -> SendWindowRequest | None:
    """The change an optional `sendWindow` argument asks for: omitted (None: no change),
    null (no window), or a window."""
    if value is strawberry.UNSET:
        return None
    if value is None:
        return SendWindowRequest()
    return SendWindowRequest(tuple(value.weekdays), value.start, value.end)


@strawberry.type(description="Why an automated email is not sent yet, and when it will go.")
class Wait:
    reason: WaitReason
    until: datetime | None = strawberry.field(
        description="When it goes; null: when someone resumes its paused connection."
    )
