"""The official `openai` Python SDK (pinned in the [test] extra) against a real server: the
OpenAI Videos API, beside the xAI surface on the same `/v1`.

openai-python (3.x) refuses the object forms of `input_reference` and `video` before sending
(its multipart file extraction wants a file there), so those forms go through `extra_body`,
which the SDK sends as the same bracket keys (`input_reference[image_url]=...`, `video[id]=...`);
the JSON body older SDKs send is tested with plain HTTP.
"""

from __future__ import annotations

import io
import re
import time
import warnings
from pathlib import Path

import httpx
import numpy as np
import openai
import pytest
from openai import omit
from PIL import Image

from reelforge.media.fit import fit_image
from reelforge.media.previews import COLUMNS, TILE_WIDTH
from tests.helpers import (
    KEY,
    Server,
    create,
    data_url,
    decode_mp4,
    png_bytes,
    psnr,
    serve_files,
    synthetic_image,
    wait_done,
)
from tests.s3_server import CREDENTIALS

# Every SDK video method is marked deprecated (the hosted Sora API is being shut down).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

VIDEO_KEYS = {
    "id",
    "object",
    "model",
    "status",
    "progress",
    "created_at",
    "completed_at",
    "expires_at",
    "prompt",
    "remixed_from_video_id",
    "seconds",
    "size",
    "error",
}
FAST = {"model": "grok-imagine-video", "size": "848x480"}  # the smallest render, for speed
SORA_2_PER_SECOND = 1_000_000_000  # $0.10 in ticks (catalog.toml)


def sdk(server, key: str = KEY, **kw) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.base_url}/v1", api_key=key, **kw)


def raw(server, video_id: str, key: str = KEY) -> httpx.Response:
    return httpx.get(
        f"{server.base_url}/v1/videos/{video_id}", headers={"Authorization": f"Bearer {key}"}
    )


def poll(client: openai.OpenAI, video_id: str):
    return client.videos.poll(video_id, poll_interval_ms=100)


def mp4_of(client: openai.OpenAI, video_id: str):
    return decode_mp4(client.videos.download_content(video_id).read())


# --- create -----------------------------------------------------------------------------------


def test_text_to_video_with_the_defaults(server):
    """sora-2, 720x1280, 4 s: what an app written for Sora asks for with no options."""
    client = sdk(server)
    video = client.videos.create_and_poll(prompt="a red ball bouncing on a beach")
    assert video.status == "completed" and video.error is None
    assert video.id.startswith("video_") and len(video.id) == 36
    assert (video.model, video.size, video.seconds, video.progress) == (
        "sora-2",
        "720x1280",
        "4",
        100,
    )
    assert video.prompt == "a red ball bouncing on a beach"
    assert video.completed_at >= video.created_at
    body = raw(server, video.id).json()
    assert VIDEO_KEYS <= set(body) and body["remixed_from_video_id"] is None
    assert body["usage"] == {"cost_in_usd_ticks": 4 * SORA_2_PER_SECOND}  # the catalog's price
    decoded = mp4_of(client, video.id)
    assert (decoded.width, decoded.height, len(decoded.frames)) == (720, 1280, 96)
    assert decoded.audio_channels == 2


def test_create_answers_the_full_video_at_once_and_hints_the_poll_interval(server):
    client = sdk(server)
    created = client.videos.with_raw_response.create(prompt="a cat", seconds="8", **FAST)
    body = created.http_response.json()
    assert created.status_code == 200 and set(body) == VIDEO_KEYS
    assert body["status"] in ("queued", "in_progress") and body["seconds"] == "8"
    assert body["completed_at"] is None and body["expires_at"] is None
    pending = raw(server, body["id"])
    assert int(pending.headers["openai-poll-after-ms"]) > 0
    done = poll(client, body["id"])
    assert done.status == "completed" and "openai-poll-after-ms" not in raw(server, done.id).headers
    assert done.expires_at > done.completed_at


