"""Edits and extensions on the preview engine: the input's footage, changed or continued."""

from __future__ import annotations

import numpy as np

from tests.helpers import data_url, decode_mp4, download, generate, mp4_bytes, psnr


def test_edit_keeps_duration_and_size_and_changes_the_frames(server):
    source = mp4_bytes(2.0, 320, 180)
    with server.client() as c:
        done = generate(
            c,
            {"prompt": "make it black and white", "video": {"url": data_url(source, "video/mp4")}},
            "edits",
        )
    assert done["status"] == "done" and done["video"]["duration"] == 2
    # 2 s at 480p plus 2 s of input video
    assert done["usage"]["cost_in_usd_ticks"] == 2 * 500_000_000 + 2 * 100_000_000
    edited = decode_mp4(download(done["video"]["url"]))
    original = decode_mp4(source)
    assert (edited.width, edited.height, len(edited.frames)) == (320, 180, 48)
    for before, after in zip(original.frames[::12], edited.frames[::12], strict=True):
        assert np.ptp(after.astype(int), axis=-1).max() <= 12  # grey: channels agree
        grey_before = before.astype(float) @ [0.299, 0.587, 0.114]
        assert psnr(grey_before, after[..., 1].astype(float)) > 25  # and it is the same footage


def test_unrecognised_edit_prompt_still_changes_the_video(server):
    source = mp4_bytes(1.0, 160, 96)
    with server.client() as c:
        done = generate(
            c, {"prompt": "add a dragon", "video": {"url": data_url(source, "video/mp4")}}, "edits"
        )
    edited = decode_mp4(download(done["video"]["url"]))
    assert psnr(decode_mp4(source).frames[10], edited.frames[10]) < 25


def test_extension_keeps_the_original_and_continues_from_its_last_frame(server):
    source = mp4_bytes(2.0, 320, 180)
    with server.client() as c:
        done = generate(
            c,
            {
                "prompt": "the camera pans right",
                "duration": 2,
                "video": {"url": data_url(source, "video/mp4")},
            },
            "extensions",
        )
    assert done["video"]["duration"] == 4
    extended = decode_mp4(download(done["video"]["url"]))
    original = decode_mp4(source)
    assert (extended.width, extended.height, len(extended.frames)) == (320, 180, 96)
    assert abs(extended.audio_duration - 4.0) < 0.1
    for a, b in zip(original.frames, extended.frames[:48], strict=True):
        assert psnr(a, b) >= 30
    assert psnr(original.frames[-1], extended.frames[48]) >= 25  # continues from the last frame


def test_edit_of_a_larger_video_is_capped_at_720p(server):
    source = mp4_bytes(1.0, 1920, 1080)
    with server.client() as c:
        done = generate(
            c,
            {
                "prompt": "sepia",
                "video": {"url": data_url(source, "video/mp4")},
                "generate_audio": False,
            },
            "edits",
        )
    video = decode_mp4(download(done["video"]["url"]))
    assert (video.width, video.height) == (1280, 720)
    assert done["usage"]["cost_in_usd_ticks"] == 700_000_000 + 100_000_000


def test_edit_overlays_what_the_prompt_names_on_the_same_footage(server):
    source = mp4_bytes(1.0, 320, 180)
    with server.client() as c:
        done = generate(
            c,
            {
                "prompt": "add a red bird",
                "video": {"url": data_url(source, "video/mp4")},
                "generate_audio": False,
            },
            "edits",
        )
    edited, original = decode_mp4(download(done["video"]["url"])), decode_mp4(source)
    changed = [
        np.abs(a.astype(int) - b.astype(int)).max(axis=-1) > 40
        for a, b in zip(original.frames, edited.frames, strict=True)
    ]
    # a local change: some pixels are new (the bird), most of the footage is untouched
    assert all(0.001 < c.mean() < 0.3 for c in changed[6:18])
    assert np.mean([psnr(a, b) for a, b in zip(original.frames, edited.frames, strict=True)]) > 20
