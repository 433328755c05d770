"""The `tags` query and the tag mutations: the tree, and the tags of a sequence.

The rules (who may change what, the audit entries) are `actions/tags.py`.
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.actions import tags as tag_actions
from sekvens.authoring import sequences as authoring
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import context
from sekvens.schema.errors import ApiError
from sekvens.schema.relay import decode_id
from sekvens.schema.sequences import Sequence, SetSequenceTagsPayload
from sekvens.schema.tags import (
    CreateTagInput,
    DeleteTagInput,
    DeleteTagPayload,
    SetSequenceTagsInput,
    Tag,
    TagPayload,
    UpdateTagInput,
    request_tree,
)


def _parent_pk(global_id: strawberry.ID | None) -> int | None:
    return None if global_id is None else decode_id(global_id, "Tag", ["parentId"])


def _tag_pk(global_id: strawberry.ID) -> int:
    return decode_id(global_id, "Tag", ["tagId"])


@strawberry.type
class TagQueries:
    @strawberry.field(
        description="The organization's tags, a parent before its sub-tags, siblings by name;"
        " with `parentId`, only the tags directly under that one."
    )
    async def tags(self, info: Info, parent_id: strawberry.ID | None = None) -> list[Tag]:
        ctx = context(info)
        try:
            await authoring.organization(ctx.reader, ctx.viewer)
            tree = await request_tree(ctx)
            if parent_id is None:
                return [Tag.from_tree(tree, n.id) for n in tree.ordered()]
            parent = decode_id(parent_id, "Tag", ["parentId"])
            if parent not in tree:
                raise DomainError.of(ErrorCode.NOT_FOUND, "No such tag in this organization.")
        except DomainError as e:
            raise ApiError.from_domain(e) from None
        return [Tag.from_tree(tree, n.id) for n in tree.children(parent)]


@strawberry.type
class TagMutations:
    @strawberry.mutation(description="Create a tag, on the first level or under another tag.")
    async def create_tag(self, info: Info, input: CreateTagInput) -> TagPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            parent = _parent_pk(input.parent_id)
            tag, tree = await tag_actions.create_tag(ctx.session, viewer, input.name, parent)
            return {"tag": Tag.from_tree(tree, tag.id)}

        return await mutate(info, TagPayload, run)

    @strawberry.mutation(description="Rename a tag and/or move it, with its sub-tags.")
    async def update_tag(self, info: Info, input: UpdateTagInput) -> TagPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            tag, tree = await tag_actions.update_tag(
                ctx.session,
                viewer,
                _tag_pk(input.tag_id),
                input.name,
                _parent_pk(input.parent_id),
                input.move_to_root,
            )
            return {"tag": Tag.from_tree(tree, tag.id)}

        return await mutate(info, TagPayload, run)

    @strawberry.mutation(
        description="Delete a tag: it leaves its sequences, and its sub-tags move up one level."
    )
    async def delete_tag(self, info: Info, input: DeleteTagInput) -> DeleteTagPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            lifted, tree = await tag_actions.delete_tag(ctx.session, viewer, _tag_pk(input.tag_id))
            return {"deleted_tag_id": input.tag_id, "lifted_tags": Tag.ordered(tree, lifted)}

        return await mutate(info, DeleteTagPayload, run)

    @strawberry.mutation(
        description="Replace a sequence's tags. Allowed to whoever may edit the sequence,"
        " active or not: tags are not part of its design."
    )
    async def set_sequence_tags(
        self, info: Info, input: SetSequenceTagsInput
    ) -> SetSequenceTagsPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            sequence_id = decode_id(input.sequence_id, "Sequence", ["sequenceId"])
            tag_ids = [decode_id(t, "Tag", ["tagIds", str(i)]) for i, t in enumerate(input.tag_ids)]
            seq, tree = await tag_actions.set_sequence_tags(
                ctx.session, viewer, sequence_id, tag_ids
            )
            return {"sequence": Sequence.from_row(seq), "tags": Tag.ordered(tree, tag_ids)}

        return await mutate(info, SetSequenceTagsPayload, run)
