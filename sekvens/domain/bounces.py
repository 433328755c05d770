"""Bounces: read delivery status notifications (RFC 3464) and SMTP replies, hard or soft.

`parse_dsn` reads a raw message (RFC 5322 bytes or text) and returns a `DeliveryReport`, or
None when the message holds no delivery-status part (a plain-text bounce, a reply, garbage).
It never raises. `parse_smtp_reply` reads one SMTP reply ("550 5.1.1 User unknown").
Both classify through `classify`; the table is in docs/email.md ("Bounces and auto-replies").
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import Message
from email.utils import parsedate_to_datetime
from enum import StrEnum

from sekvens.domain.mail_text import header, message_from, part_text, transfer_encoding

#: Characters of a diagnostic text kept (replies from some servers run to pages).
DIAGNOSTIC_MAX = 1000


class BounceType(StrEnum):
    """HARD: the address can't take mail (suppress it). SOFT: try again later."""

    HARD = "HARD"
    SOFT = "SOFT"


class DsnAction(StrEnum):
    """A recipient's `Action` (RFC 3464 2.3.3)."""

    FAILED = "failed"
    DELAYED = "delayed"
    DELIVERED = "delivered"
    RELAYED = "relayed"
    EXPANDED = "expanded"


@dataclass(frozen=True)
class SmtpReply:
    """One SMTP reply: the basic code, the enhanced status (RFC 3463) and what that means."""

    code: int | None
    status: str | None
    text: str
    bounce_type: BounceType | None


@dataclass(frozen=True)
class RecipientStatus:
    """One per-recipient block of a DSN. `bounce_type` is None when it reports no failure."""

    address: str
    original_recipient: str | None
    action: DsnAction | None
    status: str | None
    bounce_type: BounceType | None
    diagnostic: str | None
    smtp_code: int | None
    remote_mta: str | None
    will_retry_until: datetime | None
    #: The returned message's Message-ID (the same for every recipient of one report).
    original_message_id: str | None


@dataclass(frozen=True)
class DeliveryReport:
    """A parsed DSN: the per-message fields and one entry per recipient block."""

    reporting_mta: str | None
    arrival_date: datetime | None
    original_message_id: str | None
    recipients: tuple[RecipientStatus, ...]

    @property
    def bounces(self) -> tuple[RecipientStatus, ...]:
        """The recipients that failed or were delayed."""
        return tuple(r for r in self.recipients if r.bounce_type is not None)


# Permanent (5.x.x) statuses that are SOFT: the mailbox exists but is full, the message or the
# sender was refused, the destination system had trouble. Everything else 5.x.x is HARD.
_SOFT_STATUSES = frozenset(
    {"5.1.7", "5.1.8", "5.2.2", "5.2.3", "5.2.4", "5.4.3", "5.4.6", "5.4.7", "5.5.3"}
)
_SOFT_SUBJECTS = frozenset({"3", "6", "7"})
# Policy statuses that do say the address is gone (RFC 7372, RFC 7293).
_HARD_STATUSES = frozenset({"5.7.13", "5.7.17", "5.7.18"})
# Basic codes without a telling enhanced status: 552 is "exceeded storage allocation".
_SOFT_CODES = frozenset({552})
_QUOTA_RE = re.compile(
    r"mailbox (?:is )?full|over ?quota|quota exceeded|exceeded (?:the |its |their )?"
    r"(?:storage|quota)|insufficient (?:system )?storage",
    re.IGNORECASE,
)

_STATUS_RE = re.compile(r"([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")
_REPLY_START_RE = re.compile(r"\s*([2-5]\d\d)(?:[ -]|$)\s*(?:([245]\.\d{1,3}\.\d{1,3})(?!\.?\d))?")
_REPLY_INSIDE_RE = re.compile(r"(?<![\d.])([2-5]\d\d)[ -]([245]\.\d{1,3}\.\d{1,3})(?!\.?\d)")
_MESSAGE_ID_RE = re.compile(r"<[^<>\s]+>")

_DSN_TYPES = frozenset({"message/delivery-status", "message/global-delivery-status"})
_ORIGINAL_TYPES = frozenset(
    {"text/rfc822-headers", "message/rfc822", "message/global", "message/global-headers"}
)


def normalize_status(value: str | None) -> str | None:
    """`class.subject.detail` without leading zeros, or None when `value` starts with none."""
    match = _STATUS_RE.match(value.strip()) if value else None
    if match is None:
        return None
    cls, subject, detail = match.groups()
    return f"{cls}.{int(subject)}.{int(detail)}"


def classify(status: str | None, code: int | None = None, text: str = "") -> BounceType | None:
    """HARD, SOFT, or None (success, or nothing to go by) for an enhanced status and/or a
    basic reply code. The basic code's class wins when the two disagree; an unspecific status
    (X.0.0) defers to the code, then to words about a full mailbox in `text`."""
    status = normalize_status(status)
    if status is not None and code is not None and status[0] != str(code)[0]:
        status = None
    if status is None and code is None:
        return None
    cls = status[0] if status is not None else str(code)[0]
    if cls in "23":
        return None
    if cls == "4":
        return BounceType.SOFT
    if status is not None and not status.endswith(".0.0"):
        if status in _HARD_STATUSES:
            return BounceType.HARD
        if status in _SOFT_STATUSES or status.split(".")[1] in _SOFT_SUBJECTS:
            return BounceType.SOFT
        return BounceType.HARD
    if code in _SOFT_CODES or _QUOTA_RE.search(text):
        return BounceType.SOFT
    return BounceType.HARD


