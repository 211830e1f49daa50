"""What the playground needs from the server, over real HTTP: the price quote (equal to the charge
in every mode), signed thumbnails that expire with the video, and the pages themselves."""

from __future__ import annotations

import io
import time

import httpx
import numpy as np
import pytest
from PIL import Image

from tests.helpers import (
    Server,
    create,
    data_url,
    decode_mp4,
    download,
    mp4_bytes,
    png_bytes,
    psnr,
    synthetic_image,
    wait_done,
)
from tests.s3_server import CREDENTIALS

V1, V15 = "grok-imagine-video", "grok-imagine-video-1.5"


def upload(client: httpx.Client, data: bytes, name: str) -> str:
    r = client.post("/v1/files", files={"file": (name, data)})
    assert r.status_code == 200, r.text
    return r.json()["id"]


def quote(client: httpx.Client, endpoint: str, body: dict) -> int:
    r = client.post(f"/v1/videos/{endpoint}/estimate", json=body)
    assert r.status_code == 200, r.text
    assert set(r.json()) == {"cost_in_usd_ticks"}
    return r.json()["cost_in_usd_ticks"]


def test_the_quote_is_the_charge_in_every_mode(server):
    """Each mode's quote, taken before the job exists, equals the job's usage when it is done."""
    with server.client() as c:
        png = png_bytes(synthetic_image(320, 240))
        image = {"file_id": upload(c, png, "a.png")}
        other = {"file_id": upload(c, png_bytes(synthetic_image(240, 320, seed=2)), "b.png")}
        clip = {"file_id": upload(c, mp4_bytes(2.5, 640, 360), "clip.mp4")}
        cases = [
            ("generations", {"model": V1, "prompt": "a cat", "duration": 1, "resolution": "480p"}),
            ("generations", {"model": V15, "prompt": "a car", "duration": 1, "resolution": "720p"}),
            ("generations", {"model": V1, "prompt": "zoom in", "duration": 1, "image": image}),
            (
                "generations",
                {"model": V1, "prompt": "pan", "duration": 1, "image": {"url": data_url(png)}},
            ),
            (
                "generations",
                {
                    "model": V15,
                    "prompt": "<IMAGE_1> meets <IMAGE_2>",
                    "duration": 1,
                    "reference_images": [image, other],
                    "reference_audios": [{"voice_id": "eve"}],
                },
            ),
            (
                "generations",
                {
                    "model": V15,
                    "prompt": "morph",
                    "duration": 2,
                    "image": image,
                    "last_frame": other,
                    "keyframes": [{"image": image, "timestamp_s": 1.0}],
                    "generate_audio": False,
                },
            ),
            ("edits", {"model": V1, "prompt": "sepia", "video": clip}),
            (
                "extensions",
                {"model": V15, "prompt": "go on", "duration": 2, "video": clip},
            ),
            (
                "extensions",
                {
                    "model": V1,
                    "prompt": "go on",
                    "duration": 2,
                    "video": {"url": data_url(mp4_bytes(2.0), "video/mp4")},
                },
            ),
        ]
        quoted = [quote(c, endpoint, body) for endpoint, body in cases]
        ids = [create(c, body, endpoint) for endpoint, body in cases]
        charged = [wait_done(c, i)["usage"]["cost_in_usd_ticks"] for i in ids]
    assert quoted == charged
    assert len(set(quoted)) > 5  # the cases price differently: each mode's rule was exercised


def test_a_quote_creates_nothing_and_refuses_what_create_refuses(make_server):
    srv = make_server("--workers", "0")
    with srv.client() as c:
        bad = c.post("/v1/videos/generations/estimate", json={"prompt": "x", "duration": 99})
        assert bad.status_code == 400 and "duration" in bad.json()["error"], bad.text
        no_video = c.post("/v1/videos/edits/estimate", json={"prompt": "x"})
        assert no_video.status_code == 422 and "video" in no_video.json()["error"]
        gone = c.post(
            "/v1/videos/extensions/estimate",
            json={"prompt": "x", "video": {"file_id": "file_nope"}},
        )
        assert gone.status_code == 404 and "video.file_id" in gone.json()["error"]
        too_long = c.post(
            "/v1/videos/edits/estimate",
            json={"prompt": "x", "video": {"url": data_url(mp4_bytes(9.0, 64, 36), "video/mp4")}},
        )
        assert too_long.status_code == 400 and "video.url" in too_long.json()["error"]
        assert quote(c, "generations", {"prompt": "x", "duration": 2, "resolution": "480p"}) == (
            1_000_000_000  # 2 s at $0.05
        )
        assert c.get("/v1/video-requests").json()["data"] == []


