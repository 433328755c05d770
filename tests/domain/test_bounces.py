"""Delivery status notifications (RFC 3464) and SMTP replies: fields, hard or soft."""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import SMTP, compat32
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekvens.domain.bounces import (
    BounceType,
    DsnAction,
    classify,
    message_id,
    parse_dsn,
    parse_smtp_reply,
)

MAIL = Path(__file__).parent.parent / "fixtures" / "mail"
HARD, SOFT = BounceType.HARD, BounceType.SOFT


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


# ---- real-world notifications -------------------------------------------------------------


def test_postfix_user_unknown_is_hard_and_names_the_sent_message() -> None:
    report = parse_dsn(fixture("dsn_postfix_user_unknown.eml"))
    assert report is not None
    assert report.reporting_mta == "mail.sender.example"
    assert report.arrival_date == datetime(2027, 1, 4, 8, 15, 1, tzinfo=UTC)
    assert report.original_message_id == "<0f3c2a9e5b7d4e1f9a8b7c6d5e4f3a2b@sekvens.local>"
    (r,) = report.recipients
    assert (r.address, r.original_recipient) == (
        "nobody@prospect.example",
        "Nobody@Prospect.example",
    )
    assert (r.action, r.status, r.bounce_type, r.smtp_code) == (
        DsnAction.FAILED,
        "5.1.1",
        HARD,
        550,
    )
    assert r.diagnostic == (
        "550 5.1.1 <nobody@prospect.example>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert r.remote_mta == "mx.prospect.example"
    assert r.original_message_id == report.original_message_id


def test_postfix_delay_and_full_mailbox_are_soft_with_lower_case_fields() -> None:
    report = parse_dsn(fixture("dsn_postfix_delayed.eml"))
    assert report is not None
    assert report.original_message_id == "<5b1d9e0c@sekvens.local>"
    slow, full = report.recipients
    assert (slow.address, slow.action, slow.status, slow.bounce_type) == (
        "slow@prospect.example",
        DsnAction.DELAYED,
        "4.4.1",
        SOFT,
    )
    assert slow.will_retry_until == datetime(2027, 1, 10, 8, 0, tzinfo=UTC)
    assert slow.diagnostic == (
        "connect to mx.prospect.example[198.51.100.20]:25: Connection timed out"
    )
    assert slow.original_recipient is None
    assert (full.status, full.bounce_type, full.smtp_code) == ("5.2.2", SOFT, 552)
    assert report.bounces == (slow, full)


def test_exim_unspecific_status_with_a_quota_reply_is_soft() -> None:
    report = parse_dsn(fixture("dsn_exim_over_quota.eml"))
    assert report is not None
    (r,) = report.recipients
    assert (r.address, r.status, r.smtp_code, r.bounce_type) == (
        "full@prospect.example",
        "5.0.0",
        552,
        SOFT,
    )
    assert report.original_message_id == "<1a2b3c4d@sekvens.local>"


def test_gmail_no_such_user_is_hard_without_a_reply_code() -> None:
    report = parse_dsn(fixture("dsn_gmail_no_such_user.eml"))
    assert report is not None
    (r,) = report.recipients
    assert (r.address, r.status, r.bounce_type, r.smtp_code) == (
        "gone.prospect@gmail.com",
        "5.1.1",
        HARD,
        None,
    )
    assert r.diagnostic is not None
    assert r.diagnostic.startswith("The email account that you tried to reach does not exist.")
    assert "\n" not in r.diagnostic
    assert report.original_message_id == "<77aa1c@sekvens.local>"


def test_gmail_original_message_id_field_serves_when_nothing_is_returned() -> None:
    raw = fixture("dsn_gmail_no_such_user.eml")
    cut = raw.index(b"--000000000000a1b2c3d4e5f6\nContent-Type: message/rfc822")
    report = parse_dsn(raw[:cut] + b"--000000000000a1b2c3d4e5f6--\n")
    assert report is not None
    assert report.original_message_id == "<77aa1c@sekvens.local>"


def test_microsoft_365_recipient_not_found_is_hard() -> None:
    report = parse_dsn(fixture("dsn_m365_recipient_not_found.eml"))
    assert report is not None
    (r,) = report.recipients
    assert (r.address, r.original_recipient) == ("ola.nordmann@kunde.no",) * 2
    assert (r.status, r.smtp_code, r.bounce_type) == ("5.1.10", 550, HARD)
    assert report.original_message_id == "<c0ffee42@sekvens.local>"


def test_a_plain_text_bounce_is_not_a_dsn() -> None:
    assert parse_dsn(fixture("bounce_qmail_plain.eml")) is None


@pytest.mark.parametrize(
    "raw",
    [b"", "", b"\x00\xff\xfe", "Subject: hi\n\nhello", fixture("autoreply_outlook_nb.eml")],
)
def test_no_delivery_status_part_is_none(raw: bytes | str) -> None:
    assert parse_dsn(raw) is None


# ---- variants ------------------------------------------------------------------------------

REPORT = """\
From: MAILER-DAEMON@mx.example
Content-Type: multipart/report; report-type=delivery-status; boundary=BB

--BB
Content-Type: text/plain

Failed.
--BB
{part}
--BB--
"""


def test_base64_and_global_delivery_status_parts_with_non_ascii_addresses() -> None:
    import base64

    fields = (
        "Reporting-MTA: dns; mx.example\n\n"
        "Final-Recipient: utf-8; åse.økland@eksempel.no\n"
        "Action: failed\nStatus: 5.1.1\n"
    ).encode()
    part = (
        "Content-Type: message/global-delivery-status\n"
        "Content-Transfer-Encoding: base64\n\n" + base64.encodebytes(fields).decode()
    )
    report = parse_dsn(REPORT.format(part=part).encode())
    assert report is not None
    (r,) = report.recipients
    assert (r.address, r.bounce_type) == ("åse.økland@eksempel.no", HARD)


def test_raw_utf8_and_latin1_bytes_in_fields_become_text() -> None:
    part = "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; {}\nAction: failed\n"
    utf8 = parse_dsn(REPORT.format(part=part.format("åse@eksempel.no")).encode())
    latin1 = parse_dsn(REPORT.format(part=part.format("åse@eksempel.no")).encode("latin-1"))
    assert utf8 is not None and latin1 is not None
    assert utf8.recipients[0].address == latin1.recipients[0].address == "åse@eksempel.no"
    # "failed" without a Status is a permanent failure.
    assert utf8.recipients[0].bounce_type is HARD


def test_missing_final_recipient_falls_back_to_original_and_crlf_is_fine() -> None:
    part = (
        "Content-Type: message/delivery-status\n\n"
        "Original-Recipient: rfc822;<Lost@Example.com>\nAction: FAILED\nStatus: 5.1.2\n\n"
        "Action: failed\nStatus: 5.1.1\n"
    )
    report = parse_dsn(REPORT.format(part=part).replace("\n", "\r\n"))
    assert report is not None
    (r,) = report.recipients  # the block without any recipient is skipped
    assert (r.address, r.original_recipient, r.action, r.bounce_type) == (
        "Lost@Example.com",
        "Lost@Example.com",
        DsnAction.FAILED,
        HARD,
    )


@pytest.mark.parametrize(
    ("action", "status", "expected"),
    [
        ("delivered", "2.0.0", None),
        ("relayed", "2.0.0", None),
        ("expanded", "2.0.0", None),
        ("delayed", "5.1.1", SOFT),  # a delay is never final
        ("failed", "4.4.7", SOFT),  # gave up retrying: the address is not known bad
        ("bogus", "5.1.1", HARD),
        ("bogus", None, None),
    ],
)
def test_action_and_status(action: str, status: str | None, expected: BounceType | None) -> None:
    lines = f"Final-Recipient: rfc822; a@b.example\nAction: {action}\n"
    if status:
        lines += f"Status: {status}\n"
    report = parse_dsn(REPORT.format(part=f"Content-Type: message/delivery-status\n\n{lines}"))
    assert report is not None
    assert report.recipients[0].bounce_type is expected


def test_unspecific_status_takes_the_diagnostics_enhanced_status_of_its_class() -> None:
    def bounce(status: str, reply: str) -> BounceType | None:
        part = (
            "Content-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@b.example\n"
            f"Action: failed\nStatus: {status}\nDiagnostic-Code: smtp; {reply}\n"
        )
        report = parse_dsn(REPORT.format(part=part))
        assert report is not None
        return report.recipients[0].bounce_type

    assert bounce("5.0.0", "550 5.2.2 Mailbox full") is SOFT
    assert bounce("5.0.0", "550 5.1.1 No such user") is HARD
    assert bounce("5.0.0", "550 4.2.2 odd") is HARD  # another class: ignored
    assert bounce("5.1.1", "552 5.2.2 Mailbox full") is HARD  # a specific Status wins
    assert bounce("5.0.0", "550 Mailbox is full") is SOFT


# ---- SMTP replies ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reply", "code", "status", "expected"),
    [
        ("550 5.1.1 User unknown", 550, "5.1.1", HARD),
        ("452 4.2.2 mailbox full", 452, "4.2.2", SOFT),
        ("550-5.1.1 The email account that you tried to reach does not exist.", 550, "5.1.1", HARD),
        ("552 5.2.2 Mailbox full", 552, "5.2.2", SOFT),
        ("552 Requested mail action aborted: exceeded storage allocation", 552, None, SOFT),
        (
            "554 5.7.1 Service unavailable; Client host blocked using zen.spamhaus.org",
            554,
            "5.7.1",
            SOFT,
        ),
        ("550 5.7.13 User account disabled", 550, "5.7.13", HARD),
        ("550 5.4.1 Recipient address rejected: Access denied", 550, "5.4.1", HARD),
        ("554 5.4.7 Delivery expired", 554, "5.4.7", SOFT),
        ("550 5.1.10 RESOLVER.ADR.RecipientNotFound", 550, "5.1.10", HARD),
        ("553 5.1.8 Sender domain does not exist", 553, "5.1.8", SOFT),
        ("550 Requested action not taken: mailbox unavailable", 550, None, HARD),
        ("421 Service not available", 421, None, SOFT),
        ("250 2.0.0 Ok: queued", 250, "2.0.0", None),
        ("550 4.1.1 no such user", 550, "4.1.1", HARD),  # the basic code's class wins
        ("550 Mailbox is full", 550, None, SOFT),
        ("host mx.example said: 550 5.1.1 unknown", 550, "5.1.1", HARD),
        ("5.1.1 alone", None, None, None),
        ("", None, None, None),
        ("550 5.01.001 padded", 550, "5.1.1", HARD),
    ],
)
def test_smtp_replies(reply: str, code: int | None, status: str | None, expected: object) -> None:
    parsed = parse_smtp_reply(reply)
    assert (parsed.code, parsed.status, parsed.bounce_type) == (code, status, expected)


