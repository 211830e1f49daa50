"""The Files API over real HTTP, and `file_id` inputs rendered into real MP4s."""

from __future__ import annotations

import time
from types import SimpleNamespace

import httpx
import pytest

from reelforge import files as files_module
from reelforge.files import MAX_FILE_BYTES
from reelforge.jobs import janitor
from reelforge.jobs.store import JobStore
from reelforge.media.fit import fit_image
from reelforge.storage.local import LocalStorage
from tests.e2e.test_api import assert_error
from tests.helpers import (
    create,
    decode_mp4,
    download,
    generate,
    mp4_bytes,
    png_bytes,
    psnr,
    synthetic_image,
    wait_done,
)

V15 = "grok-imagine-video-1.5"
FILE_KEYS = {"id", "object", "bytes", "created_at", "filename", "purpose"}


def upload(client: httpx.Client, data: bytes, name: str = "input.png", **fields) -> dict:
    r = client.post("/v1/files", files={"file": (name, data)}, data=fields)
    assert r.status_code == 200, r.text
    return r.json()


def test_upload_list_get_content_delete(server):
    data = png_bytes(synthetic_image(64, 48))
    with server.client() as c:
        before = time.time()
        made = upload(c, data, "cat é.png", purpose="vision", expires_after="3600")
        assert set(made) == FILE_KEYS | {"expires_at"}
        assert made["id"].startswith("file_") and len(made["id"]) == len("file_") + 36
        assert made["object"] == "file" and made["bytes"] == len(data)
        assert made["filename"] == "cat é.png" and made["purpose"] == "vision"
        assert int(before) <= made["created_at"] <= time.time()
        assert made["expires_at"] == made["created_at"] + 3600

        plain = upload(c, b"just text", "notes.txt")  # no purpose, never expires
        assert set(plain) == FILE_KEYS and plain["purpose"] == "assistants"
        # OpenAI's deepObject form of expires_after
        deep = upload(
            c,
            b"x",
            "deep.bin",
            **{"expires_after[anchor]": "created_at"},
            **{"expires_after[seconds]": "7200"},
        )
        assert deep["expires_at"] == deep["created_at"] + 7200

        listed = c.get("/v1/files").json()
        assert listed["object"] == "list" and listed["has_more"] is False
        ids = [f["id"] for f in listed["data"]]
        assert {made["id"], plain["id"], deep["id"]} <= set(ids)
        assert ids.index(deep["id"]) < ids.index(made["id"])  # newest first
        assert [
            f["id"] for f in c.get("/v1/files", params={"purpose": "vision"}).json()["data"]
        ] == [made["id"]]
        assert c.get(f"/v1/files/{made['id']}").json() == made

        content = c.get(f"/v1/files/{made['id']}/content")
        assert content.status_code == 200 and content.content == data
        assert content.headers["content-type"] == "application/octet-stream"

        gone = c.delete(f"/v1/files/{made['id']}")
        assert gone.status_code == 200
        assert gone.json() == {"id": made["id"], "object": "file", "deleted": True}
        assert_error(c.get(f"/v1/files/{made['id']}"), 404, made["id"])
        assert_error(c.get(f"/v1/files/{made['id']}/content"), 404)
        assert_error(c.delete(f"/v1/files/{made['id']}"), 404)
        assert made["id"] not in [f["id"] for f in c.get("/v1/files").json()["data"]]
        for extra in (plain, deep):
            assert c.delete(f"/v1/files/{extra['id']}").status_code == 200


def test_files_are_isolated_per_key(server):
    image = png_bytes(synthetic_image(64, 48))
    with server.client("alice") as alice, server.client("bob") as bob:
        mine = upload(alice, image)
        assert_error(bob.get(f"/v1/files/{mine['id']}"), 404)
        assert_error(bob.get(f"/v1/files/{mine['id']}/content"), 404)
        assert_error(bob.delete(f"/v1/files/{mine['id']}"), 404)
        assert mine["id"] not in [f["id"] for f in bob.get("/v1/files").json()["data"]]
        body = {"prompt": "x", "duration": 1, "image": {"file_id": mine["id"]}}
        assert_error(bob.post("/v1/videos/generations", json=body), 404, "image.file_id")
        assert alice.get(f"/v1/files/{mine['id']}/content").content == image  # still there
        assert alice.post("/v1/videos/generations", json=body).status_code == 200
    assert_error(httpx.get(f"{server.base_url}/v1/files"), 401)
    r = httpx.post(f"{server.base_url}/v1/files", files={"file": ("a", b"a")})
    assert_error(r, 401)


