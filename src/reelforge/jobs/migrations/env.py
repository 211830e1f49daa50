"""Alembic's environment: run by `runner` on a connection it holds (under its lock).

There is no offline (SQL script) mode: Reelforge always migrates a live database.
"""

from __future__ import annotations

from alembic import context

from reelforge.jobs.migrations.runner import VERSION_TABLE, include_name

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    # only autogenerate needs the models (reelforge.jobs.schema); the caller passes them
    target_metadata=context.config.attributes.get("target_metadata"),
    version_table=VERSION_TABLE,
    include_name=include_name,
    # SQLite cannot ALTER most things; batch mode rebuilds the table instead
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
