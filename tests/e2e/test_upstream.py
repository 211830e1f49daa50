"""The `upstream` engine against a second Reelforge as the upstream, with its own key.

front (REST, gRPC, SDK) -> worker (upstream engine) -> FaultProxy -> upstream Reelforge

The proxy counts what the upstream was asked and injects the faults a hosted API can answer
with (429 with Retry-After, 5xx, failed and expired jobs).
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import xai_sdk

import reelforge
from tests.e2e.test_job_control import events
from tests.helpers import (
    Server,
    create,
    data_url,
    decode_mp4,
    download,
    free_port,
    mp4_bytes,
    png_bytes,
    serve_files,
    synthetic_image,
    wait_done,
)
from tests.upstream_proxy import FaultProxy
from tests.webhook_receiver import Receiver

UPSTREAM_SECRET = "sk-upstream-7f3a91c4e2d85b60"
WRONG_SECRET = "sk-wrong-0d9e8c7b6a5f4e3d"
FRONT_KEY = "front-key"
V1, V15 = "grok-imagine-video", "grok-imagine-video-1.5"

UPSTREAM_CATALOG = """
[moderation.text]
blocked_terms = ["zorblax"]   # the upstream's own policy: the front lets this word through
"""

FRONT_CATALOG = """
[models."grok-imagine-video"]
engine = "upstream"
base_url = "{url}/v1"
api_key_env = "UPSTREAM_KEY"
resolutions = ["480p", "720p", "1080p"]   # the upstream refuses 1080p on this model: a 400

[models."grok-imagine-video-1.5"]
engine = "upstream"
base_url = "{url}/v1"
api_key_env = "UPSTREAM_KEY"
markup_percent = 10

[models."wrong-key"]
engine = "upstream"
base_url = "{url}/v1"
api_key_env = "WRONG_KEY"
upstream_model = "grok-imagine-video"
modes = ["text-to-video"]
"""


class Pair:
    def __init__(self, upstream: Server, proxy: FaultProxy, front: Server):
        self.upstream, self.proxy, self.front = upstream, proxy, front
        self.first_job: tuple[str, str] = ("", "")  # (job id, video URL) for the last test
        self.upstream_url = ""  # that job's video URL on the upstream
        self.first_done_at = 0.0

    def client(self) -> httpx.Client:
        return self.front.client(FRONT_KEY)

    def upstream_id(self, job_id: str) -> str | None:
        """The upstream's request id, as the front's worker recorded it on the job."""
        with sqlite3.connect(self.front.data_dir / "reelforge.db") as db:
            (result,) = db.execute(
                "SELECT result FROM reelforge_jobs WHERE id = ?", (job_id,)
            ).fetchone()
        return (json.loads(result or "{}").get("engine") or {}).get("request_id")

    def wait_for_upstream_id(self, job_id: str, timeout: float = 30) -> str:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if upstream_id := self.upstream_id(job_id):
                return upstream_id
            time.sleep(0.05)
        raise AssertionError(f"{job_id} never reached the upstream")

    def settle(self, timeout: float = 180) -> None:
        """Wait until no front job is pending: an injected fault then meets the next job's poll."""
        deadline = time.monotonic() + timeout
        with self.client() as c:
            while c.get("/v1/video-requests", params={"status": "pending"}).json()["data"]:
                assert time.monotonic() < deadline, "front jobs still pending"
                time.sleep(0.1)

    def creates(self) -> int:
        return self.proxy.count("POST", "/v1/videos/")


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    root = tmp_path_factory.mktemp("upstream")
    (root / "upstream.toml").write_text(UPSTREAM_CATALOG)
    upstream = Server(
        root / "up",
        args=[
            *("--api-key", UPSTREAM_SECRET, "--catalog", str(root / "upstream.toml")),
            *("--workers", "2", "--allow-private-urls", "--url-ttl", "40", "--retention", "45"),
        ],
    ).start()
    proxy = FaultProxy(upstream.base_url)
    (root / "front.toml").write_text(FRONT_CATALOG.format(url=proxy.url))
    front = Server(
        root / "front",
        args=[
            *("--api-key", FRONT_KEY, "--catalog", str(root / "front.toml")),
            *("--grpc-port", str(free_port()), "--workers", "2", "--lease-ttl", "3"),
            "--allow-private-urls",
        ],
        env={"UPSTREAM_KEY": UPSTREAM_SECRET, "WRONG_KEY": WRONG_SECRET},
    ).start()
    yield Pair(upstream, proxy, front)
    front.stop()
    proxy.close()
    upstream.stop()


