"""Unsubscribe links (RFC 8058 one-click) and hard bounces feed the suppression list."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.conftest import Api
from tests.engine.conftest import PUBLIC_URL, Inbox
from tests.engine.helpers import connect_leads, connections, email_then_task

SUPPRESSED = "{ suppressedAddresses { nodes { address source } } }"


def unsubscribe_path(inbox: Inbox, address: str) -> str:
    """The List-Unsubscribe URL of the email sent to `address`, checked against its body."""
    [message] = inbox.to(address)
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    header = re.fullmatch(r"<(.+)>", message["List-Unsubscribe"])
    assert header and header.group(1).startswith(f"{PUBLIC_URL}/t/u/")
    url = header.group(1)
    assert f"Unsubscribe: {url}" in message.get_body(("plain",)).get_content()
    assert url in message.get_body(("html",)).get_content()
    return url[len(PUBLIC_URL) :]


async def test_one_click_unsubscribe_suppresses_and_ends_the_connections(
    mail_api: Api, mail_engine: Any, mail_http: httpx.AsyncClient, inbox: Inbox
) -> None:
    seq = await email_then_task(mail_api)
    [address] = await connect_leads(mail_api, seq)
    await mail_engine.run_until_idle()
    path = unsubscribe_path(inbox, address)
    assert (await connections(mail_api, seq))["L0"]["status"] == "CONNECTED"

    # A link scanner's GET only shows the question.
    page = await mail_http.get(path)
    assert page.status_code == 200 and "<form" in page.text
    assert (await mail_api.ok(SUPPRESSED))["suppressedAddresses"]["nodes"] == []

    # The mail client's one-click POST (RFC 8058).
    done = await mail_http.post(path, content=b"List-Unsubscribe=One-Click")
    assert done.status_code == 200 and "Unsubscribed" in done.text
    nodes = (await mail_api.ok(SUPPRESSED))["suppressedAddresses"]["nodes"]
    assert nodes == [{"address": address, "source": "UNSUBSCRIBED"}]
    conn = (await connections(mail_api, seq))["L0"]
    assert (conn["status"], conn["reason"]) == ("DISCONNECTED", "UNSUBSCRIBED")
    assert [a["status"] for a in conn["activities"]] == ["COMPLETED", "CANCELED"]

    # Forged or altered tokens are refused.
    assert (await mail_http.post(path[:-2] + "AA")).status_code == 404
    assert (await mail_http.post("/t/u/nonsense")).status_code == 404


async def test_a_hard_bounce_suppresses_the_address(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    seq = await email_then_task(mail_api)
    soft, hard = await connect_leads(mail_api, seq, 2)
    await mail_engine.run_until_idle()
    ids = {a: inbox.to(a)[0]["Message-ID"] for a in (soft, hard)}
    events = [
        {
            "eventId": f"b-{a}",
            "kind": "EMAIL_BOUNCED",
            "messageId": ids[a],
            "occurredAt": "2026-01-01T00:00:00+00:00",
            "data": {"bounceType": "SOFT" if a == soft else "HARD"},
        }
        for a in (soft, hard)
    ]
    recorded = await mail_api.mutate(
        "recordEngagementEvents", {"events": events}, "results { recorded }"
    )
    assert recorded["errors"] == []
    nodes = (await mail_api.ok(SUPPRESSED))["suppressedAddresses"]["nodes"]
    assert nodes == [{"address": hard, "source": "BOUNCED"}]
