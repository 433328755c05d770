"""The webhook rules on their own: signatures as the `standardwebhooks` library makes them,
the retry schedule's boundaries, which addresses are private, which URLs are refused."""

from __future__ import annotations

import base64
import ipaddress
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from sekvens.domain.errors import DomainError
from sekvens.domain.webhooks import (
    RETRY_SCHEDULE,
    WebhookEventType,
    event_types,
    is_private,
    new_secret,
    retry_wait,
    signature,
    signature_header,
    url_problems,
)


@given(
    key=st.binary(min_size=1, max_size=64),
    msg_id=st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1),
    timestamp=st.integers(min_value=0, max_value=2**33),
    payload=st.binary(max_size=2000),
)
def test_a_signature_is_the_standard_webhooks_one(
    key: bytes, msg_id: str, timestamp: int, payload: bytes
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    when = datetime.fromtimestamp(timestamp, UTC)
    assert signature(secret, msg_id, timestamp, payload) == Webhook(secret).sign(
        msg_id, when, payload
    )


def test_a_header_signs_with_every_secret_given() -> None:
    old, new = new_secret(), new_secret()
    header = signature_header([new, old], "msg_1", 1700000000, b"{}")
    assert header.split(" ") == [
        signature(new, "msg_1", 1700000000, b"{}"),
        signature(old, "msg_1", 1700000000, b"{}"),
    ]
    assert old.startswith("whsec_") and len(base64.b64decode(old[6:])) == 32


@given(max_attempts=st.integers(1, 20), attempts=st.integers(1, 25))
def test_a_message_is_retried_until_its_last_attempt(max_attempts: int, attempts: int) -> None:
    wait = retry_wait(attempts, max_attempts)
    if attempts >= max_attempts:
        assert wait is None
    else:
        assert wait == RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]


def test_the_schedule_is_standard_webhooks() -> None:
    assert [retry_wait(n, 8) for n in range(1, 9)] == [
        timedelta(seconds=5),
        timedelta(minutes=5),
        timedelta(minutes=30),
        timedelta(hours=2),
        timedelta(hours=5),
        timedelta(hours=10),
        timedelta(hours=10),
        None,
    ]


@given(st.ip_addresses())
def test_private_is_what_the_internet_does_not_route(ip: ipaddress.IPv4Address) -> None:
    reference = ip
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        reference = ip.ipv4_mapped
    assert is_private(str(ip)) == (not reference.is_global or reference.is_multicast)


@pytest.mark.parametrize(
    ("address", "private"),
    [
        ("127.0.0.1", True),
        ("10.0.0.1", True),
        ("172.16.5.4", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),
        ("100.64.0.1", True),
        ("0.0.0.0", True),
        ("224.0.0.1", True),
        ("::1", True),
        ("fe80::1%eth0", True),
        ("fc00::1", True),
        ("::ffff:127.0.0.1", True),
        ("93.184.215.14", False),
        ("2606:4700::1111", False),
    ],
)
def test_private_addresses(address: str, private: bool) -> None:
    assert is_private(address) is private


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("https://hooks.example.com/sekvens", None),
        ("http://hooks.example.com:8080/x?y=1", None),
        ("ftp://hooks.example.com/", "INVALID_VALUE"),
        ("hooks.example.com/x", "INVALID_VALUE"),
        ("https:///x", "INVALID_VALUE"),
        ("https://user:pw@hooks.example.com/", "INVALID_VALUE"),
        ("https://hooks.example.com:99999/", "INVALID_VALUE"),
        ("https://hooks.example.com/" + "x" * 2000, "TOO_LONG"),
    ],
)
def test_url_problems(url: str, code: str | None) -> None:
    problems = url_problems(url)
    assert [p.code.value for p in problems] == ([code] if code else [])
    assert all(p.field == ("url",) for p in problems)


def test_event_types_are_known_ones_without_repeats() -> None:
    assert event_types(["email.sent", "connection.ended", "email.sent"]) == [
        WebhookEventType.CONNECTION_ENDED,
        WebhookEventType.EMAIL_SENT,
    ]
    with pytest.raises(DomainError) as refused:
        event_types(["email.sent", "email.teleported"])
    [problem] = refused.value.problems
    assert problem.code.value == "INVALID_VALUE" and problem.field == ("eventTypes", "1")
