"""Fixtures: real Reelforge servers on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Server


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
