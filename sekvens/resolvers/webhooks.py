"""Webhook endpoints and their delivery log; administrators only. The rules are
`actions/webhooks.py`, delivery `engine/webhooks.py`."""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import webhooks
from sekvens.domain.errors import DomainError
from sekvens.domain.roles import ADMINISTRATORS
from sekvens.domain.webhooks import WebhookMessageStatus
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import context
from sekvens.schema.errors import ApiError
from sekvens.schema.pagination import paginate
from sekvens.schema.relay import Connection, decode_id
from sekvens.schema.webhooks import (
    CreateWebhookEndpointInput,
    DeleteWebhookEndpointInput,
    DeleteWebhookEndpointPayload,
    EnableWebhookEndpointInput,
    RedeliverWebhookMessageInput,
    RotateWebhookEndpointSecretInput,
    UpdateWebhookEndpointInput,
    WebhookEndpoint,
    WebhookEndpointPayload,
    WebhookEndpointSecretPayload,
    WebhookMessage,
    WebhookMessagePayload,
)
from sekvens.storage.webhooks import endpoints_of, messages_of


def _endpoint_id(gid: strawberry.ID) -> int:
    return decode_id(gid, "WebhookEndpoint", ["id"])


@strawberry.type
class WebhookQueries:
    @strawberry.field(description="The organization's webhook endpoints; administrators.")
    async def webhook_endpoints(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[WebhookEndpoint]:
        ctx = context(info)
        try:
            viewer = ctx.require(ADMINISTRATORS)
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        stmt = endpoints_of(viewer.organization_id)
        return await paginate(ctx, stmt, WebhookEndpoint.from_row, first, after)

    @strawberry.field(
        description="An endpoint's messages, newest first: the delivery log; administrators."
    )
    async def webhook_messages(
        self,
        info: Info,
        endpoint_id: strawberry.ID,
        first: int | None = None,
        after: str | None = None,
        status: WebhookMessageStatus | None = None,
    ) -> Connection[WebhookMessage]:
        ctx = context(info)
        try:
            viewer = ctx.require(ADMINISTRATORS)
            pk = decode_id(endpoint_id, "WebhookEndpoint", ["endpointId"])
            await webhooks.get_endpoint(ctx.reader, viewer, pk, ["endpointId"])
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        return await paginate(ctx, messages_of(pk, status), WebhookMessage.from_row, first, after)


@strawberry.type
class WebhookMutations:
    @strawberry.mutation(
        description="Add a webhook endpoint; the payload holds its signing secret, shown only"
        " this once. Administrators."
    )
    async def create_webhook_endpoint(
        self, info: Info, input: CreateWebhookEndpointInput
    ) -> WebhookEndpointSecretPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await webhooks.create_endpoint(
                ctx.session,
                viewer,
                input.url,
                input.description,
                [t.value for t in input.event_types],
                ctx.services.engine.clock.now(),
                allow_private=ctx.settings.webhooks_allow_private,
            )
            return {"endpoint": WebhookEndpoint.from_row(row), "secret": row.secret}

        return await mutate(info, WebhookEndpointSecretPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Change an endpoint's URL, description or event types.")
    async def update_webhook_endpoint(
        self, info: Info, input: UpdateWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            types = input.event_types
            row = await webhooks.update_endpoint(
                ctx.session,
                viewer,
                _endpoint_id(input.id),
                ctx.services.engine.clock.now(),
                url=input.url,
                description=input.description,
                types=[t.value for t in types] if types is not None else None,
                allow_private=ctx.settings.webhooks_allow_private,
            )
            return {"endpoint": WebhookEndpoint.from_row(row)}

        return await mutate(info, WebhookEndpointPayload, run, ADMINISTRATORS)

    @strawberry.mutation(description="Delete an endpoint and its messages.")
    async def delete_webhook_endpoint(
        self, info: Info, input: DeleteWebhookEndpointInput
    ) -> DeleteWebhookEndpointPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            await webhooks.delete_endpoint(ctx.session, viewer, _endpoint_id(input.id))
            return {"deleted_id": input.id}

        return await mutate(info, DeleteWebhookEndpointPayload, run, ADMINISTRATORS)

    @strawberry.mutation(
        description="A new signing secret (in the payload, shown only this once); the current"
        " one signs too for overlapHours, so receivers can switch without losing a message."
    )
    async def rotate_webhook_endpoint_secret(
        self, info: Info, input: RotateWebhookEndpointSecretInput
    ) -> WebhookEndpointSecretPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await webhooks.rotate_secret(
                ctx.session,
                viewer,
                _endpoint_id(input.id),
                input.overlap_hours,
                ctx.services.engine.clock.now(),
            )
            return {"endpoint": WebhookEndpoint.from_row(row), "secret": row.secret}

        return await mutate(info, WebhookEndpointSecretPayload, run, ADMINISTRATORS)

    @strawberry.mutation(
        description="Enable an endpoint (one disabled after repeated failure, too), or disable it."
    )
    async def enable_webhook_endpoint(
        self, info: Info, input: EnableWebhookEndpointInput
    ) -> WebhookEndpointPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await webhooks.enable_endpoint(
                ctx.session,
                viewer,
                _endpoint_id(input.id),
                input.enabled,
                ctx.services.engine.clock.now(),
            )
            ctx.services.engine.wake()
            return {"endpoint": WebhookEndpoint.from_row(row)}

        return await mutate(info, WebhookEndpointPayload, run, ADMINISTRATORS)

    @strawberry.mutation(
        description="Send a DELIVERED or FAILED message again, with the same webhook-id and a"
        " fresh set of attempts."
    )
    async def redeliver_webhook_message(
        self, info: Info, input: RedeliverWebhookMessageInput
    ) -> WebhookMessagePayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            row = await webhooks.redeliver(
                ctx.session,
                viewer,
                decode_id(input.id, "WebhookMessage", ["id"]),
                ctx.services.engine.clock.now(),
            )
            ctx.services.engine.wake()
            return {"message": WebhookMessage.from_row(row)}

        return await mutate(info, WebhookMessagePayload, run, ADMINISTRATORS)
