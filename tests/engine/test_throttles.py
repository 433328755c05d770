"""Throttles through GraphQL with a moved clock and a real SMTP server on loopback: a mailbox
over its daily limit, or an organization over its hourly one, holds the next message QUEUED
with THROTTLED and the time the rolling window frees a slot (in the outbox, on the
connection and in stats), then sends it then; 0 is no limit; concurrent deliverers on one
database never exceed a limit together. Pacing spaces a mailbox's sends by its interval,
across workers too, and a message whose slot comes after its send window closed waits for
the window's next opening."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pytest

from sekvens.engine.delivery import Deliverer, Throttle
from tests.conftest import Api, MovableClock
from tests.engine.conftest import Inbox
from tests.engine.helpers import (
    connect_leads,
    deliverers_like,
    email_then_task,
    queue_only,
    waiting_of,
)
from tests.engine.test_send_windows import OUTBOX, WEEKDAYS, ahead, at, move_to


async def messages(api: Api) -> dict[str, dict[str, Any]]:
    return {m["to"]: m for m in (await api.ok(OUTBOX))["outbox"]["nodes"]}


def limits(
    patch: pytest.MonkeyPatch,
    deliverer: Deliverer,
    mailbox: int,
    org: int,
    interval: timedelta = timedelta(0),
) -> None:
    patch.setattr(deliverer, "mailbox_daily_limit", mailbox)
    patch.setattr(deliverer, "org_hourly_limit", org)
    patch.setattr(deliverer, "send_interval", interval)


async def held_then_sent(
    api: Api, engine: Any, inbox: Inbox, clock: MovableClock, n: int, window: timedelta
) -> None:
    """`n` leads' emails: n - 1 go, the last waits THROTTLED until the first send + window."""
    seq = await email_then_task(api)
    addresses = await connect_leads(api, seq, n)
    await engine.run_until_idle()
    found = await messages(api)
    sent = [a for a in addresses if found[a]["status"] == "SENT"]
    [late] = [a for a in addresses if found[a]["status"] != "SENT"]
    assert len(sent) == n - 1 and all(len(inbox.to(a)) == 1 for a in sent)
    assert inbox.to(late) == []
    message = found[late]
    assert (message["status"], message["waitReason"], message["attempts"]) == (
        "QUEUED",
        "THROTTLED",
        0,
    )
    frees = min(at(found[a]["sentAt"]) for a in sent) + window
    until = at(message["nextAttemptAt"])
    assert at(message["sendAfter"]) == until
    # Counted from the claim, a moment before the sends were recorded.
    assert frees - timedelta(seconds=5) <= until <= frees
    wait, counts = await waiting_of(api, seq, f"L{addresses.index(late)}")
    assert wait["reason"] == "THROTTLED" and at(wait["until"]) == until
    assert counts == [{"reason": "THROTTLED", "count": 1}]

    move_to(clock, frees - timedelta(minutes=1))
    await engine.run_until_idle()
    assert inbox.to(late) == []
    message = (await messages(api))[late]
    assert (message["waitReason"], message["attempts"]) == ("THROTTLED", 0)

    move_to(clock, frees + timedelta(seconds=1))
    await engine.run_until_idle()
    assert len(inbox.to(late)) == 1
    message = (await messages(api))[late]
    assert (message["status"], message["waitReason"]) == ("SENT", None)
    assert at(message["sentAt"]) >= frees
    assert await waiting_of(api, seq, f"L{addresses.index(late)}") == (None, [])


