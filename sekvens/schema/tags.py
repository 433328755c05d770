"""Tags: a tree of labels for sequences, with their inputs and payloads.

A `Tag` carries the organization's whole tree (loaded once per request), so its `path`,
`parent` and `children` cost no further query; a sequence's tags carry only the tags above
them (loaded with the page's tags), and load the whole tree for `children` only.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.domain.tags import SEPARATOR, TagTree
from sekvens.schema.errors import UserError
from sekvens.schema.relay import Node, to_global_id


async def request_tree(ctx: Any) -> TagTree:
    """The viewer's organization's tags, loaded at most once per request (one statement);
    `ctx` is the request's context."""
    tree: TagTree = await ctx.loaders.tag_tree.load(ctx.viewer.organization_id)
    return tree


def tag_gid(tag_id: int) -> str:
    return to_global_id("Tag", tag_id)


@strawberry.type(description="A label for sequences. Tags nest at most four levels.")
class Tag(Node):
    pk: strawberry.Private[int]
    tree: strawberry.Private[TagTree]
    #: `tree` holds only some tags and the tags above them: enough for `path` and `parent`.
    partial: strawberry.Private[bool]
    name: str
    path: str = strawberry.field(
        description="The names from the first level down to this tag, joined by '/'."
    )
    depth: int = strawberry.field(description="1 on the first level, at most 4.")

    @strawberry.field(description="The tag this one is nested under; null on the first level.")
    def parent(self) -> Tag | None:
        node = self.tree.get(self.pk)
        if node is None or node.parent_id is None or node.parent_id not in self.tree:
            return None
        return Tag.from_tree(self.tree, node.parent_id)

    @strawberry.field(description="The tags directly under this one, by name.")
    async def children(self, info: Info) -> list[Tag]:
        tree = await request_tree(info.context) if self.partial else self.tree
        return [Tag.from_tree(tree, c.id) for c in tree.children(self.pk)]

    @classmethod
    def from_tree(cls, tree: TagTree, tag_id: int, partial: bool = False) -> Tag:
        node = tree.nodes[tag_id]
        ancestors = tree.ancestors(tag_id)
        return cls(
            id=strawberry.ID(tag_gid(tag_id)),
            pk=tag_id,
            tree=tree,
            partial=partial,
            name=node.name,
            path=SEPARATOR.join(n.name for n in ancestors),
            depth=len(ancestors),
        )

    @classmethod
    def ordered(cls, tree: TagTree, tag_ids: Iterable[int], partial: bool = False) -> list[Tag]:
        """The tags of `tag_ids` known to `tree`, by path; `partial`: `tree` holds only these
        tags and the tags above them (their children come from the request's whole tree)."""
        known = [i for i in set(tag_ids) if i in tree]
        return [cls.from_tree(tree, i, partial) for i in sorted(known, key=tree.path_key)]


# Inputs and payloads


@strawberry.input
class CreateTagInput:
    name: str
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Nest the tag under this one; omitted: on the first level."
    )


@strawberry.input(description="Rename a tag, move it (with its sub-tags), or both.")
class UpdateTagInput:
    tag_id: strawberry.ID
    name: str | None = None
    parent_id: strawberry.ID | None = strawberry.field(
        default=None, description="Move the tag under this one."
    )
    move_to_root: bool = strawberry.field(
        default=False, description="Move the tag to the first level."
    )


@strawberry.input
class DeleteTagInput:
    tag_id: strawberry.ID


@strawberry.input
class SetSequenceTagsInput:
    sequence_id: strawberry.ID
    tag_ids: list[strawberry.ID] = strawberry.field(
        description="The sequence's tags from now on (an empty list removes them all)."
    )


@strawberry.type
class TagPayload:
    errors: list[UserError]
    tag: Tag | None = None


@strawberry.type
class DeleteTagPayload:
    errors: list[UserError]
    deleted_tag_id: strawberry.ID | None = None
    lifted_tags: list[Tag] = strawberry.field(
        default_factory=list,
        description="The deleted tag's children, now one level up under its parent.",
    )
