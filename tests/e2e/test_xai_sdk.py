"""The official `xai-sdk` (gRPC) against a real server: only `api_host` changes.

The SDK polls once right after starting a job and then every second, so clips are 1-2 s at 480p.
"""

from __future__ import annotations

import datetime
import re
import time
from pathlib import Path

import grpc
import httpx
import numpy as np
import pytest
import xai_sdk
from xai_sdk.proto import deferred_pb2
from xai_sdk.video import VideoGenerationError

from reelforge.media.fit import fit_image
from tests.helpers import (
    KEY,
    data_url,
    decode_mp4,
    download,
    free_port,
    mp4_bytes,
    png_bytes,
    psnr,
    serve_files,
    synthetic_image,
)

V1, V15 = "grok-imagine-video", "grok-imagine-video-1.5"
PENDING, DONE = deferred_pb2.DeferredStatus.PENDING, deferred_pb2.DeferredStatus.DONE
EXPIRED = deferred_pb2.DeferredStatus.EXPIRED


def sdk_server(make_server, *args: str):
    srv = make_server("--grpc-port", str(free_port()), *args)
    return srv, sdk_client(srv)


def sdk_client(srv, key: str = KEY) -> xai_sdk.Client:
    return xai_sdk.Client(
        api_key=key, api_host=f"127.0.0.1:{srv.grpc_port}", use_insecure_channel=True
    )


def png_url(image: np.ndarray) -> str:
    return data_url(png_bytes(image))


