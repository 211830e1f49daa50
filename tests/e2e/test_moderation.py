"""Content moderation through a real server: blocked requests finish `done` with
`respect_moderation: false`, an empty URL and no file; the official clients see what they see
upstream (xai-sdk raises on `.url`, the AI SDK reports a content-policy error); and a
moderation that cannot run fails jobs (or start-up) closed."""

from __future__ import annotations

from pathlib import Path

import pytest
import xai_sdk
from xai_sdk.proto import deferred_pb2
from xai_sdk.video import VideoGenerationError

from reelforge import Client
from reelforge.client import VideoModeratedError
from tests.e2e.test_ai_sdk import node, run_sdk  # noqa: F401 - `node` is a fixture
from tests.helpers import (
    KEY,
    Server,
    create,
    data_url,
    decode_mp4,
    download,
    free_port,
    generate,
    png_bytes,
    psnr,
    synthetic_image,
    wait_done,
)
from tests.test_moderation import figure

PRICE_480P = 500_000_000  # ticks per second on grok-imagine-video
PER_IMAGE = 20_000_000
PER_VIDEO_SECOND = 100_000_000
BLOCKED_PROMPT = "go fuck yourself"


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Server:
    """The built-in policy (moderation on, every stage), with the gRPC surface for xai-sdk."""
    data = tmp_path_factory.mktemp("moderation") / "data"
    srv = Server(data, args=["--grpc-port", str(free_port()), "--workers", "1"]).start()
    yield srv
    srv.stop()


def catalog(tmp_path: Path, toml: str) -> str:
    path = tmp_path / f"catalog-{len(list(tmp_path.glob('catalog-*')))}.toml"
    path.write_text(toml)
    return str(path)


def stored_videos(srv: Server) -> list[Path]:
    """Every MP4 the server keeps: stored videos and renders in progress."""
    return sorted(p for p in srv.data_dir.rglob("*.mp4"))


def withheld(body: dict, duration: int, cost: int, model: str = "grok-imagine-video") -> None:
    assert body == {
        "status": "done",
        "progress": 100,
        "model": model,
        "video": {"url": "", "duration": duration, "respect_moderation": False},
        "usage": {"cost_in_usd_ticks": cost},
    }


def figure_mp4(tmp_path: Path) -> bytes:
    """A 2 s MP4 that shows the figure throughout (the preview engine pushing in on it)."""
    from reelforge.engines.base import RenderRequest
    from reelforge.engines.preview import PreviewEngine
    from reelforge.media.encode import encode_clip

    r = RenderRequest(
        mode="image-to-video", prompt="", width=848, height=480, num_frames=48, seed=1,
        image=figure(),
    )  # fmt: skip
    path = tmp_path / "figure.mp4"
    encode_clip(PreviewEngine().render(r), r, str(path))
    return path.read_bytes()


def test_blocked_prompt_is_done_without_url_or_file(server):
    with server.client() as c:
        blocked_id = create(c, {"prompt": BLOCKED_PROMPT, "duration": 2, "resolution": "480p"})
        passed_id = create(c, {"prompt": "a red ball bouncing on a beach", "duration": 1})
        blocked, passed = wait_done(c, blocked_id), wait_done(c, passed_id)
        listed = c.get("/v1/video-requests", params={"limit": 5}).json()
    withheld(blocked, 2, 2 * PRICE_480P)  # charged, as upstream does (charge_blocked = true)
    assert passed["video"]["respect_moderation"] is True
    decode_mp4(download(passed["video"]["url"]))  # ordinary prompts still get their video
    item = next(i for i in listed["data"] if i["request_id"] == blocked_id)
    assert item["video"] == blocked["video"]
    # the only MP4 anywhere in the data dir is the passing job's
    assert [p.name.split("-")[:5] for p in stored_videos(server)] == [passed_id.split("-")]
    assert f"job {blocked_id} withheld by moderation [prompt] classifier score" in server.log()
    # Reelforge's own client: a typed error
    with Client(KEY, server.base_url) as client, pytest.raises(VideoModeratedError) as caught:
        client.video.generate("a sexy teen", duration=1)
    assert caught.value.video.respect_moderation is False and not caught.value.video.url


def test_blocked_inputs_never_render(server, tmp_path):
    image = data_url(png_bytes(figure()))
    neutral = synthetic_image(64, 64)
    video = data_url(figure_mp4(tmp_path), "video/mp4")
    before = stored_videos(server)
    with server.client() as c:
        i2v = create(c, {"prompt": "slow zoom in", "image": {"url": image}, "duration": 1})
        r2v = create(
            c,
            {
                "prompt": "<IMAGE_1> in a garden",
                "reference_images": [{"url": data_url(png_bytes(neutral))}, {"url": image}],
                "duration": 1,
                "aspect_ratio": "16:9",
            },
        )
        edit = create(c, {"prompt": "make it black and white", "video": {"url": video}}, "edits")
        extend = create(
            c, {"prompt": "keep going", "video": {"url": video}, "duration": 2}, "extensions"
        )
        withheld(wait_done(c, i2v), 1, PRICE_480P + PER_IMAGE)
        withheld(wait_done(c, r2v), 1, PRICE_480P + 2 * PER_IMAGE)
        withheld(wait_done(c, edit), 2, 2 * PRICE_480P + 2 * PER_VIDEO_SECOND)
        withheld(wait_done(c, extend), 4, 2 * PRICE_480P + 2 * PER_VIDEO_SECOND)
    assert stored_videos(server) == before
    log = server.log()
    assert f"job {i2v} withheld by moderation [input_images] image: BUTTOCKS_EXPOSED" in log
    assert f"job {r2v} withheld by moderation [reference_images] reference_images[1]:" in log
    assert f"job {edit} withheld by moderation [input_video] video.url at 0.0 s:" in log
    assert f"job {extend} withheld by moderation [input_video]" in log


