"""Text inputs hold no NUL character (U+0000): PostgreSQL can store none (in text or jsonb),
so every such value, in a variable or a literal, is refused before the operation runs."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, GraphQLError, StringValueNode, Visitor, visit
from strawberry.extensions import SchemaExtension

from sekvens.domain.errors import ErrorCode
from sekvens.schema.extensions.refusals import literal_path, refuse

NUL = "\x00"
MESSAGE = "Text can't hold the NUL character (U+0000)."


def _in_value(value: Any, path: list[str]) -> list[str] | None:
    """The path to the first string (or object key) in `value` holding a NUL."""
    if isinstance(value, str):
        return path if NUL in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            if NUL in str(key):
                return path
            if (found := _in_value(item, [*path, str(key)])) is not None:
                return found
    elif isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _in_value(item, [*path, str(i)])) is not None:
                return found
    return None


class _Strings(Visitor):
    def __init__(self) -> None:
        super().__init__()
        self.found: StringValueNode | None = None

    def enter_string_value(self, node: StringValueNode, *_: Any) -> Any:
        if NUL in node.value:
            self.found = node
            return Visitor.BREAK
        return None


def _in_document(document: DocumentNode) -> StringValueNode | None:
    strings = _Strings()
    visit(document, strings)
    return strings.found


class NoNulInText(SchemaExtension):
    """Refuses an operation whose variables or literals hold a NUL: INVALID_VALUE with the
    value's `field` path."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        field = _in_value(ec.variables or {}, [])
        document = ec.graphql_document
        # A literal can only spell a NUL as an escape (the parser refuses the raw character).
        if field is None and document is not None and "\\u" in (ec.query or ""):
            node = _in_document(document)
            field = literal_path(document, node) if node is not None else None
        if field is not None:
            refuse(
                self,
                GraphQLError(
                    MESSAGE,
                    extensions={"code": ErrorCode.INVALID_VALUE.value, "field": field},
                ),
            )
        yield
