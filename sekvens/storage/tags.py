"""Tags and the tags of sequences: the queries, with the rules of `domain.tags` applied.

Changes to an organization's tree run one at a time (PostgreSQL locks the organization's
row; SQLite's write transactions are serial already), so two concurrent changes can't
together break a limit or create twin siblings.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from collections.abc import Sequence as Seq
from itertools import pairwise
from typing import Any

from sqlalchemy import Select, delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.tags import MAX_DEPTH, TagNode, TagTree
from sekvens.storage.db import rows_matched
from sekvens.storage.tables import Organization, SequenceTag, Tag


def tree_of(rows: Iterable[Tag]) -> TagTree:
    return TagTree(TagNode(r.id, r.parent_id, r.name) for r in rows)


async def all_tags(session: AsyncSession, organization_id: int) -> list[Tag]:
    """Every tag of the organization (one statement; tags are few)."""
    rows = await session.scalars(
        select(Tag).where(Tag.organization_id == organization_id).order_by(Tag.id)
    )
    return list(rows)


async def tree(session: AsyncSession, organization_id: int) -> TagTree:
    return tree_of(await all_tags(session, organization_id))


async def get_tag(session: AsyncSession, organization_id: int, tag_id: int) -> Tag | None:
    tag = await session.get(Tag, tag_id)
    return tag if tag is not None and tag.organization_id == organization_id else None


async def _lock(session: AsyncSession, organization_id: int) -> None:
    bind = session.bind
    if bind is not None and bind.dialect.name == "postgresql":
        await session.execute(
            select(Organization.id).where(Organization.id == organization_id).with_for_update()
        )


async def _locked_tree(session: AsyncSession, organization_id: int) -> TagTree:
    await _lock(session, organization_id)
    return await tree(session, organization_id)


async def create_tag(
    session: AsyncSession, organization_id: int, name: str, parent_id: int | None
) -> Tag:
    current = await _locked_tree(session, organization_id)
    trimmed = current.check_create(name, parent_id)
    tag = Tag(organization_id=organization_id, parent_id=parent_id, name=trimmed)
    session.add(tag)
    await session.flush()
    return tag


async def update_tag(
    session: AsyncSession,
    tag: Tag,
    name: str | None = None,
    parent_id: int | None = None,
    move: bool = False,
) -> Tag:
    """Rename (`name`) and/or move (`move`: under `parent_id`, None for the first level).

    A moved tag takes its subtree along; moving under itself or its own sub-tags, or so
    deep that the subtree would pass the fourth level, is refused.
    """
    current = await _locked_tree(session, tag.organization_id)
    tag.name, tag.parent_id = current.check_update(tag.id, name, parent_id, move)
    await session.flush()
    return tag


async def delete_tag(session: AsyncSession, tag: Tag) -> tuple[list[int], int]:
    """Delete a tag: its children move up to its parent, its sequences lose it.

    Refused with DUPLICATE when a lifted child has the name of a tag already at the new
    level (the user renames or moves one first; nothing is merged behind their back), and
    with TAG_TOO_MANY_CHILDREN when the new level would overflow. Returns the lifted
    children's ids and how many sequences lost the tag.
    """
    current = await _locked_tree(session, tag.organization_id)
    lifted = current.check_delete(tag.id)
    if lifted:
        await session.execute(
            update(Tag).where(Tag.parent_id == tag.id).values(parent_id=tag.parent_id)
        )
    removed = await rows_matched(session, delete(SequenceTag).where(SequenceTag.tag_id == tag.id))
    await session.delete(tag)
    await session.flush()
    return lifted, removed


# --- Tags of sequences ---------------------------------------------------------------------


async def tags_by_sequence(
    session: AsyncSession, sequence_ids: Iterable[int]
) -> dict[int, list[Tag]]:
    """The tags of each sequence, by name (one statement)."""
    ids = list(set(sequence_ids))
    out: dict[int, list[Tag]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(SequenceTag.sequence_id, Tag)
            .join(Tag, Tag.id == SequenceTag.tag_id)
            .where(SequenceTag.sequence_id.in_(ids))
            .order_by(Tag.name, Tag.id)
        )
        for sequence_id, tag in rows:
            out[sequence_id].append(tag)
    return dict(out)


async def tags_of_sequences(
    session: AsyncSession, sequence_ids: Iterable[int]
) -> tuple[dict[int, list[int]], TagTree]:
    """The tag ids of each sequence, and a tree of only those tags and the tags above them
    (enough for their paths and parents, not for children): one statement, whose cost
    follows the sequences asked for, not the organization's tags."""
    ids = list(set(sequence_ids))
    out: dict[int, list[int]] = defaultdict(list)
    nodes: dict[int, TagNode] = {}
    if not ids:
        return {}, TagTree(())
    levels = [aliased(Tag) for _ in range(MAX_DEPTH)]
    columns: list[Any] = [SequenceTag.sequence_id]
    for level in levels:
        columns += [level.id, level.parent_id, level.name]
    stmt = (
        select(*columns)
        .select_from(SequenceTag)
        .join(levels[0], levels[0].id == SequenceTag.tag_id)
    )
    for child, parent in pairwise(levels):
        stmt = stmt.outerjoin(parent, parent.id == child.parent_id)
    for row in await session.execute(stmt.where(SequenceTag.sequence_id.in_(ids))):
        out[row[0]].append(row[1])
        for i in range(1, len(row), 3):
            if row[i] is not None and row[i] not in nodes:
                nodes[row[i]] = TagNode(row[i], row[i + 1], row[i + 2])
    return dict(out), TagTree(nodes.values())


