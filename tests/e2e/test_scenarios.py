"""Scenarios (`serve --scenarios`) through a real server, with each surface's official client:
REST with httpx and the AI SDK (Node), gRPC with xai-sdk, the OpenAI surface with openai. Every
scenario must look the same on each surface, in that surface's own shapes; and the request
journal records what the clients sent."""

from __future__ import annotations

import time
from datetime import timedelta

import grpc
import httpx
import openai
import pytest
import xai_sdk
from xai_sdk.proto import deferred_pb2
from xai_sdk.video import VideoGenerationError

from tests.e2e.test_ai_sdk import node, run_sdk  # noqa: F401 (the `node` fixture)
from tests.helpers import KEY, Server, create, data_url, free_port, png_bytes, synthetic_image
from tests.helpers import wait_done as rest_wait

SCENARIO = "Reelforge-Scenario"
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")  # openai: Sora's sunset
ONE_SECOND = {"prompt": "a red ball", "duration": 1, "resolution": "480p"}


@pytest.fixture(scope="module")
def srv(tmp_path_factory) -> Server:
    """Scenarios on, --fast, gRPC on; moderation off (the `moderate` scenario needs none)."""
    data = tmp_path_factory.mktemp("scenarios") / "data"
    catalog = data.parent / "catalog.toml"
    catalog.write_text("[moderation]\nenabled = false\n")
    args = ["--scenarios", "--fast", "--workers", "2", "--grpc-port", str(free_port())]
    server = Server(data, args=[*args, "--catalog", str(catalog)]).start()
    yield server
    server.stop()


@pytest.fixture
def http(srv) -> httpx.Client:
    with srv.client() as client:
        yield client


def xai(srv, scenario: str | None = None) -> xai_sdk.Client:
    metadata = (("reelforge-scenario", scenario),) if scenario else None
    return xai_sdk.Client(
        api_key=KEY,
        api_host=f"127.0.0.1:{srv.grpc_port}",
        use_insecure_channel=True,
        metadata=metadata,
    )


