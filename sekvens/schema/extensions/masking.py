"""Unexpected exceptions reach clients masked; refusals and GraphQL's own errors keep a code."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import GraphQLError
from strawberry.extensions import SchemaExtension

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.schema.extensions.refusals import is_expected, with_code

log = logging.getLogger("sekvens.graphql")


class MaskUnexpectedErrors(SchemaExtension):
    """Unexpected exceptions reach clients as a generic message with an id; the log has the rest."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except GraphQLError as refused:  # a document over the token limit fails to parse here
            with_code(refused, None)
            raise
        result = self.execution_context.result
        if not result or not result.errors:
            return
        document = self.execution_context.graphql_document
        result.errors = [_masked(error, document) for error in result.errors]


def _masked(error: GraphQLError, document: Any) -> GraphQLError:
    if isinstance(error.original_error, DomainError):  # a refusal: keep its code
        problem = error.original_error.problems[0]
        extensions: dict[str, Any] = {"code": problem.code.value}
        if problem.field:
            extensions["field"] = list(problem.field)
        return GraphQLError(
            problem.message, nodes=error.nodes, path=error.path, extensions=extensions
        )
    if is_expected(error):
        return with_code(error, document)
    error_id = uuid.uuid4().hex[:12]
    log.error("unexpected error %s in %s", error_id, error.path, exc_info=error.original_error)
    return GraphQLError(
        f"Internal error (id {error_id}). It has been logged.",
        nodes=error.nodes,
        path=error.path,
        extensions={"code": ErrorCode.INTERNAL_ERROR.value, "errorId": error_id},
    )