def assert_video(body: dict, seconds: int, size: tuple[int, int] | None = None) -> None:
    assert body["status"] == "done", body
    assert body["video"]["url"].startswith("http://127.0.0.1:")
    video = decode_mp4(download(body["video"]["url"]))
    assert body["video"]["duration"] == seconds
    assert len(video.frames) == seconds * 24
    if size is not None:
        assert (video.width, video.height) == size


# --- every mode, every surface -------------------------------------------------------------------


def test_every_mode_over_rest(pair):
    image, last, middle = (synthetic_image(320, 240, seed=s) for s in (1, 2, 3))
    refs = [np.full((64, 64, 3), c, np.uint8) for c in ((250, 10, 200), (10, 240, 240))]
    clip = data_url(mp4_bytes(2.0), "video/mp4")
    files = {"/first.png": (png_bytes(image), "image/png")}
    with serve_files(files) as site, pair.client() as c:
        before = pair.creates()
        jobs = {
            "t2v": (create(c, {"model": V1, "prompt": "a red ball", "duration": 1}), 1),
            # a URL the upstream can fetch goes as it is; uploads go inline as data URLs
            "i2v-url": (
                create(
                    c,
                    {
                        "model": V1,
                        "prompt": "zoom",
                        "image": {"url": f"{site}/first.png"},
                        "duration": 1,
                        "aspect_ratio": "4:3",
                    },
                ),
                1,
            ),
            "r2v": (
                create(
                    c,
                    {
                        "model": V1,
                        "prompt": "<IMAGE_1> meets <IMAGE_2>",
                        "duration": 1,
                        "reference_images": [{"url": data_url(png_bytes(r))} for r in refs],
                    },
                ),
                1,
            ),
            "pins-voices": (
                create(
                    c,
                    {
                        "model": V15,
                        "prompt": "push in",
                        "duration": 2,
                        "image": {"url": data_url(png_bytes(image))},
                        "last_frame": {"url": data_url(png_bytes(last))},
                        "keyframes": [
                            {"image": {"url": data_url(png_bytes(middle))}, "timestamp_s": 1.0}
                        ],
                        "reference_audios": [{"voice_id": "eve"}],
                    },
                ),
                2,
            ),
            "edit": (
                create(c, {"model": V1, "prompt": "sepia", "video": {"url": clip}}, "edits"),
                2,
            ),
            "extend": (
                create(
                    c,
                    {"model": V1, "prompt": "more", "video": {"url": clip}, "duration": 2},
                    "extensions",
                ),
                4,
            ),
        }
        for name, (job_id, seconds) in jobs.items():
            body = wait_done(c, job_id, timeout=120)
            if name == "t2v":  # the last test checks it outlived the upstream's copy
                upstream_id = pair.upstream_id(job_id)
                with pair.upstream.client(UPSTREAM_SECRET) as up:
                    upstream_url = up.get(f"/v1/videos/{upstream_id}").json()["video"]["url"]
                pair.first_job = (job_id, body["video"]["url"])
                pair.upstream_url = upstream_url
                pair.first_done_at = time.monotonic()
            assert_video(body, seconds, {"i2v-url": (640, 480), "edit": (320, 180)}.get(name))
    assert pair.creates() - before == len(jobs)
    assert pair.proxy.count("POST", "/v1/videos/edits") == 1  # each to its own endpoint
    assert pair.proxy.count("POST", "/v1/videos/extensions") == 1


