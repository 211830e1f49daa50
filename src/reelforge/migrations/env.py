"""Alembic's environment: run by `runner` on a connection it holds (under its lock).

There is no offline (SQL script) mode: Reelforge always migrates a live database.
"""

from __future__ import annotations

from alembic import context

from reelforge.migrations.models import include_name, metadata
from reelforge.migrations.runner import VERSION_TABLE

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    version_table=VERSION_TABLE,
    include_name=include_name,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
