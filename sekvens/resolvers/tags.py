"""The `tags` query and the tag mutations: the tree, and the tags of a sequence.

System administrators and sequence managers create, rename, move and delete tags;
whoever may edit a sequence sets its tags (a salesperson on their personal sequences).
"""

from __future__ import annotations

from typing import Any

import strawberry
from strawberry.types import Info

from sekvens.authoring import sequences as authoring
from sekvens.domain import sequence_access as access
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.tags import TagTree
from sekvens.resolvers.context import Context, Viewer
from sekvens.resolvers.mutation_base import mutate
from sekvens.resolvers.query import NODE_LOADERS, context
from sekvens.schema.errors import ApiError
from sekvens.schema.relay import Node, decode_id, key_of
from sekvens.schema.sequences import Sequence
from sekvens.schema.tags import (
    CreateTagInput,
    DeleteTagInput,
    DeleteTagPayload,
    SetSequenceTagsInput,
    SetSequenceTagsPayload,
    Tag,
    TagPayload,
    UpdateTagInput,
    request_tree,
)
from sekvens.storage import audit
from sekvens.storage import tags as tag_store
from sekvens.storage.tables import Sequence as SequenceRow
from sekvens.storage.tables import Tag as TagRow


async def _load_tag(ctx: Context, pk: str) -> Node | None:
    tree = await request_tree(ctx)
    key = key_of(pk)
    return Tag.from_tree(tree, key) if key is not None and key in tree else None


NODE_LOADERS["Tag"] = _load_tag


async def _tag_admin(ctx: Context, viewer: Viewer) -> None:
    await authoring.organization(ctx.session, viewer)
    access.check_tag_admin(viewer.roles)


async def get_tag(ctx: Context, viewer: Viewer, global_id: str, field: str = "tagId") -> TagRow:
    tag = await tag_store.get_tag(
        ctx.session, viewer.organization_id, decode_id(global_id, "Tag", [field])
    )
    if tag is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such tag in this organization.", [field])
    return tag


def _parent_pk(global_id: strawberry.ID | None) -> int | None:
    return None if global_id is None else decode_id(global_id, "Tag", ["parentId"])


def _log(ctx: Context, viewer: Viewer, action: str, tag_id: int, **detail: Any) -> None:
    audit.record(ctx.session, viewer.organization_id, viewer.user_id, action, "tag", tag_id, detail)


async def _tree(ctx: Context, viewer: Viewer) -> TagTree:
    """The tree as this transaction sees it (after the change)."""
    return await tag_store.tree(ctx.session, viewer.organization_id)


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
            await _tag_admin(ctx, viewer)
            parent = _parent_pk(input.parent_id)
            tag = await tag_store.create_tag(
                ctx.session, viewer.organization_id, input.name, parent
            )
            tree = await _tree(ctx, viewer)
            _log(ctx, viewer, "tag.created", tag.id, name=tag.name, path=tree.path(tag.id))
            return {"tag": Tag.from_tree(tree, tag.id)}

        return await mutate(info, TagPayload, run)

    @strawberry.mutation(description="Rename a tag and/or move it, with its sub-tags.")
    async def update_tag(self, info: Info, input: UpdateTagInput) -> TagPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            await _tag_admin(ctx, viewer)
            tag = await get_tag(ctx, viewer, input.tag_id)
            if input.parent_id is not None and input.move_to_root:
                raise DomainError.of(
                    ErrorCode.INVALID_VALUE,
                    "Give either parentId (move under a tag) or moveToRoot, not both.",
                    ["moveToRoot"],
                )
            move = input.parent_id is not None or input.move_to_root
            before = (await _tree(ctx, viewer)).path(tag.id)
            await tag_store.update_tag(
                ctx.session, tag, input.name, _parent_pk(input.parent_id), move
            )
            tree = await _tree(ctx, viewer)
            after = tree.path(tag.id)
            if after != before:
                _log(ctx, viewer, "tag.updated", tag.id, before=before, after=after)
            return {"tag": Tag.from_tree(tree, tag.id)}

        return await mutate(info, TagPayload, run)

    @strawberry.mutation(
        description="Delete a tag: it leaves its sequences, and its sub-tags move up one level."
    )
    async def delete_tag(self, info: Info, input: DeleteTagInput) -> DeleteTagPayload:
        async def run(ctx: Context, viewer: Viewer) -> dict[str, Any]:
            await _tag_admin(ctx, viewer)
            tag = await get_tag(ctx, viewer, input.tag_id)
            tag_id = tag.id
            path = (await _tree(ctx, viewer)).path(tag_id)
            lifted, sequences = await tag_store.delete_tag(ctx.session, tag)
            _log(ctx, viewer, "tag.deleted", tag_id, path=path, lifted=lifted, sequences=sequences)
            tree = await _tree(ctx, viewer)
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
            seq = await ctx.session.get(SequenceRow, sequence_id)
            if seq is None or seq.organization_id != viewer.organization_id:
                raise DomainError.of(ErrorCode.NOT_FOUND, "No such sequence.", ["sequenceId"])
            await authoring.organization(ctx.session, viewer)
            access.check_edit(viewer.roles, viewer.user_id, seq.is_personal, seq.owner_user_id)
            tag_ids = [decode_id(t, "Tag", ["tagIds", str(i)]) for i, t in enumerate(input.tag_ids)]
            await tag_store.check_tag_ids(ctx.session, viewer.organization_id, tag_ids)
            added, removed = await tag_store.set_sequence_tags(ctx.session, seq.id, tag_ids)
            tree = await _tree(ctx, viewer)
            if added or removed:
                audit.record(
                    ctx.session,
                    viewer.organization_id,
                    viewer.user_id,
                    "sequence.tags_set",
                    "sequence",
                    seq.id,
                    {
                        "added": [tree.path(t) for t in added],
                        "removed": [tree.path(t) for t in removed],
                    },
                )
            return {"sequence": Sequence.from_row(seq), "tags": Tag.ordered(tree, tag_ids)}

        return await mutate(info, SetSequenceTagsPayload, run)
