"""Webhooks (Standard Webhooks): the event types, the secrets, the signature, the retry
schedule and which URLs an endpoint may have. Pure rules; delivery is `engine/webhooks.py`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Iterable
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from sekvens.domain.errors import DomainError, ErrorCode, Problem


class WebhookEventType(StrEnum):
    CONNECTION_STARTED = "connection.started"
    CONNECTION_PAUSED = "connection.paused"
    CONNECTION_RESUMED = "connection.resumed"
    CONNECTION_ENDED = "connection.ended"
    ACTIVITY_CREATED = "activity.created"
    ACTIVITY_COMPLETED = "activity.completed"
    ACTIVITY_SKIPPED = "activity.skipped"
    EMAIL_SENT = "email.sent"
    EMAIL_DELIVERED = "email.delivered"
    EMAIL_OPENED = "email.opened"
    EMAIL_CLICKED = "email.clicked"
    EMAIL_REPLIED = "email.replied"
    EMAIL_BOUNCED = "email.bounced"
    SEQUENCE_ACTIVATED = "sequence.activated"
    SEQUENCE_DEACTIVATED = "sequence.deactivated"
    SEQUENCE_REVISED = "sequence.revised"


class WebhookMessageStatus(StrEnum):
    #: Waiting for its first or next attempt (`next_attempt_at`).
    PENDING = "PENDING"
    #: The endpoint answered 2xx.
    DELIVERED = "DELIVERED"
    #: Every attempt failed; `redeliverWebhookMessage` tries again.
    FAILED = "FAILED"


SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
URL_MAX = 2000
DESCRIPTION_MAX = 400
OVERLAP_MAX_HOURS = 24 * 7
#: The waits after failed attempts 1, 2, ... (Standard Webhooks' suggested schedule); a
#: message is attempted at most `len(RETRY_SCHEDULE) + 1` times, about 27.5 hours in all.
RETRY_SCHEDULE = (
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=10),
)


def new_secret() -> str:
    """`whsec_` and the base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def new_message_id() -> str:
    return "msg_" + secrets.token_hex(16)


def body(event_type: str, timestamp: datetime, data: dict[str, Any]) -> bytes:
    """The request body: `{"type", "timestamp", "data"}` as compact JSON, the same bytes on
    every attempt."""
    doc = {"type": event_type, "timestamp": timestamp.isoformat(), "data": data}
    return json.dumps(doc, separators=(",", ":"), sort_keys=True, default=str).encode()


def signature(secret: str, msg_id: str, timestamp: int, payload: bytes) -> str:
    """`v1,` and the base64 HMAC-SHA256 of `{id}.{timestamp}.{body}` keyed with the secret's
    bytes (the base64 after `whsec_`)."""
    key = base64.b64decode(secret.removeprefix(SECRET_PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def signature_header(secrets_: Iterable[str], msg_id: str, timestamp: int, payload: bytes) -> str:
    """The `webhook-signature` value: one `v1,<sig>` per secret, space-separated."""
    return " ".join(signature(s, msg_id, timestamp, payload) for s in secrets_)


def retry_wait(attempts: int, max_attempts: int) -> timedelta | None:
    """The wait after failed attempt number `attempts`; None: that was the last."""
    if attempts >= max_attempts:
        return None
    return RETRY_SCHEDULE[min(attempts, len(RETRY_SCHEDULE)) - 1]


def url_problems(url: str) -> list[Problem]:
    """The problems of an endpoint URL as written: http(s), a host, at most URL_MAX."""
    field = ("url",)
    if len(url) > URL_MAX:
        return [Problem(ErrorCode.TOO_LONG, f"A URL has at most {URL_MAX} characters.", field)]
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a bad port
    except ValueError:
        return [Problem(ErrorCode.INVALID_VALUE, "The URL can't be read.", field)]
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [
            Problem(
                ErrorCode.INVALID_VALUE, "An endpoint URL is http:// or https:// a host.", field
            )
        ]
    if parts.username or parts.password:
        return [Problem(ErrorCode.INVALID_VALUE, "An endpoint URL carries no password.", field)]
    return []


def is_private(address: str) -> bool:
    """Loopback, private, link-local, shared, reserved, multicast or unspecified (IPv4, IPv6
    and IPv4 mapped into IPv6): not a public address on the internet."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def event_types(names: Iterable[str]) -> list[WebhookEventType]:
    """The event types named, without repeats, in their declaration order; an unknown
    name is INVALID_VALUE at eventTypes."""
    wanted = set()
    for i, name in enumerate(names):
        try:
            wanted.add(WebhookEventType(name))
        except ValueError:
            raise DomainError.of(
                ErrorCode.INVALID_VALUE, f"Unknown event type '{name}'.", ["eventTypes", str(i)]
            ) from None
    return [t for t in WebhookEventType if t in wanted]
