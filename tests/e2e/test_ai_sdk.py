"""The Vercel AI SDK (`ai` + `@ai-sdk/xai`, pinned in tests/node) against a real server.

Each test runs tests/node/generate.mjs, which calls `experimental_generateVideo` with
`createXai({ baseURL: "<server>/v1", apiKey })`; the video the SDK returns is decoded here.
`make test` installs the Node packages (npm ci) before the suite runs.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest

from reelforge.media.fit import fit_image
from tests.helpers import (
    KEY,
    decode_mp4,
    download,
    generate,
    mp4_bytes,
    png_bytes,
    psnr,
    synthetic_image,
)

NODE_DIR = Path(__file__).resolve().parents[1] / "node"
README = Path(__file__).resolve().parents[2] / "README.md"
SCRIPT = NODE_DIR / "generate.mjs"
PRICE_480P = 500_000_000  # ticks per second on grok-imagine-video
PER_IMAGE = 20_000_000
PER_VIDEO_SECOND = 100_000_000


@pytest.fixture(scope="module")
def node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    if not (NODE_DIR / "node_modules" / "@ai-sdk" / "xai").is_dir():
        pytest.fail("the AI SDK is not installed: run `make test` (npm ci --prefix tests/node)")
    return node


def run_sdk(node: str, server, tmp_path: Path, job: dict, expect_ok: bool = True) -> dict:
    output = tmp_path / f"{uuid.uuid4().hex}.mp4"
    job = {"apiKey": KEY, "pollIntervalMs": 100, "output": str(output), **job}
    proc = subprocess.run(
        [node, str(SCRIPT), server.base_url, json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
    )
    lines = proc.stdout.strip().splitlines()
    assert lines, f"no output (exit {proc.returncode}):\n{proc.stderr}"
    result = json.loads(lines[-1])
    if expect_ok:
        assert proc.returncode == 0, f"{result}\n{proc.stderr}"
        result["video"] = decode_mp4(output.read_bytes())
        assert result["bytes"] == output.stat().st_size
    else:
        assert proc.returncode == 2, f"{result}\n{proc.stderr}"
    return result


def check_metadata(result: dict, server, duration: int, cost: int) -> None:
    meta = result["providerMetadata"]["xai"]
    assert str(uuid.UUID(meta["requestId"])) == meta["requestId"]
    assert meta["videoUrl"] == result["url"]
    assert meta["videoUrl"].startswith(f"{server.base_url}/v1/media/videos/")
    assert meta["duration"] == duration
    assert meta["costInUsdTicks"] == cost
    assert meta["progress"] == 100
    assert result["mediaType"] == "video/mp4"
    assert result["warnings"] == []


def test_text_to_video(node, server, tmp_path):
    result = run_sdk(
        node,
        server,
        tmp_path,
        {
            "prompt": "a red ball bouncing on a beach",
            "duration": 1,
            "aspectRatio": "16:9",
            "resolution": "480p",
        },
    )
    check_metadata(result, server, 1, PRICE_480P)
    video = result["video"]
    assert (video.width, video.height, len(video.frames)) == (848, 480, 24)
    assert video.audio_channels == 2
    with server.client() as c:  # the SDK's request id is the server's request id
        poll = c.get(f"/v1/videos/{result['providerMetadata']['xai']['requestId']}")
        assert poll.json()["status"] == "done"


def test_image_to_video(node, server, tmp_path):
    image = synthetic_image(848, 480, seed=41)
    (tmp_path / "first.png").write_bytes(png_bytes(image))
    result = run_sdk(
        node,
        server,
        tmp_path,
        {
            "mode": "image-to-video",
            "prompt": "slow zoom in",
            "duration": 1,
            "imagePath": str(tmp_path / "first.png"),
        },
    )
    check_metadata(result, server, 1, PRICE_480P + PER_IMAGE)
    video = result["video"]
    assert (video.width, video.height, len(video.frames)) == (848, 480, 24)
    assert psnr(video.frames[0], fit_image(image, 848, 480)) >= 30


def test_edit_video(node, server, tmp_path):
    source = mp4_bytes(1.0, 320, 180)
    (tmp_path / "source.mp4").write_bytes(source)
    result = run_sdk(
        node,
        server,
        tmp_path,
        {
            "mode": "edit-video",
            "prompt": "make it black and white",
            "videoPath": str(tmp_path / "source.mp4"),
        },
    )
    check_metadata(result, server, 1, PRICE_480P + PER_VIDEO_SECOND)
    video = result["video"]
    assert (video.width, video.height, len(video.frames)) == (320, 180, 24)
    assert max(np.ptp(f.astype(int), axis=-1).max() for f in video.frames[::6]) <= 12  # grey


def test_extend_video(node, server, tmp_path):
    source = mp4_bytes(2.0, 320, 180)
    (tmp_path / "source.mp4").write_bytes(source)
    result = run_sdk(
        node,
        server,
        tmp_path,
        {
            "mode": "extend-video",
            "prompt": "the camera pans right",
            "duration": 2,
            "videoPath": str(tmp_path / "source.mp4"),
        },
    )
    meta = result["providerMetadata"]["xai"]
    assert meta["duration"] == 4  # the original and the added seconds
    video = result["video"]
    assert (video.width, video.height, len(video.frames)) == (320, 180, 96)
    original = decode_mp4(source).frames
    assert min(psnr(a, b) for a, b in zip(original, video.frames[:48], strict=True)) >= 30


def test_reference_to_video(node, server, tmp_path):
    paths = []
    for seed in (51, 52):
        path = tmp_path / f"ref{seed}.png"
        path.write_bytes(png_bytes(synthetic_image(256, 256, seed=seed)))
        paths.append(str(path))
    result = run_sdk(
        node,
        server,
        tmp_path,
        {
            "mode": "reference-to-video",
            "prompt": "<IMAGE_1> walks left past <IMAGE_2>",
            "duration": 1,
            "referenceImagePaths": paths,
        },
    )
    check_metadata(result, server, 1, PRICE_480P + 2 * PER_IMAGE)
    video = result["video"]
    assert (video.width, video.height, len(video.frames)) == (848, 480, 24)


def test_refusals_reach_the_sdk_user(node, server, tmp_path):
    result = run_sdk(
        node, server, tmp_path, {"prompt": "too long", "duration": 16}, expect_ok=False
    )
    assert result["error"]["statusCode"] == 400
    assert "duration" in result["error"]["message"] and "15" in result["error"]["message"]


def test_files_interface_uploads_into_the_files_api(node, server, tmp_path):
    """`xai.files()`: buffered and streamed multipart uploads, metadata, download, delete."""
    image = synthetic_image(848, 480, seed=61)
    (tmp_path / "frame.png").write_bytes(png_bytes(image))
    proc = subprocess.run(
        [node, str(NODE_DIR / "files.mjs"), server.base_url, KEY, str(tmp_path / "frame.png")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=NODE_DIR,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    size = len(png_bytes(image))
    buffered, streamed = out["buffered"], out["streamed"]
    assert buffered["filename"] == "buffered.png" and buffered["byteSize"] == size
    assert buffered["expiresAt"] - buffered["createdAt"] == 3600 * 1000
    assert streamed["filename"] == "streamed.png" and streamed["byteSize"] == size
    assert "expiresAt" not in streamed  # never expires
    assert out["metadata"] == streamed
    assert out["downloadMatches"] and out["downloadMediaType"] == "application/octet-stream"
    assert out["deleted"]["deleted"] is True
    with server.client() as c:
        assert c.get(f"/v1/files/{buffered['id']}").status_code == 404
        # the streamed upload is a first frame like any other
        done = generate(
            c, {"prompt": "static", "duration": 1, "image": {"file_id": streamed["id"]}}
        )
    video = decode_mp4(download(done["video"]["url"]))
    assert psnr(video.frames[0], fit_image(image, 848, 480)) >= 30


def test_readme_example(node, server, tmp_path):
    """The README's AI SDK example runs as written, with only the base URL changed."""
    (example,) = re.findall(r"```js\n(.*?)```", README.read_text(), flags=re.S)
    (tmp_path / "node_modules").symlink_to(NODE_DIR / "node_modules")  # for its imports
    proc = subprocess.run(
        [node, "--input-type=module"],
        input=example.replace("http://127.0.0.1:8000", server.base_url),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert "duration: 2" in proc.stdout and "costInUsdTicks: 1000000000" in proc.stdout
    video = decode_mp4((tmp_path / "ball.mp4").read_bytes())
    assert (video.width, video.height, len(video.frames)) == (848, 480, 48)
