"""Every mode as the product documents it, measured on decoded frames and audio."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from reelforge.media.fit import fit_image
from tests.e2e.test_api import assert_error
from tests.helpers import (
    create,
    data_url,
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


def video_url(data: bytes) -> dict:
    return {"url": data_url(data, "video/mp4")}


@pytest.fixture(scope="module")
def own_clip(server) -> bytes:
    """A 3 s 480p clip made by Reelforge itself, with audio: the usual thing to extend."""
    with server.client() as c:
        done = generate(c, {"prompt": "a cat walks on the beach, pan right", "duration": 3})
    return download(done["video"]["url"])


def band_energy(audio: np.ndarray, rate: int, low: float, high: float) -> float:
    spectrum = np.abs(np.fft.rfft(audio.mean(axis=1))) ** 2
    freqs = np.fft.rfftfreq(len(audio), 1 / rate)
    return float(spectrum[(freqs >= low) & (freqs <= high)].sum())


# --- extension ------------------------------------------------------------------------------


def test_extension_of_our_own_clip_keeps_every_frame_and_the_audio(server, own_clip):
    with server.client() as c:
        done = generate(
            c,
            {"prompt": "the cat runs off", "duration": 2, "video": video_url(own_clip)},
            "extensions",
        )
    assert done["video"]["duration"] == 5
    original, extended = decode_mp4(own_clip), decode_mp4(download(done["video"]["url"]))
    assert (extended.width, extended.height, len(extended.frames)) == (848, 480, 120)
    for n, (a, b) in enumerate(zip(original.frames, extended.frames[:72], strict=True)):
        assert psnr(a, b) >= 35, n  # copied packet for packet: identical in fact
    assert psnr(original.frames[-1], extended.frames[72]) >= 25  # continues from the last frame
    # the input's audio is kept under its frames, and the track goes on to the end
    assert abs(extended.audio_duration - 5.0) < 0.1
    head = slice(2400, 3 * 48000 - 24000)  # skip codec priming and the cross-fade
    kept, before = extended.audio[head], original.audio[head]
    assert np.corrcoef(kept.ravel(), before.ravel())[0, 1] > 0.9
    assert np.abs(extended.audio[3 * 48000 + 12000 :]).mean() > 1e-3  # not silent after the join


def test_extension_of_a_foreign_clip_re_encodes_faithfully(server):
    source = mp4_bytes(2.0, 320, 180)  # another encoder's settings: cannot be copied
    with server.client() as c:
        done = generate(
            c, {"prompt": "zoom in", "duration": 3, "video": video_url(source)}, "extensions"
        )
    extended = decode_mp4(download(done["video"]["url"]))
    assert len(extended.frames) == 48 + 72
    for a, b in zip(decode_mp4(source).frames, extended.frames[:48], strict=True):
        assert psnr(a, b) >= 35


def test_extension_caps_resolution_at_720p(server):
    with server.client() as c:
        done = generate(
            c,
            {
                "prompt": "pan left",
                "duration": 2,
                "generate_audio": False,
                "video": video_url(mp4_bytes(2.0, 1920, 1080)),
            },
            "extensions",
        )
    extended = decode_mp4(download(done["video"]["url"]))
    assert (extended.width, extended.height, len(extended.frames)) == (1280, 720, 96)
    assert extended.audio is None


@pytest.mark.parametrize(
    "body,words",
    [
        ({"duration": 1}, ["duration", "2", "10"]),
        ({"duration": 11}, ["duration"]),
        ({"aspect_ratio": "1:1"}, ["aspect_ratio"]),
    ],
)
def test_extension_limits(server, own_clip, body, words):
    with server.client() as c:
        r = c.post(
            "/v1/videos/extensions", json={"prompt": "x", "video": video_url(own_clip), **body}
        )
    assert_error(r, 400, *words)


def test_extension_input_length_limits(server):
    with server.client() as c:
        short = c.post(
            "/v1/videos/extensions",
            json={"prompt": "x", "video": video_url(mp4_bytes(1.5, 64, 64))},
        )
        long = c.post(
            "/v1/videos/extensions",
            json={"prompt": "x", "video": video_url(mp4_bytes(15.5, 64, 64))},
        )
    assert_error(short, 400, "2-15")
    assert_error(long, 400, "2-15")


# --- reference-to-video ---------------------------------------------------------------------

COLOURS = [(255, 0, 255), (0, 255, 255), (255, 255, 0)]


def reference(colour: tuple[int, int, int]) -> np.ndarray:
    """A flat, unmistakable colour with a white cross, so it cannot be mistaken for scenery."""
    img = np.full((120, 120, 3), colour, np.uint8)
    img[55:65, :] = 255
    img[:, 55:65] = 255
    return img


def coverage(frame: np.ndarray, colour: tuple[int, int, int]) -> float:
    close = np.abs(frame.astype(int) - np.array(colour)).max(axis=-1) < 40
    return float(close.mean())


@pytest.mark.parametrize(
    "prompt",
    [
        "<IMAGE_1> chases <IMAGE_2> while <IMAGE_3> watches",
        "<IMAGE_0> chases <IMAGE_1> while <IMAGE_2> watches",
        "three friends in a park",
    ],
)
def test_every_reference_appears(server, prompt):
    refs = [{"url": data_url(png_bytes(reference(c)))} for c in COLOURS]
    with server.client() as c:
        done = generate(
            c, {"prompt": prompt, "duration": 3, "reference_images": refs, "generate_audio": False}
        )
    frames = decode_mp4(download(done["video"]["url"])).frames
    assert len(frames) == 72
    for colour in COLOURS:
        assert max(coverage(f, colour) for f in frames) > 0.01, colour


def test_reference_limits(server):
    ref = {"url": data_url(png_bytes(reference(COLOURS[0])))}
    with server.client() as c:
        assert_error(
            c.post("/v1/videos/generations", json={"prompt": "x", "reference_images": [ref] * 8}),
            400,
            "7",
        )
        assert_error(
            c.post(
                "/v1/videos/generations",
                json={"prompt": "x", "duration": 11, "reference_images": [ref]},
            ),
            400,
            "10",
        )
        assert_error(
            c.post(
                "/v1/videos/generations",
                json={
                    "model": V15,
                    "prompt": "x",
                    "resolution": "1080p",
                    "reference_images": [ref],
                },
            ),
            400,
            "resolution",
        )


# --- 1.5 frame pinning ------------------------------------------------------------------------


def photo(seed: int) -> np.ndarray:
    return synthetic_image(640, 360, seed=seed)


def test_first_last_and_keyframes_are_exact_and_motion_is_smooth(server):
    first, last, k1, k2 = (photo(s) for s in (11, 12, 13, 14))
    url = lambda img: {"url": data_url(png_bytes(img))}  # noqa: E731
    with server.client() as c:
        done = generate(
            c,
            {
                "model": V15,
                "prompt": "slow push in",
                "duration": 4,
                "image": url(first),
                "last_frame": url(last),
                "generate_audio": False,
                "keyframes": [
                    {"image": url(k2), "timestamp_s": 2.5},
                    {"image": url(k1), "timestamp_s": 1.0},
                ],
            },
        )
    assert done["usage"]["cost_in_usd_ticks"] == 4 * 800_000_000 + 4 * 100_000_000
    frames = decode_mp4(download(done["video"]["url"])).frames
    assert len(frames) == 96
    for index, pin in ((0, first), (24, k1), (60, k2), (95, last)):
        assert psnr(frames[index], fit_image(pin, 848, 480)) >= 30, index
    steps = [np.abs(b.astype(int) - a.astype(int)).mean() for a, b in itertools.pairwise(frames)]
    between = np.abs(frames[24].astype(int) - frames[60].astype(int)).mean()
    assert max(steps) < 0.5 * between  # no hard cut between pins


def test_last_frame_alone_and_pins_with_references(server):
    last = photo(21)
    ref = {"url": data_url(png_bytes(reference(COLOURS[1])))}
    with server.client() as c:
        alone = generate(
            c,
            {
                "model": V15,
                "prompt": "a sunset",
                "duration": 2,
                "generate_audio": False,
                "last_frame": {"url": data_url(png_bytes(last))},
            },
        )
        with_refs = generate(
            c,
            {
                "model": V15,
                "prompt": "<IMAGE_1> arrives",
                "duration": 2,
                "generate_audio": False,
                "image": {"url": data_url(png_bytes(last))},
                "reference_images": [ref],
            },
        )
    frames = decode_mp4(download(alone["video"]["url"])).frames
    assert psnr(frames[-1], fit_image(last, 848, 480)) >= 30
    assert psnr(frames[0], fit_image(last, 848, 480)) < 25  # it starts elsewhere
    frames = decode_mp4(download(with_refs["video"]["url"])).frames
    assert psnr(frames[0], fit_image(last, 848, 480)) >= 30
    assert max(coverage(f, COLOURS[1]) for f in frames) > 0.01


@pytest.mark.parametrize(
    "extra,words",
    [
        (
            {
                "keyframes": [
                    {"image": {"url": "IMG"}, "timestamp_s": 1.0},
                    {"image": {"url": "IMG"}, "timestamp_s": 1.2},
                ]
            },
            ["1/3"],
        ),
        ({"keyframes": [{"image": {"url": "IMG"}, "timestamp_s": 4.0}]}, ["strictly"]),
        (
            {
                "keyframes": [
                    {"image": {"url": "IMG"}, "timestamp_s": t} for t in (0.5, 1, 1.5, 2, 2.5)
                ]
            },
            ["at most 4"],
        ),
    ],
)
def test_keyframe_rules_over_the_wire(server, extra, words):
    img = data_url(png_bytes(photo(1)))
    body = {"model": V15, "prompt": "x", "duration": 4, **extra}
    for k in body.get("keyframes", []):
        k["image"]["url"] = img
    with server.client() as c:
        assert_error(c.post("/v1/videos/generations", json=body), 400, "keyframes", *words)


def test_pinning_needs_a_model_that_allows_it(server):
    img = {"url": data_url(png_bytes(photo(2)))}
    with server.client() as c:
        assert_error(
            c.post("/v1/videos/generations", json={"prompt": "x", "last_frame": img}),
            400,
            "last_frame",
        )
        assert_error(
            c.post(
                "/v1/videos/generations",
                json={"prompt": "x", "keyframes": [{"image": img, "timestamp_s": 1}]},
            ),
            400,
            "keyframes",
        )
        assert_error(
            c.post("/v1/videos/generations", json={"prompt": "x", "resolution": "1080p"}),
            400,
            "1080p",
        )


# --- audio ------------------------------------------------------------------------------------


def test_voices_audibly_change_the_track(server):
    body = {"model": V15, "prompt": "<AUDIO_0> tells a story by the fire", "duration": 3}
    with server.client() as c:
        plain = generate(c, body)
        voiced = generate(c, {**body, "reference_audios": [{"voice_id": "Eve"}]})
        other = generate(c, {**body, "reference_audios": [{"voice_id": "rex"}]})
        bad = c.post(
            "/v1/videos/generations", json={**body, "reference_audios": [{"voice_id": "nobody"}]}
        )
    assert_error(bad, 400, "nobody", "ara", "eve")
    tracks = [decode_mp4(download(r["video"]["url"])) for r in (plain, voiced, other)]
    for t in tracks:
        assert abs(t.audio_duration - 3.0) < 0.1
    speech = [band_energy(t.audio, t.audio_rate, 100, 3000) for t in tracks]
    assert speech[1] > 1.5 * speech[0] and speech[2] > 1.5 * speech[0]  # a voice joins the track
    eve, rex = (t.audio.ravel()[:100_000] for t in tracks[1:])
    assert np.corrcoef(eve, rex)[0, 1] < 0.9  # and each voice sounds different


def test_generate_audio_false_means_no_audio_stream(server):
    with server.client() as c:
        done = wait_done(c, create(c, {"prompt": "quiet", "duration": 1, "generate_audio": False}))
    assert decode_mp4(download(done["video"]["url"])).audio is None
