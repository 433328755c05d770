"""Sender identities: who an automated email comes from (display name, address, Reply-To,
signature), set per user with the organization's default as fallback (docs/email.md,
"Sender identity")."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from email.errors import HeaderParseError
from email.headerregistry import Address
from typing import Protocol

from sekvens.domain.errors import ErrorCode, Problem
from sekvens.domain.records import EMAIL_RE

NAME_MAX = 160
ADDRESS_MAX = 254
SIGNATURE_MAX = 5_000


@dataclass(frozen=True)
class SenderIdentity:
    """The identity an automated email is sent with. `address` None: the deployment's
    `SEKVENS_MAIL_FROM`; an empty `name` sends the bare address."""

    address: str | None
    name: str = ""
    reply_to: str | None = None
    signature: str = ""


class IdentityDefaults(Protocol):
    """The organization's default identity (an organization row)."""

    @property
    def sender_name(self) -> str | None: ...
    @property
    def sender_address(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def signature(self) -> str | None: ...


class UserIdentity(Protocol):
    """A user's identity and name (a user row)."""

    @property
    def email(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def sender_name(self) -> str | None: ...
    @property
    def reply_to(self) -> str | None: ...
    @property
    def signature(self) -> str | None: ...


def effective_identity(org: IdentityDefaults, user: UserIdentity | None) -> SenderIdentity:
    """The identity of an email sent as `user` (the assignee), or as the organization when
    there is none: each part the user's own, else the organization's default; the user's
    name when neither has a display name. Without a user the address is the organization's
    sender address (None: the deployment's `SEKVENS_MAIL_FROM`)."""
    if user is None:
        return SenderIdentity(
            org.sender_address, org.sender_name or "", org.reply_to, org.signature or ""
        )
    return SenderIdentity(
        user.email,
        user.sender_name or org.sender_name or user.name or "",
        user.reply_to or org.reply_to,
        user.signature or org.signature or "",
    )


def is_address(value: str) -> bool:
    """True when `value` is one plain address (`name@example.com`) fit for a header."""
    if not EMAIL_RE.match(value):
        return False
    try:
        return Address(addr_spec=value).addr_spec == value
    except (ValueError, HeaderParseError):
        return False


def check_name(value: str, field: tuple[str, ...]) -> Problem | None:
    """Why `value` cannot be a display name (too long, a line break or control character)."""
    if len(value) > NAME_MAX:
        return Problem(
            ErrorCode.TOO_LONG, f"A sender name is at most {NAME_MAX} characters.", field
        )
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        message = "A sender name is one line, without control characters."
        return Problem(ErrorCode.INVALID_VALUE, message, field)
    return None


def check_address(value: str, field: tuple[str, ...]) -> Problem | None:
    """Why `value` cannot be a sender or Reply-To address."""
    if len(value) > ADDRESS_MAX:
        message = f"An address is at most {ADDRESS_MAX} characters."
        return Problem(ErrorCode.TOO_LONG, message, field)
    if not is_address(value):
        return Problem(ErrorCode.INVALID_VALUE, f"'{value}' is not an email address.", field)
    return None


def check_signature(value: str, field: tuple[str, ...]) -> Problem | None:
    if len(value) > SIGNATURE_MAX:
        message = f"A signature is at most {SIGNATURE_MAX:,} characters."
        return Problem(ErrorCode.TOO_LONG, message, field)
    return None


@dataclass(frozen=True)
class IdentityChange:
    """Identity parts to set (a user's, or the organization's default): None leaves a part
    as it is, an empty or blank text clears it. Names, addresses are trimmed; a signature is
    kept as written."""

    name: str | None = None
    address: str | None = None
    reply_to: str | None = None
    signature: str | None = None

    def problems(self) -> list[Problem]:
        """What is wrong with the given parts, at their input fields."""
        found = [
            self.name and check_name(self.name.strip(), ("senderName",)),
            self.address and check_address(self.address.strip(), ("senderAddress",)),
            self.reply_to and check_address(self.reply_to.strip(), ("replyTo",)),
            self.signature and check_signature(self.signature, ("signature",)),
        ]
        return [p for p in found if isinstance(p, Problem)]

    def stored(self) -> dict[str, str | None]:
        """The columns to write (`sender_name`, `sender_address`, `reply_to`, `signature`)
        for the given parts; None clears one."""
        given = {
            "sender_name": self.name,
            "sender_address": self.address,
            "reply_to": self.reply_to,
            "signature": self.signature,
        }
        return {
            column: (value if column == "signature" else value.strip()) if value.strip() else None
            for column, value in given.items()
            if value is not None
        }