def test_image_to_video_from_a_file_a_url_a_data_url_and_a_file_id(make_server, tmp_path):
    server = make_server("--workers", "2", "--allow-private-urls")
    client = sdk(server)
    image = synthetic_image(848, 480, seed=7)
    png = png_bytes(image)
    path = tmp_path / "first.png"
    path.write_bytes(png)
    uploaded = client.files.create(file=("first.png", png), purpose="vision")
    with serve_files({"/first.png": (png, "image/png")}) as base:
        references = [
            {"input_reference": path},
            {"extra_body": {"input_reference": {"image_url": f"{base}/first.png"}}},
            {"extra_body": {"input_reference": {"image_url": data_url(png)}}},
            {"extra_body": {"input_reference": {"file_id": uploaded.id}}},
        ]
        for reference in references:
            video = client.videos.create_and_poll(
                prompt="slow zoom in", seconds="1", poll_interval_ms=100, **FAST, **reference
            )
            assert video.status == "completed", (reference, video.error)
            frame = mp4_of(client, video.id).frames[0]
            assert psnr(frame, fit_image(image, 848, 480)) >= 30, reference


def test_json_bodies_of_older_clients_and_every_form_of_seconds(server):
    """Older SDKs send JSON; peers send seconds as a string, an int or a float."""
    image = png_bytes(synthetic_image(848, 480, seed=3))
    with server.client() as c:
        for seconds in ("2", 2, 2.0):
            body = {"prompt": "a bird", "seconds": seconds, **FAST}
            created = c.post("/v1/videos", json=body)
            assert created.status_code == 200 and created.json()["seconds"] == "2", created.text
        with_image = {"prompt": "zoom", "input_reference": {"image_url": data_url(image)}, **FAST}
        video = c.post("/v1/videos", json=with_image).json()
        assert poll(sdk(server), video["id"]).status == "completed"
        form = {"prompt": "a bird", "seconds": "1", "model": FAST["model"], "size": FAST["size"]}
        files = {"input_reference": ("x.bin", image, "application/octet-stream")}  # sniffed
        multipart = c.post("/v1/videos", data=form, files=files)
        assert multipart.status_code == 200, multipart.text


def test_extra_body_extensions_are_honoured(server):
    client = sdk(server)

    def make(**extra):
        video = client.videos.create_and_poll(
            prompt="a cat on a beach", seconds="1", poll_interval_ms=100, extra_body=extra, **FAST
        )
        return client.videos.download_content(video.id).read()

    quiet = decode_mp4(make(seed=11, generate_audio=False))
    assert quiet.audio_channels is None  # generate_audio=false: no audio stream
    one, again, other = make(seed=11), make(seed=11), make(seed=12)
    assert one == again and one != other  # the seed decides the video
    assert make(seed=11, negative_prompt="cats") != one  # no cat drawn (the preview engine)


# --- read -------------------------------------------------------------------------------------


def test_list_pages_over_every_video_newest_first(make_server):
    server = make_server("--workers", "0")  # nothing renders: only the list matters here
    client = sdk(server, key="lister")
    ids = [client.videos.create(prompt=f"clip {i}", seconds="1", **FAST).id for i in range(5)]
    with server.client("lister") as c:  # an xAI job of the same key is not OpenAI's to list
        xai_id = create(c, {"prompt": "xai", "duration": 1})
    first = client.videos.list(limit=2)
    assert [v.id for v in first.data] == ids[::-1][:2] and first.has_more
    assert [v.id for v in client.videos.list(limit=2)] == ids[::-1]  # auto-paging
    assert [v.id for v in client.videos.list(limit=3, order="asc")] == ids
    page = httpx.get(
        f"{server.base_url}/v1/videos",
        params={"limit": 2},
        headers={"Authorization": "Bearer lister"},
    ).json()
    assert set(page) == {"object", "data", "first_id", "last_id", "has_more"}
    assert (page["first_id"], page["last_id"]) == (ids[4], ids[3])
    assert [v.id for v in sdk(server, key="someone-else").videos.list()] == []
    assert xai_id not in [v.id for v in client.videos.list()]


