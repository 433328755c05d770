"""Webhook endpoints and the queue of their messages (docs/webhooks.md).

`emit` writes an event's messages in the caller's transaction, one per enabled endpoint of
the organization that wants its type: a change that rolls back sends nothing, and one that
commits can't lose its messages. The endpoints are read once per session and organization.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.domain.global_ids import to_global_id
from sekvens.domain.webhooks import WebhookEventType, WebhookMessageStatus, new_message_id
from sekvens.storage.tables import Activity, WebhookEndpoint, WebhookMessage
from sekvens.storage.types import utcnow

#: session.info key: organization id -> [(endpoint id, event types)] of enabled endpoints.
_CACHE = "sekvens.webhook_endpoints"


async def emit(
    session: AsyncSession,
    organization_id: int,
    event_type: WebhookEventType,
    data: dict[str, Any],
    now: datetime | None = None,
) -> int:
    """Queue the event for every enabled endpoint of the organization that wants it, in
    `session`'s transaction; returns how many messages were queued."""
    cache: dict[int, list[tuple[int, list[str]]]] = session.info.setdefault(_CACHE, {})
    endpoints = cache.get(organization_id)
    if endpoints is None:
        rows = await session.execute(
            select(WebhookEndpoint.id, WebhookEndpoint.event_types).where(
                WebhookEndpoint.organization_id == organization_id,
                WebhookEndpoint.enabled.is_(True),
            )
        )
        endpoints = cache[organization_id] = [(r.id, list(r.event_types)) for r in rows]
    when = now or utcnow()
    wanting = [e for e, types in endpoints if not types or event_type in types]
    session.add_all(
        WebhookMessage(
            organization_id=organization_id,
            endpoint_id=endpoint_id,
            message_id=new_message_id(),
            event_type=event_type.value,
            payload=data,
            occurred_at=when,
            status=WebhookMessageStatus.PENDING,
            attempts=0,
            next_attempt_at=when,
        )
        for endpoint_id in wanting
    )
    return len(wanting)


def listening(organization_id: int | ColumnElement[int]) -> Select[tuple[bool]]:
    """Whether the organization has an enabled endpoint (a cheap check before a write
    transaction that would only `emit`)."""
    return select(
        select(WebhookEndpoint.id)
        .where(
            WebhookEndpoint.organization_id == organization_id,
            WebhookEndpoint.enabled.is_(True),
        )
        .exists()
    )


def forget_endpoints(session: AsyncSession) -> None:
    """Drop the session's endpoints read by `emit` (they changed)."""
    session.info.pop(_CACHE, None)


def connection_data(conn: Any, **more: Any) -> dict[str, Any]:
    """A connection event's `data`: its global ids and status (of a `Connection` or a row
    with its columns), and `more`."""
    data: dict[str, Any] = {
        "connectionId": to_global_id("SequenceTarget", conn.id),
        "sequenceId": to_global_id("Sequence", conn.sequence_id),
        "recordId": to_global_id("Record", conn.record_id),
        "status": conn.status,
    }
    data.update(more)
    return data


def activity_data(activity: Activity, **more: Any) -> dict[str, Any]:
    """An activity event's `data`: its global ids, step, kind, subject, status and due
    time, and `more`."""
    data: dict[str, Any] = {
        "activityId": to_global_id("Activity", activity.id),
        "connectionId": to_global_id("SequenceTarget", activity.connection_id),
        "sequenceId": to_global_id("Sequence", activity.sequence_id),
        "recordId": to_global_id("Record", activity.record_id),
        "stepKey": activity.step_key,
        "stepType": activity.step_type,
        "kind": activity.activity_kind,
        "subject": activity.subject,
        "status": activity.status,
        "dueAt": activity.due_at.isoformat(),
    }
    data.update(more)
    return data


def endpoints_of(organization_id: int) -> Select[WebhookEndpoint]:
    return (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.organization_id == organization_id)
        .order_by(WebhookEndpoint.id)
    )


def messages_of(
    endpoint_id: int, status: WebhookMessageStatus | None = None
) -> Select[WebhookMessage]:
    """An endpoint's messages, newest first."""
    stmt = select(WebhookMessage).where(WebhookMessage.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookMessage.status == status)
    return stmt.order_by(WebhookMessage.id.desc())
