"""The diffusers engine through the real server: tiny random Wan and LTX-Video models, every
mode they can do.

The models are noise, so these tests check plumbing: exact output shapes and durations, pinned
frames exact, the conditioning reaching the right pipeline (the worker logs each call), progress
per denoising step, cancellation between steps, and a failing pipeline failing only its job.
"""

from __future__ import annotations

import re
import time

import numpy as np
import pytest

from reelforge.media.fit import fit_image
from tests import tiny_ltx
from tests.e2e.test_api import assert_error
from tests.helpers import (
    Server,
    create,
    data_url,
    decode_mp4,
    download,
    generate,
    mp4_bytes,
    png_bytes,
    psnr,
    synthetic_image,
    wait_done,
)
from tests.tiny_wan import catalog_toml

SLOW_STEPS = 100_000  # ~2.5 min a job at ~1.5 ms a step: the cancel always lands mid-way


@pytest.fixture(scope="module")
def wan_server(tiny_models, tmp_path_factory) -> Server:
    """One worker, so a job after a failed or cancelled one runs on the same worker process."""
    root = tmp_path_factory.mktemp("wan-server")
    catalog = root / "catalog.toml"
    catalog.write_text(
        catalog_toml(
            tiny_models,
            **{
                "tiny-slow": {
                    "path": str(tiny_models["t2v"]),
                    "modes": ["text-to-video"],
                    "steps": SLOW_STEPS,
                },
                "tiny-ltx": {**tiny_ltx.ENTRY, "path": str(tiny_models["ltx"])},
            },
        )
    )
    srv = Server(root / "data", args=["--workers", "1", "--catalog", str(catalog)])
    srv.env = {"HF_HUB_OFFLINE": "1"}
    srv.start(timeout=60)
    yield srv
    srv.stop()


def image_url(rgb: np.ndarray) -> dict:
    return {"url": data_url(png_bytes(rgb))}


def video_url(data: bytes) -> dict:
    return {"url": data_url(data, "video/mp4")}


def calls(srv: Server, model: str) -> list[str]:
    """The worker's log lines for each pipeline call of `model`."""
    return re.findall(rf"{model}: (\w+Pipeline .*)", srv.log())


def solid(rgb: tuple[int, int, int], width: int = 64, height: int = 48) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb
    return image


def test_text_to_video_renders_native_and_delivers_the_exact_contract(wan_server):
    with wan_server.client() as c:
        done = generate(c, {"model": "tiny-t2v", "prompt": "a red cat runs", "duration": 1})
    assert done["status"] == "done", done
    assert done["video"]["duration"] == 1
    clip = decode_mp4(download(done["video"]["url"]))
    assert (clip.width, clip.height, len(clip.frames), clip.fps) == (848, 480, 24, 24)
    # no audio model: the track the contract promises is there, and silent
    assert clip.audio is not None and abs(clip.audio_duration - 1.0) < 0.05
    assert np.abs(clip.audio).max() < 1e-3
    # 1 s at Wan's 16 fps = 16 -> 17 frames (4k+1), at 48x32 (16:9 inside max_area 48*32)
    assert calls(wan_server, "tiny-t2v")[-1].startswith("WanPipeline 48x32, 17 native frames")


def test_image_to_video_pins_the_first_and_last_frames(wan_server):
    first, last = synthetic_image(320, 240, seed=3), solid((250, 30, 30))
    with wan_server.client() as c:
        done = generate(
            c,
            {
                "model": "tiny-i2v",
                "prompt": "a dog walks",
                "duration": 2,
                "image": image_url(first),
                "last_frame": image_url(last),
            },
        )
    assert done["status"] == "done", done
    clip = decode_mp4(download(done["video"]["url"]))
    # i2v without aspect_ratio follows the image (4:3)
    assert (clip.width, clip.height, len(clip.frames)) == (640, 480, 48)
    assert psnr(clip.frames[0], fit_image(first, 640, 480)) >= 30
    assert psnr(clip.frames[-1], fit_image(last, 640, 480)) >= 30
    # 2 s -> 33 native frames; the pipeline got the first and the last frame
    assert calls(wan_server, "tiny-i2v")[-1] == (
        "WanImageToVideoPipeline 48x32, 33 native frames, 2 steps, "
        "conditioned on native frames [0, 32]"
    )


