"""The OpenAI surface's routing, bodies and catalog rules in-process (httpx's ASGI transport):
which surface answers a shared path, how bracket keys and `seconds` are read, what a refused
request looks like. The real-server tests (tests/e2e/test_openai_*.py) prove the wire."""

from __future__ import annotations

import pytest

from reelforge.api.openai.bodies import _nest, order_from
from reelforge.core.catalog import Catalog, CatalogError
from reelforge.core.errors import ApiError
from reelforge.engines.preview.scene import read_prompt
from reelforge.jobs.webhooks import standard_key, standard_signature
from reelforge.service import OPENAI_ID_PREFIX
from tests.test_api_inprocess import AUTH, backend, call  # noqa: F401 - the fixture

FAST = {"model": "grok-imagine-video", "size": "848x480", "seconds": "1"}


def test_bracket_keys_nest_and_every_form_of_seconds_reads_alike():
    fields: dict = {}
    for key, value in [
        ("prompt", "p"),
        ("input_reference[image_url]", "https://x/y.png"),
        ("video[id]", "video_1"),
        ("a[b][c]", "d"),
    ]:
        _nest(fields, key, value)
    assert fields["input_reference"] == {"image_url": "https://x/y.png"}
    assert fields["video"] == {"id": "video_1"} and fields["a"] == {"b": {"c": "d"}}
    order = order_from(fields, {})
    assert order.reference.url == "https://x/y.png" and order.video_id == "video_1"
    for seconds in ("8", 8, 8.0, " 8 "):
        assert order_from({"prompt": "p", "seconds": seconds}, {}).seconds == 8
    for seconds, status in (
        (
            "8.5",
            400,
        ),
        ("eight", 400),
        (True, 422),
        ([8], 422),
    ):
        with pytest.raises(ApiError) as refused:
            order_from({"prompt": "p", "seconds": seconds}, {})
        assert (refused.value.status, refused.value.field) == (status, "seconds")
    extras = order_from({"prompt": "p", "seed": "7", "generate_audio": "false"}, {})
    assert (extras.seed, extras.generate_audio) == (7, False)
    with pytest.raises(ApiError) as both:
        order_from({"prompt": "p", "input_reference": {"image_url": "u", "file_id": "f"}}, {})
    assert both.value.field == "input_reference"


def test_catalog_sizes_map_to_what_is_rendered(tmp_path):
    catalog = Catalog.load()
    sora = catalog.get("sora-2-2025-10-06")
    assert sora.id == "sora-2" and sora.seconds == (4, 8, 12, 16, 20)
    assert sora.size_table("text-to-video") == {
        "1280x720": ("16:9", "720p"),
        "720x1280": ("9:16", "720p"),
    }
    assert catalog.get("sora-2-pro").size_table("text-to-video")["1024x1792"] == ("9:16", "1080p")
    native = catalog.get("grok-imagine-video").size_table("text-to-video")
    assert native["848x480"] == ("16:9", "480p") and "1920x1080" not in native
    extra = tmp_path / "extra.toml"
    extra.write_text('[models."sora-2".sizes]\n"640x480" = ["4:3", "480p"]\n')
    with pytest.raises(CatalogError, match="640x480"):  # sora-2 renders neither 4:3 nor 480p
        Catalog.load(extra)


def test_each_surface_answers_its_own_requests(backend):  # noqa: F811 - the fixture
    created, xai = call(
        backend,
        ("POST", "/v1/videos", {"data": {"prompt": "a cat", **FAST}}),
        ("POST", "/v1/videos/generations", {"json": {"prompt": "a cat", "duration": 1}}),
    )
    video_id, request_id = created.json()["id"], xai.json()["request_id"]
    assert video_id.startswith(OPENAI_ID_PREFIX) and len(video_id) == 36
    openai_get, xai_get, listed, own_list, edit_json, edit_xai, missing = call(
        backend,
        ("GET", f"/v1/videos/{video_id}", {}),
        ("GET", f"/v1/videos/{request_id}", {}),
        ("GET", "/v1/videos", {}),
        ("GET", "/v1/video-requests", {}),
        ("POST", "/v1/videos/edits", {"json": {"prompt": "x", "video": {"id": video_id}}}),
        ("POST", "/v1/videos/edits", {"json": {"prompt": "x", "video": {"url": "ftp://x"}}}),
        ("GET", f"/v1/videos/{OPENAI_ID_PREFIX}{'0' * 30}", {}),
    )
    assert openai_get.json()["status"] == "queued" and openai_get.headers["openai-poll-after-ms"]
    assert xai_get.status_code == 202 and xai_get.json()["status"] == "pending"
    assert [v["id"] for v in listed.json()["data"]] == [video_id]
    assert [v["request_id"] for v in own_list.json()["data"]] == [request_id]
    # A JSON body with video.id is OpenAI's (a 409: the source is not completed yet) ...
    assert edit_json.status_code == 409 and edit_json.json()["error"]["param"] == "video.id"
    # ... and one with video.url goes on to the xAI route, in xAI's error shape.
    assert edit_xai.status_code == 400 and edit_xai.json()["code"] == "invalid-argument"
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"


def test_refusals_are_openai_error_objects(backend):  # noqa: F811 - the fixture
    no_prompt, bad_json, not_object, bad_variant, bad_limit, bad_type = call(
        backend,
        ("POST", "/v1/videos", {"data": {"model": "sora-2"}}),
        (
            "POST",
            "/v1/videos",
            {"content": b"{", "headers": {**AUTH, "content-type": "application/json"}},
        ),
        ("POST", "/v1/videos", {"json": [1]}),
        ("GET", f"/v1/videos/{OPENAI_ID_PREFIX}{'0' * 30}/content?variant=gif", {}),
        ("GET", "/v1/videos?limit=101", {}),
        (
            "POST",
            "/v1/videos",
            {"content": b"x", "headers": {**AUTH, "content-type": "text/plain"}},
        ),
    )
    for response, status, param in (
        (no_prompt, 400, "prompt"),
        (bad_json, 422, "body"),
        (not_object, 422, "body"),
        (bad_variant, 400, "variant"),
        (bad_limit, 400, "limit"),
        (bad_type, 400, "body"),
    ):
        error = response.json()["error"]
        assert response.status_code == status and error["param"] == param, response.text
        assert set(error) == {"message", "type", "param", "code"}
        assert error["type"] == "invalid_request_error" and param in error["message"]


def test_standard_webhook_signatures():
    """The Standard Webhooks spec's own example (github.com/standard-webhooks)."""
    secret = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    body = b'{"test": 2432232314}'
    signature = standard_signature(
        standard_key(secret), "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", body
    )
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
    assert standard_key(b"plain-secret") == b"plain-secret"


def test_a_negative_prompt_keeps_what_it_names_out_of_the_preview():
    kinds = lambda scene: {s.kind for s in scene.subjects}  # noqa: E731
    assert {"cat", "dog"} <= kinds(read_prompt("a cat and a dog on a beach", 0))
    without = read_prompt("a cat and a dog on a beach", 0, "cats, rain")
    assert "cat" not in kinds(without) and "dog" in kinds(without)
    (listed,) = (order_from({"prompt": "p", "negative_prompt": "cats"}, {}).negative_prompt,)
    assert listed == "cats"
