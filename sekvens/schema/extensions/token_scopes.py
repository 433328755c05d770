"""Refuses an operation whose root fields need a scope the caller's token lacks: FORBIDDEN."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    SelectionSetNode,
    get_operation_ast,
)
from strawberry.extensions import SchemaExtension

from sekvens.domain.errors import ErrorCode
from sekvens.domain.scopes import Scope, missing_scope
from sekvens.schema.extensions.refusals import refuse


def root_fields(
    selection_set: SelectionSetNode, fragments: dict[str, FragmentDefinitionNode]
) -> Iterator[str]:
    """The root fields' names, fragments (inline and named, each once) followed."""
    seen: set[str] = set()
    stack = [selection_set]
    while stack:
        for selection in stack.pop().selections:
            if isinstance(selection, FieldNode):
                yield selection.name.value
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode):
                name = selection.name.value
                if name not in seen and name in fragments:
                    seen.add(name)
                    stack.append(fragments[name].selection_set)


class TokenScopes(SchemaExtension):
    """A token with narrower scopes than FULL runs only the root fields they allow."""

    def on_execute(self) -> Iterator[None]:
        ec = self.execution_context
        viewer = getattr(ec.context, "viewer_or_none", None)
        scopes: frozenset[Scope] = viewer.scopes if viewer is not None else frozenset()
        if viewer is not None and Scope.FULL not in scopes and ec.graphql_document is not None:
            document = ec.graphql_document
            operation = get_operation_ast(document, ec.operation_name)
            if operation is not None:
                fragments = {
                    d.name.value: d
                    for d in document.definitions
                    if isinstance(d, FragmentDefinitionNode)
                }
                kind = operation.operation.value
                for name in root_fields(operation.selection_set, fragments):
                    needed = missing_scope(scopes, kind, name)
                    if needed is not None:
                        refuse(self, _error(name, needed, scopes))
                        break
        yield


def _error(field: str, needed: Scope, scopes: frozenset[Scope]) -> GraphQLError:
    held = ", ".join(sorted(scopes)) or "none"
    return GraphQLError(
        f"This token's scopes ({held}) do not allow `{field}`: it needs the scope "
        f"{needed.value} (or FULL).",
        extensions={"code": ErrorCode.FORBIDDEN.value, "field": [field], "scope": needed.value},
    )
