"""Input URLs: private addresses refused, real fetches over HTTP, failures after acceptance."""

from __future__ import annotations

import pytest

from tests.e2e.test_api import assert_error
from tests.helpers import create, mp4_bytes, png_bytes, serve_files, synthetic_image, wait_done


@pytest.fixture
def http_files():
    """A real HTTP server on 127.0.0.1 serving a few inputs; anything else is 404."""
    files = {
        "/cat.png": (png_bytes(synthetic_image(200, 120)), "image/png"),
        "/junk.mp4": (b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 64, "video/mp4"),
        "/long.mp4": (mp4_bytes(9.0, 64, 64), "video/mp4"),
    }
    with serve_files(files) as url:
        yield url


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/a.png",
        "http://localhost/a.png",
        "http://10.0.0.1/a.png",
        "http://192.168.1.1/a.png",
        "http://172.16.0.1/a.png",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]/a.png",
        "http://0.0.0.0/a.png",
    ],
)
def test_private_addresses_are_refused(server, url):
    with server.client() as c:
        r = c.post("/v1/videos/generations", json={"prompt": "x", "image": {"url": url}})
    assert_error(r, 400, "image.url")


def test_private_fetch_refused_even_for_reference_images(server, http_files):
    with server.client() as c:
        r = c.post(
            "/v1/videos/generations",
            json={"prompt": "x", "reference_images": [{"url": f"{http_files}/cat.png"}]},
        )
    assert_error(r, 400, "reference_images[0].url")


def test_fetch_over_http_when_private_urls_allowed(make_server, http_files):
    srv = make_server("--allow-private-urls")
    with srv.client() as c:
        done = wait_done(
            c,
            create(
                c, {"prompt": "zoom in", "duration": 1, "image": {"url": f"{http_files}/cat.png"}}
            ),
        )
        assert done["status"] == "done"
        # accepted (the host is fine) but the fetch fails: the job fails with a contract code
        failed = wait_done(
            c,
            create(
                c, {"prompt": "x", "duration": 1, "image": {"url": f"{http_files}/missing.png"}}
            ),
        )
    assert failed["status"] == "failed"
    assert (
        failed["error"]["code"] == "invalid_argument" and "image.url" in failed["error"]["message"]
    )


def test_bad_videos_found_while_rendering_fail_the_job_and_the_worker_carries_on(
    make_server, http_files
):
    srv = make_server("--allow-private-urls", "--workers", "1")
    with srv.client() as c:
        junk = wait_done(
            c, create(c, {"prompt": "sepia", "video": {"url": f"{http_files}/junk.mp4"}}, "edits")
        )
        too_long = wait_done(
            c, create(c, {"prompt": "sepia", "video": {"url": f"{http_files}/long.mp4"}}, "edits")
        )
        after = wait_done(c, create(c, {"prompt": "a cat", "duration": 1}))
    assert junk["status"] == "failed" and junk["error"]["code"] == "invalid_argument"
    assert "video.url" in junk["error"]["message"]
    assert too_long["status"] == "failed" and "8.7" in too_long["error"]["message"]
    assert after["status"] == "done"