def test_output_frames_block_before_the_url_exists(make_server, tmp_path):
    """Input images unchecked: the figure reaches the render, and the sampled output frames
    stop it before anything is stored. With moderation off the same request gets its video."""
    checked = make_server(
        "--catalog",
        catalog(
            tmp_path,
            "[moderation]\ncharge_blocked = false\n[moderation.stages]\ninput_images = false\n",
        ),
    )
    off = make_server("--catalog", catalog(tmp_path, "[moderation]\nenabled = false\n"))
    body = {"prompt": "slow zoom in", "image": {"url": data_url(png_bytes(figure()))}}
    body["duration"] = 2
    with checked.client() as c:
        request_id = create(c, body)
        polls = []
        while (r := c.get(f"/v1/videos/{request_id}")).status_code == 202:
            polls.append(r.json())
        withheld(r.json(), 2, 0)  # charge_blocked = false: free
    assert all("video" not in p for p in polls)  # no URL at any point
    assert stored_videos(checked) == []
    assert f"job {request_id} withheld by moderation [output] output frame 12: BUTTOCKS" in (
        checked.log()
    )

    with off.client() as c:
        done = generate(c, body)
        also = generate(c, {"prompt": BLOCKED_PROMPT, "duration": 1})
    assert done["video"]["respect_moderation"] is True and also["video"]["url"]
    video = decode_mp4(download(done["video"]["url"]))
    assert psnr(video.frames[0], figure()) > 30  # what the checked server refused to release


def test_start_up_refuses_a_missing_model(tmp_path):
    path = catalog(tmp_path, f"[moderation.images]\nmodel = '{tmp_path / 'gone.onnx'}'\n")
    srv = Server(tmp_path / "data", args=["--catalog", path])
    with pytest.raises(RuntimeError, match="server exited"):
        srv.start()
    assert f"moderation is on but the image detector's model file {tmp_path / 'gone.onnx'}" in (
        srv.log()
    )
    assert "enabled = false under [moderation]" in srv.log()


def test_a_crashing_detector_fails_jobs_closed(make_server, tmp_path):
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00" * 1000)  # there (start-up passes), but not a model
    srv = make_server(
        "--grpc-port",
        str(free_port()),
        "--catalog",
        catalog(tmp_path, f"[moderation.images]\nmodel = '{broken}'\n"),
    )
    with srv.client() as c:
        failed = generate(c, {"prompt": "a red ball", "duration": 1})
    assert failed["status"] == "failed"
    assert failed["error"]["code"] == "moderation_unavailable"
    assert "content moderation could not check" in failed["error"]["message"]
    assert stored_videos(srv) == []
    with sdk_client(srv) as client, pytest.raises(VideoGenerationError) as caught:
        client.video.generate(prompt="a quiet lake", model="grok-imagine-video", duration=1)
    assert caught.value.code == "moderation_unavailable"


# --- the official clients -----------------------------------------------------------------


def sdk_client(srv: Server) -> xai_sdk.Client:
    return xai_sdk.Client(
        api_key=KEY, api_host=f"127.0.0.1:{srv.grpc_port}", use_insecure_channel=True
    )


def test_xai_sdk_sees_a_blocked_result(server):
    with sdk_client(server) as client:
        response = client.video.generate(
            prompt=BLOCKED_PROMPT, model="grok-imagine-video", duration=1, resolution="480p"
        )
        assert response.respect_moderation is False and response.duration == 1
        assert response.cost_usd == pytest.approx(0.05)
        with pytest.raises(ValueError, match="did not respect moderation rules"):
            _ = response.url
        started = client.video.start(
            prompt="a sexy schoolgirl", model="grok-imagine-video", duration=1
        )
        while (polled := client.video.get(started.request_id)).status == (
            deferred_pb2.DeferredStatus.PENDING
        ):
            pass
    assert polled.status == deferred_pb2.DeferredStatus.DONE
    assert polled.response.video.url == "" and not polled.response.video.respect_moderation
    assert not polled.response.HasField("error")


def test_ai_sdk_reports_a_content_policy_error(node, server, tmp_path):  # noqa: F811
    result = run_sdk(node, server, tmp_path, {"prompt": BLOCKED_PROMPT, "duration": 1}, False)
    # The pinned AI SDK (ai 7.0.173, @ai-sdk/xai 5.0.12) throws a plain Error with this message.
    assert result["error"] == {
        "name": "Error",
        "message": "Video generation was blocked due to a content policy violation.",
    }
    passed = run_sdk(node, server, tmp_path, {"prompt": "a quiet lake", "duration": 1})
    assert passed["providerMetadata"]["xai"]["duration"] == 1
