"""Sender identity and threading of automated email, through GraphQL and a real SMTP server
on loopback: an email goes out from its assignee's mailbox with their display name,
Reply-To and signature (merge fields), the organization's default filling what the user has
not set (and sending as the organization without an assignee); a step that replies in
thread carries In-Reply-To and References of the connection's previous email and its
subject with "Re: "; a display name of any one-line text survives the From header."""

from __future__ import annotations

import email
import email.policy
import email.utils
import re
from email.header import decode_header, make_header
from email.message import EmailMessage
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sekvens.engine.delivery import sender
from tests.api.sequences_helpers import add, create, start_id
from tests.conftest import Api
from tests.engine.conftest import Inbox, unique_address
from tests.engine.helpers import activate, seller

FIRST = {
    "reply_in_thread": True,  # nothing to reply to yet: sent as a new email
    "template": {
        "subject": "Hello {{ first_name }}",
        "body": "Hi {{ first_name }}!\n\n-- \n{{ sender.name }}\n{{ sender.signature }}\n"
        "Replies: {{ sender.reply_to }}",
    },
}
SECOND = {
    "reply_in_thread": True,
    "template": {"subject": "Not used", "body": "Any news?\n\n{{ sender.signature }}"},
}
OUTBOX = "{ outbox(first: 100) { nodes { to fromAddress fromName replyTo subject status } } }"


async def two_emails(
    api: Api, second: dict[str, Any] = SECOND, assignment: dict[str, Any] | None = None
) -> dict[str, Any]:
    """email.auto -> email.auto (`second`), activated, with `assignment` when given."""
    seq = await create(api, "Thread")
    first = (await add(api, seq, start_id(seq), "email.auto", FIRST))["step"]
    await add(api, seq, first["id"], "email.auto", second)
    if assignment is not None:
        payload = await api.mutate(
            "setSequenceAssignment", {"sequenceId": seq["id"], **assignment}, "sequence { id }"
        )
        assert payload["errors"] == []
    return await activate(api, seq)


async def connect(api: Api, seq: dict[str, Any], owner_id: str | None, **fields: Any) -> str:
    """Connect a new lead owned by `owner_id` (None: no owner) with `fields`; returns its
    address."""
    address = unique_address()
    record = {
        "recordType": "lead",
        "externalId": address,
        "name": "Ann Lead",
        "fields": {"first_name": "Ann", "email": address, **fields},
        **({"ownerUserId": owner_id} if owner_id else {}),
    }
    payload = await api.mutate("upsertRecords", {"records": [record]}, "results { record { id } }")
    record_id = payload["results"][0]["record"]["id"]
    connected = await api.mutate(
        "connectSequence",
        {"sequenceId": seq["id"], "records": [{"id": record_id}]},
        "results { errors { code } }",
    )
    assert connected["errors"] == [] and connected["results"][0]["errors"] == []
    return address


async def set_org_identity(api: Api, **given: Any) -> None:
    payload = await api.mutate("updateOrganizationSettings", given, "organization { id }")
    assert payload["errors"] == [], payload["errors"]


def text_of(message: EmailMessage) -> str:
    part = message.get_body(("plain",))
    assert part is not None
    return str(part.get_content()).replace("\r\n", "\n")


def from_of(message: EmailMessage) -> tuple[str, str]:
    [address] = message["From"].addresses
    return address.display_name, address.addr_spec