def rpc_error(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as caught:
        call()
    return caught.value


def test_text_to_video_and_start_then_get(make_server):
    srv, client = sdk_server(make_server, "--workers", "2")
    with client:
        response = client.video.generate(
            prompt="a red ball bouncing on a beach",
            model=V1,
            duration=1,
            aspect_ratio="9:16",
            resolution="480p",
        )
        assert response.model == V1 and response.duration == 1
        assert response.respect_moderation is True
        assert response.cost_usd == pytest.approx(0.05)
        assert response.url.startswith(srv.base_url + "/")
        video = decode_mp4(download(response.url))
        assert (video.width, video.height, video.fps, len(video.frames)) == (480, 848, 24.0, 24)
        assert video.audio_codec == "aac" and video.audio_channels == 2  # generate_audio default

        # start + get: the raw deferred protocol, with defaults (UNSPECIFIED enums) on 1.5
        request_id = client.video.start(prompt="a quiet lake", model=V15, generate_audio=False)
        first = client.video.get(request_id.request_id)
        assert first.status == PENDING and not first.HasField("response")
        deadline = time.monotonic() + 60
        while (polled := client.video.get(request_id.request_id)).status == PENDING:
            assert time.monotonic() < deadline
            time.sleep(0.1)
    assert polled.status == DONE and polled.response.progress == 100
    assert polled.response.model == V15 and polled.response.video.duration == 8  # the default
    assert polled.response.usage.cost_in_usd_ticks == 8 * 800_000_000
    video = decode_mp4(download(polled.response.video.url))
    assert (video.width, video.height, len(video.frames)) == (848, 480, 192)  # 16:9, 480p
    assert video.audio_codec is None
    # the same job, read over REST with the same key
    with srv.client() as c:
        rest = c.get(f"/v1/videos/{request_id.request_id}").json()
    assert rest["status"] == "done" and rest["usage"]["cost_in_usd_ticks"] == 8 * 800_000_000


def test_image_and_reference_to_video(make_server):
    _, client = sdk_server(make_server, "--workers", "2")
    image = synthetic_image(300, 500, seed=5)
    refs = [np.full((64, 64, 3), c, np.uint8) for c in ((250, 10, 200), (10, 240, 240))]
    with client:
        i2v = client.video.generate(
            prompt="slow zoom in",
            model=V1,
            image_url=png_url(image),
            duration=1,
            generate_audio=False,
        )
        r2v = client.video.generate(
            prompt="<IMAGE_1> meets <IMAGE_2>",
            model=V15,
            reference_image_urls=[png_url(r) for r in refs],
            reference_audios=[{"voice_id": "ara"}],
            duration=1,
        )
    assert i2v.cost_usd == pytest.approx(0.05 + 0.002) and i2v.duration == 1
    video = decode_mp4(download(i2v.url))
    assert (video.width, video.height, len(video.frames)) == (480, 848, 24)  # follows the image
    assert psnr(video.frames[0], fit_image(image, 480, 848)) >= 30
    assert r2v.cost_usd == pytest.approx(0.08 + 2 * 0.01)
    video = decode_mp4(download(r2v.url))
    assert len(video.frames) == 24 and video.audio_codec == "aac"


def test_edit_and_extend(make_server):
    _, client = sdk_server(make_server, "--workers", "2")
    with client:
        edited = client.video.generate(
            prompt="make it black and white",
            model=V1,
            video_url=data_url(mp4_bytes(1.0, 320, 180), "video/mp4"),
        )
        source = mp4_bytes(2.0, 320, 180)
        extended = client.video.extend(
            prompt="the camera pans right",
            model=V1,
            video_url=data_url(source, "video/mp4"),
            duration=2,
        )
    assert edited.duration == 1 and edited.cost_usd == pytest.approx(0.05 + 0.01)
    video = decode_mp4(download(edited.url))
    assert (video.width, video.height, len(video.frames)) == (320, 180, 24)
    assert np.ptp(video.frames[12].astype(int), axis=-1).max() <= 12  # grey
    assert extended.duration == 4 and extended.cost_usd == pytest.approx(2 * 0.05 + 2 * 0.01)
    video = decode_mp4(download(extended.url))
    assert (video.width, video.height, len(video.frames)) == (320, 180, 96)
    assert psnr(decode_mp4(source).frames[10], video.frames[10]) >= 30  # the original is kept


def test_first_last_and_keyframes_on_15(make_server):
    _, client = sdk_server(make_server)
    first, last, middle = (synthetic_image(640, 360, seed=s) for s in (11, 12, 13))
    with client:
        response = client.video.generate(
            prompt="slow push in",
            model=V15,
            image_url=png_url(first),
            last_frame_url=png_url(last),
            keyframes=[{"image_url": png_url(middle), "timestamp": 1.0}],
            duration=2,
            generate_audio=False,
        )
    assert response.cost_usd == pytest.approx(2 * 0.08 + 3 * 0.01)
    frames = decode_mp4(download(response.url)).frames
    assert len(frames) == 48
    for index, pin in ((0, first), (24, middle), (47, last)):
        assert psnr(frames[index], fit_image(pin, 848, 480)) >= 30, index


@pytest.fixture
def missing_files():
    """A real HTTP server on 127.0.0.1 that answers 404 to everything."""
    with serve_files({}) as url:
        yield url


def test_failed_and_expired_jobs_raise(make_server, missing_files):
    srv, client = sdk_server(make_server, "--allow-private-urls", "--retention", "1")
    with client:
        with pytest.raises(VideoGenerationError) as failed:
            client.video.generate(
                prompt="zoom", model=V1, image_url=f"{missing_files}/gone.png", duration=1
            )
        # Polling every 4 s, the SDK first sees the job after its 1 s retention ran out.
        with pytest.raises(RuntimeError, match="expired"):
            client.video.generate(
                prompt="a dog",
                model=V1,
                duration=1,
                generate_audio=False,
                interval=datetime.timedelta(seconds=4),
            )
    assert failed.value.code == "invalid_argument"
    assert "image.image_url" in failed.value.message and "404" in failed.value.message
    assert "Traceback" not in srv.log()


def test_keys_isolation_and_refusals(make_server):
    srv, owner = sdk_server(make_server, "--api-key", KEY, "--api-key", "other-key")
    stranger, intruder = sdk_client(srv, "wrong-key"), sdk_client(srv, "other-key")
    with owner, stranger, intruder:
        err = rpc_error(lambda: stranger.video.start(prompt="a cat", model=V1))
        assert err.code() == grpc.StatusCode.UNAUTHENTICATED

        started = owner.video.start(prompt="a cat", model=V1, duration=1)
        err = rpc_error(lambda: intruder.video.get(started.request_id))
        assert err.code() == grpc.StatusCode.NOT_FOUND and started.request_id in err.details()
        assert owner.video.get(started.request_id).status in (PENDING, DONE)

        refusals = [
            (dict(duration=30), grpc.StatusCode.INVALID_ARGUMENT, "duration"),
            (dict(resolution="1080p"), grpc.StatusCode.INVALID_ARGUMENT, "resolution"),
            (dict(model="no-such-model"), grpc.StatusCode.NOT_FOUND, "model"),
            (
                dict(model=V15, reference_audios=[{"voice_id": "nobody"}]),
                grpc.StatusCode.INVALID_ARGUMENT,
                "reference_audios[0].voice_id",
            ),
            (dict(last_frame_url=png_url(synthetic_image(64, 64))), None, "last_frame"),
            (dict(image_url="data:image/png;base64,AAAA"), None, "image.image_url"),
            (dict(video_url="ftp://example.com/a.mp4"), None, "video.url"),
            (
                dict(model=V15, keyframes=[{"image_url": "data:,", "timestamp": 1.0}]),
                None,
                "keyframes[0].image.image_url",
            ),
        ]
        for extra, code, field in refusals:
            request = {"prompt": "a cat", "model": V1, **extra}
            err = rpc_error(lambda request=request: owner.video.start(**request))
            assert err.code() == (code or grpc.StatusCode.INVALID_ARGUMENT), (extra, err)
            assert field in err.details(), (extra, err.details())

        err = rpc_error(lambda: owner.video.extend_start(prompt="more", model=V1, video_url=""))
        assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "video" in err.details()
        # file ids reach the service, which resolves them (or refuses them, naming the field)
        err = rpc_error(lambda: owner.video.start(prompt="x", model=V1, image_file_id="file_x"))
        assert err.code() in (grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND)
        assert "image.file_id" in err.details(), err.details()

        # Inputs past gRPC's 4 MiB default message size arrive whole (the SDK allows 20 MiB).
        noise = np.random.default_rng(0).integers(0, 256, (1400, 1400, 3), np.uint8)
        big = png_url(noise)
        assert len(big) > 6 * 1024 * 1024
        assert owner.video.start(prompt="x", model=V1, image_url=big, duration=1).request_id
    with httpx.Client(base_url=srv.base_url) as c:  # REST refuses the wrong key just the same
        r = c.get(f"/v1/videos/{started.request_id}", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 401


def test_readme_example(make_server, capsys):
    srv = make_server("--grpc-port", str(free_port()))
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (example,) = [
        b for b in re.findall(r"```python\n(.*?)```", readme, re.S) if "xai_sdk.Client(" in b
    ]
    assert 'api_host="127.0.0.1:50051", use_insecure_channel=True' in example
    namespace: dict = {}
    exec(compile(example.replace(":50051", f":{srv.grpc_port}"), "README.md", "exec"), namespace)
    namespace["client"].close()
    url, duration, cost = capsys.readouterr().out.split()
    assert url.startswith(f"{srv.base_url}/v1/media/") and (duration, cost) == ("2", "0.1")
    assert len(decode_mp4(download(url)).frames) == 48


def test_file_id_inputs(make_server):
    """Files uploaded over REST (the Files API) feed the SDK's `*_file_id` parameters."""
    srv, client = sdk_server(make_server)
    image = synthetic_image(640, 360, seed=9)
    source = mp4_bytes(2.0, 320, 180)
    with srv.client() as rest:
        image_id = rest.post("/v1/files", files={"file": ("a.png", png_bytes(image))}).json()["id"]
        video_id = rest.post("/v1/files", files={"file": ("a.mp4", source)}).json()["id"]
    with client:
        i2v = client.video.generate(
            prompt="zoom in", model=V1, image_file_id=image_id, duration=1, generate_audio=False
        )
        extended = client.video.extend(
            prompt="pan left", model=V1, video_file_id=video_id, duration=2
        )
    frames = decode_mp4(download(i2v.url)).frames
    assert len(frames) == 24 and psnr(frames[0], fit_image(image, 848, 480)) >= 30
    video = decode_mp4(download(extended.url))
    assert len(video.frames) == 96
    assert psnr(decode_mp4(source).frames[10], video.frames[10]) >= 30
