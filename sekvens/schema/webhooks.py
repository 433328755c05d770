"""Webhooks in GraphQL: endpoints, their messages (the delivery log), inputs and payloads."""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.scalars import JSON

from sekvens.domain.webhooks import WebhookEventType, WebhookMessageStatus
from sekvens.schema.errors import UserError
from sekvens.schema.relay import Node, to_global_id
from sekvens.storage.tables import WebhookEndpoint as EndpointRow
from sekvens.storage.tables import WebhookMessage as MessageRow

strawberry.enum(
    WebhookEventType,
    description="What a webhook tells of; the message's `type` is the value in lower case"
    " with a dot (CONNECTION_ENDED: connection.ended). docs/webhooks.md has the payloads.",
)
strawberry.enum(
    WebhookMessageStatus,
    description="PENDING: waiting for its first or next attempt; DELIVERED: answered 2xx;"
    " FAILED: every attempt failed.",
)


@strawberry.type(description="Where the organization's webhooks go (docs/webhooks.md).")
class WebhookEndpoint(Node):
    url: str
    description: str
    event_types: list[WebhookEventType] = strawberry.field(
        description="The event types it gets; empty: every type."
    )
    enabled: bool
    disabled_reason: str | None = strawberry.field(
        description="Why it is disabled (after repeated failure, or by hand); null when enabled."
    )
    consecutive_failures: int = strawberry.field(
        description="Messages in a row that failed every attempt; a delivered one resets it."
    )
    previous_secret_expires_at: datetime | None = strawberry.field(
        description="Until when the secret before the last rotation signs too; null: none."
    )
    created_at: datetime
    updated_at: datetime

    @classmethod
    def from_row(cls, row: EndpointRow) -> WebhookEndpoint:
        return cls(
            id=strawberry.ID(to_global_id("WebhookEndpoint", row.id)),
            url=row.url,
            description=row.description,
            event_types=[WebhookEventType(t) for t in row.event_types],
            enabled=row.enabled,
            disabled_reason=row.disabled_reason,
            consecutive_failures=row.consecutive_failures,
            previous_secret_expires_at=row.previous_secret_until if row.previous_secret else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="One event sent to one endpoint, with its delivery so far.")
class WebhookMessage(Node):
    message_id: str = strawberry.field(description="The webhook-id header: msg_...")
    event_type: WebhookEventType
    data: JSON = strawberry.field(description="The body's `data`.")
    occurred_at: datetime = strawberry.field(description="The body's `timestamp`.")
    status: WebhookMessageStatus
    attempts: int
    next_attempt_at: datetime | None
    response_code: int | None = strawberry.field(
        description="The HTTP status of the last attempt; null: no answer."
    )
    latency_ms: int | None = strawberry.field(description="How long the last attempt took.")
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime

    @classmethod
    def from_row(cls, row: MessageRow) -> WebhookMessage:
        return cls(
            id=strawberry.ID(to_global_id("WebhookMessage", row.id)),
            message_id=row.message_id,
            event_type=WebhookEventType(row.event_type),
            data=JSON(row.payload),
            occurred_at=row.occurred_at,
            status=WebhookMessageStatus(row.status),
            attempts=row.attempts,
            next_attempt_at=row.next_attempt_at,
            response_code=row.response_code,
            latency_ms=row.latency_ms,
            last_error=row.last_error,
            delivered_at=row.delivered_at,
            created_at=row.created_at,
        )


@strawberry.input
class CreateWebhookEndpointInput:
    url: str = strawberry.field(
        description="http(s); not a loopback or private address (SEKVENS_WEBHOOKS_ALLOW_PRIVATE)."
    )
    description: str = ""
    event_types: list[WebhookEventType] = strawberry.field(
        default_factory=list, description="Empty: every type."
    )


@strawberry.input(description="Change what is given; the rest stays.")
class UpdateWebhookEndpointInput:
    id: strawberry.ID
    url: str | None = None
    description: str | None = None
    event_types: list[WebhookEventType] | None = None


@strawberry.input
class DeleteWebhookEndpointInput:
    id: strawberry.ID


@strawberry.input
class RotateWebhookEndpointSecretInput:
    id: strawberry.ID
    overlap_hours: float = strawberry.field(
        default=24.0,
        description="How long the current secret signs too (0 to 168 hours).",
    )


@strawberry.input
class EnableWebhookEndpointInput:
    id: strawberry.ID
    enabled: bool = strawberry.field(
        default=True,
        description="true: enable (failures forgotten, waiting messages due now); false: disable.",
    )


@strawberry.input
class RedeliverWebhookMessageInput:
    id: strawberry.ID


@strawberry.type
class WebhookEndpointPayload:
    errors: list[UserError]
    endpoint: WebhookEndpoint | None = None


@strawberry.type
class WebhookEndpointSecretPayload:
    errors: list[UserError]
    endpoint: WebhookEndpoint | None = None
    secret: str | None = strawberry.field(
        default=None, description="The new signing secret (whsec_...), shown only this once."
    )


@strawberry.type
class DeleteWebhookEndpointPayload:
    errors: list[UserError]
    deleted_id: strawberry.ID | None = None


@strawberry.type
class WebhookMessagePayload:
    errors: list[UserError]
    message: WebhookMessage | None = None
