"""Bounces wired end to end, through GraphQL with a moved clock and a real SMTP server on
loopback: a hard bounce (a fed-in DSN, an SMTP "550 5.1.1" at send time, a hard
EMAIL_BOUNCED event) suppresses the address and ends the connection BOUNCED, and the address
gets no more automated email; a soft one (SMTP 452 4.2.2, a soft DSN, a SOFT event) is retried
or recorded and suppresses nothing; a DSN that is no DSN or names an unknown Message-ID, or
another organization's, is a per-message error and changes nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from sekvens.domain.bounces import parse_dsn
from sekvens.engine.delivery import Deliverer
from sekvens.storage.db import Database
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api, MovableClock, new_org
from tests.engine.conftest import Inbox
from tests.engine.helpers import (
    AUTO,
    activate,
    connect_leads,
    connections,
    email_then_task,
    outbox,
)

MAIL = Path(__file__).parent.parent / "fixtures" / "mail"
SUPPRESSED = "{ suppressedAddresses { nodes { address source } } }"
OUTBOX = "{ outbox(first: 100) { nodes { to status attempts lastError } } }"
RESULTS = "results { index recorded duplicate messageId address bounceType status connectionId errors { code field } }"


def dsn(sample: str, message_id: str, address: str) -> str:
    """A sample bounce from tests/fixtures/mail/ rewritten to be about `message_id` sent to
    `address`."""
    raw = (MAIL / sample).read_text()
    report = parse_dsn(raw)
    assert report is not None and report.original_message_id
    raw = raw.replace(report.original_message_id, message_id)
    return re.sub(re.escape(report.recipients[0].address), address, raw, flags=re.IGNORECASE)


async def scoped_token(api: Api, scope: str) -> Api:
    """The administrator through a token with only `scope` (a mail server's hook)."""
    created = await api.mutate(
        "createApiToken", {"name": "bounces", "scopes": [scope]}, "secret token { id }"
    )
    assert created["errors"] == [], created
    return api.as_token(created["secret"])


async def feed(api: Api, *messages: str) -> dict[str, Any]:
    return await api.mutate("recordBounceMessages", {"messages": list(messages)}, RESULTS)


async def suppressed(api: Api) -> list[dict[str, str]]:
    return (await api.ok(SUPPRESSED))["suppressedAddresses"]["nodes"]


async def sent_lead(api: Api, engine: Any, inbox: Inbox) -> tuple[dict[str, Any], str, str]:
    """A lead whose automated email went out: (sequence, address, Message-ID)."""
    seq = await email_then_task(api)
    [address] = await connect_leads(api, seq)
    await engine.run_until_idle()
    [message] = inbox.to(address)
    assert (await outbox(api))[address]["status"] == "SENT"
    return seq, address, message["Message-ID"]


async def test_a_fed_in_dsn_suppresses_the_address_and_ends_the_connection_bounced(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    seq, address, message_id = await sent_lead(mail_api, mail_engine, inbox)
    hook = await scoped_token(mail_api, "ENGAGEMENT_EVENTS")
    raw = dsn("dsn_postfix_user_unknown.eml", message_id, address)

    payload = await feed(hook, raw)
    assert payload["errors"] == []
    [result] = payload["results"]
    conn = (await connections(mail_api, seq))["L0"]
    assert result == {
        "index": 0,
        "recorded": True,
        "duplicate": False,
        "messageId": message_id,
        "address": address,
        "bounceType": "HARD",
        "status": "5.1.1",
        "connectionId": conn["id"],
        "errors": [],
    }
    assert (conn["status"], conn["reason"]) == ("DISCONNECTED", "BOUNCED")
    assert address in conn["error"] and "5.1.1" in conn["error"]
    assert [a["status"] for a in conn["activities"]] == ["COMPLETED", "CANCELED"]
    assert await suppressed(mail_api) == [{"address": address, "source": "BOUNCED"}]

    # The same report again is a duplicate.
    [again] = (await feed(hook, raw))["results"]
    assert (again["recorded"], again["duplicate"], again["errors"]) == (False, True, [])

    # The record in another sequence: its email is due, the address is suppressed: OPTED_OUT.
    other = await email_then_task(mail_api)
    connected = await mail_api.mutate(
        "connectSequence",
        {"sequenceId": other["id"], "records": [{"recordType": "lead", "externalId": "L0"}]},
        "results { errors { code } }",
    )
    assert connected["errors"] == [] and connected["results"][0]["errors"] == []
    clock.advance(timedelta(minutes=1))
    await mail_engine.run_until_idle()
    later = (await connections(mail_api, other))["L0"]
    assert (later["status"], later["reason"]) == ("DISCONNECTED", "OPTED_OUT")
    assert len(inbox.to(address)) == 1


@pytest.mark.parametrize("stage", ["RCPT", "DATA"])
async def test_an_smtp_hard_bounce_at_send_time_suppresses_and_ends_bounced(
    mail_api: Api, mail_engine: Any, inbox: Inbox, stage: str
) -> None:
    refusal = "550 5.1.1 <x>: Recipient address rejected: User unknown"
    if stage == "RCPT":
        inbox.rcpt_reply = refusal
    else:  # some servers refuse the recipient only after the message
        inbox.reply = refusal
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()

    stored = (await outbox(mail_api))[address]
    assert (stored["status"], stored["attempts"]) == ("FAILED", 1)
    assert "550 5.1.1" in stored["lastError"]
    conn = (await connections(mail_api, seq))["L0"]
    assert (conn["status"], conn["reason"]) == ("DISCONNECTED", "BOUNCED")
    assert "550 5.1.1" in conn["error"]
    assert await suppressed(mail_api) == [{"address": address, "source": "BOUNCED"}]
    assert inbox.to(address) == []


async def test_an_smtp_soft_bounce_is_retried_with_backoff_and_suppresses_nothing(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    deliverer: Deliverer = mail_engine.deliverer
    inbox.rcpt_reply = "452 4.2.2 The email account that you tried to reach is over quota"
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    stored = (await outbox(mail_api))[address]
    assert (stored["status"], stored["attempts"]) == ("QUEUED", 1)
    assert (await connections(mail_api, seq))["L0"]["status"] == "CONNECTED"

    # A 5xx that classifies soft (a full mailbox) is retried too.
    inbox.rcpt_reply = "552 5.2.2 Mailbox full"
    for attempt in range(2, deliverer.max_attempts + 1):
        clock.advance(deliverer.backoff(attempt - 1) - timedelta(seconds=5))
        await mail_engine.run_until_idle()
        assert (await outbox(mail_api))[address]["attempts"] == attempt - 1  # not due yet
        clock.advance(timedelta(seconds=10))
        await mail_engine.run_until_idle()
        assert (await outbox(mail_api))[address]["attempts"] == attempt
        assert await suppressed(mail_api) == []

    stored = (await outbox(mail_api))[address]
    assert stored["status"] == "FAILED" and "after 5 attempts" in stored["lastError"]
    conn = (await connections(mail_api, seq))["L0"]
    assert (conn["status"], conn["reason"]) == ("ERROR", "DELIVERY_FAILED")
    assert await suppressed(mail_api) == []
    assert inbox.to(address) == []


async def test_a_soft_dsn_is_recorded_and_changes_nothing_else(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    seq, address, message_id = await sent_lead(mail_api, mail_engine, inbox)
    [result] = (await feed(mail_api, dsn("dsn_postfix_delayed.eml", message_id, address)))[
        "results"
    ]
    assert (result["recorded"], result["bounceType"], result["errors"]) == (True, "SOFT", [])
    assert await suppressed(mail_api) == []
    assert (await connections(mail_api, seq))["L0"]["status"] == "CONNECTED"
    clock.advance(timedelta(hours=1))
    await mail_engine.run_until_idle()
    assert (await outbox(mail_api))[address]["status"] == "SENT"
    assert len(inbox.to(address)) == 1  # no resend


async def test_no_dsn_an_unknown_message_or_another_organizations_is_an_error_per_message(
    mail_api: Api, mail_engine: Any, inbox: Inbox, mail_http: httpx.AsyncClient, db: Database
) -> None:
    seq, address, message_id = await sent_lead(mail_api, mail_engine, inbox)
    known = dsn("dsn_postfix_user_unknown.eml", message_id, address)
    unknown = dsn("dsn_postfix_user_unknown.eml", "<nobody-sent-this@sekvens.local>", address)
    human = (MAIL / "reply_human.eml").read_text()
    delivered = known.replace("Action: failed", "Action: delivered").replace(
        "Status: 5.1.1", "Status: 2.0.0"
    )
    payload = await feed(mail_api, "garbage", human, unknown, "", delivered)
    assert payload["errors"] == []
    assert [(r["recorded"], r["errors"]) for r in payload["results"]] == [
        (False, [{"code": "NOT_A_DSN", "field": ["messages", "0"]}]),
        (False, [{"code": "NOT_A_DSN", "field": ["messages", "1"]}]),
        (False, [{"code": "UNKNOWN_MESSAGE", "field": ["messages", "2"]}]),
        (False, [{"code": "NOT_A_DSN", "field": ["messages", "3"]}]),
        (False, [{"code": "NO_BOUNCE", "field": ["messages", "4"]}]),
    ]

    # Another organization feeding this organization's bounce matches nothing.
    other = await new_org(mail_http, db)
    [result] = (await feed(other, known))["results"]
    assert result["errors"] == [{"code": "UNKNOWN_MESSAGE", "field": ["messages", "0"]}]
    assert result["connectionId"] is None and not result["recorded"]

    assert await suppressed(mail_api) == [] and await suppressed(other) == []
    assert (await connections(mail_api, seq))["L0"]["status"] == "CONNECTED"

    # Too many messages: refused whole.
    payload = await feed(mail_api, *(["garbage"] * 101))
    assert [(e["code"], e["field"]) for e in payload["errors"]] == [("TOO_MANY", ["messages"])]


async def test_engagement_events_carry_hard_or_soft(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    seq = await email_then_task(mail_api)
    soft, hard, legacy = await connect_leads(mail_api, seq, 3)
    await mail_engine.run_until_idle()
    ids = {a: inbox.to(a)[0]["Message-ID"] for a in (soft, hard, legacy)}

    def event(address: str, **extra: Any) -> dict[str, Any]:
        return {
            "eventId": f"b-{address}-{len(extra)}",
            "kind": "EMAIL_BOUNCED",
            "messageId": ids[address],
            "occurredAt": "2026-01-01T00:00:00+00:00",
            **extra,
        }

    # Bad values are refused per event, and those events change nothing.
    bad = [
        event(hard, data={"bounceType": "MAYBE"}),
        event(hard, bounceType="SOFT", data={"bounceType": "HARD"}),
        {**event(hard, bounceType="HARD"), "kind": "EMAIL_OPENED"},
    ]
    payload = await mail_api.mutate(
        "recordEngagementEvents", {"events": bad}, "results { recorded errors { code field } }"
    )
    assert [r["errors"] for r in payload["results"]] == [
        [{"code": "INVALID_VALUE", "field": ["events", "0", "data", "bounceType"]}],
        [{"code": "INVALID_VALUE", "field": ["events", "1", "bounceType"]}],
        [{"code": "INVALID_VALUE", "field": ["events", "2", "bounceType"]}],
    ]
    assert await suppressed(mail_api) == []

    good = [
        event(soft, bounceType="SOFT"),
        event(hard),  # HARD by default
        event(legacy, data={"bounceType": "soft"}),  # the older form
    ]
    payload = await mail_api.mutate(
        "recordEngagementEvents", {"events": good}, "results { recorded errors { code } }"
    )
    assert [r["recorded"] for r in payload["results"]] == [True, True, True]
    assert await suppressed(mail_api) == [{"address": hard, "source": "BOUNCED"}]
    conns = await connections(mail_api, seq)
    assert {k: (c["status"], c["reason"]) for k, c in conns.items()} == {
        "L0": ("CONNECTED", None),
        "L1": ("DISCONNECTED", "BOUNCED"),
        "L2": ("CONNECTED", None),
    }


async def test_a_queued_email_to_an_address_suppressed_meanwhile_is_not_sent(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    deliverer: Deliverer = mail_engine.deliverer
    first, address, message_id = await sent_lead(mail_api, mail_engine, inbox)
    # The same record in a second sequence: its email is refused for now and waits to retry.
    inbox.rcpt_reply = "452 4.3.1 Insufficient system storage"
    second = await email_then_task(mail_api)
    connected = await mail_api.mutate(
        "connectSequence",
        {"sequenceId": second["id"], "records": [{"recordType": "lead", "externalId": "L0"}]},
        "results { errors { code } }",
    )
    assert connected["results"][0]["errors"] == []
    await mail_engine.run_until_idle()
    queued = [m for m in (await mail_api.ok(OUTBOX))["outbox"]["nodes"] if m["status"] == "QUEUED"]
    assert [(m["to"], m["attempts"]) for m in queued] == [(address, 1)]

    # The first email bounces hard: only its connection ends, but the address is suppressed.
    [result] = (await feed(mail_api, dsn("dsn_m365_recipient_not_found.eml", message_id, address)))[
        "results"
    ]
    assert (result["recorded"], result["bounceType"]) == (True, "HARD")
    assert (await connections(mail_api, first))["L0"]["reason"] == "BOUNCED"
    assert (await connections(mail_api, second))["L0"]["status"] == "CONNECTED"

    inbox.rcpt_reply = None
    clock.advance(deliverer.backoff(1) + timedelta(seconds=1))
    await mail_engine.run_until_idle()
    nodes = (await mail_api.ok(OUTBOX))["outbox"]["nodes"]
    assert sorted((m["status"], m["attempts"]) for m in nodes) == [("CANCELED", 1), ("SENT", 1)]
    [canceled] = [m for m in nodes if m["status"] == "CANCELED"]
    assert "suppression list" in canceled["lastError"]
    assert len(inbox.to(address)) == 1


async def test_a_hard_bounce_after_the_sequence_completed_shows_on_the_connection(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    seq = await create(mail_api, "Only mail")
    await add(mail_api, seq, start_id(seq), "email.auto", AUTO)
    await activate(mail_api, seq)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    [message] = inbox.to(address)
    assert (await connections(mail_api, seq))["L0"]["status"] == "COMPLETED"

    raw = dsn("dsn_gmail_no_such_user.eml", message["Message-ID"], address)
    [result] = (await feed(mail_api, raw))["results"]
    assert (result["recorded"], result["bounceType"]) == (True, "HARD")
    conn = (await connections(mail_api, seq))["L0"]
    assert (conn["status"], conn["reason"]) == ("DISCONNECTED", "BOUNCED")
    assert await suppressed(mail_api) == [{"address": address, "source": "BOUNCED"}]