def test_vace_pins_keyframes_and_takes_reference_images(wan_server):
    first, key = solid((20, 200, 40)), solid((30, 40, 220))
    refs = [synthetic_image(96, 96, seed=5), synthetic_image(80, 120, seed=6)]
    with wan_server.client() as c:
        done = generate(
            c,
            {
                "model": "tiny-vace",
                "prompt": "<IMAGE_1> meets <IMAGE_2> on a hill",
                "duration": 2,
                "aspect_ratio": "1:1",
                "image": image_url(first),
                "reference_images": [image_url(r) for r in refs],
                "keyframes": [{"image": image_url(key), "timestamp_s": 1.0}],
            },
        )
    assert done["status"] == "done", done
    clip = decode_mp4(download(done["video"]["url"]))
    assert (clip.width, clip.height, len(clip.frames)) == (480, 480, 48)
    assert psnr(clip.frames[0], fit_image(first, 480, 480)) >= 30
    assert psnr(clip.frames[24], fit_image(key, 480, 480)) >= 30
    assert psnr(clip.frames[23], fit_image(key, 480, 480)) < 30  # the pin is one frame
    # keyframe at output 24 of 48 -> native round(24 * 32 / 47) = 16
    assert calls(wan_server, "tiny-vace")[-1] == (
        "WanVACEPipeline 32x32, 33 native frames, 2 steps, conditioned on native frames [0, 16]"
    )


def test_vace_text_to_video_has_no_conditioning(wan_server):
    with wan_server.client() as c:
        done = generate(c, {"model": "tiny-vace", "prompt": "the sea", "duration": 1})
    assert done["status"] == "done", done
    assert len(decode_mp4(download(done["video"]["url"])).frames) == 24
    assert calls(wan_server, "tiny-vace")[-1].endswith("conditioned on native frames []")


@pytest.mark.parametrize("model", ["tiny-vace", "tiny-i2v"])
def test_extension_returns_the_original_then_the_new_segment(wan_server, model):
    source = mp4_bytes(2.0, 320, 180)
    with wan_server.client() as c:
        done = generate(
            c,
            {"model": model, "prompt": "the bird flies", "duration": 1, "video": video_url(source)},
            "extensions",
        )
    assert done["status"] == "done", done
    assert done["video"]["duration"] == 3
    original, out = decode_mp4(source), decode_mp4(download(done["video"]["url"]))
    assert (out.width, out.height, len(out.frames)) == (320, 180, 72)
    for a, b in zip(original.frames, out.frames[:48], strict=True):
        assert psnr(a, b) >= 35  # the original, untouched
    assert psnr(out.frames[48], original.frames[-1]) >= 30  # the new segment starts on its end
    line = calls(wan_server, model)[-1]
    if model == "tiny-vace":  # the input's last 5 native frames, then 17 new ones: 21 in all
        assert line.endswith(
            "21 native frames, 2 steps, conditioned on native frames [0, 1, 2, 3, 4]"
        )
    else:
        assert line.endswith("17 native frames, 2 steps, conditioned on native frames [0]")


def test_edit_returns_one_frame_per_source_frame(wan_server):
    source = mp4_bytes(1.5, 320, 180)
    with wan_server.client() as c:
        done = generate(
            c, {"model": "tiny-t2v", "prompt": "make it blue", "video": video_url(source)}, "edits"
        )
    assert done["status"] == "done", done
    out = decode_mp4(download(done["video"]["url"]))
    assert (out.width, out.height, len(out.frames)) == (320, 180, 36)
    # 36 frames at 24 fps = 24 at 16 -> 25 native; strength 0.7 of 2 steps runs 1
    assert calls(wan_server, "tiny-t2v")[-1].startswith("WanVideoToVideoPipeline 48x32, 25 native")


def test_a_mode_the_model_lacks_is_a_400_that_says_so(wan_server):
    with wan_server.client() as c:
        r = c.post("/v1/videos/generations", json={"model": "tiny-i2v", "prompt": "a cat"})
        assert_error(r, 400, "'tiny-i2v' does not support text-to-video", "image-to-video")
        r = c.post(
            "/v1/videos/generations",
            json={
                "model": "tiny-t2v",
                "prompt": "a cat",
                "image": image_url(solid((1, 2, 3))),
            },
        )
        assert_error(r, 400, "does not support image-to-video")


def test_a_failing_pipeline_fails_only_its_job(wan_server):
    with wan_server.client() as c:
        bad = generate(c, {"model": "tiny-broken", "prompt": "a cat", "duration": 1})
        good = generate(c, {"model": "tiny-t2v", "prompt": "a cat", "duration": 1})
    assert bad["status"] == "failed", bad
    assert bad["error"]["code"] == "internal_error"
    assert bad["error"]["message"].startswith("the model failed: RuntimeError")
    assert good["status"] == "done", good  # the same (only) worker, next job


def test_progress_follows_the_steps_and_cancel_stops_between_them(wan_server):
    with wan_server.client() as c:
        request_id = create(c, {"model": "tiny-slow", "prompt": "a cat", "duration": 1})
        seen = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            body = c.get(f"/v1/videos/{request_id}").json()
            seen.append(body["progress"])
            if 0 < body["progress"] and len(set(seen) - {0}) >= 2:
                break
            time.sleep(0.05)
        # denoising is 90% of the job: progress moved during the steps, before any frame
        assert 0 < seen[-1] < 90 and sorted(seen) == seen, seen
        cancelled_at = time.monotonic()
        assert c.delete(f"/v1/videos/{request_id}").status_code == 200
        body = wait_done(c, request_id)
        assert body["status"] == "failed" and body["error"]["code"] == "cancelled", body
        # the worker stopped between steps and takes the next job at once
        after = generate(c, {"model": "tiny-t2v", "prompt": "a dog", "duration": 1})
        assert after["status"] == "done"
        assert time.monotonic() - cancelled_at < 20
    stopped = re.findall(r"render stopped after step (\d+) of (\d+)", wan_server.log())
    assert stopped and int(stopped[-1][0]) < int(stopped[-1][1]) == SLOW_STEPS


