"""Text- and image-to-video through the real server: decoded MP4s, sizes, frames, audio, cost."""

from __future__ import annotations

import numpy as np
import pytest

from reelforge.media.fit import fit_image
from tests.helpers import data_url, decode_mp4, download, generate, png_bytes, psnr, synthetic_image


def test_text_to_video_end_to_end(server):
    with server.client() as c:
        done = generate(
            c,
            {
                "model": "grok-imagine-video",
                "prompt": "a red ball bouncing on a beach",
                "duration": 2,
                "aspect_ratio": "16:9",
                "resolution": "480p",
            },
        )
    assert done["status"] == "done" and done["progress"] == 100
    assert done["model"] == "grok-imagine-video"
    assert done["video"]["duration"] == 2 and done["video"]["respect_moderation"] is True
    assert done["usage"]["cost_in_usd_ticks"] == 2 * 500_000_000
    assert done["video"]["url"].startswith(server.base_url + "/")
    video = decode_mp4(download(done["video"]["url"]))
    assert (video.width, video.height, video.fps, len(video.frames)) == (848, 480, 24.0, 48)
    assert video.video_codec == "h264"
    assert video.audio_codec == "aac" and video.audio_channels == 2
    assert abs(video.audio_duration - 2.0) < 0.1
    assert not np.array_equal(video.frames[0], video.frames[-1])  # it moves


@pytest.mark.parametrize(
    "aspect,resolution,size",
    [
        ("9:16", "480p", (480, 848)),
        ("1:1", "720p", (720, 720)),
        ("3:2", "480p", (720, 480)),
    ],
)
def test_sizes_per_aspect_and_resolution(server, aspect, resolution, size):
    with server.client() as c:
        done = generate(
            c,
            {
                "prompt": "a green forest",
                "duration": 1,
                "aspect_ratio": aspect,
                "resolution": resolution,
                "generate_audio": False,
            },
        )
    video = decode_mp4(download(done["video"]["url"]))
    assert (video.width, video.height) == size and len(video.frames) == 24
    assert video.audio_codec is None  # generate_audio false: no audio stream at all


def test_1080p_on_15(server):
    with server.client() as c:
        done = generate(
            c,
            {
                "model": "grok-imagine-video-1.5",
                "prompt": "neon city",
                "duration": 1,
                "resolution": "1080p",
                "generate_audio": False,
            },
        )
    assert done["usage"]["cost_in_usd_ticks"] == 2_500_000_000
    video = decode_mp4(download(done["video"]["url"]))
    assert (video.width, video.height) == (1920, 1080)


def test_same_request_is_identical_and_prompts_and_seeds_differ(server):
    body = {"prompt": "a blue bird flying over the ocean, pan left", "duration": 1, "seed": 7}
    with server.client() as c:
        results = [
            generate(c, b)
            for b in (
                body,
                body,
                {**body, "prompt": "a purple cat at night, zoom in"},
                {**body, "seed": 8},
            )
        ]
    frames = [decode_mp4(download(r["video"]["url"])).frames for r in results]
    assert all(np.array_equal(a, b) for a, b in zip(frames[0], frames[1], strict=True))
    for other in (frames[2], frames[3]):
        assert psnr(frames[0][12], other[12]) < 25  # clearly different pictures


def test_image_to_video_starts_on_the_fitted_image(server):
    image = synthetic_image(700, 400, seed=3)  # 1.75:1, nearest supported ratio is 16:9
    with server.client() as c:
        done = generate(
            c,
            {"prompt": "slow zoom in", "duration": 2, "image": {"url": data_url(png_bytes(image))}},
        )
    assert done["usage"]["cost_in_usd_ticks"] == 2 * 500_000_000 + 20_000_000  # + one input image
    video = decode_mp4(download(done["video"]["url"]))
    assert (video.width, video.height, len(video.frames)) == (848, 480, 48)
    assert psnr(video.frames[0], fit_image(image, 848, 480)) >= 30
    assert psnr(video.frames[-1], fit_image(image, 848, 480)) < 30  # then it moves


def test_image_to_video_aliases_and_explicit_aspect(server):
    image = synthetic_image(300, 500, seed=5)
    with server.client() as c:
        auto = generate(
            c,
            {
                "image_url": data_url(png_bytes(image, "JPEG"), "image/jpeg"),
                "duration": 1,
                "generate_audio": False,
            },
        )
        square = generate(
            c,
            {
                "image": {"image_url": data_url(png_bytes(image, "WEBP"), "image/webp")},
                "aspect_ratio": "1:1",
                "duration": 1,
                "generate_audio": False,
            },
        )
    auto_video = decode_mp4(download(auto["video"]["url"]))
    assert (auto_video.width, auto_video.height) == (480, 848)  # 3:5 is nearest 9:16
    square_video = decode_mp4(download(square["video"]["url"]))
    assert (square_video.width, square_video.height) == (480, 480)
    assert psnr(square_video.frames[0], fit_image(image, 480, 480)) >= 30


def test_reference_to_video_runs_and_costs_per_image(server):
    refs = [
        {"url": data_url(png_bytes(np.full((64, 64, 3), c, np.uint8)))}
        for c in ((250, 10, 200), (10, 240, 240))
    ]
    with server.client() as c:
        done = generate(
            c,
            {
                "prompt": "<IMAGE_1> meets <IMAGE_2>",
                "duration": 1,
                "reference_images": refs,
                "generate_audio": False,
            },
        )
    assert done["usage"]["cost_in_usd_ticks"] == 500_000_000 + 2 * 20_000_000
    assert len(decode_mp4(download(done["video"]["url"])).frames) == 24


def test_progress_is_reported_while_rendering(server):
    with server.client() as c:
        r = c.post(
            "/v1/videos/generations",
            json={"prompt": "orbit around a gold tree", "duration": 12, "resolution": "720p"},
        )
        request_id = r.json()["request_id"]
        seen = []
        while True:
            r = c.get(f"/v1/videos/{request_id}")
            if r.status_code == 200:
                break
            seen.append(r.json()["progress"])
    assert r.json()["status"] == "done"
    assert seen == sorted(seen)
    assert any(0 < p < 100 for p in seen), seen
