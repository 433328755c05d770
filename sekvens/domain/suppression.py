"""The suppression list's rules: which addresses it holds, and how an address is written."""

from __future__ import annotations

from enum import StrEnum

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.records import EMAIL_RE

ADDRESS_MAX = 254
NOTE_MAX = 400
#: Addresses in one add or remove.
BULK_MAX = 1000


class SuppressionSource(StrEnum):
    """How an address came onto the list."""

    MANUAL = "MANUAL"
    IMPORT = "IMPORT"
    UNSUBSCRIBED = "UNSUBSCRIBED"
    BOUNCED = "BOUNCED"


class EmailOptOut(StrEnum):
    """Why a record must not get email."""

    DO_NOT_EMAIL = "DO_NOT_EMAIL"
    SUPPRESSED = "SUPPRESSED"


def normalize(address: str) -> str:
    """The form kept and compared: trimmed, lower-cased (addresses match case-insensitively)."""
    return address.strip().lower()


def check_address(address: str, field: tuple[str, ...]) -> Problem | None:
    """Why `address` cannot go on the list, or None."""
    value = normalize(address)
    if len(value) > ADDRESS_MAX:
        message = f"An address is at most {ADDRESS_MAX} characters."
        return Problem(ErrorCode.TOO_LONG, message, field)
    if not EMAIL_RE.match(value):
        return Problem(ErrorCode.INVALID_VALUE, f"'{address}' is not an email address.", field)
    return None
