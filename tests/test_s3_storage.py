"""S3 storage against a real S3-compatible server on loopback (s3rver)."""

from __future__ import annotations

import os
import time

import httpx
import pytest

from reelforge.storage import StorageError, open_storage
from reelforge.storage.s3 import S3Storage, parse_s3_url
from tests.s3_server import CREDENTIALS


@pytest.fixture(autouse=True)
def _credentials(monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def storage(s3_server) -> S3Storage:
    prefix = f"unit-{time.time_ns()}"
    return open_storage(f"s3://reelforge/{prefix}", endpoint_url=s3_server.endpoint_url)


def test_blobs_round_trip_under_the_prefix(storage, s3_server, tmp_path):
    storage.put_bytes("inputs/job1/0", b"image bytes")
    big = tmp_path / "video.mp4"
    big.write_bytes(os.urandom(9 * 1024 * 1024))  # past boto3's multipart threshold
    expected = big.read_bytes()
    storage.put_file("videos/job1-a.mp4", big)

    assert not big.exists()  # put_file consumes its source, as local storage does
    assert storage.read_bytes("videos/job1-a.mp4") == expected
    assert storage.read_bytes("inputs/job1/0") == b"image bytes"
    with storage.open("inputs/job1/0") as body:
        assert body.read() == b"image bytes"
    assert storage.exists("videos/job1-a.mp4")
    assert storage.local_path("videos/job1-a.mp4") is None
    assert sorted(s3_server.keys("reelforge", storage.prefix + "/")) == [
        f"{storage.prefix}/inputs/job1/0",
        f"{storage.prefix}/videos/job1-a.mp4",
    ]


def test_copy_is_independent_and_missing_keys_read_as_missing(storage):
    storage.put_bytes("files/file_1", b"uploaded")
    storage.copy("files/file_1", "inputs/job2/0")
    storage.delete("files/file_1")
    assert not storage.exists("files/file_1")
    assert storage.read_bytes("inputs/job2/0") == b"uploaded"
    with pytest.raises(FileNotFoundError):
        storage.copy("files/file_1", "inputs/job2/1")
    with pytest.raises(FileNotFoundError):
        storage.read_bytes("files/file_1")
    storage.delete("files/file_1")  # deleting twice is fine


def test_delete_prefix_removes_a_folder_only(storage):
    for n in range(3):
        storage.put_bytes(f"inputs/job3/{n}", b"x")
    storage.put_bytes("inputs/job30/0", b"keep")  # same leading characters, other folder
    storage.delete_prefix("inputs/job3")
    assert not any(storage.exists(f"inputs/job3/{n}") for n in range(3))
    assert storage.exists("inputs/job30/0")


def test_presigned_urls_work_then_expire(storage):
    storage.put_bytes("videos/job4-a.mp4", b"the video")
    url = storage.signed_url("http://ignored", "videos/job4-a.mp4", int(time.time()) + 2)
    assert url.startswith(storage.client.meta.endpoint_url)
    assert "X-Amz-Signature=" in url
    assert httpx.get(url).content == b"the video"
    time.sleep(3.2)
    expired = httpx.get(url)
    assert expired.status_code == 403
    assert "expired" in expired.text


def test_keys_cannot_escape_the_prefix(storage):
    for key in ("../secret", "videos/../../x", "/videos/a", "Videos/a"):
        with pytest.raises(StorageError):
            storage.put_bytes(key, b"x")


def test_bad_locations_fail_at_start_with_the_reason(s3_server):
    with pytest.raises(StorageError, match="s3://BUCKET/PREFIX"):
        parse_s3_url("s3:///no-bucket")
    with pytest.raises(StorageError, match="no-such-bucket"):
        open_storage("s3://no-such-bucket/x", endpoint_url=s3_server.endpoint_url)
