"""The `openai` Node SDK (pinned in tests/node) against a real server: create, retrieve,
downloadContent and remix, run by tests/node/openai.mjs; the MP4 it saved is decoded here."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from tests.helpers import KEY, decode_mp4

NODE_DIR = Path(__file__).resolve().parents[1] / "node"


def test_node_sdk_create_retrieve_download_and_remix(server, tmp_path):
    node = shutil.which("node")
    assert node, "Node.js is needed for this test"
    assert (NODE_DIR / "node_modules" / "openai").is_dir(), "run `npm ci --prefix tests/node`"
    output = tmp_path / "ball.mp4"
    proc = subprocess.run(
        [node, str(NODE_DIR / "openai.mjs"), server.base_url, KEY, str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=NODE_DIR,
    )
    assert proc.returncode == 0, f"{proc.stdout}\n{proc.stderr}"
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    created, done, remix = result["created"], result["done"], result["remix"]
    assert created["id"].startswith("video_") and created["status"] in ("queued", "in_progress")
    assert (done["id"], done["status"], done["seconds"], done["size"]) == (
        created["id"],
        "completed",
        "2",
        "848x480",
    )
    assert (remix["status"], remix["remixed_from_video_id"]) == ("completed", done["id"])
    assert (result["videoType"], result["thumbnailType"]) == ("video/mp4", "image/webp")
    video = decode_mp4(output.read_bytes())
    assert (video.width, video.height, len(video.frames)) == (848, 480, 48)
