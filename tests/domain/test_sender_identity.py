"""The sender identity rules (domain/sender_identity.py): which parts win, and the bounds of
what may be set, at and around each boundary."""

from __future__ import annotations

import itertools
import unicodedata
from dataclasses import dataclass

from hypothesis import given
from hypothesis import strategies as st

from sekvens.domain.errors import ErrorCode
from sekvens.domain.sender_identity import (
    ADDRESS_MAX,
    NAME_MAX,
    SIGNATURE_MAX,
    IdentityChange,
    SenderIdentity,
    check_name,
    effective_identity,
)


@dataclass
class Org:
    sender_name: str | None = None
    sender_address: str | None = None
    reply_to: str | None = None
    signature: str | None = None


@dataclass
class User:
    email: str = "kari@acme.example"
    name: str = "Kari"
    sender_name: str | None = None
    reply_to: str | None = None
    signature: str | None = None


def test_each_part_is_the_users_else_the_organizations() -> None:
    """Every combination of set and unset parts, the user's and the organization's."""
    for u_name, u_reply, u_sig, o_name, o_reply, o_sig in itertools.product([None, "x"], repeat=6):
        user = User(
            sender_name=u_name and "U name",
            reply_to=u_reply and "u@x.no",
            signature=u_sig and "U sig",
        )
        org = Org(o_name and "O name", "o@x.no", o_reply and "r@x.no", o_sig and "O sig")
        got = effective_identity(org, user)
        assert got.address == "kari@acme.example"
        assert got.name == ("U name" if u_name else "O name" if o_name else "Kari")
        assert got.reply_to == ("u@x.no" if u_reply else "r@x.no" if o_reply else None)
        assert got.signature == ("U sig" if u_sig else "O sig" if o_sig else "")


def test_without_a_user_it_is_the_organizations() -> None:
    assert effective_identity(Org(), None) == SenderIdentity(None)
    org = Org("Acme", "hello@acme.example", "r@acme.example", "Acme AS")
    assert effective_identity(org, None) == SenderIdentity(
        "hello@acme.example", "Acme", "r@acme.example", "Acme AS"
    )


def test_the_bounds_are_inclusive() -> None:
    local = "x" * (ADDRESS_MAX - len("@example.com"))
    ok = IdentityChange(
        name="n" * NAME_MAX, reply_to=f"{local}@example.com", signature="s" * SIGNATURE_MAX
    )
    assert ok.problems() == []
    over = IdentityChange(
        name="n" * (NAME_MAX + 1),
        reply_to=f"{local}x@example.com",
        signature="s" * (SIGNATURE_MAX + 1),
    )
    assert [(p.code, p.field) for p in over.problems()] == [
        (ErrorCode.TOO_LONG, ("senderName",)),
        (ErrorCode.TOO_LONG, ("replyTo",)),
        (ErrorCode.TOO_LONG, ("signature",)),
    ]


def test_blank_clears_and_names_are_trimmed() -> None:
    change = IdentityChange(name="  Kari  ", address=" ", reply_to="", signature="-- \nKari\n")
    assert change.stored() == {
        "sender_name": "Kari",
        "sender_address": None,
        "reply_to": None,
        "signature": "-- \nKari\n",
    }
    assert IdentityChange().stored() == {}


@given(st.text(max_size=NAME_MAX + 2))
def test_a_name_is_refused_exactly_when_too_long_or_not_one_line(name: str) -> None:
    bad_char = any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in name)
    problem = check_name(name, ("senderName",))
    if len(name) > NAME_MAX:
        assert problem is not None and problem.code is ErrorCode.TOO_LONG
    elif bad_char:
        assert problem is not None and problem.code is ErrorCode.INVALID_VALUE
    else:
        assert problem is None