def test_every_mode_over_grpc_and_the_sdk(pair, tmp_path):
    image = synthetic_image(320, 240, seed=7)
    (tmp_path / "first.png").write_bytes(png_bytes(image))
    (tmp_path / "clip.mp4").write_bytes(mp4_bytes(2.0))
    png = data_url(png_bytes(image))
    clip = data_url(mp4_bytes(2.0), "video/mp4")
    grpc = xai_sdk.Client(
        api_key=FRONT_KEY, api_host=f"127.0.0.1:{pair.front.grpc_port}", use_insecure_channel=True
    )
    sdk = reelforge.Client(base_url=pair.front.base_url, api_key=FRONT_KEY)
    calls = {
        "grpc-t2v": lambda: grpc.video.generate(prompt="a cat", model=V1, duration=1),
        "grpc-i2v": lambda: grpc.video.generate(prompt="zoom", model=V1, image_url=png, duration=1),
        "grpc-r2v": lambda: grpc.video.generate(
            prompt="<IMAGE_1> walks", model=V1, reference_image_urls=[png], duration=1
        ),
        "grpc-pins": lambda: grpc.video.generate(
            prompt="push in",
            model=V15,
            image_url=png,
            last_frame_url=png,
            duration=1,
            reference_audios=[{"voice_id": "ara"}],
        ),
        "grpc-edit": lambda: grpc.video.generate(prompt="sepia", model=V1, video_url=clip),
        "grpc-extend": lambda: grpc.video.extend(
            prompt="more", model=V1, video_url=clip, duration=2
        ),
        "sdk-t2v": lambda: sdk.video.generate("a dog", duration=1),
        "sdk-i2v": lambda: sdk.video.generate(
            "zoom", image_url=str(tmp_path / "first.png"), duration=1
        ),
        "sdk-r2v": lambda: sdk.video.generate(
            "<IMAGE_1> runs", reference_image_urls=[str(tmp_path / "first.png")], duration=1
        ),
        "sdk-edit": lambda: sdk.video.edit("sepia", video_url=str(tmp_path / "clip.mp4")),
        "sdk-extend": lambda: sdk.video.extend(
            "more", video_url=str(tmp_path / "clip.mp4"), duration=2
        ),
    }
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        done = {name: pool.submit(call) for name, call in calls.items()}
        results = {name: future.result(timeout=180) for name, future in done.items()}
    grpc.close()
    expected = {"edit": 2, "extend": 4}
    for name, video in results.items():
        seconds = expected.get(name.split("-")[1], 1)
        assert video.duration == seconds, name
        assert len(decode_mp4(download(video.url)).frames) == seconds * 24, name
    sdk.close()


# --- storage and crash safety --------------------------------------------------------------------


def worker_pids(srv: Server) -> list[int]:
    """The server's worker processes (its spawned children, not the resource tracker)."""
    pids = []
    for task in Path(f"/proc/{srv.proc.pid}/task").iterdir():
        for pid in (task / "children").read_text().split():
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"spawn_main" in cmd and b"resource_tracker" not in cmd:
                pids.append(int(pid))
    return pids


def test_a_worker_killed_mid_poll_resumes_and_never_creates_twice(pair):
    with pair.client() as c:
        before = pair.creates()
        job_id = create(c, {"model": V1, "prompt": "a long walk", "duration": 10})
        upstream_id = pair.wait_for_upstream_id(job_id)
        deadline = time.monotonic() + 10
        while not any(s.method == "GET" for s in pair.proxy.requests_for(upstream_id)):
            assert time.monotonic() < deadline
            time.sleep(0.02)
        # Every worker dies: the one polling for the job, and the idle one (whose death must
        # not wedge the pool's wake-ups for the jobs after it).
        for pid in worker_pids(pair.front):
            os.kill(pid, signal.SIGKILL)
        body = wait_done(c, job_id, timeout=180)  # (replacement workers start slowly under load)
    assert_video(body, 10)
    assert pair.creates() - before == 1  # resumed polling the recorded id: no second spend
    assert pair.upstream_id(job_id) == upstream_id


