"""Every table Reelforge keeps, in one metadata: the schema the newest migration must produce.

The tables are defined beside the code that uses them (jobs/store.py, files.py, jobs/webhooks.py,
jobs/keys.py, jobs/limits.py); this gathers them for Alembic's autogenerate and for the test that
the migrations match them.
"""

from __future__ import annotations

import sqlalchemy as sa

from reelforge import files
from reelforge.jobs import keys, limits, store, webhooks

metadata = sa.MetaData()
for _source in (store.metadata, files.metadata, webhooks.metadata, keys.metadata, limits.metadata):
    for _table in _source.tables.values():
        _table.to_metadata(metadata)
