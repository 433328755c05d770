"""Auto-replies: recognise an out-of-office or other automatic answer, and the return date
it states.

`recognize_auto_reply` reads a raw inbound message and never raises. Headers are the
signals (RFC 3834 `Auto-Submitted` and the vendor headers in `AutoReplySignal`); a subject
that starts like an automatic reply is a weaker one, reported last. `find_return_date`
reads a return date from text ("back on 12 January", "tilbake 14. januar", "returning
Monday 3/2") and prefers no date to a wrong one. docs/email.md ("Bounces and auto-replies")
lists what is recognised.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo
from email.message import Message
from email.utils import parsedate_to_datetime
from enum import StrEnum

from sekvens.domain.mail_text import header, message_from, part_text

#: Characters of the text searched for a return date.
TEXT_MAX = 10_000
#: How far after the message a return date may lie.
RETURN_MAX = timedelta(days=366)
#: A day and month without a year this shortly before the message is an outdated notice
#: (no date), not next year's.
STALE_MAX = timedelta(days=60)


class AutoReplySignal(StrEnum):
    """What marked a message as automatic, strongest first."""

    #: `Auto-Submitted` with any value but `no` (RFC 3834: auto-replied, auto-generated, ...).
    AUTO_SUBMITTED = "AUTO_SUBMITTED"
    #: Exchange / Microsoft 365: `X-Auto-Response-Suppress` together with
    #: `X-MS-Exchange-Inbox-Rules-Loop` (its out-of-office and rule replies carry both).
    EXCHANGE_AUTO_REPLY = "EXCHANGE_AUTO_REPLY"
    #: `X-Autoreply` (any value but no/false/0).
    X_AUTOREPLY = "X_AUTOREPLY"
    #: `X-Autorespond` (any value but no/false/0).
    X_AUTORESPOND = "X_AUTORESPOND"
    #: `Precedence: auto_reply`, `bulk` or `junk`.
    PRECEDENCE = "PRECEDENCE"
    #: The subject starts like an automatic reply ("Automatic reply:", "Fraværsmelding").
    SUBJECT = "SUBJECT"


@dataclass(frozen=True)
class AutoReply:
    """Whether a message is automatic, the signals that said so, and a stated return date."""

    is_auto_reply: bool
    signals: tuple[AutoReplySignal, ...]
    return_date: date | None

    @property
    def reason(self) -> AutoReplySignal | None:
        """The strongest signal."""
        return self.signals[0] if self.signals else None


_NEGATIVE = frozenset({"no", "false", "0"})
_PRECEDENCE = frozenset({"auto_reply", "bulk", "junk"})
_SUBJECT_RE = re.compile(
    r"\s*(?:auto(?:matic|matiskt|matisk|matische|matisch)?[ _-]?"
    r"(?:reply|replied|response|svar|antwort|antwoord|respuesta)|auto:|autosvar|"
    r"out of (?:the )?office|fraværsmelding|frånvaro|"
    r"fravær(?:snotat)?\b|abwesenheit(?:snotiz)?|abwesend|réponse automatique|"
    r"respuesta automática|afwezig)",
    re.IGNORECASE,
)


def recognize_auto_reply(
    raw: bytes | str, zone: tzinfo, received_at: datetime | None = None
) -> AutoReply:
    """Read `raw`. A return date is looked for only in an automatic reply, counted from the
    message's `Date` (else `received_at`) on the calendar of `zone`."""
    message = message_from(raw)
    signals = _signals(message)
    if not signals:
        return AutoReply(False, (), None)
    sent = _date_header(header(message, "Date")) or received_at
    if sent is None:
        return AutoReply(True, signals, None)
    if sent.tzinfo is None:
        sent = sent.replace(tzinfo=UTC)
    try:
        local = sent.astimezone(zone).date()
    except (OverflowError, ValueError):
        return AutoReply(True, signals, None)
    subject = header(message, "Subject", decode_words=True) or ""
    return AutoReply(True, signals, find_return_date(f"{subject}\n{_body(message)}", local))


