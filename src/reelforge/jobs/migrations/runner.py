"""Bring a database to the newest revision, one process at a time.

Every `serve` and `worker` calls `upgrade_to_head` before it touches the database. Replicas and
workers often start at the same instant, so the upgrade runs under a lock: a PostgreSQL advisory
lock held by a connection of its own, or on SQLite an exclusive `flock` on a file beside the
database. Whoever comes second finds the database at head and has nothing to do.

A database that `create_all` made before migrations existed has Reelforge's tables but no version
table: it is stamped at the baseline revision (its schema is exactly that revision) and then
upgraded like any other, never recreated.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection, Engine

log = logging.getLogger("reelforge.jobs.migrations")

TABLE_PREFIX = "reelforge_"  # the database may host other applications' tables too
VERSION_TABLE = "reelforge_alembic_version"
BASELINE = "0001"
# What `create_all` made before migrations: a database holding these is at BASELINE.
BASELINE_TABLES = frozenset(
    {
        "reelforge_jobs",
        "reelforge_idempotency_keys",
        "reelforge_files",
        "reelforge_webhooks",
        "reelforge_webhook_deliveries",
    }
)
PG_LOCK_KEY = 0x5265_656C_666F_7267  # b"Reelforg": one fixed advisory lock per database


class SchemaNotCurrent(Exception):
    """The database is not at the revision this Reelforge needs (and may not be upgraded)."""


@dataclass(frozen=True)
class Upgrade:
    before: str | None  # None: an empty database, or one from before migrations (`adopted`)
    after: str
    adopted: bool = False  # tables from before migrations were stamped at BASELINE


def include_name(name: str | None, type_: str, _parent_names: dict) -> bool:
    """Only Reelforge's tables count: the database may be shared with other applications."""
    return type_ != "table" or bool(name and name.startswith(TABLE_PREFIX))


def alembic_config(
    connection: Connection | None = None, target_metadata: sa.MetaData | None = None
) -> Config:
    """Alembic's configuration, in code: the revisions in this package, run on `connection`;
    `target_metadata` (reelforge.jobs.schema.metadata) for autogenerate."""
    cfg = Config()
    cfg.set_main_option("script_location", str(Path(__file__).parent))
    cfg.attributes["connection"] = connection
    cfg.attributes["target_metadata"] = target_metadata
    return cfg


@functools.cache
def _revisions() -> tuple[str, frozenset[str]]:
    """(head, every revision this Reelforge knows); read once, they do not change while running."""
    script = ScriptDirectory.from_config(alembic_config())
    head = script.get_current_head()
    assert head is not None
    return head, frozenset(r.revision for r in script.walk_revisions())


def head_revision() -> str:
    return _revisions()[0]


def _is_newer(revision: str | None) -> bool:
    """The database was migrated by a newer Reelforge (a rolling upgrade): this one runs on it, as
    revisions only add what older code can ignore, and must not touch it."""
    return revision is not None and revision not in _revisions()[1]


def _revision(conn: Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def current_revision(engine: Engine) -> str | None:
    """The database's revision; None for an empty one or one from before migrations."""
    with engine.connect() as conn:
        return _revision(conn)


def is_up_to_date(engine: Engine) -> bool:
    return current_revision(engine) == head_revision()


def check_current(engine: Engine) -> None:
    """SchemaNotCurrent, saying what to do, when the database is behind this Reelforge."""
    current, head = current_revision(engine), head_revision()
    if current == head:
        return
    if _is_newer(current):
        log.warning("database at revision %s, newer than this Reelforge's %s", current, head)
        return
    raise SchemaNotCurrent(
        f"the database is at revision {current or 'none'} but this Reelforge needs {head}; "
        "run `reelforge migrate` (or start without --no-migrate)"
    )


def upgrade_to_head(engine: Engine) -> Upgrade:
    """Upgrade to head under the migration lock; a no-op when another process got there first."""
    with _migration_lock(engine), engine.begin() as conn:
        before = _revision(conn)
        if before == head_revision():
            return Upgrade(before, before)  # nothing to do: the common case at every start
        if _is_newer(before):
            log.warning("database at revision %s, newer than this Reelforge's; left as is", before)
            return Upgrade(before, before)
        adopted = before is None and _adopt_pre_migration_tables(conn)
        command.upgrade(alembic_config(conn), "head")
        after = _revision(conn)
    assert after is not None
    if after != (start := BASELINE if adopted else before):
        log.info("database schema: %s -> %s", start or "none", after)
    return Upgrade(before, after, adopted)


def _adopt_pre_migration_tables(conn: Connection) -> bool:
    """Stamp a database made by `create_all` at BASELINE; False when it has no Reelforge table."""
    present = BASELINE_TABLES & set(sa.inspect(conn).get_table_names())
    if not present:
        return False
    if missing := BASELINE_TABLES - present:
        raise SchemaNotCurrent(
            f"the database has Reelforge tables from before migrations but lacks "
            f"{', '.join(sorted(missing))}; it cannot be adopted safely"
        )
    command.stamp(alembic_config(conn), BASELINE)
    log.info("database from before migrations: stamped at revision %s", BASELINE)
    return True


@contextlib.contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name == "postgresql":
        with _advisory_lock(engine):
            yield
    elif engine.dialect.name == "sqlite" and (path := _sqlite_file(engine)) is not None:
        with _file_lock(path.with_name(path.name + ".migrate-lock")):
            yield
    else:  # an in-memory SQLite database has one process by definition
        yield


@contextlib.contextmanager
def _advisory_lock(engine: Engine) -> Iterator[None]:
    # A session-level lock on a connection of its own, outside any transaction: it is held
    # across the migration's transactions and released if this process dies.
    with engine.connect() as lock_conn:
        lock_conn.execution_options(isolation_level="AUTOCOMMIT")
        key = {"key": PG_LOCK_KEY}
        if not lock_conn.execute(sa.text("SELECT pg_try_advisory_lock(:key)"), key).scalar():
            log.info("another process is migrating the database; waiting for it")
            lock_conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), key)
        try:
            yield
        finally:
            lock_conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), key)


def _sqlite_file(engine: Engine) -> Path | None:
    database = engine.url.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return None
    return Path(database)


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    import fcntl  # POSIX; SQLite deployments are one machine

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file is closed, or the process dies
        yield
