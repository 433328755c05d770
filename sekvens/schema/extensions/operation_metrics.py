"""Metrics per operation: count and latency by operation name, errors by code."""

from __future__ import annotations

import time
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from sekvens.domain.errors import ErrorCode


class OperationMetrics(SchemaExtension):
    """Counts operations and their latency by operation name (authenticated callers' only),
    and errors by code."""

    def on_operation(self) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        except GraphQLError as e:
            if "code" in (e.extensions or {}):  # a limit stopped it while running (TIMEOUT)
                self._count(start, [e])
            raise
        ec = self.execution_context
        self._count(start, ec.result.errors if ec.result else None)

    def _count(self, start: float, errors: list[GraphQLError] | None) -> None:
        ec = self.execution_context
        metrics = ec.context.services.metrics
        label = metrics.operation_label(ec.operation_name, ec.context.viewer_or_none is not None)
        try:
            op_type = ec.operation_type.value
        except RuntimeError:  # no document: it failed to parse
            op_type = "invalid"
        metrics.requests.labels(label, op_type).inc()
        metrics.latency.labels(label).observe(time.perf_counter() - start)
        for error in errors or ():
            code = (error.extensions or {}).get("code", ErrorCode.GRAPHQL_VALIDATION_FAILED.value)
            metrics.errors.labels(str(code)).inc()