def test_message_ids() -> None:
    assert message_id(" <a@b> ") == "<a@b>"
    assert message_id("a@b") == "<a@b>"
    assert message_id("\n <a@b>\n") == "<a@b>"
    assert message_id("nonsense") is None
    assert message_id(None) is None


# ---- the table against an independent statement of it -------------------------------------

#: Every enhanced status code of the IANA registry (RFC 3463, 3886, 4468, 4865, 4954, 5248,
#: 6710, 7293, 7372, 7504, 7505) in its permanent form, and what a permanent failure with it
#: means for the address: HARD the address can't take mail, SOFT it may later.
REGISTRY = {
    "5.0.0": HARD,  # other undefined status (unless the reply says more)
    "5.1.0": HARD,  # other address status
    "5.1.1": HARD,  # bad destination mailbox address
    "5.1.2": HARD,  # bad destination system address
    "5.1.3": HARD,  # bad destination mailbox address syntax
    "5.1.4": HARD,  # destination mailbox address ambiguous
    "5.1.5": HARD,  # destination address valid
    "5.1.6": HARD,  # destination mailbox has moved, no forwarding address
    "5.1.7": SOFT,  # bad sender's mailbox address syntax: the sender's problem
    "5.1.8": SOFT,  # bad sender's system address: the sender's problem
    "5.1.9": HARD,  # message relayed to non-compliant mailer
    "5.1.10": HARD,  # recipient address has null MX
    "5.2.0": HARD,  # other or undefined mailbox status
    "5.2.1": HARD,  # mailbox disabled, not accepting messages
    "5.2.2": SOFT,  # mailbox full
    "5.2.3": SOFT,  # message length exceeds administrative limit
    "5.2.4": SOFT,  # mailing list expansion problem
    **{f"5.3.{d}": SOFT for d in range(7)},  # mail system status: the system, not the address
    "5.4.0": HARD,  # other or undefined network or routing status
    "5.4.1": HARD,  # no answer from host (Microsoft 365: recipient rejected)
    "5.4.2": HARD,  # bad connection
    "5.4.3": SOFT,  # directory server failure
    "5.4.4": HARD,  # unable to route: the domain takes no mail
    "5.4.5": HARD,  # mail system congestion
    "5.4.6": SOFT,  # routing loop detected
    "5.4.7": SOFT,  # delivery time expired
    "5.4.8": HARD,  # MX lookup error
    "5.5.0": HARD,  # other or undefined protocol status ("mailbox unavailable")
    "5.5.1": HARD,  # invalid command
    "5.5.2": HARD,  # syntax error
    "5.5.3": SOFT,  # too many recipients: the message's problem
    "5.5.4": HARD,  # invalid command arguments
    "5.5.5": HARD,  # wrong protocol version
    "5.5.6": HARD,  # authentication exchange line is too long
    **{f"5.6.{d}": SOFT for d in range(11)},  # media: the message's content
    **{f"5.7.{d}": SOFT for d in range(28)},  # security or policy: the sender or content
    "5.7.13": HARD,  # user account disabled
    "5.7.17": HARD,  # mailbox owner has changed
    "5.7.18": HARD,  # domain owner has changed
}


