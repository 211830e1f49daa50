"""The tables the newest revision must produce: one metadata holding every module's tables.

Alembic compares it with a migrated database (`autogenerate`) to write the next revision and, in
the tests, to prove the revisions and the models agree.
"""

from __future__ import annotations

import sqlalchemy as sa

from reelforge import files
from reelforge.jobs import store, webhooks

TABLE_PREFIX = "reelforge_"


def include_name(name: str | None, type_: str, _parent_names: dict) -> bool:
    """Only Reelforge's tables count: the database may be shared with other applications."""
    return type_ != "table" or bool(name and name.startswith(TABLE_PREFIX))


metadata = sa.MetaData()
for _source in (store.metadata, files.metadata, webhooks.metadata):
    for _table in _source.tables.values():
        _table.to_metadata(metadata)
