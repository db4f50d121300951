"""Alembic environment: runs on the connection the state service hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy.engine import Connection

from services.state.db.tables import metadata


def run_migrations(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `cancelbus state migrate` (it opens the connection)")
run_migrations(connection)
