"""Requests Schemathesis found that once got a 500: each is now a clear 400 naming its field."""

from __future__ import annotations

import pytest

from reelforge.core.units import whole_number
from tests.test_api_inprocess import backend, call  # noqa: F401 - the backend fixture

AWKWARD = ["²", "٣x", "9" * 5000, "", " ", "-1", "1.5"]


@pytest.mark.parametrize("raw", AWKWARD)
def test_whole_numbers_as_written(raw):
    assert whole_number(raw) is None


def test_whole_numbers_accept_what_int_reads():
    assert whole_number(" 42 ") == 42 and whole_number("٣") == 3


def test_awkward_numbers_are_400s_not_500s(backend):  # noqa: F811
    listing, openai_listing, duration, upload = call(
        backend,
        ("GET", "/v1/video-requests", {"params": {"limit": "²"}}),
        ("GET", "/v1/videos", {"params": {"limit": "²"}}),
        ("POST", "/v1/videos/generations", {"json": {"prompt": "a cat", "duration": "²"}}),
        (
            "POST",
            "/v1/files",
            {"files": {"file": ("a.png", b"\x89PNG")}, "data": {"expires_after": "9" * 5000}},
        ),
    )
    assert listing.status_code == 400 and listing.json()["error"].startswith("limit:")
    assert openai_listing.status_code == 400  # (in OpenAI's error shape)
    assert duration.status_code == 400 and duration.json()["error"].startswith("duration:")
    assert upload.status_code == 400 and upload.json()["error"].startswith("expires_after:")
