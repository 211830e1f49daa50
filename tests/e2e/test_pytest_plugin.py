"""The pytest plugin (`reelforge.testing`), run the way an app's test suite runs it: pytester
starts a pytest of its own on the README's example test and on tests of every fixture, against
the official SDKs."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
pytest_plugins = ["pytester"]

FIXTURES_TEST = """
import httpx
import openai
import pytest


def test_the_server(reelforge_server):
    assert reelforge_server.base_url.endswith("/v1")
    assert httpx.get(reelforge_server.base_url + "/video-generation-models",
                     headers={"Authorization": "Bearer k"}).status_code == 200
    assert reelforge_server.grpc_target.startswith("127.0.0.1:")


def test_clients_and_scenarios(reelforge_server, reelforge_xai_client, reelforge_openai_client):
    reelforge_server.reset()
    video = reelforge_xai_client.video.generate(prompt="a", model="grok-imagine-video", duration=1)
    assert video.duration == 1
    with pytest.raises(openai.RateLimitError):
        reelforge_server.openai_client("reject; times=5", max_retries=0).videos.create(prompt="b")
    entries = reelforge_server.journal()
    assert [e["status"] for e in entries][0] == "OK" and entries[-1]["status"] == 429
    assert reelforge_server.journal(since=entries[-1]["id"]) == []
"""


def test_the_entry_point_is_declared():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["entry-points"]["pytest11"] == {"reelforge.testing": "reelforge.testing"}


def test_readme_example_and_fixtures_under_pytester(pytester):
    readme = (ROOT / "README.md").read_text()
    (example,) = [b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "reelforge_" in b]
    assert len(example.strip().splitlines()) <= 14
    pytester.makepyfile(test_readme=example, test_fixtures=FIXTURES_TEST)
    pytester.makeini("[pytest]\nfilterwarnings = ignore::DeprecationWarning\n")
    # `-p`: this checkout's plugin, whether or not the installed package's entry point is current
    result = pytester.runpytest_subprocess("-p", "reelforge.testing", "-q", timeout=240)
    result.assert_outcomes(passed=4)