def parse_smtp_reply(reply: str) -> SmtpReply:
    """Read a reply such as "550 5.1.1 <a@b>: User unknown" or "452-4.2.2 The mailbox is
    full"; a code or status found later in the text ("host said: 550 5.1.1 ...") counts too."""
    text = " ".join(reply.split())[:DIAGNOSTIC_MAX]
    code: int | None = None
    status: str | None = None
    match = _REPLY_START_RE.match(reply)
    if match is not None:
        code, status = int(match.group(1)), match.group(2)
    if status is None and (inside := _REPLY_INSIDE_RE.search(reply)) is not None:
        code, status = code or int(inside.group(1)), inside.group(2)
    status = normalize_status(status)
    return SmtpReply(code, status, text, classify(status, code, text))


def parse_dsn(raw: bytes | str) -> DeliveryReport | None:
    """The delivery status notification in `raw`, or None when it holds none."""
    message = message_from(raw)
    parts = list(_parts(message))
    dsn = next((p for p in parts if p.get_content_type() in _DSN_TYPES), None)
    if dsn is None:
        return None
    blocks = _blocks(dsn)
    per_message = next((b for b in blocks if not _is_recipient(b)), Message())
    original_id = _original_message_id(parts) or message_id(
        header(per_message, "X-Original-Message-ID")
    )
    recipients = tuple(
        r for b in blocks if _is_recipient(b) if (r := _recipient(b, original_id)) is not None
    )
    return DeliveryReport(
        reporting_mta=_typed_value(header(per_message, "Reporting-MTA")),
        arrival_date=_date(header(per_message, "Arrival-Date")),
        original_message_id=original_id,
        recipients=recipients,
    )


def _parts(message: Message) -> Iterator[Message]:
    """The message's parts, depth first, without looking inside a returned message or a DSN."""
    yield message
    if message.get_content_maintype() == "multipart" and message.is_multipart():
        for part in message.get_payload():
            if isinstance(part, Message):
                yield from _parts(part)


def _blocks(dsn: Message) -> list[Message]:
    """The DSN part's field blocks: parsed by the email package, or (base64, a global DSN)
    parsed here from its decoded text."""
    payload = dsn.get_payload()
    if (
        isinstance(payload, list)
        and dsn.get_content_type() == "message/delivery-status"
        and transfer_encoding(dsn) not in ("base64", "quoted-printable")
    ):
        return [b for b in payload if isinstance(b, Message)]
    text = part_text(dsn)
    return [message_from(chunk) for chunk in re.split(r"\n[ \t]*\n", text.replace("\r\n", "\n"))]


def _is_recipient(block: Message) -> bool:
    return header(block, "Final-Recipient") is not None or (
        header(block, "Original-Recipient") is not None
    )


def _recipient(block: Message, original_id: str | None) -> RecipientStatus | None:
    original = _address(header(block, "Original-Recipient"))
    address = _address(header(block, "Final-Recipient")) or original
    if not address:
        return None
    action_text = (header(block, "Action") or "").strip().lower()
    action = next((a for a in DsnAction if a.value == action_text), None)
    status = normalize_status(header(block, "Status"))
    diagnostic = _typed_value(header(block, "Diagnostic-Code"))
    reply = parse_smtp_reply(diagnostic) if diagnostic else None
    return RecipientStatus(
        address=address,
        original_recipient=original,
        action=action,
        status=status,
        bounce_type=_bounce_type(action, status, reply),
        diagnostic=reply.text if reply else None,
        smtp_code=reply.code if reply else None,
        remote_mta=_typed_value(header(block, "Remote-MTA")),
        will_retry_until=_date(header(block, "Will-Retry-Until")),
        original_message_id=original_id,
    )


def _bounce_type(
    action: DsnAction | None, status: str | None, reply: SmtpReply | None
) -> BounceType | None:
    """A delay is SOFT; a failure is classified by its Status (made specific by the
    diagnostic's enhanced status when the Status is X.0.0); no Status at all leaves
    "failed" HARD (RFC 3464: a permanent failure)."""
    if action is DsnAction.DELAYED:
        return BounceType.SOFT
    if action in (DsnAction.DELIVERED, DsnAction.RELAYED, DsnAction.EXPANDED):
        return None
    code, text = (reply.code, reply.text) if reply else (None, "")
    unspecific = status is None or status.endswith(".0.0")
    if reply and reply.status and unspecific and (status or reply.status)[0] == reply.status[0]:
        status = reply.status
    found = classify(status, code, text) if status or code else None
    if found is None and action is DsnAction.FAILED and not (status or code):
        return BounceType.HARD
    return found


def _original_message_id(parts: list[Message]) -> str | None:
    for part in parts:
        if part.get_content_type() not in _ORIGINAL_TYPES:
            continue
        payload = part.get_payload()
        if isinstance(payload, list):
            headers = next((p for p in payload if isinstance(p, Message)), Message())
        else:
            headers = message_from(part_text(part))
        if (found := message_id(header(headers, "Message-ID"))) is not None:
            return found
    return None


def message_id(value: str | None) -> str | None:
    """A Message-ID in its stored form, `<left@right>`, or None."""
    if not value:
        return None
    match = _MESSAGE_ID_RE.search(value)
    if match is not None:
        return match.group(0)
    bare = "".join(value.split()).strip("<>")
    return f"<{bare}>" if bare and "@" in bare and "<" not in bare and ">" not in bare else None


def _typed_value(value: str | None) -> str | None:
    """The value of a typed field ("rfc822; a@b", "smtp; 550 ..."), unfolded."""
    if value is None:
        return None
    _, _, rest = value.partition(";") if ";" in value else ("", "", value)
    return " ".join(rest.split()) or None


def _address(value: str | None) -> str | None:
    found = _typed_value(value)
    return found.strip("<>").strip() or None if found else None


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        parsed = parsedate_to_datetime(" ".join(value.split()))
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)
