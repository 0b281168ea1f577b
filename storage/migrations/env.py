"""Alembic's environment: runs the migrations on the connection ``storage.migrate`` gives it.

Configured in code (``storage.migrate.config``), not by an alembic.ini: the connection and
the MetaData to compare against arrive in ``config.attributes``. ``render_as_batch``: SQLite
alters a table by copying it, and autogenerate writes later revisions that way.
"""

from __future__ import annotations

from alembic import context

from storage.schema import metadata

config = context.config
connection = config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through storage.migrate (or `freshproof db`)")

context.configure(
    connection=connection,
    target_metadata=config.attributes.get("target_metadata") or metadata,
    render_as_batch=True,
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