def test_download_all_three_variants(server):
    client = sdk(server)
    video = client.videos.create_and_poll(
        prompt="a red car", seconds="4", poll_interval_ms=100, **FAST
    )
    decoded = mp4_of(client, video.id)
    assert (decoded.width, decoded.height, len(decoded.frames)) == (848, 480, 96)

    thumb = client.videos.download_content(video.id, variant="thumbnail")
    assert thumb.response.headers["content-type"] == "image/webp"
    poster = Image.open(io.BytesIO(thumb.read()))
    assert (poster.format, poster.size) == ("WEBP", (848, 480))
    assert psnr(np.asarray(poster.convert("RGB")), decoded.frames[0]) >= 25  # the first frame

    sheet = client.videos.download_content(video.id, variant="spritesheet")
    assert sheet.response.headers["content-type"] == "image/jpeg"
    grid = Image.open(io.BytesIO(sheet.read()))
    tile_h = round(TILE_WIDTH * 480 / 848 / 2) * 2
    assert grid.format == "JPEG"
    assert grid.size == (min(4, COLUMNS) * TILE_WIDTH, tile_h)  # one tile per second, one row
    tiles = np.asarray(grid.convert("RGB"))
    for second in range(4):
        tile = tiles[:, second * TILE_WIDTH : (second + 1) * TILE_WIDTH]
        assert psnr(tile, fit_image(decoded.frames[second * 24], TILE_WIDTH, tile_h)) >= 22

    url = f"{server.base_url}/v1/videos/{video.id}/content"
    ranged = httpx.get(url, headers={"Authorization": f"Bearer {KEY}", "Range": "bytes=0-99"})
    assert ranged.status_code == 206 and len(ranged.content) == 100
    full = client.videos.download_content(video.id).read()
    assert ranged.content == full[:100]


# --- remix, edit, extend, delete ---------------------------------------------------------------


@pytest.fixture(scope="module")
def source(server):
    """A completed 2 s video to remix, edit and extend."""
    client = sdk(server)
    video = client.videos.create_and_poll(
        prompt="a ball rolling on grass", seconds="2", poll_interval_ms=100, **FAST
    )
    assert video.status == "completed"
    return video


def test_remix(server, source):
    client = sdk(server)
    remix = client.videos.remix(source.id, prompt="make it black and white")
    assert remix.remixed_from_video_id == source.id and remix.id != source.id
    done = poll(client, remix.id)
    assert (done.status, done.seconds, done.size, done.model) == (
        "completed",
        "2",
        "848x480",
        "grok-imagine-video",
    )
    frames = mp4_of(client, done.id).frames
    assert len(frames) == 48
    assert float(np.ptp(frames[10].astype(int), axis=2).mean()) < 3  # black and white
    assert client.videos.retrieve(done.id).remixed_from_video_id == source.id


def test_edit_a_video_by_id_and_an_uploaded_file(server, source):
    client = sdk(server)
    by_id = client.videos.edit(video=omit, prompt="sepia", extra_body={"video": {"id": source.id}})
    mp4 = client.videos.download_content(source.id).read()
    uploaded = client.videos.edit(video=("clip.mp4", mp4), prompt="sepia")
    for video in (by_id, uploaded):
        done = poll(client, video.id)
        assert (done.status, done.seconds, done.size) == ("completed", "2", "848x480"), done.error
        assert len(mp4_of(client, done.id).frames) == 48
        assert done.remixed_from_video_id is None


def test_extend_reports_the_stitched_total(server, source):
    client = sdk(server)
    original = mp4_of(client, source.id).frames
    by_id = client.videos.extend(
        video=omit, prompt="it rolls away", seconds="4", extra_body={"video": {"id": source.id}}
    )
    assert by_id.seconds == "6"  # 2 s + 4 s, already while it renders
    mp4 = client.videos.download_content(source.id).read()
    uploaded = client.videos.extend(video=("clip.mp4", mp4), prompt="it rolls away", seconds=4)
    for video in (by_id, uploaded):
        done = poll(client, video.id)
        assert (done.status, done.seconds) == ("completed", "6"), done.error
        frames = mp4_of(client, done.id).frames
        assert len(frames) == 144
        assert psnr(frames[0], original[0]) >= 40  # the original comes first, unchanged


def test_the_limits_of_each_mode_hold(server, source):
    client = sdk(server)
    with pytest.raises(openai.BadRequestError) as too_long:
        client.videos.extend(
            video=omit, prompt="more", seconds="30", extra_body={"video": {"id": source.id}}
        )
    assert too_long.value.param == "seconds"
    with pytest.raises(openai.BadRequestError) as not_sora:
        client.videos.create(prompt="x", seconds="5")  # sora-2 offers 4, 8, 12, 16, 20
    assert not_sora.value.param == "seconds"
    with pytest.raises(openai.BadRequestError) as size:
        client.videos.create(prompt="x", size="1792x1024")  # sora-2-pro only
    assert size.value.param == "size" and "1280x720" in size.value.message
    assert (
        client.videos.create(prompt="x", model="sora-2-pro", size="1792x1024").size == "1792x1024"
    )