# --- LTX-Video -----------------------------------------------------------------------------


def test_ltx_text_to_video_renders_8k_plus_1_frames_and_delivers_the_exact_contract(wan_server):
    with wan_server.client() as c:
        done = generate(c, {"model": "tiny-ltx", "prompt": "a red cat runs", "duration": 1})
    assert done["status"] == "done", done
    clip = decode_mp4(download(done["video"]["url"]))
    assert (clip.width, clip.height, len(clip.frames), clip.fps) == (848, 480, 24, 24)
    # 1 s at 24 fps -> 25 frames (8k+1), at 64x32 (multiples of 32 inside max_area 64*32)
    assert calls(wan_server, "tiny-ltx")[-1] == (
        "LTXConditionPipeline 64x32, 25 native frames, 2 steps, conditioned on native frames []"
    )


def test_ltx_pins_the_first_keyframe_and_last_frames(wan_server):
    first, key, last = synthetic_image(320, 240, seed=3), solid((30, 40, 220)), solid((250, 30, 30))
    with wan_server.client() as c:
        done = generate(
            c,
            {
                "model": "tiny-ltx",
                "prompt": "a dog walks",
                "duration": 2,
                "image": image_url(first),
                "keyframes": [{"image": image_url(key), "timestamp_s": 1.0}],
                "last_frame": image_url(last),
            },
        )
    assert done["status"] == "done", done
    clip = decode_mp4(download(done["video"]["url"]))
    assert (clip.width, clip.height, len(clip.frames)) == (640, 480, 48)  # the image's 4:3
    assert psnr(clip.frames[0], fit_image(first, 640, 480)) >= 30
    assert psnr(clip.frames[24], fit_image(key, 640, 480)) >= 30
    assert psnr(clip.frames[-1], fit_image(last, 640, 480)) >= 30
    # 2 s -> 49 native frames; the keyframe at output 24 of 48 -> native round(24*48/47) = 25
    assert calls(wan_server, "tiny-ltx")[-1] == (
        "LTXConditionPipeline 64x32, 49 native frames, 2 steps, "
        "conditioned on native frames [0, 25, 48]"
    )


def test_ltx_extension_returns_the_original_then_the_new_segment(wan_server):
    source = mp4_bytes(2.0, 320, 180)
    with wan_server.client() as c:
        done = generate(
            c,
            {
                "model": "tiny-ltx",
                "prompt": "the bird flies",
                "duration": 1,
                "video": video_url(source),
            },
            "extensions",
        )
    assert done["status"] == "done", done
    assert done["video"]["duration"] == 3
    original, out = decode_mp4(source), decode_mp4(download(done["video"]["url"]))
    assert (out.width, out.height, len(out.frames)) == (320, 180, 72)
    for a, b in zip(original.frames, out.frames[:48], strict=True):
        assert psnr(a, b) >= 35
    assert psnr(out.frames[48], original.frames[-1]) >= 30
    # the input's last 9 native frames at frame 0, then 25 new ones from its last: 33 in all
    assert calls(wan_server, "tiny-ltx")[-1] == (
        "LTXConditionPipeline 64x32, 33 native frames, 2 steps, "
        "conditioned on native frames [0, 1, 2, 3, 4, 5, 6, 7, 8]"
    )


def test_ltx_edit_returns_one_frame_per_source_frame(wan_server):
    source = mp4_bytes(1.5, 320, 180)
    with wan_server.client() as c:
        done = generate(
            c, {"model": "tiny-ltx", "prompt": "make it blue", "video": video_url(source)}, "edits"
        )
    assert done["status"] == "done", done
    out = decode_mp4(download(done["video"]["url"]))
    assert (out.width, out.height, len(out.frames)) == (320, 180, 36)
    assert calls(wan_server, "tiny-ltx")[-1].startswith("LTXConditionPipeline 64x32, 33 native")


def test_ltx_refuses_reference_to_video_with_a_400(wan_server):
    with wan_server.client() as c:
        r = c.post(
            "/v1/videos/generations",
            json={
                "model": "tiny-ltx",
                "prompt": "<IMAGE_1> on a hill",
                "reference_images": [image_url(solid((1, 2, 3)))],
            },
        )
        assert_error(r, 400, "'tiny-ltx' does not support reference-to-video", "image-to-video")
