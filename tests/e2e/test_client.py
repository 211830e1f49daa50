"""Reelforge's own SDK (`reelforge.Client`, `reelforge.AsyncClient`) against a real server, and
against a small real HTTP front on 127.0.0.1 that fails, delays or answers for it."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

import reelforge
from reelforge import AsyncClient, Client
from reelforge.client import (
    ApiConnectionError,
    ApiError,
    VideoExpiredError,
    VideoFailedError,
    VideoModeratedError,
    VideoTimeoutError,
)
from reelforge.media.fit import fit_image
from tests.helpers import KEY, decode_mp4, free_port, mp4_bytes, png_bytes, psnr, synthetic_image

LONG = {"duration": 15, "resolution": "720p"}  # a job that takes a few seconds to render


def client_for(server, api_key: str = KEY, **kwargs) -> Client:
    return Client(api_key=api_key, base_url=server.base_url, **kwargs)


def cancel_quietly(client: Client, request_id: str) -> None:
    """Free the worker a test's long job holds."""
    with contextlib.suppress(ApiError):
        client.video.cancel(request_id)


# --- a real HTTP front that fails, answers, or passes requests on to the server --------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


# respond(seen, number of requests so far) -> (status, headers, body) to answer, or None to proxy
Responder = Callable[[Seen, int], "tuple[int, dict[str, str], bytes] | None"]


@dataclass
class Front:
    base_url: str
    seen: list[Seen] = field(default_factory=list)
    upstream_answers: list[httpx.Response] = field(default_factory=list)


@contextlib.contextmanager
def front(upstream: str, respond: Responder, forward_answered: bool = False):
    """Yields a `Front` on 127.0.0.1. Requests `respond` answers are not passed on, unless
    `forward_answered` (the server acts, the client never hears: a lost response)."""
    state = Front("")
    lock = threading.Lock()
    upstream_client = httpx.Client(base_url=upstream, timeout=60)

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def handle_any(self):
            length = int(self.headers.get("content-length") or 0)
            seen = Seen(self.command, self.path, dict(self.headers), self.rfile.read(length))
            with lock:
                state.seen.append(seen)
                answer = respond(seen, len(state.seen))
            if answer is None or forward_answered:
                headers = {
                    k: v
                    for k, v in seen.headers.items()
                    if k.lower() not in ("host", "content-length", "connection")
                }
                r = upstream_client.request(
                    seen.method, seen.path, headers=headers, content=seen.body
                )
                state.upstream_answers.append(r)
                if answer is None:
                    answer = (r.status_code, {"Content-Type": r.headers["content-type"]}, r.content)
            status, headers, body = answer
            self.send_response(status)
            for k, v in headers.items():
                self.send_header(k, v)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_DELETE = handle_any

        def log_message(self, *args):
            pass

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        upstream_client.close()


def fail_first(n: int, status: int, headers: dict[str, str], method: str | None = None):
    """A responder that answers the first `n` requests (of `method`) with an error."""
    failed = []

    def respond(seen: Seen, _count: int):
        if len(failed) < n and (method is None or seen.method == method):
            failed.append(seen)
            body = json.dumps({"code": "unavailable", "error": "try again"}).encode()
            return status, {**headers, "Content-Type": "application/json"}, body
        return None

    return respond


def json_answer(path_part: str, body: dict):
    def respond(seen: Seen, _count: int):
        if seen.method == "GET" and path_part in seen.path:
            return 200, {"Content-Type": "application/json"}, json.dumps(body).encode()
        return None

    return respond


# --- sync client ------------------------------------------------------------------------------


def test_package_exports_the_clients():
    assert reelforge.Client is Client and reelforge.AsyncClient is AsyncClient


def test_generate_text_to_video_and_download(server, tmp_path):
    with client_for(server) as client:
        video = client.video.generate("a red ball bouncing on a beach", duration=2)
        assert (video.status, video.progress, video.duration) == ("done", 100, 2)
        assert video.model == "grok-imagine-video" and video.respect_moderation is True
        assert video.cost_usd == pytest.approx(0.10)
        path = video.download(tmp_path / "ball.mp4")
    assert path == tmp_path / "ball.mp4" and not (tmp_path / "ball.mp4.part").exists()
    decoded = decode_mp4(path.read_bytes())
    assert (decoded.width, decoded.height, len(decoded.frames)) == (848, 480, 48)
    assert decoded.audio_channels == 2


