"""A time limit per query or mutation (SEKVENS_OPERATION_TIMEOUT_SECONDS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from sekvens.domain.errors import ErrorCode


class OperationTimeout(SchemaExtension):
    """A query or mutation that runs longer than `seconds` is cancelled: TIMEOUT.

    A cancelled mutation rolls its transaction back (resolvers/mutation_base.py), so it
    leaves nothing behind. Subscriptions are long-lived by nature and are not timed.
    """

    def __init__(self, seconds: float):
        self.seconds = seconds

    async def on_execute(self) -> AsyncIterator[None]:
        ec = self.execution_context
        if self.seconds <= 0 or ec.operation_type == OperationType.SUBSCRIPTION:
            yield
            return
        try:
            async with asyncio.timeout(self.seconds):
                yield
        except TimeoutError:
            raise GraphQLError(
                f"The operation took longer than {self.seconds:g} s and was cancelled.",
                extensions={"code": ErrorCode.TIMEOUT.value},
            ) from None