def oai(srv, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{srv.base_url}/v1", api_key=KEY, **kw)


def rest_create(http, scenario: str, body: dict | None = None) -> httpx.Response:
    return http.post(
        "/v1/videos/generations", json=body or ONE_SECOND, headers={SCENARIO: scenario}
    )


def sora(client: openai.OpenAI, scenario: str, **kw):
    return client.videos.create(
        prompt="a red ball", seconds="4", size="1280x720", extra_headers={SCENARIO: scenario}, **kw
    )


def sora_wait(client: openai.OpenAI, video_id: str, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while (video := client.videos.retrieve(video_id)).status in ("queued", "in_progress"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    return video


def journal(srv, since: int = 0) -> list[dict]:
    return httpx.get(f"{srv.base_url}/_reelforge/requests", params={"since": since}).json()["data"]


# --- off by default ---------------------------------------------------------------------------


def test_without_scenarios_the_header_is_ignored(server):
    """The shared server runs without --scenarios: no failure on demand, no journal."""
    with server.client() as http:
        for value in ("fail", "no-such-scenario"):
            r = http.post(
                "/v1/videos/generations",
                json={**ONE_SECOND, "reelforge_scenario": value},
                headers={SCENARIO: value},
            )
            assert r.status_code == 200, r.text
        assert rest_wait(http, r.json()["request_id"])["status"] == "done"
    assert httpx.get(f"{server.base_url}/_reelforge/requests").status_code == 404


def test_bad_scenarios_are_refused_naming_where(srv, http):
    r = rest_create(http, "explode")
    assert r.status_code == 400 and r.json()["error"].startswith("Reelforge-Scenario: unknown")
    r = http.post("/v1/videos/generations", json={**ONE_SECOND, "reelforge_scenario": "slow; x=1"})
    assert r.status_code == 400 and "reelforge_scenario: slow: unknown parameter" in r.text
    with pytest.raises(openai.BadRequestError) as caught:
        sora(oai(srv), "reject; status=418")
    assert caught.value.param == "Reelforge-Scenario" and "429, 500, 503" in caught.value.message
    with pytest.raises(grpc.RpcError) as caught:
        xai(srv, "expire; after=soon").video.start(prompt="x", model="grok-imagine-video")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "reelforge-scenario: expire: after must be a number" in caught.value.details()


# --- fail -------------------------------------------------------------------------------------


def test_fail_on_every_surface(srv, http, node, tmp_path):  # noqa: F811
    scenario = "fail; code=service_unavailable; message=the GPU caught fire"
    job = rest_create(http, scenario).json()["request_id"]
    assert rest_wait(http, job) == {
        "status": "failed",
        "model": "grok-imagine-video",
        "error": {"code": "service_unavailable", "message": "the GPU caught fire"},
    }
    with pytest.raises(VideoGenerationError) as caught:
        xai(srv, scenario).video.generate(prompt="a cat", model="grok-imagine-video", duration=1)
    assert (caught.value.code, caught.value.message) == (
        "service_unavailable",
        "the GPU caught fire",
    )
    video = sora_wait(oai(srv), sora(oai(srv), scenario).id)
    assert video.status == "failed"
    assert (video.error.code, video.error.message) == ("service_unavailable", "the GPU caught fire")
    result = run_sdk(
        node, srv, tmp_path, {**ONE_SECOND, "headers": {SCENARIO: scenario}}, expect_ok=False
    )
    assert "the GPU caught fire" in result["error"]["message"]


def test_the_body_field_for_clients_without_headers(srv, http):
    r = http.post("/v1/videos/generations", json={**ONE_SECOND, "reelforge_scenario": "fail"})
    assert rest_wait(http, r.json()["request_id"])["error"]["code"] == "internal_error"
    client = oai(srv)
    video = client.videos.create(prompt="a cat", extra_body={"reelforge_scenario": "fail"})
    assert sora_wait(client, video.id).error.code == "internal_error"


# --- moderate ---------------------------------------------------------------------------------


@pytest.mark.parametrize("at", ["input", "output"])
def test_moderate_on_every_surface(srv, http, node, tmp_path, at):  # noqa: F811
    scenario = f"moderate; at={at}"
    body = rest_wait(http, rest_create(http, scenario).json()["request_id"])
    assert body["status"] == "done"
    assert body["video"] == {"url": "", "duration": 1, "respect_moderation": False}
    video = xai(srv, scenario).video.generate(prompt="a", model="grok-imagine-video", duration=1)
    assert video.respect_moderation is False
    with pytest.raises(Exception, match="moderation"):
        _ = video.url
    client = oai(srv)
    video = sora_wait(client, sora(client, scenario).id)
    assert video.status == "failed" and video.error.code == "moderation_blocked"
    with pytest.raises(openai.PermissionDeniedError):
        client.videos.download_content(video.id)
    result = run_sdk(
        node, srv, tmp_path, {**ONE_SECOND, "headers": {SCENARIO: scenario}}, expect_ok=False
    )
    assert "content policy" in result["error"]["message"]
    job = rest_create(http, scenario, {**ONE_SECOND, "prompt": "kept?"}).json()["request_id"]
    rest_wait(http, job)  # rendered (at output) or not (at input): no file is kept either way
    assert not list((srv.data_dir / "files" / "videos").glob(f"{job}*"))


# --- expire -----------------------------------------------------------------------------------


def test_expire_on_every_surface(srv, http):
    scenario = "expire; after=1.5"
    job = rest_create(http, scenario).json()["request_id"]
    done = rest_wait(http, job)
    assert done["status"] == "done" and done["video"]["url"]
    client = xai(srv, scenario)
    started = client.video.start(prompt="a cat", model="grok-imagine-video", duration=1)
    sdk_done = client.video.generate(prompt="a dog", model="grok-imagine-video", duration=1)
    assert sdk_done.url
    api = oai(srv)
    video = sora_wait(api, sora(api, scenario).id)
    assert video.status == "completed" and video.expires_at - video.completed_at in (1, 2)
    time.sleep(2)
    assert http.get(f"/v1/videos/{job}").json() == {"status": "expired", "model": done["model"]}
    polled = client.video.get(started.request_id)
    assert polled.status == deferred_pb2.DeferredStatus.EXPIRED
    with pytest.raises(openai.NotFoundError) as caught:
        api.videos.download_content(video.id)
    assert caught.value.code == "expired"


# --- slow and stall ---------------------------------------------------------------------------


def test_slow_paces_progress(srv, http):
    started = time.monotonic()
    job = rest_create(http, "slow; seconds=2").json()["request_id"]
    seen = []
    while (r := http.get(f"/v1/videos/{job}")).status_code == 202:
        seen.append(r.json()["progress"])
        time.sleep(0.1)
    assert time.monotonic() - started >= 2
    assert r.json()["status"] == "done"
    assert len({p for p in seen if 0 < p < 100}) >= 3 and seen == sorted(seen)
    client = oai(srv)
    video = sora(client, "slow; seconds=1.5")
    progress = []
    while (video := client.videos.retrieve(video.id)).status != "completed":
        progress.append(video.progress)
        time.sleep(0.1)
    assert any(0 < p < 100 for p in progress)


def test_stall_until_cancelled(srv, http):
    job = rest_create(http, "stall").json()["request_id"]
    client = xai(srv, "stall")
    with pytest.raises(TimeoutError):  # the SDK's own timeout, on a job that never finishes
        client.video.generate(
            prompt="a cat",
            model="grok-imagine-video",
            duration=1,
            timeout=timedelta(seconds=1.5),
            interval=timedelta(seconds=0.1),
        )
    api = oai(srv)
    video = sora(api, "stall")
    time.sleep(0.5)
    assert http.get(f"/v1/videos/{job}").json()["status"] == "pending"
    assert api.videos.retrieve(video.id).status in ("queued", "in_progress")
    ordinary = rest_wait(http, create(http, ONE_SECOND))  # stalled jobs hold no worker
    assert ordinary["status"] == "done"
    cancelled = http.post(f"/v1/videos/{job}/cancel").json()
    assert cancelled["status"] == "failed" and cancelled["error"]["code"] == "cancelled"
    assert api.videos.delete(video.id).deleted


# --- reject -----------------------------------------------------------------------------------


def test_reject_then_accept_per_idempotency_key(srv, http):
    scenario = "reject; status=429; times=2; retry_after=0.5"
    headers = {SCENARIO: scenario, "Idempotency-Key": "order-17"}
    answers = [http.post("/v1/videos/generations", json=ONE_SECOND, headers=headers) for _ in "abc"]
    assert [r.status_code for r in answers] == [429, 429, 200]
    assert answers[0].headers["retry-after"] == "0.5"
    assert answers[0].json()["code"] == "resource-exhausted"
    again = http.post("/v1/videos/generations", json=ONE_SECOND, headers=headers)
    assert again.json() == answers[2].json()  # the key now replays the job it made
    for status in (500, 503):
        body = {**ONE_SECOND, "prompt": f"status {status}"}
        r = rest_create(http, f"reject; status={status}; times=1", body)
        assert r.status_code == status
        assert rest_create(http, f"reject; status={status}; times=1", body).status_code == 200


def test_reject_through_the_sdks_retries(srv, node, tmp_path):  # noqa: F811
    # xai-sdk's channel retries UNAVAILABLE (503) itself, up to 5 attempts
    client = xai(srv, "reject; status=503; times=3")
    video = client.video.generate(prompt="retried", model="grok-imagine-video", duration=1)
    assert video.duration == 1
    # ... and leaves RESOURCE_EXHAUSTED (429) to the app, with Retry-After in the trailers
    with pytest.raises(grpc.RpcError) as caught:
        xai(srv, "reject; times=1; retry_after=7").video.start(
            prompt="x", model="grok-imagine-video"
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert ("retry-after", "7") in tuple(caught.value.trailing_metadata())
    # openai retries 429 and this 5xx (x-should-retry: true: nothing was created)
    api = oai(srv, max_retries=2)
    for status in (429, 503):
        video = sora(
            api, f"reject; status={status}; times=2; retry_after=0.1", extra_body={"seed": status}
        )
        assert sora_wait(api, video.id).status == "completed"
    with pytest.raises(openai.RateLimitError):
        sora(oai(srv, max_retries=0), "reject; times=1", extra_body={"seed": 1})
    # the AI SDK retries a 429 when told to
    job = {**ONE_SECOND, "headers": {SCENARIO: "reject; times=2; retry_after=0.1"}}
    assert run_sdk(node, srv, tmp_path, {**job, "maxRetries": 2})["video"].width == 848
    refused = run_sdk(
        node, srv, tmp_path, {**job, "prompt": "no retries", "maxRetries": 0}, expect_ok=False
    )
    assert refused["error"]["statusCode"] == 429


# --- flaky-poll -------------------------------------------------------------------------------


def test_flaky_poll_on_every_surface(srv, http, node, tmp_path):  # noqa: F811
    job = rest_create(http, "flaky-poll; every=3").json()["request_id"]
    codes = [http.get(f"/v1/videos/{job}").status_code for _ in range(6)]
    assert codes[2] == codes[5] == 503 and 503 not in codes[:2] + codes[3:5]
    assert http.get(f"/v1/videos/{job}/events").status_code == 200  # only polls are counted
    # both SDKs retry a 503 poll on their own and finish
    video = xai(srv, "flaky-poll; every=2").video.generate(
        prompt="a cat", model="grok-imagine-video", duration=1
    )
    assert video.url
    api = oai(srv)
    assert (
        api.videos.create_and_poll(
            prompt="a cat", extra_headers={SCENARIO: "flaky-poll; every=2"}, poll_interval_ms=100
        ).status
        == "completed"
    )
    with pytest.raises(openai.InternalServerError):
        flaky = sora(api, "flaky-poll; every=1")
        oai(srv, max_retries=0).videos.retrieve(flaky.id)
    # the AI SDK does not retry a poll: the 503 reaches the app
    result = run_sdk(
        node,
        srv,
        tmp_path,
        {**ONE_SECOND, "headers": {SCENARIO: "flaky-poll; every=1"}},
        expect_ok=False,
    )
    assert result["error"]["statusCode"] == 503


# --- the journal ------------------------------------------------------------------------------


def test_journal_records_what_clients_sent(srv, http):
    httpx.delete(f"{srv.base_url}/_reelforge/requests")
    image = data_url(png_bytes(synthetic_image(64, 64)))
    job = create(http, {**ONE_SECOND, "image": {"url": image}})
    http.get(f"/v1/videos/{job}")
    xai(srv).video.start(prompt="over grpc", model="grok-imagine-video", duration=1)
    oai(srv).videos.create(
        prompt="a form",
        input_reference=("cat.png", png_bytes(synthetic_image(64, 64)), "image/png"),
    )
    entries = journal(srv)
    assert [(e["surface"], e["method"], e["path"]) for e in entries] == [
        ("rest", "POST", "/v1/videos/generations"),
        ("rest", "GET", f"/v1/videos/{job}"),
        ("grpc", "POST", "/xai_api.Video/GenerateVideo"),
        ("rest", "POST", "/v1/videos"),
    ]
    first = entries[0]
    assert first["status"] == 200 and first["job_id"] == job and first["key"] == "...-key"
    assert "authorization" not in first["headers"]
    url = first["body"]["image"]["url"]
    assert url.startswith("data:image/png;base64,") and url.endswith(f"({len(image)} chars)")
    assert entries[1]["status"] == 202 and entries[1]["job_id"] == job
    assert entries[2]["status"] == "OK" and entries[2]["body"]["prompt"] == "over grpc"
    assert "authorization" not in entries[2]["headers"]
    form = entries[3]["body"]
    assert form["prompt"] == "a form" and form["input_reference"]["filename"] == "cat.png"
    assert entries[3]["job_id"].startswith("video_")
    assert [e["id"] for e in journal(srv, since=entries[1]["id"])] == [e["id"] for e in entries[2:]]
    assert httpx.delete(f"{srv.base_url}/_reelforge/requests").status_code == 200
    assert journal(srv) == []