def test_image_to_video_from_a_local_png_path(server, tmp_path):
    image = synthetic_image(848, 480, seed=7)
    png = tmp_path / "first.png"
    png.write_bytes(png_bytes(image))
    with client_for(server) as client:
        from_path = client.video.generate("slow zoom in", image_url=png, duration=1)
        from_str = client.video.generate(
            "slow zoom in", image_url=str(png), duration=1, generate_audio=False
        )
        frames = decode_mp4(from_path.download(tmp_path / "a.mp4").read_bytes()).frames
        silent = decode_mp4(from_str.download(tmp_path / "b.mp4").read_bytes())
    assert len(frames) == 24 and psnr(frames[0], fit_image(image, 848, 480)) >= 30
    assert silent.audio_channels is None and len(silent.frames) == 24


def test_edit_and_extend_a_local_mp4(server, tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(mp4_bytes(2))
    with client_for(server) as client:
        edited = client.video.edit("make it sepia", video_url=source)
        extended = client.video.extend("the camera pans left", video_url=str(source), duration=2)
        # as in xai-sdk, generate() with a video is an edit
        also_edited = client.video.generate("make it sepia", video_url=source)
        assert (edited.duration, extended.duration) == (2, 4)
        edited_frames = decode_mp4(edited.download(tmp_path / "e.mp4").read_bytes()).frames
        longer = decode_mp4(extended.download(tmp_path / "x.mp4").read_bytes()).frames
        same = decode_mp4(also_edited.download(tmp_path / "g.mp4").read_bytes()).frames
    assert (len(edited_frames), len(longer)) == (48, 96)
    assert psnr(edited_frames[10], same[10]) == float("inf")  # same request, same bytes


def test_pins_keyframes_and_voices_with_xai_sdk_names(server, tmp_path):
    images = {}
    for name, seed in (("first", 31), ("last", 32), ("key", 33)):
        images[name] = synthetic_image(848, 480, seed=seed)
        (tmp_path / f"{name}.png").write_bytes(png_bytes(images[name]))
    with client_for(server) as client:
        video = client.video.generate(
            "slow push in",
            "grok-imagine-video-1.5",
            image_url=tmp_path / "first.png",
            last_frame_url=str(tmp_path / "last.png"),
            keyframes=[{"image_url": tmp_path / "key.png", "timestamp": 1.0}],
            reference_audios=[{"voice_id": "eve"}],
            duration=2,
            seed=5,
        )
        assert video.model == "grok-imagine-video-1.5"
        decoded = decode_mp4(video.download(tmp_path / "pinned.mp4").read_bytes())
    assert len(decoded.frames) == 48 and decoded.audio_channels == 2
    for index, name in ((0, "first"), (24, "key"), (47, "last")):
        assert psnr(decoded.frames[index], images[name]) >= 30, name


def test_start_get_and_wait(server):
    with client_for(server) as client:
        started = client.video.start("a green bird", duration=1)
        assert started.status == "pending" and started.request_id
        now = client.video.get(started.request_id)
        assert now.request_id == started.request_id and now.status in ("pending", "done")
        done = client.video.wait(started)
        assert done.status == "done" and done.url
        assert client.video.get(started.request_id).url == done.url


def test_waiting_long_polls_instead_of_polling(server):
    with front(server.base_url, lambda *_: None) as f, Client(KEY, f.base_url) as client:
        video = client.video.generate("a cat on a sofa", duration=8, resolution="720p")
    assert video.status == "done"
    polls = [s.path for s in f.seen if s.method == "GET"]
    assert polls and all("wait=" in p for p in polls)
    assert len(polls) <= 2, polls  # one long poll answered when the job finished


def test_progress_callback_sees_rising_progress(server):
    seen = []
    with client_for(server) as client:
        video = client.video.generate("a red car driving, orbit", on_progress=seen.append, **LONG)
    values = [v.progress for v in seen]
    assert values[-1] == 100 and seen[-1].request_id == video.request_id
    assert len(values) >= 3 and values[0] < 100, values
    assert values == sorted(set(values)), values  # strictly increasing


def test_cancel_then_wait_raises_failed_with_code(server):
    with client_for(server) as client:
        started = client.video.start("a slow sunset", **LONG)
        cancelled = client.video.cancel(started.request_id)
        assert (cancelled.status, cancelled.error_code) == ("failed", "cancelled")
        with pytest.raises(VideoFailedError) as caught:
            client.video.wait(started.request_id, timeout=30)
        assert caught.value.code == "cancelled" and caught.value.request_id == started.request_id
        with pytest.raises(ApiError) as again:
            client.video.cancel(started.request_id)
        assert again.value.status == 409
        with pytest.raises(VideoFailedError):
            client.video.get(started.request_id).download("never.mp4")


def test_list_pages_newest_first(server):
    with client_for(server, api_key="list-key") as client:  # a key of its own: only these jobs
        ids = [client.video.start(f"job {i}", duration=1).request_id for i in range(3)]
        for request_id in ids:
            client.video.wait(request_id)
        page = client.video.list()
        assert [v.request_id for v in page] == ids[::-1] and not page.has_more
        assert all(v.status == "done" and v.created_at for v in page)
        first = client.video.list(limit=2)
        assert len(first) == 2 and first.has_more and first.next_after == ids[1]
        rest = client.video.list(limit=2, after=first.next_after)
        assert [v.request_id for v in rest] == [ids[0]] and not rest.has_more
        assert len(client.video.list(status="failed")) == 0


def test_models_list(server):
    with client_for(server) as client:
        models = {m.id: m for m in client.models.list()}
    assert "grok-imagine-video" in models and "grok-imagine-video-1.5" in models
    assert "1080p" in models["grok-imagine-video-1.5"].resolutions
    assert models["grok-imagine-video"].durations["text-to-video"] == [1, 15]


def test_refusals_are_api_errors(server, monkeypatch):
    with client_for(server) as client:
        with pytest.raises(ApiError) as bad:
            client.video.generate("x", duration=99)
        assert (bad.value.status, bad.value.code) == (400, "invalid-argument")
        assert "duration" in bad.value.message
        with pytest.raises(ApiError) as missing:
            client.video.get("no-such-id")
        assert missing.value.status == 404
    monkeypatch.delenv("REELFORGE_API_KEY", raising=False)
    monkeypatch.delenv("XAI_API_KEY", raising=False)
    with Client(base_url=server.base_url) as anonymous, pytest.raises(ApiError) as caught:
        anonymous.models.list()
    assert caught.value.status == 401


def test_bad_arguments_fail_before_any_request(server, tmp_path):
    with client_for(server) as client:
        with pytest.raises(FileNotFoundError):
            client.video.generate("x", image_url=tmp_path / "missing.png")
        with pytest.raises(FileNotFoundError):
            client.video.edit("x", video_url="missing.mp4")
        with pytest.raises(TypeError, match="image_ur"):
            client.video.generate("x", image_ur="https://example.com/a.png")
        with pytest.raises(TypeError, match="aspect_ratio"):
            client.video.edit("x", video_url="https://example.com/a.mp4", aspect_ratio="1:1")
        with pytest.raises(ValueError, match="not both"):
            client.video.generate("x", image_url="https://e.com/a.png", image_file_id="file_1")


def test_wait_timeout_is_a_timeout_error(server):
    with client_for(server) as client:
        started = client.video.start("a long take", **LONG)
        try:
            t0 = time.monotonic()
            with pytest.raises(TimeoutError) as caught:
                client.video.wait(started, timeout=0.5)
            assert time.monotonic() - t0 < 3
            assert isinstance(caught.value, VideoTimeoutError)
            assert caught.value.request_id == started.request_id
        finally:
            cancel_quietly(client, started.request_id)


def test_big_local_files_go_through_the_files_api(server, tmp_path, monkeypatch):
    monkeypatch.setattr("reelforge.client._flows.INLINE_LIMIT", 1000)
    png = tmp_path / "big.png"
    png.write_bytes(png_bytes(synthetic_image(320, 180)))
    assert png.stat().st_size > 1000
    with front(server.base_url, lambda *_: None) as f, Client(KEY, f.base_url) as client:
        video = client.video.generate("zoom in", image_url=png, duration=1)
    assert video.status == "done"
    upload, create = (s for s in f.seen if s.method == "POST")
    assert upload.path == "/v1/files" and create.path == "/v1/videos/generations"
    assert json.loads(create.body)["image"] == {"file_id": f.upstream_answers[0].json()["id"]}


# --- retries, idempotency and the statuses the preview engine never gives -------------------


def test_retries_on_503_and_429_honouring_retry_after(server):
    answers = iter([(503, {"Retry-After": "1"}), (429, {"Retry-After": "0"})])

    def respond(seen: Seen, count: int):
        if count <= 2:
            status, headers = next(answers)
            return status, {**headers, "Content-Type": "application/json"}, b"{}"
        return None

    with front(server.base_url, respond) as f, Client(KEY, f.base_url) as client:
        t0 = time.monotonic()
        models = client.models.list()
        took = time.monotonic() - t0
    assert models and len(f.seen) == 3
    assert 1.0 <= took < 5, took


def test_retry_after_is_bounded(server):
    respond = fail_first(1, 503, {"Retry-After": "3600"})
    with front(server.base_url, respond) as f, Client(KEY, f.base_url, max_retry_wait=0.2) as c:
        t0 = time.monotonic()
        assert c.models.list()
    assert time.monotonic() - t0 < 3 and len(f.seen) == 2


def test_gives_up_after_max_retries(server):
    respond = fail_first(100, 503, {"Retry-After": "0"})
    with front(server.base_url, respond) as f, Client(KEY, f.base_url, max_retries=2) as client:
        with pytest.raises(ApiError) as caught:
            client.models.list()
    assert caught.value.status == 503 and len(f.seen) == 3


def test_unreachable_server_is_a_connection_error():
    with Client(KEY, f"http://127.0.0.1:{free_port()}", max_retries=1) as client:
        with pytest.raises(ApiConnectionError):
            client.models.list()


def test_a_retried_create_does_not_make_a_second_job(server):
    # The server makes the job but its answer is lost (a 503 comes back instead): the client
    # retries with the same Idempotency-Key and gets the same job back.
    respond = fail_first(1, 503, {"Retry-After": "0"}, method="POST")
    with (
        front(server.base_url, respond, forward_answered=True) as f,
        Client(KEY, f.base_url) as client,
    ):
        video = client.video.generate("a lighthouse at night", duration=1)
    posts = [s for s in f.seen if s.method == "POST"]
    assert len(posts) == 2
    keys = {s.headers.get("Idempotency-Key") for s in posts}
    assert len(keys) == 1 and None not in keys
    made = [r.json()["request_id"] for r in f.upstream_answers if r.request.method == "POST"]
    assert made == [video.request_id, video.request_id]


def test_moderated_and_expired_are_typed_errors(server):
    moderated = {
        "status": "done",
        "progress": 100,
        "model": "grok-imagine-video",
        "video": {"url": "", "duration": 2, "respect_moderation": False},
        "usage": {"cost_in_usd_ticks": 0},
    }
    with client_for(server) as direct:
        request_id = direct.video.start("a bird", duration=1).request_id
        direct.video.wait(request_id)
    with front(server.base_url, json_answer(request_id, moderated)) as f:
        with Client(KEY, f.base_url) as client, pytest.raises(VideoModeratedError):
            client.video.wait(request_id)
    with front(server.base_url, json_answer(request_id, {"status": "expired"})) as f:
        with Client(KEY, f.base_url) as client, pytest.raises(VideoExpiredError):
            client.video.wait(request_id)


# --- async client -----------------------------------------------------------------------------


def test_async_generate_with_progress_and_download(server, tmp_path):
    png = tmp_path / "first.png"
    png.write_bytes(png_bytes(synthetic_image(848, 480, seed=2)))
    seen: list[int] = []

    async def on_progress(video) -> None:
        seen.append(video.progress)

    async def main():
        async with AsyncClient(api_key=KEY, base_url=server.base_url) as client:
            t2v, i2v = await asyncio.gather(
                client.video.generate("a blue car", on_progress=on_progress, **LONG),
                client.video.generate("zoom in", image_url=png, duration=1),
            )
            return await t2v.download(tmp_path / "t2v.mp4"), await i2v.download(tmp_path / "i.mp4")

    t2v_path, i2v_path = asyncio.run(main())
    assert len(decode_mp4(t2v_path.read_bytes()).frames) == 15 * 24
    assert len(decode_mp4(i2v_path.read_bytes()).frames) == 24
    assert seen[-1] == 100 and len(seen) >= 3 and seen == sorted(set(seen)), seen


def test_async_edit_extend_start_get_cancel_list_models(server, tmp_path):
    source = tmp_path / "in.mp4"
    source.write_bytes(mp4_bytes(2))

    async def main():
        async with AsyncClient(api_key="async-key", base_url=server.base_url) as client:
            edited = await client.video.edit("black and white", video_url=source)
            extended = await client.video.extend("it goes on", video_url=source, duration=2)
            frames = [
                len(decode_mp4((await v.download(tmp_path / f"{i}.mp4")).read_bytes()).frames)
                for i, v in enumerate((edited, extended))
            ]
            started = await client.video.start("a slow dawn", **LONG)
            assert (await client.video.get(started.request_id)).status == "pending"
            cancelled = await client.video.cancel(started.request_id)
            with pytest.raises(VideoFailedError) as caught:
                await client.video.wait(started.request_id)
            page = await client.video.list()
            models = await client.models.list()
            with pytest.raises(ApiError):
                await client.video.generate("x", duration=99)
            return frames, cancelled, caught.value, page, models, started.request_id

    frames, cancelled, failed, page, models, request_id = asyncio.run(main())
    assert frames == [48, 96]
    assert cancelled.error_code == "cancelled" and failed.code == "cancelled"
    assert [v.request_id for v in page][0] == request_id and len(page) == 3
    assert any(m.id == "grok-imagine-video" for m in models)


def test_async_retries_on_503(server):
    respond = fail_first(2, 503, {"Retry-After": "0"})

    async def main(base_url: str):
        async with AsyncClient(api_key=KEY, base_url=base_url) as client:
            return await client.models.list()

    with front(server.base_url, respond) as f:
        assert asyncio.run(main(f.base_url))
    assert len(f.seen) == 3


def test_base_url_and_key_from_the_environment(server, monkeypatch):
    monkeypatch.setenv("REELFORGE_BASE_URL", server.base_url + "/v1")
    monkeypatch.delenv("REELFORGE_API_KEY", raising=False)
    monkeypatch.setenv("XAI_API_KEY", "from-xai-env")
    with Client() as client:
        assert client.base_url == server.base_url and client.api_key == "from-xai-env"
        assert client.models.list()
    monkeypatch.setenv("REELFORGE_API_KEY", "from-reelforge-env")
    with Client() as client:
        assert client.api_key == "from-reelforge-env"


def test_readme_example(server, tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (example,) = [
        b for b in re.findall(r"```python\n(.*?)```", readme, flags=re.S) if "import Client" in b
    ]
    monkeypatch.chdir(tmp_path)
    (tmp_path / "photo.png").write_bytes(png_bytes(synthetic_image(640, 480)))
    code = example.replace("http://127.0.0.1:8000", server.base_url)
    exec(compile(code, "README.md", "exec"), {})
    frames = {
        name: len(decode_mp4((tmp_path / f"{name}.mp4").read_bytes()).frames)
        for name in ("ball", "photo", "bw", "more")
    }
    assert frames == {"ball": 96, "photo": 192, "bw": 96, "more": 192}
