"""Fixtures: real Reelforge servers on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.helpers import Server


@pytest.fixture(scope="session")
def tiny_models(tmp_path_factory) -> dict[str, Path]:
    """Tiny random Wan and LTX-Video diffusers folders (tests/tiny_wan.py, tests/tiny_ltx.py)."""
    import torch

    from tests import tiny_ltx, tiny_wan

    # The tiny models' matrices are far too small to share between threads, and the CPU is
    # shared with other work: one thread renders them up to 30x faster here.
    torch.set_num_threads(1)

    folders = tiny_wan.build(tmp_path_factory.mktemp("tiny-wan"))
    return folders | {"ltx": tiny_ltx.build(tmp_path_factory.mktemp("tiny-ltx"))}


@pytest.fixture(scope="session")
def catalog(tiny_models, tmp_path_factory):
    """A catalog of the tiny models: tiny-t2v, tiny-i2v, tiny-vace, tiny-broken, tiny-ltx."""
    from reelforge.core.catalog import Catalog
    from tests import tiny_ltx, tiny_wan

    path = tmp_path_factory.mktemp("catalog") / "catalog.toml"
    ltx = {**tiny_ltx.ENTRY, "path": tiny_models["ltx"]}
    path.write_text(tiny_wan.catalog_toml(tiny_models, **{"tiny-ltx": ltx}))
    return Catalog.load(path)


@pytest.fixture(scope="session")
def server(tmp_path_factory) -> Server:
    """One shared server with default settings (any key accepted, loopback only)."""
    srv = Server(tmp_path_factory.mktemp("shared") / "data", args=["--workers", "2"]).start()
    yield srv
    srv.stop()


@pytest.fixture
def make_server(tmp_path):
    """Start servers with custom flags; all are stopped at the end of the test."""
    started: list[Server] = []

    def make(*args: str, data_dir: Path | None = None) -> Server:
        srv = Server(data_dir or tmp_path / f"data{len(started)}", args=list(args))
        started.append(srv)
        return srv.start()

    yield make
    for srv in started:
        srv.stop()


PG_URL = os.environ.get(
    "REELFORGE_TEST_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


@contextlib.contextmanager
def fresh_database():
    """A new database on the PostgreSQL server on loopback, dropped afterwards."""
    name = f"reelforge_test_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield PG_URL.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE "{name}" WITH (FORCE)'))
        admin.dispose()


def emptied(url: str) -> str:
    """`url` with every table dropped (the schema version too), so the next store starts anew."""
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = sa.MetaData()
        tables.reflect(conn)
        tables.drop_all(conn)
    engine.dispose()
    return url


@pytest.fixture(scope="module")
def pg_database():
    """A fresh database for the module."""
    with fresh_database() as url:
        yield url


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """An S3-compatible server on loopback with a bucket named `reelforge`."""
    from tests.s3_server import S3Server

    srv = S3Server(tmp_path_factory.mktemp("s3") / "data").start()
    yield srv
    srv.stop()