def test_list_items_carry_a_signed_thumbnail_of_the_first_frame(server):
    with server.client("thumbs-key") as c:
        done = wait_done(c, create(c, {"prompt": "a red ball", "duration": 1}))
        blocked = wait_done(c, create(c, {"prompt": "go fuck yourself", "duration": 1}))
        assert blocked["video"]["respect_moderation"] is False
        items = {
            i["status"] + str(i["video"]["url"] != ""): i
            for i in c.get("/v1/video-requests").json()["data"]
        }
    with_video, withheld = items["doneTrue"], items["doneFalse"]
    assert "thumbnail_url" not in withheld  # no video, no poster
    url = with_video["thumbnail_url"]
    assert url.startswith(f"{server.base_url}/v1/videos/{with_video['request_id']}/thumbnail?")
    r = httpx.get(url)  # signed: no key needed, as for an <img>
    assert r.status_code == 200 and r.headers["content-type"] == "image/webp"
    poster = np.asarray(Image.open(io.BytesIO(r.content)).convert("RGB"))
    first = decode_mp4(download(done["video"]["url"])).frames[0]
    assert poster.shape == first.shape == (480, 848, 3)
    assert psnr(poster, first) > 30
    assert httpx.get(url).content == r.content  # made once, kept beside the video
    for tampered in (url[:-1] + ("0" if url[-1] != "0" else "1"), url.split("?")[0]):
        refused = httpx.get(tampered)
        assert refused.status_code == 403 and refused.json()["code"], refused.text


def test_a_thumbnail_url_expires_with_the_video_url(make_server):
    srv = make_server("--url-ttl", "3")
    with srv.client() as c:
        job_id = create(c, {"prompt": "a bird", "duration": 1})
        video = wait_done(c, job_id)["video"]
        [item] = c.get("/v1/video-requests").json()["data"]
    video_expires = dict(p.split("=") for p in video["url"].split("?")[1].split("&"))["expires"]
    thumb_expires = dict(p.split("=") for p in item["thumbnail_url"].split("?")[1].split("&"))
    assert thumb_expires["expires"] == video_expires
    assert httpx.get(item["thumbnail_url"]).status_code == 200
    time.sleep(max(0.0, int(video_expires) + 1.1 - time.time()))
    assert httpx.get(item["thumbnail_url"]).status_code == 403
    assert httpx.get(video["url"]).status_code == 403


@pytest.mark.parametrize("flag", [[], ["--no-playground"]])
def test_the_playground_is_served_unless_turned_off(make_server, flag):
    srv = make_server("--workers", "0", *flag)
    root = httpx.get(f"{srv.base_url}/", follow_redirects=False)
    page = httpx.get(f"{srv.base_url}/playground/")
    if flag:
        assert root.status_code == 404 and page.status_code == 404
        return
    assert root.status_code in (302, 307) and root.headers["location"] == "/playground/"
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    for name, kind in (("app.js", "javascript"), ("style.css", "text/css")):
        asset = httpx.get(f"{srv.base_url}/playground/{name}")
        assert asset.status_code == 200 and kind in asset.headers["content-type"]
    # Nothing from elsewhere: every src and href is on the page's own origin.
    assert "http://" not in page.text and "https://" not in page.text.replace(
        'placeholder="https://..."', ""
    )


def test_a_thumbnail_from_a_bucket_redirects_to_it(tmp_path, s3_server):
    """With S3 storage the poster is made from the bucket's MP4, kept beside it, and the signed
    thumbnail URL answers a 302 to a presigned URL of it."""
    args = ["--workers", "1", "--storage", "s3://reelforge/pg", "--s3-endpoint-url"]
    srv = Server(tmp_path / "data", args=[*args, s3_server.endpoint_url], env=CREDENTIALS)
    srv.start()
    try:
        with srv.client() as c:
            job_id = create(c, {"prompt": "a boat", "duration": 1})
            wait_done(c, job_id)
            [item] = c.get("/v1/video-requests").json()["data"]
        r = httpx.get(item["thumbnail_url"])
        assert r.status_code == 302 and r.headers["location"].startswith(s3_server.endpoint_url)
        poster = httpx.get(r.headers["location"])
        assert poster.status_code == 200
        assert Image.open(io.BytesIO(poster.content)).size == (848, 480)
        assert f"pg/previews/{job_id}/thumbnail.webp" in s3_server.keys("reelforge", "pg/")
    finally:
        srv.stop()