@pytest.mark.parametrize(("status", "expected"), sorted(REGISTRY.items()))
def test_registry(status: str, expected: BounceType) -> None:
    assert classify(status) is expected
    assert classify("4" + status[1:]) is SOFT
    assert classify("2" + status[1:]) is None


# ---- properties ----------------------------------------------------------------------------


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.binary(max_size=3000), st.text(max_size=3000)))
def test_arbitrary_input_never_raises(raw: bytes | str) -> None:
    report = parse_dsn(raw)
    assert report is None or all(r.address for r in report.recipients)
    parse_smtp_reply(raw if isinstance(raw, str) else raw.decode("latin-1"))


FIELD_NAMES = [
    "Final-Recipient",
    "Original-Recipient",
    "Action",
    "Status",
    "Diagnostic-Code",
    "Remote-MTA",
    "Will-Retry-Until",
    "Arrival-Date",
    "Reporting-MTA",
    "X-Original-Message-ID",
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.lists(
            st.tuples(
                st.sampled_from(FIELD_NAMES),
                st.text(st.characters(exclude_categories=["Cs"]), max_size=60),
            ),
            max_size=6,
        ),
        max_size=4,
    ),
    st.sampled_from(["message/delivery-status", "message/global-delivery-status"]),
    st.sampled_from(["7bit", "base64", "quoted-printable", "x-bogus"]),
)
def test_garbled_delivery_status_fields_never_raise(
    blocks: list[list[tuple[str, str]]], content_type: str, encoding: str
) -> None:
    text = "\n\n".join("\n".join(f"{n}: {v}" for n, v in block) for block in blocks)
    part = f"Content-Type: {content_type}\nContent-Transfer-Encoding: {encoding}\n\n{text}"
    report = parse_dsn(REPORT.format(part=part))
    assert report is not None


