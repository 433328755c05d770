"""`node(id:)`: how each Node type is loaded by its global id, in one table.

Every loader returns the object only when it belongs to the viewer's organization, and None
for an id that names nothing (or something of another organization).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sekvens.resolvers.context import Context
from sekvens.schema.engine import Activity, SequenceTarget
from sekvens.schema.organization import Organization
from sekvens.schema.records import Record, RecordType
from sekvens.schema.relay import Node, from_global_id, key_of
from sekvens.schema.sequences import Sequence, SequenceVersion
from sekvens.schema.steps import step_of
from sekvens.schema.tags import Tag, request_tree
from sekvens.schema.users import Team, User
from sekvens.storage import organizations
from sekvens.storage.tables import Activity as ActivityRow
from sekvens.storage.tables import Record as RecordRow
from sekvens.storage.tables import Sequence as SequenceRow
from sekvens.storage.tables import SequenceVersion as VersionRow

NodeLoader = Callable[[Context, str], Awaitable[Node | None]]


async def _user(ctx: Context, pk: str) -> Node | None:
    row = await ctx.loaders.user.load(key) if (key := key_of(pk)) is not None else None
    return User.from_row(row) if row is not None else None


async def _team(ctx: Context, pk: str) -> Node | None:
    row = await ctx.loaders.team.load(key) if (key := key_of(pk)) is not None else None
    return Team.from_row(row) if row is not None else None


async def _record_type(ctx: Context, pk: str) -> Node | None:
    row = await ctx.loaders.record_type.load(key) if (key := key_of(pk)) is not None else None
    return RecordType.from_row(row) if row is not None else None


async def _organization(ctx: Context, pk: str) -> Node | None:
    if pk != str(ctx.viewer.organization_id):
        return None
    org = await organizations.get(ctx.reader, int(pk))
    return Organization.from_row(org) if org else None


async def _record(ctx: Context, pk: str) -> Node | None:
    row = await ctx.reader.get(RecordRow, key) if (key := key_of(pk)) else None
    if row is None or row.organization_id != ctx.viewer.organization_id:
        return None
    return Record.from_row(row)


async def _sequence(ctx: Context, pk: str) -> Node | None:
    row = await ctx.reader.get(SequenceRow, key) if (key := key_of(pk)) else None
    if row is None or row.organization_id != ctx.viewer.organization_id:
        return None
    return Sequence.from_row(row)


async def _version(ctx: Context, pk: str) -> Node | None:
    version = await ctx.reader.get(VersionRow, key) if (key := key_of(pk)) else None
    seq = await ctx.reader.get(SequenceRow, version.sequence_id) if version else None
    if version is None or seq is None or seq.organization_id != ctx.viewer.organization_id:
        return None
    return SequenceVersion.from_row(version, seq)


async def _step(ctx: Context, pk: str) -> Node | None:
    version_key, _, key = pk.partition(":")
    version_id = key_of(version_key)
    if version_id is None or not key:
        return None
    version = await ctx.reader.get(VersionRow, version_id)
    seq = await ctx.reader.get(SequenceRow, version.sequence_id) if version else None
    if version is None or seq is None or seq.organization_id != ctx.viewer.organization_id:
        return None
    design = await ctx.sequence_loaders.design(seq.id, seq.record_type_id, version)
    return step_of(design, key) if key in design.graph.steps else None


async def _tag(ctx: Context, pk: str) -> Node | None:
    tree = await request_tree(ctx)
    key = key_of(pk)
    return Tag.from_tree(tree, key) if key is not None and key in tree else None


async def _connection(ctx: Context, pk: str) -> Node | None:
    row = await ctx.engine_loaders.connection.load(key) if (key := key_of(pk)) else None
    return SequenceTarget.from_row(row) if row else None


async def _activity(ctx: Context, pk: str) -> Node | None:
    row = await ctx.reader.get(ActivityRow, key) if (key := key_of(pk)) else None
    if row is None or row.organization_id != ctx.viewer.organization_id:
        return None
    return Activity.from_row(row)


#: The Node types by the type name in their global ids.
NODE_LOADERS: dict[str, NodeLoader] = {
    "Organization": _organization,
    "User": _user,
    "Team": _team,
    "RecordType": _record_type,
    "Record": _record,
    "Sequence": _sequence,
    "SequenceVersion": _version,
    "Step": _step,
    "Tag": _tag,
    "SequenceTarget": _connection,
    "Activity": _activity,
}


async def load_node(ctx: Context, global_id: str) -> Node | None:
    """The object a global id names, if the viewer's organization has it."""
    type_name, pk = from_global_id(global_id)
    load = NODE_LOADERS.get(type_name)
    return await load(ctx, pk) if load is not None else None
