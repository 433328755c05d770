"""Throttles through GraphQL with a moved clock and a real SMTP server on loopback: a mailbox
over its daily limit, or an organization over its hourly one, holds the next message QUEUED
with THROTTLED and the time the rolling window frees a slot (in the outbox, on the
connection and in stats), then sends it then; 0 is no limit; concurrent deliverers on one
database never exceed a limit together."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from sekvens.engine.delivery import Deliverer
from tests.conftest import Api, MovableClock
from tests.engine.conftest import Inbox
from tests.engine.helpers import connect_leads, deliverers_like, email_then_task, queue_only
from tests.engine.test_send_windows import OUTBOX, at, move_to


async def messages(api: Api) -> dict[str, dict[str, Any]]:
    return {m["to"]: m for m in (await api.ok(OUTBOX))["outbox"]["nodes"]}


def limits(patch: pytest.MonkeyPatch, deliverer: Deliverer, mailbox: int, org: int) -> None:
    patch.setattr(deliverer, "mailbox_daily_limit", mailbox)
    patch.setattr(deliverer, "org_hourly_limit", org)


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


async def waiting_of(
    api: Api, seq: dict[str, Any], external_id: str
) -> tuple[Any, list[dict[str, Any]]]:
    """The `waiting` of the record's connection and the sequence's `stats.waiting`."""
    data = await api.ok(
        "query($f: ConnectionFilter, $id: ID!) {"
        " connections(filter: $f) { nodes { waiting { reason until }"
        " record { externalId } } }"
        " sequence(id: $id) { stats { waiting { reason count } } } }",
        {"f": {"sequenceId": seq["id"]}, "id": seq["id"]},
    )
    [conn] = [c for c in data["connections"]["nodes"] if c["record"]["externalId"] == external_id]
    return conn["waiting"], data["sequence"]["stats"]["waiting"]


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
