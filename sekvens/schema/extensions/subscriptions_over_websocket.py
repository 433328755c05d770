"""Subscriptions run over the websocket only."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from sekvens.domain.errors import ErrorCode


class SubscriptionsOverWebsocket(SchemaExtension):
    """A subscription sent over HTTP is refused with SUBSCRIPTION_OVER_HTTP (it would
    otherwise run as a query and fail): subscriptions speak graphql-transport-ws."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        request = getattr(ec.context, "request", None)
        if ec.operation_type == OperationType.SUBSCRIPTION and not isinstance(request, WebSocket):
            ec.result = ExecutionResult(
                data=None,
                errors=[
                    GraphQLError(
                        "Subscriptions run over a websocket (graphql-transport-ws) on /graphql,"
                        " not over HTTP.",
                        extensions={"code": ErrorCode.SUBSCRIPTION_OVER_HTTP.value},
                    )
                ],
            )
        yield
