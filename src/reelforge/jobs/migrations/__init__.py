"""Schema migrations (Alembic): every process brings the database to head before it uses it.

The revisions live in `versions/` inside the package and are configured in code, so an installed
Reelforge needs no alembic.ini. `runner` upgrades under a lock (PostgreSQL: an advisory lock;
SQLite: a file lock beside the database), so replicas and workers that start together take turns;
reelforge.jobs.schema holds the tables the newest revision must produce.
"""

import logging

# Alembic narrates its set-up at INFO (plugins on import, its dialect on every check) in each
# process, workers included; reelforge.jobs.migrations logs what changed instead.
logging.getLogger("alembic").setLevel(logging.WARNING)

from reelforge.jobs.migrations.runner import (  # noqa: E402 - after quieting Alembic's import
    SchemaNotCurrent,
    check_current,
    current_revision,
    head_revision,
    is_up_to_date,
    upgrade_to_head,
)

__all__ = [
    "SchemaNotCurrent",
    "check_current",
    "current_revision",
    "head_revision",
    "is_up_to_date",
    "upgrade_to_head",
]
