"""Endpoints, status codes and error shapes over real HTTP."""

from __future__ import annotations

import httpx
import pytest

from tests.helpers import KEY, create, data_url, mp4_bytes, png_bytes, synthetic_image, wait_done

TINY_PNG = data_url(png_bytes(synthetic_image(32, 32)))


def assert_error(r: httpx.Response, status: int, *words: str) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert set(body) == {"code", "error"} and isinstance(body["code"], str)
    for word in words:
        assert word in body["error"], body


def test_health_and_openapi(server):
    assert httpx.get(f"{server.base_url}/health").status_code == 200
    spec = httpx.get(f"{server.base_url}/openapi.json").json()
    for path in (
        "/v1/videos/generations",
        "/v1/videos/edits",
        "/v1/videos/extensions",
        "/v1/videos/{request_id}",
        "/v1/video-generation-models",
        "/v1/video-generation-models/{model_id}",
    ):
        assert path in spec["paths"]


def test_models(server):
    with server.client() as c:
        models = c.get("/v1/video-generation-models").json()["models"]
        ids = {m["id"] for m in models}
        assert {"grok-imagine-video", "grok-imagine-video-1.5"} <= ids
        one = c.get("/v1/video-generation-models/grok-imagine-video-1.5")
        assert one.status_code == 200 and "1080p" in one.json()["resolutions"]
        assert (
            c.get("/v1/video-generation-models/grok-imagine-video-1.5-preview").json()["id"]
            == "grok-imagine-video-1.5"
        )
        assert_error(c.get("/v1/video-generation-models/nope"), 404, "nope")


def test_create_returns_request_id_and_pending_is_202(server):
    with server.client() as c:
        r = c.post(
            "/v1/videos/generations", json={"prompt": "a cat", "duration": 1, "mode": "ignored"}
        )
        assert r.status_code == 200 and set(r.json()) == {"request_id"}
        poll = c.get(f"/v1/videos/{r.json()['request_id']}")
        assert poll.status_code in (200, 202)
        if poll.status_code == 202:
            assert poll.json()["status"] == "pending" and 0 <= poll.json()["progress"] < 100


def test_unknown_request_id_is_404(server):
    with server.client() as c:
        assert_error(c.get("/v1/videos/00000000-0000-0000-0000-000000000000"), 404)


@pytest.mark.parametrize(
    "body,status,words",
    [
        ({"prompt": "x", "duration": 16}, 400, ["duration", "1", "15"]),
        ({"prompt": "x", "duration": "ten"}, 400, ["duration"]),
        ({"prompt": "x", "aspect_ratio": "5:4"}, 400, ["aspect_ratio", "16:9"]),
        ({"prompt": "x", "resolution": "1080p"}, 400, ["resolution", "480p", "720p"]),
        ({"prompt": "x", "model": "nope"}, 404, ["nope", "grok-imagine-video"]),
        ({"prompt": ""}, 400, ["prompt"]),
        (
            {"prompt": "x", "reference_images": [{"url": TINY_PNG}] * 8},
            400,
            ["reference_images", "7"],
        ),
        (
            {"prompt": "x", "reference_images": [{"url": TINY_PNG}], "duration": 11},
            400,
            ["duration", "10"],
        ),
        (
            {"prompt": "x", "image": {"url": TINY_PNG}, "reference_images": [{"url": TINY_PNG}]},
            400,
            ["image"],
        ),
        ({"prompt": "x", "last_frame": {"url": TINY_PNG}}, 400, ["last_frame"]),
        ({"prompt": "x", "image": {"url": "data:image/png;base64,!!!"}}, 400, ["image.url"]),
        ({"prompt": "x", "image": {"url": data_url(b"GIF89a....")}}, 400, ["image.url", "PNG"]),
        ({"prompt": "x", "image": {"url": "file:///etc/passwd"}}, 400, ["image.url"]),
        ({"prompt": "x", "image": {}}, 400, ["image"]),
        ({"prompt": "x", "image": {"file_id": "file_1"}}, 404, ["image.file_id", "file_1"]),
        ({"prompt": 5}, 422, ["prompt"]),
        ({"prompt": "x", "generate_audio": "yes"}, 422, ["generate_audio"]),
        (
            {
                "prompt": "x",
                "model": "grok-imagine-video-1.5",
                "reference_audios": [{"voice_id": "zed"}],
            },
            400,
            ["zed", "eve"],
        ),
    ],
)
def test_generation_validation(server, body, status, words):
    with server.client() as c:
        assert_error(c.post("/v1/videos/generations", json=body), status, *words)


