"""Fields a root resolver fills in for a whole page: plain values, no resolver call.

A page's root resolver (the home grid, up next) loads the related objects its selection
asks for with one batched statement each, started together, and stores them on each node
in `prefetched` (GraphQL field name -> value). `install` wraps those fields' resolvers so a
prefetched value is returned as it is (no Strawberry `Info`, no coroutine, no DataLoader
future: what a basic field costs); a node reached another way (`node`, payloads) has no
`prefetched` and goes through the field's resolver and its loaders as before.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, GraphQLResolveInfo
from strawberry.types import Info
from strawberry.types.nodes import FragmentSpread, InlineFragment, SelectedField, Selection

#: Type name -> the fields its page resolvers may prefetch.
PREFETCHABLE: dict[str, tuple[str, ...]] = {
    "Sequence": ("stepCount", "activeConnections", "recordType", "ownerUser", "tags"),
    "Activity": ("record", "sequence"),
}


def _fast(name: str, resolve: Callable[..., Any]) -> Callable[..., Any]:
    def fast(source: Any, info: GraphQLResolveInfo, **kwargs: Any) -> Any:
        prefetched = getattr(source, "prefetched", None)
        if prefetched is not None and name in prefetched:
            return prefetched[name]
        return resolve(source, info, **kwargs)

    return fast


def install(schema: strawberry.Schema) -> None:
    """Answer the `PREFETCHABLE` fields from `prefetched` when a node has them."""
    for type_name, names in PREFETCHABLE.items():
        graphql_type = schema._schema.get_type(type_name)
        if not isinstance(graphql_type, GraphQLObjectType):
            raise TypeError(f"{type_name} is not an object type")
        for name in names:
            field = graphql_type.fields[name]
            if field.resolve is None:
                raise TypeError(f"{type_name}.{name} has no resolver")
            field.resolve = _fast(name, field.resolve)


def _flatten(selections: Iterable[Selection]) -> Iterable[SelectedField]:
    for s in selections:
        if isinstance(s, FragmentSpread | InlineFragment):
            yield from _flatten(s.selections)
        else:
            yield s


def node_fields(info: Info) -> set[str]:
    """The fields a connection's selection asks of its nodes (`nodes` and `edges.node`)."""
    out: set[str] = set()
    for field in _flatten(info.selected_fields):
        for child in _flatten(field.selections):
            if child.name == "nodes":
                out.update(f.name for f in _flatten(child.selections))
            elif child.name == "edges":
                for edge in _flatten(child.selections):
                    if edge.name == "node":
                        out.update(f.name for f in _flatten(edge.selections))
    return out
