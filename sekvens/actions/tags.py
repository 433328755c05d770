"""Tags: create, rename, move and delete them, and set the tags of a sequence.

System administrators and sequence managers change the tree; whoever may edit a sequence
sets its tags (a salesperson on their personal sequences). The tree's rules are
`domain/tags.py`, applied by `storage/tags.py` under the organization's lock.
"""

from __future__ import annotations

from collections.abc import Sequence as Seq
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.authoring import sequences as authoring
from sekvens.domain import sequence_access as access
from sekvens.domain.errors import DomainError, ErrorCode
from sekvens.domain.roles import Actor
from sekvens.domain.tags import TagTree
from sekvens.storage import audit
from sekvens.storage import tags as tag_store
from sekvens.storage.tables import Sequence, Tag


async def _check_admin(session: AsyncSession, actor: Actor) -> None:
    await authoring.organization(session, actor)
    access.check_tag_admin(actor.roles)


def _log(session: AsyncSession, actor: Actor, action: str, tag_id: int, **detail: Any) -> None:
    audit.record(session, actor.organization_id, actor.user_id, action, "tag", tag_id, detail)


async def get_tag(session: AsyncSession, actor: Actor, tag_id: int, field: str = "tagId") -> Tag:
    tag = await tag_store.get_tag(session, actor.organization_id, tag_id)
    if tag is None:
        raise DomainError.of(ErrorCode.NOT_FOUND, "No such tag in this organization.", [field])
    return tag


async def create_tag(
    session: AsyncSession,
    actor: Actor,
    name: str,
    parent_id: int | None,
    via: str | None = None,
) -> tuple[Tag, TagTree]:
    """A new tag under `parent_id` (None: the first level), and the tree after.

    `via` names the way it came other than by hand (an import), in the audit entry.
    """
    await _check_admin(session, actor)
    tag = await tag_store.create_tag(session, actor.organization_id, name, parent_id)
    tree = await tag_store.tree(session, actor.organization_id)
    detail = {"name": tag.name, "path": tree.path(tag.id)}
    _log(session, actor, "tag.created", tag.id, **detail, **({"via": via} if via else {}))
    return tag, tree


async def update_tag(
    session: AsyncSession,
    actor: Actor,
    tag_id: int,
    name: str | None,
    parent_id: int | None,
    move_to_root: bool,
) -> tuple[Tag, TagTree]:
    """Rename the tag (`name`) and/or move it with its sub-tags, under `parent_id` or to
    the first level (`move_to_root`); returns it and the tree after."""
    await _check_admin(session, actor)
    tag = await get_tag(session, actor, tag_id)
    if parent_id is not None and move_to_root:
        raise DomainError.of(
            ErrorCode.INVALID_VALUE,
            "Give either parentId (move under a tag) or moveToRoot, not both.",
            ["moveToRoot"],
        )
    before = (await tag_store.tree(session, actor.organization_id)).path(tag.id)
    move = parent_id is not None or move_to_root
    await tag_store.update_tag(session, tag, name, parent_id, move)
    tree = await tag_store.tree(session, actor.organization_id)
    after = tree.path(tag.id)
    if after != before:
        _log(session, actor, "tag.updated", tag.id, before=before, after=after)
    return tag, tree


async def delete_tag(session: AsyncSession, actor: Actor, tag_id: int) -> tuple[list[int], TagTree]:
    """Delete a tag: it leaves its sequences, its sub-tags move up one level. Returns the
    lifted sub-tags' ids and the tree after."""
    await _check_admin(session, actor)
    tag = await get_tag(session, actor, tag_id)
    path = (await tag_store.tree(session, actor.organization_id)).path(tag_id)
    lifted, sequences = await tag_store.delete_tag(session, tag)
    _log(session, actor, "tag.deleted", tag_id, path=path, lifted=lifted, sequences=sequences)
    return lifted, await tag_store.tree(session, actor.organization_id)


async def set_sequence_tags(
    session: AsyncSession, actor: Actor, sequence_id: int, tag_ids: Seq[int]
) -> tuple[Sequence, TagTree]:
    """Replace a sequence's tags, active or not (tags are not part of its design); returns
    the sequence and the tree."""
    seq = await authoring.get_sequence(session, actor, sequence_id)
    await tag_store.check_tag_ids(session, actor.organization_id, tag_ids)
    tree = await write_sequence_tags(session, actor, seq.id, tag_ids)
    if tree is None:
        tree = await tag_store.tree(session, actor.organization_id)
    return seq, tree


async def write_sequence_tags(
    session: AsyncSession, actor: Actor, sequence_id: int, tag_ids: Seq[int]
) -> TagTree | None:
    """Make `tag_ids`, tags of the actor's organization, the sequence's tags, audited when
    they change; returns the tree it read for the audit entry (None: nothing changed)."""
    added, removed = await tag_store.set_sequence_tags(session, sequence_id, tag_ids)
    if not (added or removed):
        return None
    tree = await tag_store.tree(session, actor.organization_id)
    audit.record(
        session,
        actor.organization_id,
        actor.user_id,
        "sequence.tags_set",
        "sequence",
        sequence_id,
        {"added": [tree.path(t) for t in added], "removed": [tree.path(t) for t in removed]},
    )
    return tree