def test_rate_limits_and_5xx_are_waited_out(pair):
    pair.settle()
    pair.proxy.fail_next("GET", "/v1/videos/", 429, {"Retry-After": "2"})
    pair.proxy.fail_next("GET", "/v1/videos/", 503)
    with pair.client() as c:
        job_id = create(c, {"model": V1, "prompt": "a red ball", "duration": 1})
        body = wait_done(c, job_id, timeout=60)
    assert_video(body, 1)
    polls = [s for s in pair.proxy.requests_for(pair.upstream_id(job_id)) if s.method == "GET"]
    assert [s.status for s in polls[:2]] == [429, 503]
    assert polls[1].at - polls[0].at >= 2.0  # Retry-After honoured
    assert polls[2].at - polls[1].at >= 0.4  # then a backoff before trying again


# --- outcomes ------------------------------------------------------------------------------------


def failed(c: httpx.Client, body: dict) -> dict:
    result = wait_done(c, create(c, body), timeout=60)
    assert result["status"] == "failed", result
    return result["error"]


def test_upstream_failure_moderation_expiry_and_refusal(pair):
    pair.settle()
    with pair.client() as c:
        pair.proxy.answer_next_poll(
            {"status": "failed", "error": {"code": "service_unavailable", "message": "overloaded"}}
        )
        assert failed(c, {"model": V1, "prompt": "a cat", "duration": 1}) == {
            "code": "service_unavailable",
            "message": "overloaded",
        }
        pair.proxy.answer_next_poll({"status": "expired"})
        error = failed(c, {"model": V1, "prompt": "a cat", "duration": 1})
        assert error["code"] == "upstream_expired"
        # a 400 on create fails the job (it was already accepted) with the contract's code
        error = failed(c, {"model": V1, "prompt": "a cat", "duration": 1, "resolution": "1080p"})
        assert error["code"] == "invalid_argument"
        assert error["message"].startswith("the upstream refused the request (HTTP 400): ")
        assert "resolution" in error["message"]
        # the upstream's moderation blocks: done, no video, as the contract shows it
        blocked = wait_done(c, create(c, {"model": V1, "prompt": "a zorblax", "duration": 1}))
        assert blocked["status"] == "done"
        assert blocked["video"]["url"] == "" and blocked["video"]["respect_moderation"] is False


# --- job control and usage -----------------------------------------------------------------------


def test_webhooks_events_cancel_and_list(pair):
    receiver = Receiver()
    try:
        with pair.client() as c:
            job_id = create(
                c,
                {
                    "model": V1,
                    "prompt": "a cat",
                    "duration": 1,
                    "webhook_url": f"{receiver.url}/ok",
                },
            )
            got = events(c, job_id)
            assert got[-1][0] == "done" and got[-1][1]["video"]["duration"] == 1
            deadline = time.monotonic() + 20
            while not receiver.received:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            hook = json.loads(receiver.received[0].body)
            assert hook["request_id"] == job_id and hook["status"] == "done"

            long_job = create(
                c, {"model": V1, "prompt": "a long ride", "duration": 15, "resolution": "720p"}
            )
            upstream_id = pair.wait_for_upstream_id(long_job)
            r = c.post(f"/v1/videos/{long_job}/cancel")
            assert r.status_code == 200 and r.json()["error"]["code"] == "cancelled"
            time.sleep(3)  # the worker notices within a poll, then stops polling
            seen = len(pair.proxy.requests_for(upstream_id))
            time.sleep(3)
            assert len(pair.proxy.requests_for(upstream_id)) == seen
            assert c.get(f"/v1/videos/{long_job}").json()["error"]["code"] == "cancelled"

            listed = [
                j["request_id"]
                for j in c.get("/v1/video-requests", params={"limit": 5}).json()["data"]
            ]
            assert listed[:2] == [long_job, job_id]
    finally:
        receiver.close()


