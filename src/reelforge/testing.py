"""A pytest plugin: a real Reelforge server for the tests of apps built on video APIs.

Registered through the `pytest11` entry point, so installing reelforge is enough. Fixtures:

- `reelforge_server` (session): `reelforge serve --scenarios --fast` in a subprocess, on free
  ports, with a temporary data directory. `.base_url` (`http://127.0.0.1:PORT/v1`, for REST
  and OpenAI clients), `.grpc_target` (`127.0.0.1:PORT`, for xai-sdk), `.api_key`,
  `.journal(since=0)` (the calls received, oldest first), `.reset()` (forget them, and the
  scenarios' attempt counts), `.xai_client(scenario=)` and `.openai_client(scenario=)`.
- `reelforge_xai_client` / `reelforge_openai_client`: the official clients pointed at it.

Extra `serve` options come from the `reelforge_args` ini setting (e.g. `--catalog my.toml`).
This module stands alone: it talks to the server over HTTP only.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

START_TIMEOUT_S = 60.0
API_KEY = "reelforge-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ReelforgeServer:
    """One `reelforge serve` subprocess with scenarios on and --fast."""

    def __init__(self, data_dir: Path, extra_args: list[str] | None = None):
        self.data_dir = data_dir
        self.extra_args = list(extra_args or [])
        self.port = _free_port()
        self.grpc_port = _free_port()
        self.api_key = API_KEY
        self.log_path = data_dir.parent / "reelforge-server.log"
        self._proc: subprocess.Popen | None = None

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What REST and OpenAI clients take as their base URL."""
        return f"{self.root_url}/v1"

    @property
    def grpc_target(self) -> str:
        """What xai-sdk takes as `api_host` (with `use_insecure_channel=True`)."""
        return f"127.0.0.1:{self.grpc_port}"

    def start(self) -> ReelforgeServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable,
            "-m",
            "reelforge.cli",
            "serve",
            "--port",
            str(self.port),
            "--grpc-port",
            str(self.grpc_port),
            "--data-dir",
            str(self.data_dir),
            "--scenarios",
            "--fast",
            "--drain-timeout",
            "2",
            *self.extra_args,
        ]
        with open(self.log_path, "wb") as log:
            self._proc = subprocess.Popen(
                command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"reelforge serve exited:\n{self.log()}")
            try:
                if httpx.get(f"{self.root_url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"reelforge serve did not become ready:\n{self.log()}")

    def stop(self) -> None:
        if self._proc is None or self._proc.poll() is not None:
            return
        os.killpg(self._proc.pid, signal.SIGTERM)
        try:
            self._proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(self._proc.pid, signal.SIGKILL)
            self._proc.wait()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def journal(self, since: int = 0) -> list[dict[str, Any]]:
        """The API calls received after entry `since`, oldest first (see the README)."""
        answer = httpx.get(f"{self.root_url}/_reelforge/requests", params={"since": since})
        answer.raise_for_status()
        return answer.json()["data"]

    def reset(self) -> None:
        """Forget the calls received and start every scenario's attempt count again."""
        httpx.delete(f"{self.root_url}/_reelforge/requests").raise_for_status()

    def xai_client(self, scenario: str | None = None) -> Any:
        """An `xai_sdk.Client` for this server; `scenario` goes with every call it makes."""
        import xai_sdk

        metadata = (("reelforge-scenario", scenario),) if scenario else None
        return xai_sdk.Client(
            api_key=self.api_key,
            api_host=self.grpc_target,
            use_insecure_channel=True,
            metadata=metadata,
        )

    def openai_client(self, scenario: str | None = None, **options: Any) -> Any:
        """An `openai.OpenAI` for this server; `scenario` goes with every request it sends."""
        import openai

        headers = {"Reelforge-Scenario": scenario} if scenario else None
        return openai.OpenAI(
            base_url=self.base_url, api_key=self.api_key, default_headers=headers, **options
        )


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini(
        "reelforge_args",
        type="args",
        default=[],
        help="extra `reelforge serve` options for the reelforge_server fixture",
    )


@pytest.fixture(scope="session")
def reelforge_server(
    tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config
) -> ReelforgeServer:
    server = ReelforgeServer(
        tmp_path_factory.mktemp("reelforge") / "data", pytestconfig.getini("reelforge_args")
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture
def reelforge_xai_client(reelforge_server: ReelforgeServer) -> Any:
    return reelforge_server.xai_client()


@pytest.fixture
def reelforge_openai_client(reelforge_server: ReelforgeServer) -> Any:
    return reelforge_server.openai_client()
