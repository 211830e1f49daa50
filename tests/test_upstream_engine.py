"""The upstream engine's pure parts: catalog options, request bodies, poll pacing, Retry-After."""

from __future__ import annotations

import base64
import dataclasses
import re

import httpx
import pytest

from reelforge.core.catalog import Catalog, CatalogError
from reelforge.core.errors import JobError
from reelforge.core.spec import InputRef, Keyframe, VideoRequest, build_spec
from reelforge.engines import check_catalog
from reelforge.engines.upstream.client import UpstreamClient, retry_after
from reelforge.engines.upstream.engine import MAX_POLL_S, MIN_POLL_S, marked_up, next_interval
from reelforge.engines.upstream.options import parse
from reelforge.engines.upstream.wire import request_body
from tests.helpers import png_bytes, synthetic_image


def upstream_model(monkeypatch, **options):
    monkeypatch.setenv("UP_KEY", "sk-secret")
    base = Catalog.load().get("grok-imagine-video-1.5")
    raw = {"base_url": "https://api.x.ai/v1/", "api_key_env": "UP_KEY", **options}
    return dataclasses.replace(base, engine="upstream", options=raw)


def test_options_and_their_errors(monkeypatch):
    model = upstream_model(monkeypatch, markup_percent=12.5)
    options = parse(model)
    assert options.base_url == "https://api.x.ai/v1"
    assert options.upstream_model == "grok-imagine-video-1.5"  # default: the model's own id
    assert marked_up(1_000_000_000, options) == 1_125_000_000
    bad = [
        ({"base_url": "ftp://x"}, "base_url: expected an http(s) URL"),
        ({"api_key_env": ""}, "api_key_env: required"),
        ({"api_key_env": "NOT_SET_ANYWHERE"}, "environment variable NOT_SET_ANYWHERE is empty"),
        ({"markup_percent": -1}, "markup_percent: expected a number >= 0"),
        ({"apikey": "x"}, "unknown key(s) ['apikey']"),
    ]
    for options, message in bad:
        with pytest.raises(CatalogError, match=re.escape(message)):
            check_catalog(Catalog([upstream_model(monkeypatch, **options)]))
    # the secret never appears in an error
    with pytest.raises(CatalogError) as caught:
        parse(upstream_model(monkeypatch, base_url="nope"))
    assert "sk-secret" not in str(caught.value)


def test_request_bodies_in_the_contracts_shapes(monkeypatch):
    catalog = Catalog.load()
    png = png_bytes(synthetic_image(64, 48))
    stored = InputRef(blob="inputs/job/0", field="image.url")
    request = VideoRequest(
        model="grok-imagine-video-1.5",
        prompt="push in",
        duration=2,
        image=stored,
        last_frame=InputRef(url="https://example.com/last.png", field="last_frame.url"),
        keyframes=[Keyframe(stored, 1.0)],
        voices=["Eve"],
        generate_audio=False,
    )
    spec = build_spec("generation", request, catalog)
    endpoint, body = request_body(spec, "up-model", lambda ref: png, 1 << 20)
    inline = "data:image/png;base64," + base64.b64encode(png).decode()
    assert endpoint == "generations"
    assert body == {
        "model": "up-model",
        "prompt": "push in",
        "duration": 2,
        "resolution": "480p",
        "image": {"url": inline},
        "last_frame": {"url": "https://example.com/last.png"},  # fetched by the upstream
        "keyframes": [{"image": {"url": inline}, "timestamp_s": 1.0}],
        "reference_audios": [{"voice_id": "eve"}],
        "generate_audio": False,
    }
    with pytest.raises(JobError, match="over the upstream's 0 MiB request limit"):
        request_body(spec, "up-model", lambda ref: png, 100)
    video = InputRef(blob="inputs/job/0", field="video.url")
    edit = build_spec(
        "generation", VideoRequest(prompt="sepia", video=video, model="grok-imagine-video"), catalog
    )
    assert request_body(edit, "m", lambda ref: b"mp4", 1 << 20)[0] == "edits"  # gRPC's edit


def test_poll_pacing_follows_the_upstreams_progress():
    assert next_interval(0, 0.0, 0) == MIN_POLL_S
    assert next_interval(0, 5.0, 20) == MAX_POLL_S  # no progress: grows to the cap
    assert next_interval(50, 10.0, 3) == MAX_POLL_S  # 10 s left: far away
    assert next_interval(95, 9.5, 3) == pytest.approx(0.25)  # 0.5 s left: poll every 0.25 s


def test_retry_after_seconds_and_dates():
    def answer(value: str) -> httpx.Response:
        return httpx.Response(429, headers={"Retry-After": value})

    assert retry_after(answer("3"), 0.5) == 3.0
    assert retry_after(answer("99999"), 0.5) == 120.0
    assert retry_after(answer("Wed, 21 Oct 2015 07:28:00 GMT"), 0.5) == 0.0  # in the past
    assert retry_after(answer("soon"), 0.5) == 0.5


def test_retries_keep_headers_wait_out_429s_and_give_up_on_5xx():
    seen: list[httpx.Request] = []
    answers = [
        httpx.Response(429, headers={"Retry-After": "7"}),
        httpx.Response(503),
        httpx.Response(200, json={"request_id": "up-1"}),
    ]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return answers.pop(0)

    slept: list[float] = []
    http = httpx.Client(transport=httpx.MockTransport(handler))
    client = UpstreamClient(http, "http://up/v1", "sk-k", max_attempts=2, sleep=slept.append)
    assert client.create("generations", {"prompt": "a cat"}, "job-1") == "up-1"
    assert slept == [7.0, 0.5]  # Retry-After as told, then the first backoff
    assert [r.headers["Idempotency-Key"] for r in seen] == ["job-1"] * 3
    assert all(r.headers["Authorization"] == "Bearer sk-k" for r in seen)

    answers[:] = [httpx.Response(502), httpx.Response(500)]
    with pytest.raises(JobError) as caught:
        client.poll("up-1", None)
    assert caught.value.code == "service_unavailable"
    assert "failed 2 attempts in a row (HTTP 500)" in caught.value.message

    answers[:] = [httpx.Response(400, json={"code": "invalid-argument", "error": "bad size"})]
    with pytest.raises(JobError) as caught:
        client.create("generations", {}, "job-2")
    assert (caught.value.code, caught.value.message) == (
        "invalid_argument",
        "the upstream refused the request (HTTP 400): bad size",
    )
