"""`pip install .` into a fresh virtualenv, then `reelforge serve`: a plain install serves."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import httpx

from tests.helpers import free_port, wait_done

ROOT = Path(__file__).resolve().parents[2]


def test_a_plain_install_serves_with_moderation_on_and_no_torch(tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(ROOT)]
    subprocess.run(pip, check=True, timeout=600)  # not editable: the built package alone
    shown = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "show", "torch"])
    assert shown.returncode != 0  # serving pulls no torch
    port = free_port()
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen(
        [str(venv / "bin" / "reelforge"), "serve", "--port", str(port), "--grpc-port", "0"],
        cwd=tmp_path,  # the default data dir, ./.reelforge
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "serve.log").read_text()
            try:
                if httpx.get(f"{base}/health/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "serve.log").read_text()
            time.sleep(0.2)
        with httpx.Client(base_url=base, headers={"Authorization": "Bearer k"}) as c:
            job = c.post("/v1/videos/generations", json={"prompt": "a cat", "duration": 2})
            done = wait_done(c, job.json()["request_id"])
            assert done["status"] == "done" and done["video"]["respect_moderation"] is True
            mp4 = httpx.get(done["video"]["url"]).content
        with av.open(io.BytesIO(mp4)) as container:
            assert sum(1 for _ in container.decode(video=0)) == 48
        assert (tmp_path / ".reelforge").is_dir()
        for page in ("", "app.js", "style.css"):  # the playground ships as package data
            assert httpx.get(f"{base}/playground/{page}").status_code == 200, page
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(30)
