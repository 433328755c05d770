"""Auto-replies: the headers and subjects that mark them, and the return dates they state."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sekvens.domain.auto_replies import (
    RETURN_MAX,
    AutoReplySignal,
    find_return_date,
    recognize_auto_reply,
)

MAIL = Path(__file__).parent.parent / "fixtures" / "mail"
OSLO = ZoneInfo("Europe/Oslo")
S = AutoReplySignal


def fixture(name: str) -> bytes:
    return (MAIL / name).read_bytes()


# ---- real-world messages -------------------------------------------------------------------


def test_outlook_norwegian_out_of_office() -> None:
    found = recognize_auto_reply(fixture("autoreply_outlook_nb.eml"), OSLO)
    assert found.is_auto_reply
    assert found.signals == (S.AUTO_SUBMITTED, S.EXCHANGE_AUTO_REPLY, S.SUBJECT)
    assert found.reason is S.AUTO_SUBMITTED
    # The Norwegian and the English sentence agree: Monday 18 January.
    assert found.return_date == date(2027, 1, 18)


def test_gmail_vacation_responder_in_december_returns_next_year() -> None:
    found = recognize_auto_reply(
        fixture("autoreply_gmail_vacation.eml"), ZoneInfo("America/Los_Angeles")
    )
    assert (found.is_auto_reply, found.signals) == (True, (S.AUTO_SUBMITTED,))
    assert found.return_date == date(2027, 1, 4)


def test_until_is_not_read_as_a_return_date() -> None:
    """Out "until Friday 8 January" may mean back on the 8th or the 11th: no date."""
    found = recognize_auto_reply(fixture("autoreply_outlook_en_until.eml"), UTC)
    assert found.signals == (S.AUTO_SUBMITTED, S.EXCHANGE_AUTO_REPLY, S.SUBJECT)
    assert found.return_date is None


def test_a_person_saying_when_they_are_back_is_no_auto_reply() -> None:
    # Outlook puts X-Auto-Response-Suppress on ordinary mail too: alone it says nothing.
    found = recognize_auto_reply(fixture("reply_human.eml"), OSLO)
    assert (found.is_auto_reply, found.signals, found.return_date) == (False, (), None)
    assert found.reason is None


def test_a_bounce_is_auto_submitted() -> None:
    assert recognize_auto_reply(fixture("dsn_postfix_user_unknown.eml"), UTC).is_auto_reply


# ---- headers and subjects ------------------------------------------------------------------


def message(
    headers: str, body: str = "Hello", date_header: str = "Tue, 5 Jan 2027 09:00:00 +0000"
) -> str:
    return f"From: a@b.example\nDate: {date_header}\n{headers}\n\n{body}\n"


@pytest.mark.parametrize(
    ("headers", "signals"),
    [
        ("Auto-Submitted: auto-replied", (S.AUTO_SUBMITTED,)),
        ("Auto-Submitted: Auto-Generated", (S.AUTO_SUBMITTED,)),
        ("Auto-Submitted: auto-replied; owner-email=a@b.example", (S.AUTO_SUBMITTED,)),
        ("Auto-Submitted: no", ()),
        ("Auto-Submitted: No ; comment", ()),
        ("X-Autoreply: yes", (S.X_AUTOREPLY,)),
        ("X-Autoreply: no", ()),
        ("X-AUTORESPOND: 1", (S.X_AUTORESPOND,)),
        ("X-Autorespond: false", ()),
        ("Precedence: auto_reply", (S.PRECEDENCE,)),
        ("Precedence: bulk", (S.PRECEDENCE,)),
        ("Precedence: Junk", (S.PRECEDENCE,)),
        ("Precedence: list", ()),
        ("X-Auto-Response-Suppress: All", ()),
        ("X-MS-Exchange-Inbox-Rules-Loop: a@b.example", ()),
        (
            "X-Auto-Response-Suppress: All\nX-MS-Exchange-Inbox-Rules-Loop: a@b.example",
            (S.EXCHANGE_AUTO_REPLY,),
        ),
        ("Auto-Submitted:\n auto-replied", (S.AUTO_SUBMITTED,)),
    ],
)
def test_headers(headers: str, signals: tuple[AutoReplySignal, ...]) -> None:
    found = recognize_auto_reply(message(headers), UTC)
    assert (found.is_auto_reply, found.signals) == (bool(signals), signals)


@pytest.mark.parametrize(
    ("subject", "auto"),
    [
        ("Out of Office: Quick question", True),
        ("Out of the office", True),
        ("Automatic reply: Quick question", True),
        ("Auto-Reply: Quick question", True),
        ("AutoReply", True),
        ("Auto: Quick question", True),
        ("Automatisk svar: Rask prat", True),
        ("Automatiskt svar: Snabb fråga", True),
        ("Autosvar: Rask prat", True),
        ("Fraværsmelding", True),
        ("Fravær: Rask prat", True),
        ("=?utf-8?q?Frav=C3=A6rsmelding?=", True),
        ("Abwesenheitsnotiz: Kurze Frage", True),
        ("Automatische Antwort: Kurze Frage", True),
        ("Réponse automatique : Question", True),
        ("Re: Quick question", False),
        ("SV: Out of office policy", False),
        ("Automation ideas", False),
        ("Fraværet ditt", False),
        ("", False),
    ],
)
def test_subjects_are_a_weaker_signal(subject: str, auto: bool) -> None:
    found = recognize_auto_reply(message(f"Subject: {subject}"), UTC)
    assert found.signals == ((S.SUBJECT,) if auto else ())


def test_the_return_date_is_read_on_the_zones_calendar() -> None:
    raw = message(
        "Auto-Submitted: auto-replied", "Back on 31 December.", "Thu, 31 Dec 2026 23:30:00 +0000"
    )
    assert recognize_auto_reply(raw, UTC).return_date == date(2026, 12, 31)
    # In Oslo it is already 1 January 2027: "31 December" is yesterday, an outdated notice.
    assert recognize_auto_reply(raw, OSLO).return_date is None


def test_without_a_date_header_received_at_is_the_reference() -> None:
    raw = "Auto-Submitted: auto-replied\n\nI will be back on 12 January.\n"
    assert recognize_auto_reply(raw, OSLO).return_date is None
    found = recognize_auto_reply(raw, OSLO, datetime(2027, 1, 5, 12, tzinfo=UTC))
    assert found.return_date == date(2027, 1, 12)


def test_html_only_and_quoted_text() -> None:
    html = (
        "Content-Type: text/html; charset=utf-8\nAuto-Submitted: auto-replied\n\n"
        "<p>Jeg er tilbake <b>mandag</b>&nbsp;11.&nbsp;januar.</p>"
    )
    assert recognize_auto_reply(message(html), OSLO).return_date == date(2027, 1, 11)
    quoted = "Thanks!\n> I'll be back on 12 January\n"
    assert (
        recognize_auto_reply(message("Auto-Submitted: auto-replied", quoted), OSLO).return_date
        is None
    )


# ---- return dates from text ----------------------------------------------------------------

SENT = date(2027, 1, 5)  # a Tuesday


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I will be back on 12 January.", date(2027, 1, 12)),
        ("I'll be back in the office on January 12th, 2027.", date(2027, 1, 12)),
        ("I am returning on Monday, 18 January", date(2027, 1, 18)),
        ("Back 2027-01-20.", date(2027, 1, 20)),
        ("returning 13/1", date(2027, 1, 13)),
        ("returning 1/13", date(2027, 1, 13)),
        ("returning Wednesday 3/2", date(2027, 2, 3)),  # 3 Feb is a Wednesday, 2 Mar isn't
        ("returning Tuesday 3/2", date(2027, 3, 2)),
        ("Jeg er tilbake 14. januar.", date(2027, 1, 14)),
        ("Tilbake på kontoret mandag 18.01.", date(2027, 1, 18)),
        ("Jeg er tilbake igjen den 1.2.2027", date(2027, 2, 1)),
        ("Ab dem 14. Januar bin ich wieder im Büro.", date(2027, 1, 14)),
        ("Ich bin am Montag, 18. Januar zurück.", date(2027, 1, 18)),
        ("back 12 jan. Tilbake 12. januar.", date(2027, 1, 12)),
        ("I'll get back to you on 12 January.", date(2027, 1, 12)),
        # ambiguous, contradictory or not a return date: none
        ("returning 3/2", None),
        ("returning Monday 3/2", None),  # neither 3 Feb nor 2 Mar is a Monday
        ("I am back on Friday 12 January", None),  # 12 January 2027 is a Tuesday
        ("back 12 jan. Tilbake 13. januar.", None),
        ("back at 10.05", None),
        ("tilbake kl 10.05", None),
        ("back on 3 January", None),  # two days ago: an outdated notice, not next year
        ("back on 3 January 2026", None),
        ("back on 12 January 2029", None),
        ("I am out of the office until 12 January.", None),
        ("Ich bin bis 13. Januar im Urlaub und danach wieder erreichbar.", None),
        ("Ich bin ab 2. Januar im Urlaub und danach wieder erreichbar.", None),
        ("Jeg er på ferie fra 2. januar.", None),
        ("back in 2 weeks", None),
        ("back on 31 February", None),
        ("I will be back.", None),
        ("", None),
    ],
)
def test_return_dates(text: str, expected: date | None) -> None:
    assert find_return_date(text, SENT) == expected


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=2000), st.dates())
def test_a_found_return_date_is_never_before_sending_nor_far_after(text: str, sent: date) -> None:
    found = find_return_date(text, sent)
    assert found is None or timedelta(0) <= found - sent <= RETURN_MAX


RETURN_WORDS = st.sampled_from(
    ["back", "returning", "tilbake", "zurück", "ab dem", "am", "wieder", "until"]
)
DATE_BITS = st.sampled_from(
    [
        "12",
        "3/2",
        "14.01.",
        "2027-01-12",
        "januar",
        "January",
        "Monday",
        "mandag",
        "kl",
        "at",
        " ",
        ".",
        "\n",
        ",",
    ]
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(RETURN_WORDS, DATE_BITS, st.text(max_size=5)), max_size=30), st.dates())
def test_date_like_text_never_raises(bits: list[str], sent: date) -> None:
    found = find_return_date(" ".join(bits), sent)
    assert found is None or timedelta(0) <= found - sent <= RETURN_MAX


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(st.binary(max_size=3000), st.text(max_size=3000)),
    st.sampled_from([UTC, OSLO, ZoneInfo("Pacific/Kiritimati")]),
    st.none() | st.datetimes(timezones=st.just(UTC)),
)
def test_arbitrary_messages_never_raise(
    raw: bytes | str, zone: ZoneInfo, at: datetime | None
) -> None:
    found = recognize_auto_reply(raw, zone, at)
    assert found.is_auto_reply == bool(found.signals)
    assert found.return_date is None or found.is_auto_reply


HEADER_NAMES = [
    "Auto-Submitted",
    "Precedence",
    "X-Autoreply",
    "X-Autorespond",
    "Subject",
    "Date",
    "Content-Type",
    "Content-Transfer-Encoding",
    "X-Auto-Response-Suppress",
    "X-MS-Exchange-Inbox-Rules-Loop",
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.sampled_from(HEADER_NAMES),
            st.text(st.characters(exclude_categories=["Cs"]), max_size=50),
        ),
        max_size=8,
    ),
    st.text(max_size=500),
)
def test_garbled_headers_never_raise(headers: list[tuple[str, str]], body: str) -> None:
    raw = "".join(f"{name}: {value}\n" for name, value in headers) + "\n" + body
    recognize_auto_reply(raw, OSLO, datetime(2027, 1, 5, tzinfo=UTC))