async def check_tag_ids(
    session: AsyncSession,
    organization_id: int,
    tag_ids: Seq[int],
    field: Seq[str] = ("tagIds",),
) -> None:
    """NOT_FOUND (with the item's index in `field`) for an id that isn't a tag of the org."""
    wanted = set(tag_ids)
    found = set()
    if wanted:
        found = set(
            await session.scalars(
                select(Tag.id).where(Tag.organization_id == organization_id, Tag.id.in_(wanted))
            )
        )
    for i, tag_id in enumerate(tag_ids):
        if tag_id not in found:
            raise DomainError.of(
                ErrorCode.NOT_FOUND, "No such tag in this organization.", [*field, str(i)]
            )


async def set_sequence_tags(
    session: AsyncSession, sequence_id: int, tag_ids: Iterable[int]
) -> tuple[list[int], list[int]]:
    """Make `tag_ids` the sequence's tags; returns (added, removed) tag ids.

    The caller checks that the tags belong to the sequence's organization
    (`check_tag_ids`).
    """
    wanted = list(dict.fromkeys(tag_ids))
    current = set(
        await session.scalars(
            select(SequenceTag.tag_id).where(SequenceTag.sequence_id == sequence_id)
        )
    )
    added = [t for t in wanted if t not in current]
    removed = sorted(current - set(wanted))
    if removed:
        await session.execute(
            delete(SequenceTag).where(
                SequenceTag.sequence_id == sequence_id, SequenceTag.tag_id.in_(removed)
            )
        )
    if added:
        await session.execute(
            insert(SequenceTag), [{"sequence_id": sequence_id, "tag_id": t} for t in added]
        )
    return added, removed


def sequence_ids_tagged(organization_id: int, tag_ids: Iterable[int]) -> Select[Any]:
    """Ids of sequences tagged with any of `tag_ids` or a tag below one of them.

    For `Sequence.id.in_(...)`. A recursive CTE walks down from the given tags, so it
    works on SQLite and PostgreSQL alike; ids of another organization's tags match nothing.
    """
    ids = list(set(tag_ids))
    below = (
        select(Tag.id)
        .where(Tag.organization_id == organization_id, Tag.id.in_(ids))
        .cte("tagged_tree", recursive=True)
    )
    child = select(Tag.id).join(below, Tag.parent_id == below.c.id)
    below = below.union(child)
    return select(SequenceTag.sequence_id).where(SequenceTag.tag_id.in_(select(below.c.id)))