LOCAL = st.text("abcdefghijklmnopqrstuvwxyz0123456789._+-", min_size=1, max_size=20)
DOMAIN = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=10), min_size=2, max_size=3
).map(".".join)
ADDRESS = st.builds(lambda local, domain: f"{local}@{domain}", LOCAL, DOMAIN)
WORDS = st.lists(
    st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=12),
    max_size=20,
).map(" ".join)
#: Statuses: the registry (X.0.0 aside: tested above with its reply), and any 2.x.x / 4.x.x.
STATUS = st.one_of(
    st.sampled_from(sorted(s for s in REGISTRY if s != "5.0.0")),
    st.builds(
        lambda c, s, d: f"{c}.{s}.{d}",
        st.sampled_from("24"),
        st.integers(0, 999),
        st.integers(0, 999),
    ),
)
ACTIONS = ["failed", "delayed", "delivered", "relayed", "expanded"]


def expected_type(action: str, status: str) -> BounceType | None:
    if action == "delayed":
        return SOFT
    if action != "failed" or status[0] == "2":
        return None
    return SOFT if status[0] == "4" else REGISTRY[status]


RECIPIENT = st.fixed_dictionaries(
    {
        "address": ADDRESS,
        "original": st.none() | ADDRESS,
        "action": st.sampled_from(ACTIONS),
        "status": STATUS,
        "words": WORDS,
        "remote": st.none() | DOMAIN,
        "retry": st.none()
        | st.datetimes(datetime(2000, 1, 1), datetime(2100, 1, 1), timezones=st.just(UTC)).map(
            lambda d: d.replace(microsecond=0)
        ),
        "type_case": st.sampled_from(["rfc822", "RFC822", "Rfc822"]),
    }
)