@pytest.mark.parametrize(
    "fields,words",
    [
        ({"expires_after": "3599"}, ["expires_after", "3600", "2592000"]),
        ({"expires_after": "2592001"}, ["expires_after", "3600", "2592000"]),
        ({"expires_after": "soon"}, ["expires_after"]),
        ({"expires_after[anchor]": "last_active_at", "expires_after[seconds]": "3600"}, ["anchor"]),
    ],
)
def test_upload_validation(server, fields, words):
    with server.client() as c:
        assert_error(c.post("/v1/files", files={"file": ("a", b"a")}, data=fields), 400, *words)


def test_upload_needs_a_multipart_file(server):
    with server.client() as c:
        assert_error(c.post("/v1/files", data={"purpose": "x"}), 400, "body")  # urlencoded
        assert_error(c.post("/v1/files", files={"other": ("a", b"a")}), 400, "file")
        assert_error(c.post("/v1/files", json={"file": "abc"}), 400, "multipart")
        truncated = b'--b\r\nContent-Disposition: form-data; name="file"\r\n\r\nabc'
        r = c.post(
            "/v1/files",
            content=truncated,
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert_error(r, 400, "file")  # never stored: the part was cut off before it ended


def test_upload_size_cap(server):
    with server.client() as c:
        at_cap = upload(c, b"\0" * MAX_FILE_BYTES, "big.bin")
        assert at_cap["bytes"] == MAX_FILE_BYTES == 50 * 1024 * 1024
        assert c.delete(f"/v1/files/{at_cap['id']}").status_code == 200
        r = c.post("/v1/files", files={"file": ("big.bin", b"\0" * (MAX_FILE_BYTES + 1))})
        assert_error(r, 413, "50 MiB")

        def chunked():  # no Content-Length: the cap is enforced while the body streams in
            yield b'--b\r\nContent-Disposition: form-data; name="file"; filename="x"\r\n\r\n'
            for _ in range(51):
                yield b"\0" * (1024 * 1024)
            yield b"\r\n--b--\r\n"

        r = c.post(
            "/v1/files",
            content=chunked(),
            headers={"content-type": "multipart/form-data; boundary=b"},
        )
        assert_error(r, 413, "50 MiB")
        names = {f["filename"] for f in c.get("/v1/files").json()["data"]}
        assert "big.bin" not in names and "x" not in names


def test_expired_files_are_swept_by_the_janitor(make_server, tmp_path, monkeypatch):
    """`expires_after` is at least an hour, so the clock is moved instead of waiting for it."""
    data = tmp_path / "expiring"
    srv = make_server(data_dir=data)
    with srv.client() as c:
        short = upload(c, b"short-lived", "short.txt", expires_after="3600")
        long = upload(c, b"long-lived", "long.txt", expires_after="7200")
        forever = upload(c, b"forever", "forever.txt")
    store = JobStore(f"sqlite:///{data / 'reelforge.db'}")
    storage = LocalStorage(data / "files")
    content = {f["id"]: storage.path(f"files/{f['id']}") for f in (short, long, forever)}
    assert all(path.is_file() for path in content.values())

    later = short["expires_at"] + 1
    monkeypatch.setattr(files_module, "time", SimpleNamespace(time=lambda: later))
    janitor.sweep(store, storage, retention=86400)
    store.dispose()
    assert not content[short["id"]].exists()
    assert content[long["id"]].is_file() and content[forever["id"]].is_file()
    with srv.client() as c:
        assert_error(c.get(f"/v1/files/{short['id']}"), 404)
        assert c.get(f"/v1/files/{long['id']}").status_code == 200
        assert c.get(f"/v1/files/{forever['id']}/content").content == b"forever"


# --- file_id inputs ----------------------------------------------------------------------------


def test_image_to_video_from_a_file_id(server):
    image = synthetic_image(700, 400, seed=5)
    with server.client() as c:
        file = upload(c, png_bytes(image))
        done = generate(
            c, {"prompt": "slow zoom in", "duration": 1, "image": {"file_id": file["id"]}}
        )
    assert done["status"] == "done", done
    assert done["usage"]["cost_in_usd_ticks"] == 500_000_000 + 20_000_000  # + one input image
    video = decode_mp4(download(done["video"]["url"]))
    assert (video.width, video.height, len(video.frames)) == (848, 480, 24)
    assert psnr(video.frames[0], fit_image(image, 848, 480)) >= 30


def test_edit_and_extension_from_a_file_id(server):
    source = mp4_bytes(2.0, 320, 180)  # extensions take 2 s or more
    with server.client() as c:
        file = upload(c, source, "clip.mp4")
        edited = generate(c, {"prompt": "sepia", "video": {"file_id": file["id"]}}, "edits")
        extended = generate(
            c, {"prompt": "go on", "duration": 2, "video": {"file_id": file["id"]}}, "extensions"
        )
    assert edited["status"] == "done" and edited["video"]["duration"] == 2
    video = decode_mp4(download(edited["video"]["url"]))
    assert (video.width, video.height, len(video.frames)) == (320, 180, 48)
    assert extended["status"] == "done" and extended["video"]["duration"] == 4
    longer = decode_mp4(download(extended["video"]["url"]))
    original = decode_mp4(source)
    assert len(longer.frames) == 96
    assert min(psnr(a, b) for a, b in zip(original.frames, longer.frames[:48], strict=True)) >= 30


def test_file_ids_in_every_image_input(server):
    first, last, key, ref = (synthetic_image(640, 360, seed=s) for s in (31, 32, 33, 34))
    with server.client() as c:
        ids = [upload(c, png_bytes(img))["id"] for img in (first, last, key, ref)]
        done = generate(
            c,
            {
                "model": V15,
                "prompt": "<IMAGE_1> arrives",
                "duration": 2,
                "generate_audio": False,
                "image": {"file_id": ids[0]},
                "last_frame": {"file_id": ids[1]},
                "keyframes": [{"image": {"file_id": ids[2]}, "timestamp_s": 1.0}],
                "reference_images": [{"file_id": ids[3]}],
            },
        )
    assert done["status"] == "done", done
    frames = decode_mp4(download(done["video"]["url"])).frames
    assert len(frames) == 48
    for index, pin in ((0, first), (24, key), (47, last)):
        assert psnr(frames[index], fit_image(pin, 848, 480)) >= 30, index


def test_file_id_inputs_are_checked_like_data_urls(server):
    with server.client() as c:
        text = upload(c, b"not a picture", "notes.txt")["id"]
        image = upload(c, png_bytes(synthetic_image(64, 48)))["id"]
        long_clip = upload(c, mp4_bytes(9.0, 64, 64), "long.mp4")["id"]
        cases = [
            ("generations", {"prompt": "x", "image": {"file_id": text}}, ["image.file_id", "PNG"]),
            (
                "generations",
                {"prompt": "x", "reference_images": [{"file_id": image}, {"file_id": text}]},
                ["reference_images[1].file_id"],
            ),
            (
                "generations",
                {
                    "model": V15,
                    "prompt": "x",
                    "duration": 2,
                    "keyframes": [{"image": {"file_id": text}, "timestamp_s": 1}],
                },
                ["keyframes[0].image.file_id"],
            ),
            ("edits", {"prompt": "x", "video": {"file_id": image}}, ["video.file_id"]),
            ("edits", {"prompt": "x", "video": {"file_id": long_clip}}, ["video.file_id", "8.7"]),
            (
                "generations",
                {"prompt": "x", "image": {"file_id": image, "url": "https://example.com/a.png"}},
                ["image", "exactly one"],
            ),
        ]
        for endpoint, body, words in cases:
            assert_error(c.post(f"/v1/videos/{endpoint}", json=body), 400, *words)
        missing = {"prompt": "x", "video": {"file_id": "file_missing"}}
        assert_error(c.post("/v1/videos/edits", json=missing), 404, "video.file_id", "file_missing")


def test_a_pending_job_survives_deleting_its_file(make_server, tmp_path):
    """The job takes its own copy of the file when it is accepted."""
    data = tmp_path / "pending"
    srv = make_server("--workers", "0", data_dir=data)
    image = synthetic_image(848, 480, seed=8)
    with srv.client() as c:
        file = upload(c, png_bytes(image))
        request_id = create(
            c, {"prompt": "static", "duration": 1, "image": {"file_id": file["id"]}}
        )
        assert c.delete(f"/v1/files/{file['id']}").status_code == 200
        assert_error(c.get(f"/v1/files/{file['id']}/content"), 404)
        assert c.get(f"/v1/videos/{request_id}").status_code == 202  # nobody renders it yet
    assert not (data / "files" / "files" / file["id"]).exists()
    srv.stop()
    srv.args = ["--workers", "1"]
    srv.start()
    with srv.client() as c:
        done = wait_done(c, request_id)
    assert done["status"] == "done", done
    first = decode_mp4(download(done["video"]["url"])).frames[0]
    assert psnr(first, fit_image(image, 848, 480)) >= 30


def test_openapi_describes_the_files_api(server):
    paths = httpx.get(f"{server.base_url}/openapi.json").json()["paths"]
    assert {"/v1/files", "/v1/files/{file_id}", "/v1/files/{file_id}/content"} <= set(paths)
    upload_body = paths["/v1/files"]["post"]["requestBody"]["content"]["multipart/form-data"]
    assert upload_body["schema"]["required"] == ["file"]
    assert "delete" in paths["/v1/files/{file_id}"]