def _signals(message: Message) -> tuple[AutoReplySignal, ...]:
    def value(name: str) -> str | None:
        found = header(message, name)
        return found.split(";")[0].strip().lower() if found is not None else None

    found: list[AutoReplySignal] = []
    auto_submitted = value("Auto-Submitted")
    if auto_submitted and auto_submitted != "no":
        found.append(AutoReplySignal.AUTO_SUBMITTED)
    if value("X-Auto-Response-Suppress") is not None and value("X-MS-Exchange-Inbox-Rules-Loop"):
        found.append(AutoReplySignal.EXCHANGE_AUTO_REPLY)
    for name, signal in (
        ("X-Autoreply", AutoReplySignal.X_AUTOREPLY),
        ("X-Autorespond", AutoReplySignal.X_AUTORESPOND),
    ):
        flag = value(name)
        if flag is not None and flag not in _NEGATIVE:
            found.append(signal)
    if value("Precedence") in _PRECEDENCE:
        found.append(AutoReplySignal.PRECEDENCE)
    if _SUBJECT_RE.match(header(message, "Subject", decode_words=True) or ""):
        found.append(AutoReplySignal.SUBJECT)
    return tuple(found)


def _date_header(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None


def _body(message: Message) -> str:
    """The first plain-text part, else the first html part as text ("" when neither)."""
    parts = _leaves(message)
    for wanted in ("text/plain", "text/html"):
        for part in parts:
            if part.get_content_type() == wanted and part.get_content_disposition() != "attachment":
                text = part_text(part)[: TEXT_MAX * 4]
                return _html_text(text) if wanted == "text/html" else text
    return ""


def _leaves(message: Message) -> list[Message]:
    if message.get_content_maintype() != "multipart" or not message.is_multipart():
        return [message]
    return [
        leaf
        for part in message.get_payload()
        if isinstance(part, Message)
        for leaf in _leaves(part)
    ]


def _html_text(markup: str) -> str:
    markup = re.sub(r"(?i)<br\s*/?>|</p\s*>|</div\s*>", "\n", markup)
    return html.unescape(re.sub(r"<[^>]*>", " ", markup))


# ---- return dates ---------------------------------------------------------------------------

_MONTHS = {
    **dict.fromkeys(("january", "januar", "jänner", "jan"), 1),
    **dict.fromkeys(("february", "februar", "feb"), 2),
    **dict.fromkeys(("march", "mars", "märz", "maerz", "mar"), 3),
    **dict.fromkeys(("april", "apr"), 4),
    **dict.fromkeys(("may", "mai"), 5),
    **dict.fromkeys(("june", "juni", "jun"), 6),
    **dict.fromkeys(("july", "juli", "jul"), 7),
    **dict.fromkeys(("august", "aug"), 8),
    **dict.fromkeys(("september", "sept", "sep"), 9),
    **dict.fromkeys(("october", "oktober", "oct", "okt"), 10),
    **dict.fromkeys(("november", "nov"), 11),
    **dict.fromkeys(("december", "desember", "dezember", "dec", "des", "dez"), 12),
}
_WEEKDAYS = {
    **dict.fromkeys(("monday", "mon", "mandag", "montag"), 0),
    **dict.fromkeys(("tuesday", "tue", "tues", "tirsdag", "dienstag"), 1),
    **dict.fromkeys(("wednesday", "wed", "onsdag", "mittwoch"), 2),
    **dict.fromkeys(("thursday", "thu", "thur", "thurs", "torsdag", "donnerstag"), 3),
    **dict.fromkeys(("friday", "fri", "fredag", "freitag"), 4),
    **dict.fromkeys(("saturday", "sat", "lørdag", "samstag"), 5),
    **dict.fromkeys(("sunday", "sun", "søndag", "sonntag"), 6),
}


def _alternatives(names: dict[str, int]) -> str:
    return "|".join(sorted(map(re.escape, names), key=len, reverse=True))


_MONTH = rf"(?P<mname>{_alternatives(_MONTHS)})\b\.?"
_MONTH2 = rf"(?P<mname2>{_alternatives(_MONTHS)})\b\.?"
_DATE = (
    r"(?:(?P<iy>\d{4})-(?P<im>\d{1,2})-(?P<id>\d{1,2})"
    rf"|(?P<nd>\d{{1,2}})(?:st|nd|rd|th|\.)?\s+(?:of\s+)?{_MONTH}(?:,?\s+(?P<ny>\d{{4}}))?"
    rf"|{_MONTH2}\s+(?P<md>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<my>\d{{4}}))?"
    r"|(?P<a>\d{1,2})(?P<sep>[./])(?P<b>\d{1,2})(?:(?P=sep)(?P<y>\d{4}|\d{2}))?(?P=sep)?)"
    r"(?![\d:/-]|\.\d)"
)
#: A return word, up to 40 characters without digits or a sentence's end, then a date.
_FORWARD_RE = re.compile(
    r"\b(?:back|return|returns|returning|tilbake|zurück|zurueck)\b"
    rf"(?P<filler>[^\d.!?;:\n]{{0,40}}?){_DATE}"
)
#: German puts the date first: "Ab dem 14. Januar bin ich wieder im Büro".
_GERMAN_RE = re.compile(
    rf"\b(?:ab|am)\s+(?:dem\s+|den\s+)?(?P<filler>(?:[a-zä]+,?\s+)?){_DATE}"
    r"(?:\s+(?:bin|ich|werde|wir|sind|er|sie|ist))*\s+(?:wieder|zurück|zurueck)\b"
)
#: A time, not a date: "back at 10.05", "tilbake kl 10.05".
_TIME_BEFORE_RE = re.compile(r"\b(?:at|by|around|um|kl|klokka|klokken|ca)\s*$")
_QUOTE_CUT_RE = re.compile(
    r"^(?:-{2,}\s*(?:original message|opprinnelig melding|ursprüngliche nachricht)|_{10,}\s*$)",
    re.IGNORECASE | re.MULTILINE,
)


def find_return_date(text: str, sent: date) -> date | None:
    """The return date `text` states, read relative to `sent` (the local date it was sent);
    None when it states none, states several, or one that can't be right (a weekday that
    doesn't match, a date before `sent` or more than a year after it)."""
    found = {
        when for match in _candidates(_clean(text)) if (when := _resolve(match, sent)) is not None
    }
    return found.pop() if len(found) == 1 else None


def _clean(text: str) -> str:
    cut = _QUOTE_CUT_RE.search(text)
    lines = (text[: cut.start()] if cut else text).splitlines()
    kept = " \n".join(line for line in lines if not line.lstrip().startswith(">"))
    return re.sub(r"[ \t\u00a0]+", " ", kept[:TEXT_MAX].lower())


def _candidates(text: str) -> list[re.Match[str]]:
    return [*_FORWARD_RE.finditer(text), *_GERMAN_RE.finditer(text)]


def _resolve(match: re.Match[str], sent: date) -> date | None:
    filler = match.group("filler")
    weekdays = [_WEEKDAYS[w] for w in re.findall(r"[a-zøæåäöüé]+", filler) if w in _WEEKDAYS]
    weekday = weekdays[-1] if weekdays else None
    options: list[tuple[int, int, int | None]]
    if match.group("iy"):
        options = [(int(match.group("id")), int(match.group("im")), int(match.group("iy")))]
    elif match.group("mname"):
        month = _MONTHS[match.group("mname")]
        options = [(int(match.group("nd")), month, _year(match.group("ny")))]
    elif match.group("mname2"):
        month = _MONTHS[match.group("mname2")]
        options = [(int(match.group("md")), month, _year(match.group("my")))]
    else:
        if _TIME_BEFORE_RE.search(filler):
            return None
        a, b, year_of = int(match.group("a")), int(match.group("b")), _year(match.group("y"))
        # Dots are day.month (European); a slash is either way round unless told.
        options = [(a, b, year_of)]
        if match.group("sep") == "/" and a != b:
            options.append((b, a, year_of))
    dates = {d for option in options if (d := _date(*option, sent)) is not None}
    if weekday is not None:
        dates = {d for d in dates if d.weekday() == weekday}
    return dates.pop() if len(dates) == 1 else None


def _year(text: str | None) -> int | None:
    if text is None:
        return None
    return int(text) + 2000 if len(text) == 2 else int(text)


def _date(day: int, month: int, year: int | None, sent: date) -> date | None:
    """The date (with a missing year: its next occurrence from `sent` on); None when invalid,
    before `sent`, more than `RETURN_MAX` after it, or without a year when that day and month
    were shortly before `sent` (an outdated notice, not next year's)."""
    if year is not None:
        when = _valid(year, month, day)
    else:
        years = (sent.year - 1, sent.year, sent.year + 1)
        options = [d for y in years if (d := _valid(y, month, day)) is not None]
        if any(timedelta(0) < sent - d <= STALE_MAX for d in options):
            return None
        when = min((d for d in options if d >= sent), default=None)
    if when is None or when < sent or when - sent > RETURN_MAX:
        return None
    return when


def _valid(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None