def test_usage_is_the_upstreams_cost_plus_markup(pair):
    with pair.client() as c, pair.upstream.client(UPSTREAM_SECRET) as up:
        for model, markup in ((V1, 1.0), (V15, 1.1)):
            job_id = create(c, {"model": model, "prompt": "a cat", "duration": 2})
            front = wait_done(c, job_id)
            upstream = up.get(f"/v1/videos/{pair.upstream_id(job_id)}").json()
            upstream_cost = upstream["usage"]["cost_in_usd_ticks"]
            assert upstream_cost > 0
            assert front["usage"]["cost_in_usd_ticks"] == round(upstream_cost * markup)


def test_no_secret_leaks(pair):
    with pair.client() as c:
        error = failed(c, {"model": "wrong-key", "prompt": "a cat", "duration": 1})
    assert error["code"] == "permission_denied"
    assert "HTTP 401" in error["message"]
    places = [
        pair.front.log(),
        (pair.front.data_dir / "reelforge.db").read_bytes().decode(errors="replace"),
        str(error),
    ]
    for secret in (UPSTREAM_SECRET, WRONG_SECRET):
        for text in places:
            assert secret not in text


def test_the_video_outlives_the_upstreams_copy(pair):
    """The first test's text-to-video job, well past the upstream's URL TTL (40 s) and retention
    (45 s): the upstream deleted its copy; the front's URL still serves the stored video."""
    job_id, front_url = pair.first_job
    time.sleep(max(0.0, pair.first_done_at + 46 - time.monotonic()))  # usually long past
    with pair.upstream.client(UPSTREAM_SECRET) as up:
        upstream_id = pair.upstream_id(job_id)
        assert up.get(f"/v1/videos/{upstream_id}").json()["status"] == "expired"
    copies = pair.upstream.data_dir / "files" / "videos"
    deadline = time.monotonic() + 10
    while list(copies.glob(f"{upstream_id}*")):  # the upstream's janitor deletes it
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert httpx.get(pair.upstream_url).status_code in (403, 404, 410)
    with pair.client() as c:
        body = c.get(f"/v1/videos/{job_id}").json()
    assert body["video"]["url"] == front_url
    assert_video(body, 1)


# --- start-up ------------------------------------------------------------------------------------


def serve_exits(tmp_path: Path, catalog: str, *extra: str, env: dict | None = None) -> str:
    (tmp_path / "c.toml").write_text(catalog)
    cmd = [
        sys.executable,
        "-m",
        "reelforge.cli",
        "serve",
        "--data-dir",
        str(tmp_path / "d"),
        "--port",
        str(free_port()),
        "--grpc-port",
        "0",
        "--catalog",
        str(tmp_path / "c.toml"),
        *extra,
    ]
    done = subprocess.run(
        cmd, capture_output=True, text=True, timeout=60, env={**os.environ, **(env or {})}
    )
    assert done.returncode != 0
    return done.stderr


def test_start_up_errors(tmp_path):
    catalog = FRONT_CATALOG.format(url=f"http://127.0.0.1:{free_port()}")
    err = serve_exits(tmp_path, catalog, env={"UPSTREAM_KEY": "", "WRONG_KEY": "x"})
    assert "models.grok-imagine-video.api_key_env: environment variable UPSTREAM_KEY" in err
    err = serve_exits(
        tmp_path, catalog, "--check-upstream", env={"UPSTREAM_KEY": "k", "WRONG_KEY": "x"}
    )
    assert "base_url: cannot reach http://127.0.0.1:" in err
