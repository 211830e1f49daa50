"""Robust input video, end to end: bad bytes refused (400) or failed (`invalid_argument`), the
worker keeps serving, and good non-H.264 inputs (VP9, HEVC, AV1, rotated, odd sizes, VFR) edit.

The corpus comes from tests/test_decode.py's makers; a local http.server serves it by URL.
"""

from __future__ import annotations

import pytest

from reelforge.core.sizes import capped_size
from tests.e2e.test_api import assert_error
from tests.helpers import create, data_url, decode_mp4, download, serve_files, wait_done
from tests.test_decode import (
    assert_upright,
    bad_corpus,
    corrupt_packets,
    encode,
    grey_index,
)

FPS = 24


@pytest.fixture(scope="module")
def corpus() -> dict[str, bytes]:
    """Inputs probing refuses, plus one only decoding finds (corrupt after its first frames)."""
    files = dict(bad_corpus())
    mid_stream = corrupt_packets(encode("mp4", "libx264", frames=72), "mp4", 4)
    return {"refused": files, "mid-stream-corrupt": {"mid-stream-corrupt": mid_stream}}


@pytest.fixture
def http_corpus(corpus):
    """A real HTTP server on 127.0.0.1 serving every corpus file at /<name>."""
    files = {
        f"/{name}": (data, "video/mp4") for group in corpus.values() for name, data in group.items()
    }
    with serve_files(files) as url:
        yield url


def edit_body(url: str) -> dict:
    return {"prompt": "make it black and white", "video": {"url": url}}


def test_bad_videos_are_refused_or_fail_and_the_worker_keeps_serving(
    make_server, corpus, http_corpus
):
    srv = make_server("--workers", "1", "--allow-private-urls")
    refused = corpus["refused"]
    with srv.client() as c:
        # As data URLs, probing at request time refuses them: 400 naming the field.
        for name, data in refused.items():
            r = c.post("/v1/videos/edits", json=edit_body(data_url(data, "video/mp4")))
            assert_error(r, 400, "video.url")
            assert r.json()["code"] == "invalid-argument", (name, r.text)

        # Damage past the first frames is only found while rendering: accepted, then failed.
        bad = corpus["mid-stream-corrupt"]["mid-stream-corrupt"]
        ids = {"data:mid-stream-corrupt": create(c, edit_body(data_url(bad, "video/mp4")), "edits")}
        # By URL nothing is fetched at request time: every one is accepted, then fails.
        for group in corpus.values():
            for name in group:
                ids[name] = create(c, edit_body(f"{http_corpus}/{name}"), "edits")
        # The same single worker then still renders a normal job.
        after = create(c, {"prompt": "a cat", "duration": 1})

        for name, request_id in ids.items():
            done = wait_done(c, request_id, timeout=60)
            assert done["status"] == "failed", (name, done)
            assert done["error"]["code"] == "invalid_argument", (name, done)
            assert "video.url" in done["error"]["message"], (name, done)
            if "mid-stream" in name:
                assert "corrupt" in done["error"]["message"], (name, done)
        assert wait_done(c, after)["status"] == "done"
    assert "Traceback" not in srv.log()


GOOD = [
    # name, container, encoder, upright size, extra encode() arguments
    ("vp9-webm", "webm", "libvpx-vp9", (160, 96), {"audio_s": 2.0}),
    ("hevc-mp4", "mp4", "libx265", (160, 96), {}),
    ("av1-webm", "webm", "libsvtav1", (160, 96), {}),
    ("h264-mov-rotated", "mov", "libx264", (96, 160), {"rotation": 90}),
    ("vp9-webm-odd", "webm", "libvpx-vp9", (161, 91), {}),
    ("h264-mp4-vfr", "mp4", "libx264", (160, 96), {"times": [0, 0.3, 0.32, 0.9, 1.4, 1.95]}),
]


def test_good_non_h264_inputs_edit_end_to_end(make_server):
    srv = make_server("--workers", "2")
    with srv.client() as c:
        ids = {
            name: create(
                c,
                # "vivid" saturates colours and leaves greys alone: the test picture stays readable
                {"prompt": "make it vivid", "video": {"url": data_url(encode(*args, 48, **extra))}},
                "edits",
            )
            for name, *args, extra in GOOD
        }
        results = {name: wait_done(c, request_id) for name, request_id in ids.items()}
    for name, _fmt, _codec, (width, height), _extra in GOOD:
        done = results[name]
        assert done["status"] == "done", (name, done)
        assert done["video"]["duration"] == 2, name
        out = decode_mp4(download(done["video"]["url"]))
        # the input's duration x 24 frames, at its (even) display size, upright
        assert len(out.frames) == 2 * FPS, name
        assert (out.width, out.height) == capped_size(width, height, "720p"), name
        for frame in out.frames[::12]:
            assert_upright(frame)
        if name != "h264-mp4-vfr":
            assert [grey_index(f) for f in out.frames] == [k % 24 for k in range(48)], name
    vfr = decode_mp4(download(results["h264-mp4-vfr"]["video"]["url"]))
    times = GOOD[-1][4]["times"]
    expected = [max(j for j, t in enumerate(times) if t <= k / FPS + 1e-6) for k in range(48)]
    assert [grey_index(f) for f in vfr.frames] == expected
