"""One way to run a mutation: check the viewer, run in a transaction, turn refusals into errors."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from strawberry.types import Info

from sekvens.domain.errors import DomainError
from sekvens.domain.roles import Role
from sekvens.resolvers.context import Context, Viewer
from sekvens.schema.errors import user_errors

PayloadT = TypeVar("PayloadT")


async def mutate(
    info: Info,
    payload: Callable[..., PayloadT],
    run: Callable[[Context, Viewer], Awaitable[dict[str, Any]]],
    roles: frozenset[Role] | None = None,
) -> PayloadT:
    """Run `run` as the viewer (who needs one of `roles`) in one write transaction.

    `run` returns the payload's fields. A `DomainError` rolls everything back and becomes
    the payload's `errors`; anything else rolls back and propagates (and is masked).
    """
    ctx: Context = info.context
    try:
        viewer = ctx.require(roles)
    except DomainError as e:
        return _refused(ctx, payload, e)
    ctx.writing = True
    session = ctx.services.engine.bus.track(ctx.session)  # publishes changes after commit
    try:
        fields = await run(ctx, viewer)
        await session.commit()
    except DomainError as e:
        await session.rollback()
        return _refused(ctx, payload, e)
    except BaseException:
        await session.rollback()
        raise
    finally:
        ctx.reset_loaders()
    return payload(errors=[], **fields)


def _refused(ctx: Context, payload: Callable[..., PayloadT], error: DomainError) -> PayloadT:
    for problem in error.problems:
        ctx.services.metrics.errors.labels(problem.code.value).inc()
    return payload(errors=user_errors(error))


async def mutate_anonymously(
    info: Info,
    payload: Callable[..., PayloadT],
    run: Callable[[Context], Awaitable[dict[str, Any]]],
) -> PayloadT:
    """`mutate` for the few mutations a caller without a token may run (exchanging a sign-in
    link): `run` gets no viewer, and acts on what its input proves alone."""
    ctx: Context = info.context
    ctx.writing = True
    session = ctx.services.engine.bus.track(ctx.session)
    try:
        fields = await run(ctx)
        await session.commit()
    except DomainError as e:
        await session.rollback()
        return _refused(ctx, payload, e)
    except BaseException:
        await session.rollback()
        raise
    finally:
        ctx.reset_loaders()
    return payload(errors=[], **fields)
