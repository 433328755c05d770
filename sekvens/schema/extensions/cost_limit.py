"""A cost limit per operation (SEKVENS_MAX_COST), priced by the model of `schema/cost.py`."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from sekvens.domain.errors import ErrorCode
from sekvens.schema.cost import operation_cost
from sekvens.schema.extensions.refusals import refuse


class CostLimiter(SchemaExtension):
    """Refuses an operation whose cost is over `max_cost` before it runs: QUERY_TOO_COSTLY."""

    def __init__(self, max_cost: int, page_size: int):
        self.max_cost = max_cost
        self.page_size = page_size

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        if ec.graphql_document is None:
            raise RuntimeError("on_execute runs on a parsed document")
        cost = operation_cost(
            ec.schema._schema, ec.graphql_document, ec.operation_name, ec.variables, self.page_size
        )
        if cost > self.max_cost:
            error = GraphQLError(
                f"This operation costs {cost}, over the limit of {self.max_cost}: ask for "
                "smaller pages (first/last) or fewer nested lists.",
                extensions={
                    "code": ErrorCode.QUERY_TOO_COSTLY.value,
                    "cost": cost,
                    "maxCost": self.max_cost,
                },
            )
            refuse(self, error)
        yield
