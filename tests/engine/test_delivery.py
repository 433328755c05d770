"""SMTP delivery through a real server on loopback: headers, retries with backoff, giving up
with the connection in ERROR, crash recovery with the same Message-ID, and exactly once."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from sekvens.engine.delivery import Deliverer, SmtpTarget
from tests.conftest import Api, MovableClock
from tests.engine.conftest import PUBLIC_URL, Inbox
from tests.engine.helpers import (
    LINK,
    connect_leads,
    connections,
    deliverers_like,
    email_then_task,
    outbox,
    queue_only,
    waiting_of,
)


async def test_delivered_once_with_the_stored_headers(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()

    [message] = inbox.to(address)
    stored = (await outbox(mail_api))[address]
    assert stored["status"] == "SENT" and stored["attempts"] == 1 and stored["sentAt"]
    assert stored["lastError"] is None
    assert message["Message-ID"] == stored["messageId"]
    assert message["To"] == address
    # From the assignee's mailbox, with their name (docs/email.md, Sender identity).
    assert message["From"] == f"Test User <{stored['fromAddress']}>"
    assert stored["fromAddress"].startswith("seller-")
    assert message["Subject"] == "Hi Ann0"
    assert message["Date"]
    text = message.get_body(("plain",)).get_content()
    assert text.startswith("Hello Ann0!") and LINK in text  # the text part is as rendered
    html = message.get_body(("html",)).get_content()
    assert f'src="{PUBLIC_URL}/t/o/' in html  # the open pixel
    assert html.count(f'href="{PUBLIC_URL}/t/c/') == 2  # both links go through the redirect
    assert 'href="https://example.com' not in html

    # Running again (and again) sends nothing twice.
    await mail_engine.run_until_idle()
    await mail_engine.deliverer.run_due()
    assert len(inbox.to(address)) == 1
    state = await connections(mail_api, seq)
    assert state["L0"]["activities"][-1]["subject"] == "Follow up"


async def test_refused_mail_is_retried_with_backoff_then_fails_the_connection(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    deliverer: Deliverer = mail_engine.deliverer
    inbox.reply = "451 4.3.0 Mailbox busy, try later"
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    stored = (await outbox(mail_api))[address]
    assert (stored["status"], stored["attempts"], stored["waitReason"]) == ("QUEUED", 1, "RETRYING")
    assert "451 4.3.0 Mailbox busy" in stored["lastError"]
    wait, _ = await waiting_of(mail_api, seq, "L0")
    assert wait == {"reason": "RETRYING", "until": stored["nextAttemptAt"]}

    for attempt in range(2, deliverer.max_attempts + 1):
        wait = deliverer.backoff(attempt - 1)
        assert wait == timedelta(minutes=2 ** (attempt - 2))  # 1, 2, 4, 8 minutes
        clock.advance(wait - timedelta(seconds=5))
        await mail_engine.run_until_idle()
        assert (await outbox(mail_api))[address]["attempts"] == attempt - 1  # not due yet
        clock.advance(timedelta(seconds=10))
        await mail_engine.run_until_idle()
        assert (await outbox(mail_api))[address]["attempts"] == attempt

    stored = (await outbox(mail_api))[address]
    assert stored["status"] == "FAILED" and stored["sentAt"] is None
    assert stored["waitReason"] is None
    assert "after 5 attempts" in stored["lastError"] and "451" in stored["lastError"]
    state = (await connections(mail_api, seq))["L0"]
    assert state["status"] == "ERROR"
    assert address in state["error"] and "451 4.3.0 Mailbox busy" in state["error"]
    assert inbox.to(address) == []

    # A failed message stays failed, even when the server takes mail again.
    inbox.reply = None
    clock.advance(timedelta(hours=1))
    await mail_engine.run_until_idle()
    assert inbox.to(address) == []


async def test_a_hard_bounce_of_the_recipient_fails_at_once(
    mail_api: Api, mail_engine: Any, clock: MovableClock
) -> None:
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)

    async def refuse(*_: Any, **__: Any) -> Any:
        import aiosmtplib

        raise aiosmtplib.SMTPRecipientsRefused(
            [aiosmtplib.SMTPRecipientRefused(550, "5.1.1 No such user", address)]
        )

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("aiosmtplib.SMTP.send_message", refuse)
        await mail_engine.run_until_idle()
    stored = (await outbox(mail_api))[address]
    assert (stored["status"], stored["attempts"]) == ("FAILED", 1)
    state = (await connections(mail_api, seq))["L0"]  # tests/engine/test_bounces.py: more
    assert state["status"] == "DISCONNECTED" and "550 5.1.1 No such user" in state["error"]
    assert state["reason"] == "BOUNCED"


async def test_a_crash_after_the_server_accepted_resends_with_the_same_message_id(
    mail_api: Api, mail_engine: Any, inbox: Inbox, clock: MovableClock
) -> None:
    deliverer: Deliverer = mail_engine.deliverer
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)

    async def crash(*_: Any) -> None:
        raise RuntimeError("killed between the SMTP accept and the commit")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(deliverer, "finish", crash)
        with pytest.raises(RuntimeError):
            await mail_engine.run_until_idle()
    assert len(inbox.to(address)) == 1
    assert (await outbox(mail_api))[address]["status"] == "QUEUED"

    await mail_engine.run_until_idle()  # the claim's lease still holds
    assert len(inbox.to(address)) == 1
    clock.advance(deliverer.lease + timedelta(seconds=1))
    await mail_engine.run_until_idle()
    first, second = inbox.to(address)
    assert first["Message-ID"] == second["Message-ID"]
    assert first["Date"] == second["Date"]
    stored = (await outbox(mail_api))[address]
    assert (stored["status"], stored["attempts"]) == ("SENT", 2)
    clock.advance(deliverer.lease * 2)
    await mail_engine.run_until_idle()
    assert len(inbox.to(address)) == 2


async def test_concurrent_deliverers_send_each_message_once(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    seq = await email_then_task(mail_api)
    addresses = await connect_leads(mail_api, seq, 12)
    await queue_only(mail_engine)
    assert {m["status"] for m in (await outbox(mail_api)).values()} == {"QUEUED"}

    workers = deliverers_like(mail_engine.deliverer, 4, batch_size=3)
    while sum(await asyncio.gather(*(w.run_due() for w in workers))):
        pass
    assert [len(inbox.to(a)) for a in addresses] == [1] * 12
    assert {m["status"] for m in (await outbox(mail_api)).values()} == {"SENT"}


def test_smtp_urls() -> None:
    t = SmtpTarget.parse("smtp://user%40corp:p%3Ass@mail.example.com:587")
    assert (t.hostname, t.port, t.use_tls, t.start_tls) == ("mail.example.com", 587, False, None)
    assert (t.username, t.password) == ("user@corp", "p:ss")
    assert "p:ss" not in repr(t)
    t = SmtpTarget.parse("smtps://mail.example.com")
    assert (t.port, t.use_tls, t.start_tls, t.username) == (465, True, False, None)
    assert SmtpTarget.parse("smtp://h?starttls=required").start_tls is True
    assert SmtpTarget.parse("smtp://h?starttls=off").start_tls is False
    assert SmtpTarget.parse("smtp://h").port == 25
    for bad in ("http://h", "smtp://", "smtp://h:notaport", "smtp://h?starttls=maybe"):
        with pytest.raises(ValueError):
            SmtpTarget.parse(bad)
