"""A wait of N days ends N working days later at the same wall-clock time (docs/working-time.md),
through GraphQL with a moved clock."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.api.sequences_helpers import add, create, start_id
from tests.api.test_engine import connect, leads, seller
from tests.conftest import Api, MovableClock

OSLO = ZoneInfo("Europe/Oslo")


def a_monday_ahead(now: datetime) -> date:
    """A Monday at least a week after `now` (the session's clock only moves forward)."""
    day = now.astimezone(OSLO).date() + timedelta(days=7)
    return day + timedelta(days=-day.weekday() % 7)


async def wait_then_task(api: Api) -> dict[str, Any]:
    seq = await create(api, "One working day")
    wait = (await add(api, seq, start_id(seq), "core.wait", {"days": 1}))["step"]
    await add(api, seq, wait["id"], "core.task", {"subject": "Follow up"})
    activated = await api.mutate(
        "activateSequence",
        {"sequenceId": seq["id"]},
        "sequence { status options { skipNonWorkingTime } }",
    )
    assert activated["errors"] == [], activated["errors"]
    assert activated["sequence"] == {"status": "ACTIVE", "options": {"skipNonWorkingTime": True}}
    return seq


async def next_run_at(api: Api, seq: dict[str, Any]) -> datetime:
    data = await api.ok(
        "query($f: ConnectionFilter) { connections(filter: $f) { nodes { nextRunAt } } }",
        {"f": {"sequenceId": seq["id"]}},
    )
    [node] = data["connections"]["nodes"]
    return datetime.fromisoformat(node["nextRunAt"])


async def up_next(api: Api) -> list[dict[str, Any]]:
    data = await api.ok("{ upNext { nodes { kind subject dueAt record { externalId } } } }")
    return list(data["upNext"]["nodes"])


@pytest.mark.parametrize(
    ("start_weekday", "holiday", "days_later"),
    [(0, None, 1), (0, 1, 2), (4, None, 3)],
    ids=["monday-tuesday", "monday-holiday-wednesday", "friday-monday"],
)
async def test_one_day_from_1556_is_due_1556_on_the_next_working_day(
    api: Api,
    engine: Any,
    clock: MovableClock,
    start_weekday: int,
    holiday: int | None,
    days_later: int,
) -> None:
    owner_id, owner_token = await seller(api, "kari@example.com")
    updated = await api.mutate(
        "updateUser", {"userId": owner_id, "timeZone": "Europe/Oslo"}, "user { timeZone }"
    )
    assert updated["user"] == {"timeZone": "Europe/Oslo"}
    start_day = a_monday_ahead(clock.now()) + timedelta(days=start_weekday)
    due_day = start_day + timedelta(days=days_later)
    holidays = [] if holiday is None else [(start_day + timedelta(days=holiday)).isoformat()]
    settings = await api.mutate(
        "updateOrganizationSettings",
        {"skipNonWorkingTime": True, "holidays": holidays},
        "organization { id }",
    )
    assert settings["errors"] == []
    seq = await wait_then_task(api)
    [record] = await leads(api, owner_id, 1)

    clock.advance(datetime.combine(start_day, time(15, 56), OSLO) - clock.now())
    began = clock.now()
    assert [r["errors"] for r in await connect(api, seq, [record])] == [[]]
    await engine.run_until_idle()
    ended = clock.now()

    # The wait began between `began` and `ended` (15:56:00 and a moment later) and ends at
    # that wall-clock time on the next working day (24 working hours of 8-hour days would
    # give the third working day; 24 hours of calendar time a holiday or a Saturday).
    due = await next_run_at(api, seq)
    earliest = datetime.combine(due_day, began.astimezone(OSLO).time(), OSLO)
    latest = datetime.combine(due_day, ended.astimezone(OSLO).time(), OSLO)
    assert earliest <= due <= latest
    local = due.astimezone(OSLO)
    assert (local.date(), local.hour, local.minute) == (due_day, 15, 56)
    assert await up_next(api.as_token(owner_token)) == []

    clock.advance(due - timedelta(minutes=1) - clock.now())
    await engine.run_until_idle()
    assert await up_next(api.as_token(owner_token)) == []

    clock.advance(due - clock.now())
    await engine.run_until_idle()
    [activity] = await up_next(api.as_token(owner_token))
    assert (activity["kind"], activity["subject"]) == ("TASK", "Follow up")
    due_at = datetime.fromisoformat(activity["dueAt"]).astimezone(OSLO)
    assert (due_at.date(), due_at.hour, due_at.minute) == (due_day, 15, 56)
