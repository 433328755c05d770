"""Subscriptions: live updates of the viewer's activities and of a sequence's connections.

Each resolver listens to the change bus (`sekvens.engine.change_bus`), keeps the ids meant for
its viewer and reads those rows again, so an event carries nothing a reader may not see.

A websocket shares one `Context` among its operations, and nested fields read through the
context's session and loaders. So that every event shows fresh rows and holds no database
connection while idle, a subscription takes the context's turn (one subscription of a
websocket at a time), resets its loaders, yields the rows, and closes the session once
they have been sent.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from sekvens.authoring.sequences import get_sequence
from sekvens.domain.errors import DomainError
from sekvens.engine.change_bus import Change
from sekvens.engine.jobs import ENDED, get_job
from sekvens.resolvers.context import Context
from sekvens.resolvers.jobs import job_pk
from sekvens.resolvers.query import context
from sekvens.resolvers.sequences import sequence_pk
from sekvens.schema.engine import Activity, SequenceTarget
from sekvens.schema.errors import ApiError
from sekvens.schema.jobs import Job
from sekvens.storage.tables import Activity as ActivityRow
from sekvens.storage.tables import Connection as ConnectionRow

_turns: weakref.WeakKeyDictionary[Context, asyncio.Lock] = weakref.WeakKeyDictionary()


@asynccontextmanager
async def _turn(ctx: Context) -> AsyncIterator[None]:
    """The context to oneself, with fresh loaders; its session is closed afterwards."""
    lock = _turns.setdefault(ctx, asyncio.Lock())
    async with lock:
        ctx.reset_loaders()
        try:
            yield
        finally:
            ctx.reset_loaders()
            await ctx.close()


async def _changes(ctx: Context) -> AsyncIterator[Change]:
    async with ctx.services.engine.bus.subscribe() as subscriber:
        async for change in subscriber:
            yield change


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="The viewer's activities each time one changes: created, completed, skipped,"
        " snoozed or reassigned to them. A closed one comes with its new status."
    )
    async def up_next_changed(self, info: Info) -> AsyncGenerator[Activity, None]:
        ctx = context(info)
        viewer = ctx.viewer
        async for change in _changes(ctx):
            ids = change.activities_of(viewer.user_id)
            if not ids:
                continue
            async with _turn(ctx):
                rows = await ctx.session.scalars(
                    select(ActivityRow)
                    .where(
                        ActivityRow.id.in_(ids),
                        ActivityRow.organization_id == viewer.organization_id,
                    )
                    .order_by(ActivityRow.id)
                )
                for row in list(rows):
                    yield Activity.from_row(row)

    @strawberry.subscription(
        description="Connections of a sequence each time one changes: connected, advanced,"
        " paused, resumed, completed, disconnected or in ERROR."
    )
    async def connection_changed(
        self, info: Info, sequence_id: strawberry.ID
    ) -> AsyncGenerator[SequenceTarget, None]:
        ctx = context(info)
        viewer = ctx.viewer
        async with _turn(ctx):
            try:
                pk = sequence_pk(sequence_id)
                await get_sequence(ctx.session, viewer, pk, edit=False)
            except DomainError as e:
                raise ApiError.from_domain(e) from None
        async for change in _changes(ctx):
            ids = change.connections_of(pk)
            if not ids:
                continue
            async with _turn(ctx):
                rows = await ctx.session.scalars(
                    select(ConnectionRow)
                    .where(
                        ConnectionRow.id.in_(ids),
                        ConnectionRow.organization_id == viewer.organization_id,
                    )
                    .order_by(ConnectionRow.id)
                )
                for row in list(rows):
                    yield SequenceTarget.from_row(row)

    @strawberry.subscription(
        description="A job each time its status or progress changes (a chunk committed): first"
        " as it is now, last when it has ended."
    )
    async def job_changed(self, info: Info, id: strawberry.ID) -> AsyncGenerator[Job, None]:
        ctx = context(info)
        viewer = ctx.viewer
        async with ctx.services.engine.bus.subscribe() as subscriber:  # before the first read
            changes = aiter(subscriber)
            while True:
                async with _turn(ctx):
                    try:
                        row = await get_job(ctx.session, viewer, job_pk(id))
                    except DomainError as e:
                        raise ApiError.from_domain(e) from None
                    job = Job.from_row(row)
                yield job
                if job.status in ENDED:
                    return
                while job_pk(id) not in (await anext(changes)).jobs:
                    pass