def build_dsn(
    recipients: list[dict[str, object]], original_id: str, returned: str, crlf: bool
) -> bytes:
    """An independent DSN writer built with the email package's message APIs."""
    from email.utils import format_datetime

    report = MIMEMultipart("report", **{"report-type": "delivery-status"})
    report["From"] = "MAILER-DAEMON@mx.sender.example"
    report["Subject"] = "Undelivered Mail Returned to Sender"
    report.attach(MIMEText("Your message could not be delivered.", "plain", "utf-8"))
    status_part = Message()
    status_part.set_type("message/delivery-status")
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mx.sender.example"
    blocks = [per_message]
    for r in recipients:
        block = Message()
        block["Final-Recipient"] = f"{r['type_case']}; {r['address']}"
        if r["original"]:
            block["Original-Recipient"] = f"rfc822;{r['original']}"
        block["Action"] = str(r["action"])
        block["Status"] = str(r["status"])
        code = {"2": 250, "4": 451, "5": 550}[str(r["status"])[0]]
        block["Diagnostic-Code"] = f"smtp; {code} {r['status']} {r['words']}"
        if r["remote"]:
            block["Remote-MTA"] = f"dns; {r['remote']}"
        if r["retry"]:
            block["Will-Retry-Until"] = format_datetime(r["retry"])  # type: ignore[arg-type]
        blocks.append(block)
    status_part.set_payload(blocks)
    report.attach(status_part)
    original = Message()
    original["From"] = "seller@sender.example"
    original["Message-ID"] = original_id
    original["Subject"] = "Quick question"
    if returned == "headers":
        report.attach(MIMEText(original.as_string(), "rfc822-headers"))
    else:
        original.set_payload("Hello!\n")
        wrapper = Message()
        wrapper.set_type("message/rfc822")
        wrapper.set_payload([original])
        report.attach(wrapper)
    return report.as_bytes(policy=SMTP if crlf else compat32)


@settings(max_examples=200, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(RECIPIENT, min_size=1, max_size=5),
    st.builds(lambda a: f"<{a}>", ADDRESS),
    st.sampled_from(["headers", "message"]),
    st.booleans(),
)
def test_round_trip(
    recipients: list[dict[str, object]], original_id: str, returned: str, crlf: bool
) -> None:
    report = parse_dsn(build_dsn(recipients, original_id, returned, crlf))
    assert report is not None
    assert report.original_message_id == original_id
    assert report.reporting_mta == "mx.sender.example"
    assert len(report.recipients) == len(recipients)
    for want, got in zip(recipients, report.recipients, strict=True):
        status = str(want["status"])
        canonical = ".".join(str(int(p)) for p in status.split("."))
        code = {"2": 250, "4": 451, "5": 550}[status[0]]
        assert got.address == want["address"]
        assert got.original_recipient == want["original"]
        assert got.action == DsnAction(want["action"])
        assert got.status == canonical
        assert got.smtp_code == code
        assert got.diagnostic == " ".join(f"{code} {status} {want['words']}".split())
        assert got.remote_mta == want["remote"]
        assert got.will_retry_until == want["retry"]
        assert got.original_message_id == original_id
        assert got.bounce_type is expected_type(str(want["action"]), canonical)
