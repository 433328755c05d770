"""The cost of an operation, computed from the document before it runs (the limit on it is
`extensions/cost_limit.py`).

The model (docs/security.md):

* a field with a selection (an object or a list of objects) costs 1; leaf fields are free;
* a connection's `first` or `last` multiplies the cost of what is selected under it (the
  page size cap when neither is given, and never more than the cap);
* any other list of objects counts as `LIST_SIZE` items (its length is not known before it
  runs); `edges` and `nodes` of a connection are the connection's page, not another list;
* introspection (`__schema`, `__type`) is free: production turns it off altogether.

Fragments are costed once each (memoised), so a document that spreads fragments many times
over costs little to price: pricing is linear in the size of the document.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLInt,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    get_operation_ast,
    value_from_ast,
)

#: How many items a list that is not a connection is assumed to hold.
LIST_SIZE = 10


def is_connection(type_: GraphQLNamedType | None) -> bool:
    return (
        isinstance(type_, GraphQLObjectType)
        and "edges" in type_.fields
        and "pageInfo" in type_.fields
    )


def _is_list(type_: GraphQLOutputType) -> bool:
    if isinstance(type_, GraphQLNonNull):
        type_ = type_.of_type
    return isinstance(type_, GraphQLList)


@dataclass
class _Pricer:
    schema: GraphQLSchema
    fragments: Mapping[str, FragmentDefinitionNode]
    variables: Mapping[str, Any]
    page_size: int
    priced: dict[str, int] = field(default_factory=dict)

    def selection(self, selection_set: SelectionSetNode, parent: GraphQLNamedType | None) -> int:
        total = 0
        fields = getattr(parent, "fields", {})
        for node in selection_set.selections:
            if isinstance(node, FieldNode):
                name = node.name.value
                definition = fields.get(name)
                if node.selection_set is None or definition is None or name.startswith("__"):
                    continue
                child = get_named_type(definition.type)
                inner = self.selection(node.selection_set, child)
                total += 1 + self.multiplier(node, parent, definition.type, child) * inner
            elif isinstance(node, InlineFragmentNode):
                condition = node.type_condition
                target = self.schema.get_type(condition.name.value) if condition else parent
                total += self.selection(node.selection_set, target)
            elif isinstance(node, FragmentSpreadNode):
                total += self.fragment(node.name.value)
        return total

    def fragment(self, name: str) -> int:
        if name not in self.priced:
            self.priced[name] = 0  # a cycle (validation refuses those) costs nothing more
            fragment = self.fragments.get(name)
            if fragment is not None:
                target = self.schema.get_type(fragment.type_condition.name.value)
                self.priced[name] = self.selection(fragment.selection_set, target)
        return self.priced[name]

    def multiplier(
        self,
        node: FieldNode,
        parent: GraphQLNamedType | None,
        type_: GraphQLOutputType,
        child: GraphQLNamedType,
    ) -> int:
        if is_connection(child):
            sizes = [self.argument(node, name) for name in ("first", "last")]
            given = [s for s in sizes if s is not None]
            size = max(given) if given else self.page_size
            return max(0, min(size, self.page_size))
        if _is_list(type_):
            return 1 if is_connection(parent) else LIST_SIZE
        return 1

    def argument(self, node: FieldNode, name: str) -> int | None:
        for argument in node.arguments or ():
            if argument.name.value == name:
                value = value_from_ast(argument.value, GraphQLInt, dict(self.variables))
                return value if isinstance(value, int) else None
        return None


def operation_cost(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None = None,
    variables: Mapping[str, Any] | None = None,
    page_size: int = 100,
) -> int:
    """The cost of the operation of `document` that would run (0 when there is none)."""
    operation = get_operation_ast(document, operation_name)
    if operation is None:
        return 0
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    pricer = _Pricer(schema, fragments, _with_defaults(operation, variables or {}), page_size)
    root = schema.get_root_type(operation.operation)
    return pricer.selection(operation.selection_set, root)


def _with_defaults(operation: OperationDefinitionNode, variables: Mapping[str, Any]) -> dict:
    values = dict(variables)
    for definition in operation.variable_definitions or ():
        name = definition.variable.name.value
        if name not in values and definition.default_value is not None:
            values[name] = value_from_ast(definition.default_value, GraphQLInt)
    return values
