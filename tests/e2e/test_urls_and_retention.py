"""Signed, expiring video URLs with Range support; retention turns jobs `expired`."""

from __future__ import annotations

import time
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx

from tests.helpers import create, generate, wait_done


def with_query(url: str, **changes) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()} | changes
    return urlunsplit(parts._replace(query=urlencode(query)))


def test_signed_url_range_and_tampering(server):
    with server.client() as c:
        done = generate(c, {"prompt": "a cat", "duration": 1, "generate_audio": False})
    url = done["video"]["url"]
    full = httpx.get(url)
    assert full.status_code == 200 and full.headers["content-type"] == "video/mp4"
    assert full.headers.get("accept-ranges") == "bytes"
    part = httpx.get(url, headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == full.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(full.content)}"
    # moov before mdat: +faststart, so players start before the whole file arrives
    assert full.content.index(b"moov") < full.content.index(b"mdat")

    signature = parse_qs(urlsplit(url).query)["signature"][0]
    forged = signature[:-1] + ("0" if signature[-1] != "0" else "1")
    assert httpx.get(with_query(url, signature=forged)).status_code == 403
    later = int(parse_qs(urlsplit(url).query)["expires"][0]) + 3600
    assert httpx.get(with_query(url, expires=str(later))).status_code == 403
    other = url.replace("/videos/", "/videos/x")
    assert httpx.get(other).status_code in (403, 404)
    assert httpx.get(url.split("?")[0]).status_code == 403


def test_url_expires_after_ttl(make_server):
    srv = make_server("--url-ttl", "2")
    with srv.client() as c:
        done = generate(c, {"prompt": "a dog", "duration": 1, "generate_audio": False})
    url = done["video"]["url"]
    assert httpx.get(url).status_code == 200
    time.sleep(3)
    assert httpx.get(url).status_code == 403


def test_retention_expires_jobs_and_removes_files(make_server, tmp_path):
    data = tmp_path / "retained"
    srv = make_server("--retention", "3", data_dir=data)
    with srv.client() as c:
        request_id = create(c, {"prompt": "sunset over the ocean", "duration": 1})
        url = wait_done(c, request_id)["video"]["url"]
        videos = list((data / "files" / "videos").glob(f"{request_id}-*.mp4"))
        assert len(videos) == 1
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            status = c.get(f"/v1/videos/{request_id}")
            if status.json()["status"] == "expired":
                break
            time.sleep(0.3)
    assert status.status_code == 200 and status.json()["status"] == "expired"
    assert "video" not in status.json()
    deadline = time.monotonic() + 10  # the janitor removes the file on its next sweep
    while time.monotonic() < deadline and videos[0].exists():
        time.sleep(0.2)
    assert not videos[0].exists()
    assert httpx.get(url).status_code in (403, 404)
