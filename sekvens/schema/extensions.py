"""Schema extensions: masking of unexpected errors, and metrics per operation."""

from __future__ import annotations

import logging
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    GraphQLError,
    GraphQLSyntaxError,
    ListValueNode,
    Node,
    ObjectValueNode,
    Visitor,
    visit,
)
from starlette.websockets import WebSocket
from strawberry.extensions import SchemaExtension
from strawberry.types import ExecutionResult
from strawberry.types.graphql import OperationType

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.schema.scalars import InvalidInput, original_invalid_input

log = logging.getLogger("sekvens.graphql")

# graphql-core's wording for a variable value that doesn't fit: the path is only in the text.
VARIABLE_ERROR = re.compile(r"^Variable '\$(\w+)' (?:has|got) invalid value( at [^:\s]+)?")
PATH_PART = re.compile(r"\.(\w+)|\[(\d+)\]")


def is_expected(error: GraphQLError) -> bool:
    """A coded error, a refusal, or GraphQL's own: parse, validation, variable coercion."""
    original = error.original_error
    return (
        original is None
        or isinstance(original, DomainError | InvalidInput)
        or (
            isinstance(original, GraphQLError)
            and ("code" in (original.extensions or {}) or error.path is None)
        )
    )


class _Arguments(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[ArgumentNode] = []

    def enter_argument(self, node: ArgumentNode, *_: Any) -> None:
        self.found.append(node)


def _literal_path(document: DocumentNode | None, target: Node) -> list[str]:
    """Where in the document a literal value sits: argument name, then input fields/indexes."""

    def search(value: Node, path: list[str]) -> list[str] | None:
        if value is target:
            return path
        if isinstance(value, ObjectValueNode):
            for f in value.fields:
                if (found := search(f.value, [*path, f.name.value])) is not None:
                    return found
        elif isinstance(value, ListValueNode):
            for i, v in enumerate(value.values):
                if (found := search(v, [*path, str(i)])) is not None:
                    return found
        return None

    if document is None:
        return []
    arguments = _Arguments()
    visit(document, arguments)
    for argument in arguments.found:
        if (found := search(argument.value, [argument.name.value])) is not None:
            return found
    return []


def with_code(error: GraphQLError, document: DocumentNode | None) -> GraphQLError:
    """GraphQL's own refusals (no path) get a code: parse, validation, or a value that doesn't
    fit its type (`INVALID_VALUE`, or the scalar's code, with the value's `field` path)."""
    if "code" in (error.extensions or {}) or error.path is not None:
        return error
    extensions = dict(error.extensions or {})
    invalid = original_invalid_input(error)
    variable = VARIABLE_ERROR.match(error.message)
    field: list[str] = []
    if variable:
        field = [variable.group(1)] + [
            name or index for name, index in PATH_PART.findall(variable.group(2) or "")
        ]
    elif invalid is not None and error.nodes:
        field = _literal_path(document, error.nodes[0])
    if isinstance(error, GraphQLSyntaxError):
        extensions["code"] = ErrorCode.GRAPHQL_PARSE_FAILED.value
    elif invalid is not None:
        extensions["code"] = invalid.code.value
        error.message = f"Invalid value at {'.'.join(field) or 'an input'}: {invalid.message}"
    elif variable:
        extensions["code"] = ErrorCode.INVALID_VALUE.value
    else:
        extensions["code"] = ErrorCode.GRAPHQL_VALIDATION_FAILED.value
    if field:
        extensions["field"] = field
    error.extensions = extensions
    return error


class MaskUnexpectedErrors(SchemaExtension):
    """Unexpected exceptions reach clients as a generic message with an id; the log has the rest."""

    def on_operation(self) -> Iterator[None]:
        try:
            yield
        except GraphQLError as error:  # a document over the token limit fails to parse here
            with_code(error, None)
            raise
        result = self.execution_context.result
        if not result or not result.errors:
            return
        masked = []
        document = self.execution_context.graphql_document
        for error in result.errors:
            if isinstance(error.original_error, DomainError):  # a refusal: keep its code
                problem = error.original_error.problems[0]
                extensions: dict[str, Any] = {"code": problem.code.value}
                if problem.field:
                    extensions["field"] = list(problem.field)
                masked.append(
                    GraphQLError(
                        problem.message, nodes=error.nodes, path=error.path, extensions=extensions
                    )
                )
                continue
            if is_expected(error):
                masked.append(with_code(error, document))
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


# graphql-core's hints: "Did you mean 'a', 'b', or 'c'?", "… the enum value 'A'?", also
# mid-message ("… unknown field 'serch'. Did you mean 'search'? Found: …"). Names hold no '?'.
SUGGESTION_RE = re.compile(r"\s*Did you mean [^?]*\?")


def _hide_suggestions(result: Any) -> None:
    for error in getattr(result, "errors", None) or ():
        error.message = SUGGESTION_RE.sub("", error.message)


class HideSuggestions(SchemaExtension):
    """Production: no "Did you mean …?" hints that reveal field, argument, type, enum value
    or input field names: in validation and variable errors, over HTTP and the websocket."""

    def on_operation(self) -> Iterator[None]:
        yield
        _hide_suggestions(self.execution_context.result)

    def on_stream_result(self, result: Any) -> Iterator[None]:
        """Websocket results go out before `on_operation` ends."""
        _hide_suggestions(result)
        yield


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
