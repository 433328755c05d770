"""Webhook endpoints: create, change, rotate the secret of, enable and delete them, and send a
message again. Administrators only (the caller checks the role); the rules are
`domain/webhooks.py`, delivery is `engine/webhooks.py`.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Sequence
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import Actor
from sekvens.domain.webhooks import (
    DESCRIPTION_MAX,
    OVERLAP_MAX_HOURS,
    WebhookMessageStatus,
    event_types,
    is_private,
    new_secret,
    url_problems,
)
from sekvens.storage import audit
from sekvens.storage.tables import WebhookEndpoint, WebhookMessage
from sekvens.storage.webhooks import forget_endpoints

#: How long resolving an endpoint's host may take.
RESOLVE_SECONDS = 10


async def url_refusal(url: str, allow_private: bool) -> str | None:
    """Why a request to `url` must not be made, or None: a host that doesn't resolve, or
    one that resolves to a loopback, private or link-local address (unless allowed)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if allow_private:
        return None
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
    except TimeoutError:
        return f"The host '{host}' can't be resolved: no answer in {RESOLVE_SECONDS} seconds."
    except OSError as exc:
        return f"The host '{host}' can't be resolved: {exc}."
    private = sorted({str(info[4][0]) for info in infos if is_private(str(info[4][0]))})
    if private:
        return f"The host '{host}' resolves to a private address ({', '.join(private)})."
    return None


async def _checked_url(url: str, allow_private: bool) -> str:
    url = url.strip()
    problems = url_problems(url)
    if problems:
        raise DomainError(problems)
    refusal = await url_refusal(url, allow_private)
    if refusal is not None:
        raise DomainError.of(ErrorCode.INVALID_VALUE, refusal, ["url"])
    return url


def _description(text: str) -> str:
    text = text.strip()
    if len(text) > DESCRIPTION_MAX:
        raise DomainError.of(
            ErrorCode.TOO_LONG,
            f"A description has at most {DESCRIPTION_MAX} characters.",
            ["description"],
        )
    return text


async def get_endpoint(
    session: AsyncSession, actor: Actor, endpoint_id: int, field: Sequence[str] = ("id",)
) -> WebhookEndpoint:
    row = await session.get(WebhookEndpoint, endpoint_id)
    if row is None or row.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such webhook endpoint.", field)
    return row


def _changed(session: AsyncSession, actor: Actor, row: WebhookEndpoint, action: str) -> None:
    forget_endpoints(session)
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        f"webhook_endpoint.{action}",
        "webhook_endpoint",
        row.id,
        {"url": row.url},
    )


async def create_endpoint(
    session: AsyncSession,
    actor: Actor,
    url: str,
    description: str,
    types: Sequence[str],
    now: datetime,
    *,
    allow_private: bool,
) -> WebhookEndpoint:
    row = WebhookEndpoint(
        organization_id=actor.organization_id,
        url=await _checked_url(url, allow_private),
        description=_description(description),
        event_types=[t.value for t in event_types(types)],
        secret=new_secret(),
        enabled=True,
        consecutive_failures=0,
        created_at=now,
        updated_at=now,
    )
    session.add(row)
    await session.flush()
    _changed(session, actor, row, "created")
    return row


async def update_endpoint(
    session: AsyncSession,
    actor: Actor,
    endpoint_id: int,
    now: datetime,
    *,
    url: str | None,
    description: str | None,
    types: Sequence[str] | None,
    allow_private: bool,
) -> WebhookEndpoint:
    """Change what is given; the rest stays."""
    row = await get_endpoint(session, actor, endpoint_id)
    if url is not None:
        row.url = await _checked_url(url, allow_private)
    if description is not None:
        row.description = _description(description)
    if types is not None:
        row.event_types = [t.value for t in event_types(types)]
    row.updated_at = now
    _changed(session, actor, row, "updated")
    return row


async def delete_endpoint(session: AsyncSession, actor: Actor, endpoint_id: int) -> None:
    """Delete the endpoint and its messages (sent or not)."""
    row = await get_endpoint(session, actor, endpoint_id)
    _changed(session, actor, row, "deleted")
    await session.delete(row)


async def rotate_secret(
    session: AsyncSession, actor: Actor, endpoint_id: int, overlap_hours: float, now: datetime
) -> WebhookEndpoint:
    """A new secret signs from now on; the current one signs too for `overlap_hours`
    (0: not at all), so receivers can switch without losing a message."""
    if not 0 <= overlap_hours <= OVERLAP_MAX_HOURS:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            f"The overlap is from 0 to {OVERLAP_MAX_HOURS} hours.",
            ["overlapHours"],
        )
    row = await get_endpoint(session, actor, endpoint_id)
    row.previous_secret, row.secret = row.secret, new_secret()
    row.previous_secret_until = now + timedelta(hours=overlap_hours)
    row.updated_at = now
    _changed(session, actor, row, "secret_rotated")
    return row


async def enable_endpoint(
    session: AsyncSession, actor: Actor, endpoint_id: int, enabled: bool, now: datetime
) -> WebhookEndpoint:
    """Enable (failures forgotten, its waiting messages due now) or disable by hand."""
    row = await get_endpoint(session, actor, endpoint_id)
    row.enabled = enabled
    row.disabled_reason = None if enabled else "Disabled by an administrator."
    row.consecutive_failures = 0
    row.updated_at = now
    if enabled:
        pending = await session.scalars(
            select(WebhookMessage).where(
                WebhookMessage.endpoint_id == row.id,
                WebhookMessage.status == WebhookMessageStatus.PENDING,
                WebhookMessage.next_attempt_at > now,
            )
        )
        for message in pending:
            message.next_attempt_at = now
    _changed(session, actor, row, "enabled" if enabled else "disabled")
    return row


async def redeliver(
    session: AsyncSession, actor: Actor, message_id: int, now: datetime
) -> WebhookMessage:
    """Send a DELIVERED or FAILED message again (same webhook-id), with a fresh set of
    attempts. A PENDING one is refused: it is on its way already."""
    row = await session.get(WebhookMessage, message_id)
    if row is None or row.organization_id != actor.organization_id:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such webhook message.", ["id"])
    if row.status == WebhookMessageStatus.PENDING:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            "The message is waiting for its next attempt already.",
            ["id"],
        )
    row.status, row.attempts, row.next_attempt_at = WebhookMessageStatus.PENDING, 0, now
    row.last_error = None
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "webhook_message.redelivered",
        "webhook_message",
        row.id,
        {"message_id": row.message_id},
    )
    return row
