"""Schema extensions: masking of unexpected errors, and metrics per operation."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from sekvens.domain.errors import DomainError, ErrorCode

log = logging.getLogger("sekvens.graphql")


def _is_expected(error: GraphQLError) -> bool:
    """A coded error, or GraphQL's own: parse, validation, variable coercion (no path)."""
    original = error.original_error
    return original is None or (
        isinstance(original, GraphQLError)
        and ("code" in (original.extensions or {}) or error.path is None)
    )


class MaskUnexpectedErrors(SchemaExtension):
    """Unexpected exceptions reach clients as a generic message with an id; the log has the rest."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if not result or not result.errors:
            return
        masked = []
        for error in result.errors:
            if _is_expected(error):
                masked.append(error)
                continue
            if isinstance(error.original_error, DomainError):  # a refusal: keep its code
                problem = error.original_error.problems[0]
                masked.append(
                    GraphQLError(
                        problem.message,
                        nodes=error.nodes,
                        path=error.path,
                        extensions={"code": problem.code.value},
                    )
                )
                continue
            error_id = uuid.uuid4().hex[:12]
            log.error(
                "unexpected error %s in %s", error_id, error.path, exc_info=error.original_error
            )
            masked.append(
                GraphQLError(
                    f"Internal error (id {error_id}). It has been logged.",
                    nodes=error.nodes,
                    path=error.path,
                    extensions={"code": ErrorCode.INTERNAL_ERROR.value, "errorId": error_id},
                )
            )
        result.errors = masked


class OperationMetrics(SchemaExtension):
    """Counts operations and their latency by operation name, and errors by code."""

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
        label = metrics.operation_label(ec.operation_name)
        op_type = ec.operation_type.value if ec.operation_type else "invalid"
        metrics.requests.labels(label, op_type).inc()
        metrics.latency.labels(label).observe(time.perf_counter() - start)
        for error in errors or ():
            code = (error.extensions or {}).get("code", "GRAPHQL_VALIDATION")
            metrics.errors.labels(str(code)).inc()


SUGGESTION_RE = re.compile(r"\s*Did you mean .*\?$", re.DOTALL)


class HideSuggestions(SchemaExtension):
    """Production: no "Did you mean …?" hints that reveal field, argument, type or enum names."""

    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result and result.errors:
            for error in result.errors:
                error.message = SUGGESTION_RE.sub("", error.message)
