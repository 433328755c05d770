"""Alembic environment: runs migrations on the connection sekvens hands in, or on the URL."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from sekvens.storage.tables import Base

target_metadata = Base.metadata


def run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through `sekvens migrate` (sekvens.storage.migrate)")
run(connection)