def test_delete_removes_the_job_and_its_files_and_stops_a_render(server):
    client = sdk(server)
    video = client.videos.create_and_poll(
        prompt="a fish", seconds="1", poll_interval_ms=100, **FAST
    )
    client.videos.download_content(video.id, variant="thumbnail").read()
    files = server.data_dir / "files"
    kept = [p for p in files.rglob("*") if video.id in str(p) and p.is_file()]
    assert len(kept) >= 2  # the MP4 and its thumbnail
    deleted = client.videos.delete(video.id)
    assert (deleted.id, deleted.deleted, deleted.object) == (video.id, True, "video.deleted")
    assert not any(p.exists() for p in kept)
    with pytest.raises(openai.NotFoundError):
        client.videos.retrieve(video.id)
    long = client.videos.create(prompt="a long one", seconds="15", **FAST)
    assert client.videos.delete(long.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.videos.download_content(long.id)
    assert long.id not in [v.id for v in client.videos.list()]
    stopped = client.videos.create(prompt="another long one", seconds="15", **FAST)
    with server.client() as c:  # Reelforge's own cancel takes either surface's ids
        assert c.post(f"/v1/videos/{stopped.id}/cancel").status_code == 200
    cancelled = client.videos.retrieve(stopped.id)  # OpenAI has no cancelled status
    assert (cancelled.status, cancelled.error.code) == ("failed", "cancelled")


# --- errors -----------------------------------------------------------------------------------


def test_every_error_class(make_server, tmp_path):
    server = make_server(
        "--workers", "1", "--api-key", "alice", "--api-key", "bob", "--max-pending-per-key", "1"
    )
    alice, bob = sdk(server, "alice", max_retries=0), sdk(server, "bob", max_retries=0)
    video = alice.videos.create_and_poll(prompt="a dog", seconds="1", poll_interval_ms=100, **FAST)

    with pytest.raises(openai.BadRequestError) as bad:
        alice.videos.create(prompt="a dog", size="wide")
    assert (bad.value.status_code, bad.value.param, bad.value.code) == (
        400,
        "size",
        "invalid_value",
    )
    assert bad.value.type == "invalid_request_error" and "size" in bad.value.message

    with pytest.raises(openai.AuthenticationError) as auth:
        sdk(server, "mallory").videos.retrieve(video.id)
    assert auth.value.status_code == 401 and auth.value.code == "invalid_api_key"

    with pytest.raises(openai.NotFoundError) as other_key:
        bob.videos.retrieve(video.id)  # another key's id
    assert other_key.value.code == "not_found"
    with pytest.raises(openai.NotFoundError):
        alice.videos.retrieve("video_" + "0" * 30)
    with pytest.raises(openai.NotFoundError) as model:
        alice.videos.create(prompt="x", model="sora-9")
    assert (model.value.param, model.value.code) == ("model", "model_not_found")

    with pytest.raises(openai.UnprocessableEntityError) as types:
        alice.videos.remix(video.id, prompt="x", extra_body={"prompt": 5})  # remix sends JSON
    assert types.value.param == "prompt"

    blocked = alice.videos.create_and_poll(prompt="nsfw", seconds="1", poll_interval_ms=100, **FAST)
    assert blocked.status == "failed" and blocked.error.code == "moderation_blocked"
    with pytest.raises(openai.PermissionDeniedError) as withheld:
        alice.videos.download_content(blocked.id)
    assert withheld.value.code == "moderation_blocked"

    long = alice.videos.create(prompt="a long one", seconds="15", **FAST)
    with pytest.raises(openai.ConflictError) as not_ready:
        alice.videos.download_content(long.id)
    assert not_ready.value.code == "video_not_ready"
    assert not_ready.value.response.headers["x-should-retry"] == "false"
    with pytest.raises(openai.RateLimitError) as limited:  # one pending job per key here
        alice.videos.create(prompt="one more", seconds="1", **FAST)
    assert limited.value.code == "rate_limit_exceeded"
    alice.videos.delete(long.id)

    [mp4] = (server.data_dir / "files" / "videos").glob(f"{video.id}-*.mp4")
    mp4.write_bytes(b"\0" * 4096)  # the stored video is broken: a server-side failure
    with pytest.raises(openai.InternalServerError) as internal:
        alice.videos.download_content(video.id, variant="spritesheet")
    assert internal.value.status_code == 500 and internal.value.type == "server_error"


def test_404_after_expiry(make_server):
    server = make_server("--workers", "1", "--retention", "2")
    client = sdk(server)
    video = client.videos.create_and_poll(
        prompt="a moth", seconds="1", poll_interval_ms=100, **FAST
    )
    assert client.videos.download_content(video.id).read()
    while time.time() < video.expires_at + 1:
        time.sleep(0.2)
    with pytest.raises(openai.NotFoundError) as gone:
        client.videos.download_content(video.id)
    assert gone.value.code == "expired"
    expired = client.videos.retrieve(video.id)  # still described: completed, expires_at past
    assert expired.status == "completed" and expired.expires_at <= time.time()
    with pytest.raises(openai.NotFoundError):
        client.videos.remix(video.id, prompt="again")


# --- both surfaces ----------------------------------------------------------------------------


def test_both_surfaces_side_by_side(server):
    """One server, one key: each surface lists only its own jobs, and each id reads in the
    shape of the surface that made it."""
    client = sdk(server, key="both")
    with server.client("both") as c:
        xai_id = create(c, {"prompt": "xai job", "duration": 1})
        openai_id = client.videos.create(prompt="openai job", seconds="1", **FAST).id
        assert wait_done(c, xai_id)["status"] == "done"
        assert poll(client, openai_id).status == "completed"
        xai_listed = [item["request_id"] for item in c.get("/v1/video-requests").json()["data"]]
        assert xai_listed == [xai_id]
        assert [v.id for v in client.videos.list()] == [openai_id]
        assert c.get(f"/v1/videos/{xai_id}").json()["status"] == "done"  # xAI's shape
        assert c.get(f"/v1/videos/{openai_id}").json()["status"] == "completed"  # OpenAI's
        assert (
            c.post("/v1/videos/edits", json={"prompt": "x", "video": {"url": "nope"}}).json()[
                "code"
            ]
            == "invalid-argument"
        )  # an xAI body on a shared path gets xAI's answer
        with pytest.raises(openai.NotFoundError):
            client.videos.download_content(xai_id)  # not an OpenAI video


def test_poll_with_the_sdk_reads_the_hint(server):
    """create_and_poll with no interval uses `openai-poll-after-ms`."""
    client = sdk(server)
    started = time.monotonic()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        video = client.videos.create_and_poll(prompt="quick", seconds="1", **FAST)
    assert video.status == "completed" and time.monotonic() - started < 30


def test_the_readme_example_runs_as_written(server, tmp_path, monkeypatch):
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    (example,) = [b for b in blocks if "from openai import OpenAI" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(example.replace("http://127.0.0.1:8000", server.base_url), "README", "exec"), {})
    video = decode_mp4((tmp_path / "ball.mp4").read_bytes())
    assert (video.width, video.height, len(video.frames)) == (720, 1280, 192)
    assert Image.open(tmp_path / "ball.webp").format == "WEBP"


def test_content_from_a_bucket_redirects_and_previews_are_kept_there(tmp_path, s3_server):
    """With S3 storage, /content answers a 302 to a presigned URL (the SDK follows it) and the
    thumbnail is made from the bucket's MP4 and stored beside it."""
    args = ["--workers", "1", "--storage", "s3://reelforge/oa", "--s3-endpoint-url"]
    server = Server(tmp_path / "data", args=[*args, s3_server.endpoint_url], env=CREDENTIALS)
    server.start()
    try:
        client = sdk(server)
        video = client.videos.create_and_poll(
            prompt="a boat", seconds="1", poll_interval_ms=100, **FAST
        )
        content = client.videos.download_content(video.id)
        assert str(content.response.url).startswith(s3_server.endpoint_url)
        assert len(decode_mp4(content.read()).frames) == 24
        thumb = client.videos.download_content(video.id, variant="thumbnail").read()
        assert Image.open(io.BytesIO(thumb)).size == (848, 480)
        assert f"oa/previews/{video.id}/thumbnail.webp" in s3_server.keys("reelforge", "oa/")
        client.videos.delete(video.id)
        assert not [k for k in s3_server.keys("reelforge", "oa/") if video.id in k]
    finally:
        server.stop()