def test_malformed_json_is_422(server):
    with server.client() as c:
        r = c.post(
            "/v1/videos/generations",
            content=b"{not json",
            headers={"content-type": "application/json"},
        )
        assert_error(r, 422)


def test_edit_and_extension_validation(server):
    video = data_url(mp4_bytes(1.0), "video/mp4")
    long_video = data_url(mp4_bytes(9.0, 64, 64), "video/mp4")
    with server.client() as c:
        assert_error(
            c.post("/v1/videos/edits", json={"prompt": "x", "video_url": video}), 422, "video"
        )
        assert_error(
            c.post(
                "/v1/videos/edits", json={"prompt": "x", "video": {"url": video}, "duration": 3}
            ),
            400,
            "duration",
        )
        assert_error(
            c.post("/v1/videos/edits", json={"prompt": "x", "video": {"url": long_video}}),
            400,
            "8.7",
        )
        assert_error(
            c.post(
                "/v1/videos/edits",
                json={"prompt": "x", "video": {"url": data_url(b"not a video", "video/mp4")}},
            ),
            400,
            "video.url",
        )
        assert_error(
            c.post("/v1/videos/extensions", json={"prompt": "x", "video": {"url": video}}),
            400,
            "2-15",
        )
        assert_error(
            c.post(
                "/v1/videos/extensions",
                json={"prompt": "x", "video": {"url": video}, "resolution": "720p"},
            ),
            400,
            "resolution",
        )


def test_body_size_cap(make_server):
    srv = make_server()
    with srv.client() as c:
        r = c.post(
            "/v1/videos/generations",
            content=b"x" * (101 * 1024 * 1024),
            headers={"content-type": "application/json"},
        )
    assert_error(r, 413)


def test_auth_required(server):
    assert_error(httpx.get(f"{server.base_url}/v1/video-generation-models"), 401)
    assert_error(
        httpx.post(
            f"{server.base_url}/v1/videos/generations",
            json={"prompt": "x"},
            headers={"Authorization": "Basic abc"},
        ),
        401,
    )


def test_jobs_are_isolated_per_key(server):
    with server.client("alice") as alice, server.client("bob") as bob:
        request_id = create(alice, {"prompt": "private", "duration": 1})
        assert alice.get(f"/v1/videos/{request_id}").status_code in (200, 202)
        assert_error(bob.get(f"/v1/videos/{request_id}"), 404)


def test_configured_keys(make_server, monkeypatch):
    monkeypatch.setenv("REELFORGE_API_KEYS", "env-key-1, env-key-2")
    srv = make_server("--api-key", KEY)
    for key in (KEY, "env-key-2"):
        with srv.client(key) as c:
            assert c.get("/v1/video-generation-models").status_code == 200
    with srv.client("wrong") as c:
        assert_error(c.get("/v1/video-generation-models"), 401)


def test_refuses_open_non_loopback_bind(tmp_path):
    import subprocess
    import sys

    cmd = [
        sys.executable,
        "-m",
        "reelforge.cli",
        "serve",
        "--host",
        "0.0.0.0",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path),
        "--workers",
        "0",
    ]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and "--insecure-open" in r.stderr


def test_catalog_file_adds_and_overrides_models(make_server, tmp_path):
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        '[models."house-model"]\nengine = "preview"\naliases = ["fast"]\n'
        'modes = ["text-to-video"]\nresolutions = ["480p"]\n'
        '[models."house-model".durations]\ntext-to-video = [1, 3]\n'
        '[models."house-model".prices]\nper_second = { "480p" = 0.001 }\n'
        '[models."grok-imagine-video".durations]\ntext-to-video = [1, 5]\n'
    )
    srv = make_server("--catalog", str(catalog))
    with srv.client() as c:
        done = wait_done(c, create(c, {"model": "fast", "prompt": "a boat", "duration": 2}))
        assert done["model"] == "house-model"
        assert done["usage"]["cost_in_usd_ticks"] == 2 * 10_000_000
        assert_error(
            c.post("/v1/videos/generations", json={"model": "fast", "prompt": "x", "duration": 4}),
            400,
            "duration",
            "3",
        )
        assert_error(
            c.post(
                "/v1/videos/generations",
                json={"model": "fast", "prompt": "x", "image": {"url": TINY_PNG}},
            ),
            400,
            "image-to-video",
        )
        assert_error(
            c.post("/v1/videos/generations", json={"prompt": "x", "duration": 6}), 400, "5"
        )