async def test_a_mailbox_limit_of_3_sends_3_and_holds_the_4th_for_a_day(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        limits(patch, mail_engine.deliverer, mailbox=3, org=0)
        await held_then_sent(mail_api, mail_engine, inbox, clock, 4, timedelta(days=1))


async def test_an_organization_hourly_limit_holds_the_next_message_for_the_hour(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    with pytest.MonkeyPatch.context() as patch:
        limits(patch, mail_engine.deliverer, mailbox=0, org=2)
        await held_then_sent(mail_api, mail_engine, inbox, clock, 3, timedelta(hours=1))


async def test_limits_of_0_are_no_limits(mail_api: Api, mail_engine: Any, inbox: Inbox) -> None:
    with pytest.MonkeyPatch.context() as patch:
        limits(patch, mail_engine.deliverer, mailbox=0, org=0)
        seq = await email_then_task(mail_api)
        addresses = await connect_leads(mail_api, seq, 6)
        await mail_engine.run_until_idle()
    found = await messages(mail_api)
    assert {found[a]["status"] for a in addresses} == {"SENT"}
    assert all(len(inbox.to(a)) == 1 for a in addresses)
    assert await waiting_of(mail_api, seq, "L0") == (None, [])


async def test_concurrent_deliverers_never_exceed_a_limit_together(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    seq = await email_then_task(mail_api)
    addresses = await connect_leads(mail_api, seq, 12)
    await queue_only(mail_engine)
    workers = deliverers_like(mail_engine.deliverer, 4, batch_size=2, mailbox_daily_limit=5)
    for _ in range(20):  # until every message is sent or held
        await asyncio.gather(*(w.run_due() for w in workers))
        found = await messages(mail_api)
        if all(found[a]["status"] == "SENT" or found[a]["waitReason"] for a in addresses):
            break
    assert sum(len(inbox.to(a)) for a in addresses) == 5
    statuses = sorted((found[a]["status"], found[a]["waitReason"]) for a in addresses)
    assert statuses == [("QUEUED", "THROTTLED")] * 7 + [("SENT", None)] * 5
    first = min(at(found[a]["sentAt"]) for a in addresses if found[a]["sentAt"])
    assert all(
        at(found[a]["nextAttemptAt"]) <= first + timedelta(days=1)
        for a in addresses
        if found[a]["waitReason"]
    )


def test_negative_limits_are_refused(mail_engine: Any) -> None:
    source: Deliverer = mail_engine.deliverer
    with pytest.raises(ValueError, match="SEKVENS_MAILBOX_DAILY_LIMIT"):
        Deliverer(source.db, source.clock, source.smtp, mailbox_daily_limit=-1)


async def test_pacing_spreads_a_backlog_one_interval_apart(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    """Five emails of one mailbox due at once: one goes, the others wait THROTTLED for
    slots one interval apart, each goes at its slot and never earlier, and no two sends of
    the mailbox are closer than the interval."""
    interval = timedelta(minutes=10)
    with pytest.MonkeyPatch.context() as patch:
        limits(patch, mail_engine.deliverer, mailbox=0, org=0, interval=interval)
        seq = await email_then_task(mail_api)
        addresses = await connect_leads(mail_api, seq, 5)
        await mail_engine.run_until_idle()
        found = await messages(mail_api)
        assert sum(found[a]["status"] == "SENT" for a in addresses) == 1
        [first] = [at(found[a]["sentAt"]) for a in addresses if found[a]["sentAt"]]
        slots = sorted(at(found[a]["nextAttemptAt"]) for a in addresses if found[a]["waitReason"])
        assert {found[a]["waitReason"] for a in addresses} == {None, "THROTTLED"}
        # Counted from the claim, a moment before the send was recorded.
        assert [slot - slots[0] for slot in slots] == [interval * k for k in range(4)]
        assert first - timedelta(seconds=5) <= slots[0] - interval <= first
        for k, slot in enumerate(slots, start=2):
            move_to(clock, slot - timedelta(seconds=30))
            await mail_engine.run_until_idle()
            assert sum(len(inbox.to(a)) for a in addresses) == k - 1
            move_to(clock, slot + timedelta(seconds=1))
            await mail_engine.run_until_idle()
            assert sum(len(inbox.to(a)) for a in addresses) == k
    sent = sorted(at(m["sentAt"]) for m in (await messages(mail_api)).values())
    assert all(b - a >= interval - timedelta(seconds=5) for a, b in itertools.pairwise(sent))


async def test_concurrent_deliverers_keep_the_pace_together(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    seq = await email_then_task(mail_api)
    addresses = await connect_leads(mail_api, seq, 6)
    await queue_only(mail_engine)
    workers = deliverers_like(
        mail_engine.deliverer, 3, batch_size=2, send_interval=timedelta(minutes=5)
    )
    for _ in range(10):
        await asyncio.gather(*(w.run_due() for w in workers))
    found = await messages(mail_api)
    assert sum(len(inbox.to(a)) for a in addresses) == 1
    assert sorted(found[a]["waitReason"] or "" for a in addresses) == [""] + ["THROTTLED"] * 5


async def test_a_slot_after_the_window_closed_waits_for_its_next_opening(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    """Window Monday to Friday 08:00-18:00 UTC, pacing 9 hours: the first email goes on
    Monday at 10:00; the second's slot (19:00) is outside the window, so at 19:00 it waits
    WAITING_FOR_SEND_WINDOW until Tuesday 08:00, and goes then."""
    await mail_api.mutate(
        "updateOrganizationSettings", {"sendWindow": WEEKDAYS}, "organization { id }"
    )
    monday = ahead(clock, UTC, 1, time(10, 0))
    move_to(clock, monday)
    with pytest.MonkeyPatch.context() as patch:
        limits(patch, mail_engine.deliverer, mailbox=0, org=0, interval=timedelta(hours=9))
        seq = await email_then_task(mail_api)
        addresses = await connect_leads(mail_api, seq, 2)
        await mail_engine.run_until_idle()
        found = await messages(mail_api)
        [late] = [a for a in addresses if found[a]["status"] != "SENT"]
        slot = at(found[late]["nextAttemptAt"]) - monday.replace(hour=19)
        assert timedelta(0) <= slot <= timedelta(seconds=5)
        move_to(clock, monday.replace(hour=19, minute=1))
        await mail_engine.run_until_idle()
        message = (await messages(mail_api))[late]
        tuesday = (monday + timedelta(days=1)).replace(hour=8)
        assert inbox.to(late) == []
        assert (message["waitReason"], at(message["nextAttemptAt"])) == (
            "WAITING_FOR_SEND_WINDOW",
            tuesday,
        )
        move_to(clock, tuesday + timedelta(seconds=1))
        await mail_engine.run_until_idle()
    assert len(inbox.to(late)) == 1


def test_a_negative_interval_is_refused(mail_engine: Any) -> None:
    source: Deliverer = mail_engine.deliverer
    with pytest.raises(ValueError, match="SEKVENS_MAILBOX_SEND_INTERVAL"):
        Deliverer(source.db, source.clock, source.smtp, send_interval=timedelta(seconds=-1))


@pytest.mark.parametrize("seconds", [1, 5, 10, 60])
def test_pacing_holds_within_one_claim_whatever_the_interval(seconds: int) -> None:
    """Three messages of one mailbox in one claim: the first goes, the others wait one and
    two intervals, for short intervals too (the tolerance is at most half the interval)."""
    now = datetime(2026, 12, 7, 9, tzinfo=UTC)
    interval = timedelta(seconds=seconds)
    throttle = Throttle(now, 0, 0, {}, interval)
    held = [throttle.hold(1, "seller@example.com") for _ in range(3)]
    assert held == [None, now + interval, now + 2 * interval]
