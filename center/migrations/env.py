"""Alembic environment of the center's store: always run with a connection
that ``center._migrate`` opened (and locked) for it."""

from __future__ import annotations

from alembic import context

from center._store import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    compare_type=True,
    # SQLite alters tables by copying them; Alembic's batch mode does that.
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
