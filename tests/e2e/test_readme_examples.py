"""The README's curl and `requests` examples run as written, with only the base URL changed."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from tests.helpers import decode_mp4, wait_done

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()
DEFAULT_BASE = "http://127.0.0.1:8000"


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def test_curl_example(server):
    example = next(b for b in blocks("sh") if "curl" in b)
    create = example.split("\n\n")[0]  # the first command: create a job
    create = "\n".join(line for line in create.splitlines() if not line.startswith("#"))
    out = subprocess.run(
        ["bash", "-c", create.replace(DEFAULT_BASE, server.base_url)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    request_id = json.loads(out.stdout)["request_id"]
    with server.client("any-key") as c:
        assert wait_done(c, request_id)["video"]["duration"] == 4


def test_requests_example(server, tmp_path, monkeypatch):
    (example,) = [b for b in blocks("python") if "requests" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(example.replace(DEFAULT_BASE, server.base_url), "README.md", "exec"), {})
    video = decode_mp4((tmp_path / "cat.mp4").read_bytes())
    assert len(video.frames) == 48