async def test_an_email_goes_as_its_assignee_and_the_next_replies_in_its_thread(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    api = mail_api
    await set_org_identity(
        api, senderName="Acme Sales", replyTo="team@acme.example", signature="Acme"
    )
    seller_id, seller_address = await seller(api)
    name = 'Kari "K" Nordmann, Sales, Øst'
    payload = await api.mutate(
        "updateUser",
        {
            "userId": seller_id,
            "senderName": name,
            "replyTo": "kari.replies@acme.example",
            "signature": "Kari Nordmann\nAcme AS",
        },
        "user { id }",
    )
    assert payload["errors"] == []
    seq = await two_emails(api)
    lead = await connect(api, seq, seller_id)
    await mail_engine.run_until_idle()

    first, second = inbox.to(lead)
    for message in (first, second):
        assert from_of(message) == (name, seller_address)
        assert message["Reply-To"] == "kari.replies@acme.example"
    assert first["Subject"] == "Hello Ann" and first["In-Reply-To"] is None
    assert first["References"] is None
    body = text_of(first)
    assert f"-- \n{name}\nKari Nordmann\nAcme AS\nReplies: kari.replies@acme.example" in body
    assert second["Subject"] == "Re: Hello Ann"
    assert second["In-Reply-To"] == first["Message-ID"]
    assert second["References"].split() == [first["Message-ID"]]
    assert "Any news?\n\nKari Nordmann\nAcme AS" in text_of(second)

    sent = [m for m in (await api.ok(OUTBOX))["outbox"]["nodes"] if m["to"] == lead]
    assert {(m["fromAddress"], m["fromName"], m["replyTo"], m["status"]) for m in sent} == {
        (seller_address, name, "kari.replies@acme.example", "SENT")
    }
    assert sorted(m["subject"] for m in sent) == ["Hello Ann", "Re: Hello Ann"]


async def test_a_third_reply_references_the_whole_thread(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    api = mail_api
    seller_id, _ = await seller(api)
    seq = await create(api, "Three")
    first = (await add(api, seq, start_id(seq), "email.auto", FIRST))["step"]
    second = (await add(api, seq, first["id"], "email.auto", SECOND))["step"]
    await add(api, seq, second["id"], "email.auto", SECOND)
    await activate(api, seq)
    lead = await connect(api, seq, seller_id)
    await mail_engine.run_until_idle()
    one, two, three = inbox.to(lead)
    assert three["Subject"] == "Re: Hello Ann"  # not "Re: Re: "
    assert three["In-Reply-To"] == two["Message-ID"]
    assert three["References"].split() == [one["Message-ID"], two["Message-ID"]]


async def test_without_reply_in_thread_a_later_email_is_a_new_one(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    api = mail_api
    seller_id, _ = await seller(api)
    seq = await two_emails(api, {**SECOND, "reply_in_thread": False})
    lead = await connect(api, seq, seller_id)
    await mail_engine.run_until_idle()
    _, second = inbox.to(lead)
    assert second["Subject"] == "Not used"
    assert second["In-Reply-To"] is None and second["References"] is None


async def test_the_organization_default_fills_what_the_user_has_not_set(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    api = mail_api
    seller_id, seller_address = await seller(api)
    seq = await two_emails(api)
    # Neither has an identity: the user's name, no Reply-To, no signature.
    lead = await connect(api, seq, seller_id)
    await mail_engine.run_until_idle()
    first, _ = inbox.to(lead)
    assert from_of(first) == ("Test User", seller_address)
    assert first["Reply-To"] is None
    assert "-- \nTest User\n\nReplies:\n" in text_of(first)

    await set_org_identity(
        api, senderName="Acme Sales", replyTo="team@acme.example", signature="The Acme team"
    )
    payload = await api.mutate(
        "updateUser", {"userId": seller_id, "signature": "Kari"}, "user { id }"
    )
    assert payload["errors"] == []
    lead = await connect(api, seq, seller_id)
    await mail_engine.run_until_idle()
    first, _ = inbox.to(lead)
    assert from_of(first) == ("Acme Sales", seller_address)
    assert first["Reply-To"] == "team@acme.example"
    body = text_of(first)
    assert "-- \nAcme Sales\nKari\nReplies: team@acme.example" in body


async def test_without_an_assignee_it_goes_as_the_organization(
    mail_api: Api, mail_engine: Any, inbox: Inbox
) -> None:
    api = mail_api
    _, manager = await seller(api)
    # Assigned to the record's account manager, whom the lead no longer has when the steps
    # run: no assignee.
    seq = await two_emails(
        api, assignment={"assignTo": "RECORD_FIELD", "fieldName": "account_manager"}
    )

    async def connect_unassigned() -> str:
        lead = await connect(api, seq, None, account_manager=manager)
        record = {"recordType": "lead", "externalId": lead, "fields": {"account_manager": None}}
        payload = await api.mutate(
            "upsertRecords", {"records": [record]}, "results { errors { code } }"
        )
        assert payload["results"][0]["errors"] == []
        await mail_engine.run_until_idle()
        return lead

    lead = await connect_unassigned()
    first, _ = inbox.to(lead)
    assert from_of(first) == ("", "robot@sekvens.test")  # SEKVENS_MAIL_FROM, as before

    await set_org_identity(
        api, senderName="Acme", senderAddress="hello@acme.example", signature="Acme AS"
    )
    lead = await connect_unassigned()
    first, second = inbox.to(lead)
    assert from_of(first) == ("Acme", "hello@acme.example")
    assert "-- \nAcme\nAcme AS\n" in text_of(first)
    assert second["In-Reply-To"] == first["Message-ID"]


async def test_an_unknown_sender_merge_field_is_a_step_problem(mail_api: Api) -> None:
    seq = await create(mail_api, "Unknown")
    body = "{{ sender.phone }} {{ sender['fax'] }} {{ sender.name }} {{ sender['reply_to'] }}"
    config = {"template": {"subject": "Hi", "body": body}}
    payload = await add(mail_api, seq, start_id(seq), "email.auto", config)
    problems = payload["sequence"]["validation"]["problems"]
    assert [(p["code"], p["field"]) for p in problems] == [
        ("UNKNOWN_MERGE_FIELD", ["template", "body"])
    ] * 2


ONE_LINE = st.text(
    st.characters(blacklist_categories=("Cc", "Cs", "Zl", "Zp")), min_size=1, max_size=160
)


def display_name(raw_from: str, address: str) -> str:
    """The display name of a raw From header value, decoded as RFC 2047 says: whitespace
    between adjacent encoded words is not part of the text. (The `email` package's modern
    parser keeps it as a space, CPython issue 128110, so it is not used here.)"""
    value = re.sub(r"\r?\n[ \t]", " ", raw_from).strip()
    if value == address:
        return ""
    phrase = value.removesuffix(f" <{address}>")
    assert phrase != value, value
    if phrase.startswith('"') and phrase.endswith('"'):
        return email.utils.unquote(phrase)
    return str(make_header(decode_header(phrase)))


@given(ONE_LINE)
def test_any_one_line_display_name_round_trips_through_the_from_header(name: str) -> None:
    message = EmailMessage()
    message["From"] = sender("seller@example.com", name)
    message.set_content("x")
    raw = message.as_bytes(policy=email.policy.SMTP)
    assert raw.isascii()
    header = raw.split(b"\r\n\r\n")[0].decode()
    assert all(len(line) <= 998 for line in header.split("\r\n"))
    raw_from = re.search(r"^From:(.*?)\r\n(?![ \t])", header, re.M | re.S)
    assert raw_from is not None
    assert display_name(raw_from.group(1), "seller@example.com") == " ".join(name.split())
