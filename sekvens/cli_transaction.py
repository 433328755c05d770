"""The one write transaction a command runs its work in: the `sekvens` administration
commands (`cli.py`) and `export`/`import` (`transfer/cli.py`) alike."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TypeVar

import click
from sqlalchemy.ext.asyncio import AsyncSession

from sekvens.config import Settings
from sekvens.domain.errors import DomainError
from sekvens.storage import migrate as migrations
from sekvens.storage.db import Database

T = TypeVar("T")


def _always(_: object) -> bool:
    return True


def run_in_transaction(
    settings: Settings,
    work: Callable[[AsyncSession], Awaitable[T]],
    keep: Callable[[T], bool] = _always,
) -> T:
    """Run `work` in one write transaction, migrating first on the embedded default.

    The transaction is committed when `keep(result)` holds, and rolled back otherwise and
    when `work` raises. A `DomainError` is printed, a problem a line, and exits with 1.
    """

    async def main() -> T:
        db = Database(settings)
        try:
            if settings.migrate_on_start:
                await migrations.upgrade(db.engine)
            async with db.session(write=True) as session:
                await session.begin()
                try:
                    result = await work(session)
                except BaseException:
                    await session.rollback()
                    raise
                if keep(result):
                    await session.commit()
                else:
                    await session.rollback()
                return result
        finally:
            await db.dispose()

    try:
        return asyncio.run(main())
    except DomainError as e:
        for p in e.problems:
            where = f" ({'.'.join(p.field)})" if p.field else ""
            click.echo(f"error: {p.code.value}{where}: {p.message}", err=True)
        sys.exit(1)
