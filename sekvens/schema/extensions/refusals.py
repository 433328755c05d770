"""How the extensions answer with a coded error: `refuse` an operation before it runs, tell a
client's mistake from an unexpected error (`is_expected`), and give GraphQL's own refusals a
code and the offending value's `field` path (`with_code`)."""

from __future__ import annotations

import re
from typing import Any

from graphql import (
    ArgumentNode,
    DocumentNode,
    ExecutionResult,
    GraphQLError,
    GraphQLSyntaxError,
    ListValueNode,
    Node,
    ObjectValueNode,
    Visitor,
    visit,
)
from strawberry.extensions import SchemaExtension
from strawberry.types.graphql import OperationType

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.schema.scalars import InvalidInput, original_invalid_input

# graphql-core's wording for a variable value that doesn't fit: the path is only in the text.
VARIABLE_ERROR = re.compile(r"^Variable '\$(\w+)' (?:has|got) invalid value( at [^:\s]+)?")
PATH_PART = re.compile(r"\.(\w+)|\[(\d+)\]")


def refuse(extension: SchemaExtension, error: GraphQLError) -> None:
    """Answer `error` instead of running the operation (call from `on_execute`, before yield).

    Queries and mutations get it as their result, so the other extensions (metrics,
    masking) see it; a subscription has no result to set, so it is raised, which
    Strawberry turns into the subscription's error.
    """
    ec = extension.execution_context
    if ec.operation_type == OperationType.SUBSCRIPTION:
        raise error
    ec.result = ExecutionResult(data=None, errors=[error])


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


def literal_path(document: DocumentNode | None, target: Node) -> list[str]:
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
        field = literal_path(document, error.nodes[0])
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
