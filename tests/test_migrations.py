"""Schema migrations on SQLite and the PostgreSQL server on loopback: the revisions produce the
models, and a database from before migrations is adopted with nothing lost."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from reelforge.jobs.migrations import (
    SchemaNotCurrent,
    check_current,
    current_revision,
    head_revision,
    is_up_to_date,
    upgrade_to_head,
)
from reelforge.jobs.migrations.runner import (
    BASELINE,
    VERSION_TABLE,
    alembic_config,
    include_name,
)
from reelforge.jobs.schema import metadata
from reelforge.jobs.store import create_engine
from tests import legacy_schema
from tests.conftest import fresh_database


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reelforge.db'}"
    else:
        with fresh_database() as pg_url:
            yield pg_url


@pytest.fixture
def engine(url):
    engine = create_engine(url)
    yield engine
    engine.dispose()


def differences(engine: sa.Engine, models: sa.MetaData = metadata) -> list:
    """What autogenerate would write to go from `engine`'s schema to `models`."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"include_name": include_name, "version_table": VERSION_TABLE}
        )
        return compare_metadata(context, models)


def test_the_revisions_produce_the_models(engine):
    assert current_revision(engine) is None and not is_up_to_date(engine)
    done = upgrade_to_head(engine)
    assert (done.before, done.after, done.adopted) == (None, head_revision(), False)
    assert differences(engine) == []
    assert is_up_to_date(engine)
    check_current(engine)  # no exception


def test_the_baseline_is_what_create_all_made(engine):
    """So stamping a database from before migrations at the baseline is true."""
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE)
    assert differences(engine, legacy_schema.metadata) == []


def test_a_stale_database_is_named_not_used(engine):
    needs = rf"revision none .* needs {head_revision()}; run `reelforge"
    with pytest.raises(SchemaNotCurrent, match=needs):
        check_current(engine)
    assert sa.inspect(engine).get_table_names() == []  # checking wrote nothing


def rows(engine: sa.Engine) -> dict[str, list]:
    with engine.connect() as conn:
        return {
            table.name: conn.execute(sa.select(table).order_by(*table.primary_key)).all()
            for table in legacy_schema.metadata.sorted_tables
        }


def test_a_database_from_create_all_is_adopted_with_nothing_lost(url, engine):
    legacy_schema.create(url)
    now = time.time()
    spec = {"model": "grok-imagine-video", "mode": "text-to-video", "prompt": "a cat"}
    t = legacy_schema.metadata.tables
    with engine.begin() as conn:
        for n, status in enumerate(["queued", "running", "done", "failed"]):
            conn.execute(
                t["reelforge_jobs"].insert(),
                {
                    "id": f"job-{status}",
                    "owner": "o",
                    "model": spec["model"],
                    "mode": spec["mode"],
                    "status": status,
                    "spec": {**spec, "prompt": f"job {n}"},
                    "progress": 100 if status == "done" else 0,
                    "attempts": 0 if status == "queued" else 1,
                    "created_at": now + n,
                    "result": {"video_key": "videos/x.mp4"} if status == "done" else None,
                    "error_code": "internal_error" if status == "failed" else None,
                },
            )
        conn.execute(
            t["reelforge_idempotency_keys"].insert(),
            {"owner": "o", "key": "k", "fingerprint": "f", "job_id": "job-done", "created_at": now},
        )
        conn.execute(
            t["reelforge_files"].insert(),
            {"id": "file-1", "owner": "o", "filename": "a.png", "purpose": "assistants"}
            | {"bytes": 3, "created_at": now, "expires_at": None},
        )
        hook = {"url": "https://example.com/h", "base_url": "http://r/", "trusted": False}
        conn.execute(t["reelforge_webhooks"].insert(), {"job_id": "job-queued", **hook})
        conn.execute(
            t["reelforge_webhook_deliveries"].insert(),
            {"job_id": "job-failed", "event": "failed", **hook, "state": "sent", "attempts": 1}
            | {"next_attempt_at": now, "created_at": now, "finished_at": now},
        )
    before = rows(engine)

    done = upgrade_to_head(engine)
    assert (done.before, done.after, done.adopted) == (None, head_revision(), True)
    assert rows(engine) == before
    assert all(before.values())  # every table held something
    assert differences(engine) == []
    again = upgrade_to_head(engine)
    assert (again.before, again.adopted) == (head_revision(), False)


def test_a_partial_pre_migration_database_is_refused(url, engine):
    legacy_schema.metadata.tables["reelforge_jobs"].create(engine)
    with pytest.raises(SchemaNotCurrent, match="lacks reelforge_files, reelforge_idempotency_keys"):
        upgrade_to_head(engine)
    assert sa.inspect(engine).get_table_names() == ["reelforge_jobs"]  # nothing was written


def test_a_database_a_newer_release_migrated_is_left_alone(engine):
    """A rolling upgrade: an old process (re)starting after a newer one migrated still starts."""
    upgrade_to_head(engine)
    with engine.begin() as conn:
        conn.execute(sa.text(f"UPDATE {VERSION_TABLE} SET version_num = 'from-the-future'"))
    done = upgrade_to_head(engine)
    assert (done.before, done.after) == ("from-the-future", "from-the-future")
    check_current(engine)  # --no-migrate starts too
    assert not is_up_to_date(engine)


def test_jobs_done_before_0003_keep_their_cost_for_usage(engine):
    with engine.begin() as conn:
        command.upgrade(alembic_config(conn), BASELINE)
    result = {"video_key": "v.mp4", "duration": 2, "duration_s": 2.0, "cost_in_usd_ticks": 123}
    with engine.begin() as conn:
        conn.execute(
            legacy_schema.metadata.tables["reelforge_jobs"].insert(),
            {"id": "j", "owner": "o", "model": "m", "mode": "text-to-video", "status": "done"}
            | {"spec": {}, "progress": 100, "attempts": 1, "created_at": 1.0, "result": result},
        )
    upgrade_to_head(engine)
    with engine.connect() as conn:
        row = conn.execute(sa.text("SELECT cost_ticks, output_seconds FROM reelforge_jobs")).one()
    assert tuple(row) == (123, 2.0)
