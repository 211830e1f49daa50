"""The preview engine end to end: rendered, encoded to MP4, decoded and measured."""

from __future__ import annotations

import inspect
import itertools
from pathlib import Path

import av
import numpy as np
import pytest

from reelforge.engines.base import AUDIO_RATE, RenderRequest
from reelforge.engines.preview import PreviewEngine
from reelforge.engines.preview.scene import CameraMove, read_camera, read_prompt
from reelforge.media.audio import procedural_audio
from reelforge.media.encode import encode_clip
from reelforge.media.fit import fit_image

W, H = 848, 480
ODD_COLOUR = (13, 250, 171)  # appears in no palette, sprite or particle


def req(
    prompt: str = "a red ball bouncing in a park",
    *,
    seconds: float = 1.0,
    seed: int = 1,
    audio: bool = False,
    **kw: object,
) -> RenderRequest:
    mode = (
        "image-to-video"
        if "image" in kw
        else ("reference-to-video" if "reference_images" in kw else "text-to-video")
    )
    return RenderRequest(
        mode=mode,
        prompt=prompt,
        width=W,
        height=H,
        num_frames=round(seconds * 24),
        seed=seed,
        generate_audio=audio,
        **kw,
    )  # type: ignore[arg-type]


def raw(request: RenderRequest) -> list[np.ndarray]:
    return list(PreviewEngine().render(request).frames())


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def photo(width: int = 640, height: int = 520) -> np.ndarray:
    """A photo-like test picture (smooth shading, a few shapes), not the output's aspect."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack(
        [
            60 + xx * 150 // width,
            40 + yy * 170 // height,
            120 + 60 * np.sin(xx / 55) * np.cos(yy / 45),
        ],
        axis=-1,
    ).astype(np.uint8)
    image[height // 3 : height // 2, width // 3 : 2 * width // 3] = (230, 200, 40)
    image[2 * height // 3 :, : width // 4] = (40, 50, 140)
    return image


def encode_and_decode(request: RenderRequest, path: Path) -> dict:
    encode_clip(PreviewEngine().render(request), request, path)
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        info = {
            "frames": [f.to_ndarray(format="rgb24") for f in container.decode(video)],
            "fps": float(video.average_rate),
            "size": (video.codec_context.width, video.codec_context.height),
            "audio": None,
        }
        if container.streams.audio:
            audio = container.streams.audio[0]
            info["audio"] = (
                audio.codec_context.name,
                audio.codec_context.layout.nb_channels,
                float(audio.duration * audio.time_base),
            )
    return info


def has_colour(frame: np.ndarray, colour: tuple[int, int, int], tolerance: int = 12) -> float:
    """Share of the frame's pixels within `tolerance` of `colour` on every channel."""
    close = np.all(np.abs(frame.astype(np.int16) - colour) <= tolerance, axis=-1)
    return float(close.mean())


# Text to video


def test_text_to_video_mp4_has_exact_frames_size_fps_and_audio(tmp_path: Path) -> None:
    info = encode_and_decode(req(seconds=1.5, audio=True), tmp_path / "t.mp4")
    assert len(info["frames"]) == 36
    assert info["size"] == (W, H) and info["fps"] == 24
    codec, channels, seconds = info["audio"]
    assert codec == "aac" and channels == 2
    assert seconds == pytest.approx(1.5, abs=0.1)


def test_without_generate_audio_there_is_no_audio_stream(tmp_path: Path) -> None:
    request = req(seconds=0.5, audio=False)
    assert PreviewEngine().render(request).audio() is None
    info = encode_and_decode(request, tmp_path / "q.mp4")
    assert info["audio"] is None and len(info["frames"]) == 12


def test_frames_are_a_generator_of_fresh_rgb_arrays() -> None:
    frames = PreviewEngine().render(req(seconds=0.25)).frames()
    assert inspect.isgenerator(frames)
    first, second = next(frames), next(frames)
    assert first.shape == (H, W, 3) and first.dtype == np.uint8
    assert not np.shares_memory(first, second)


def test_same_request_same_frames() -> None:
    request = req("two cats walking in the city at night, camera pans left", seconds=0.5)
    a, b = raw(request), raw(request)
    assert len(a) == len(b) == 12
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_different_seeds_give_different_clips() -> None:
    a = raw(req("a bird over the ocean", seconds=0.25, seed=1))
    b = raw(req("a bird over the ocean", seconds=0.25, seed=2))
    assert np.abs(a[0].astype(int) - b[0]).mean() > 2


@pytest.mark.parametrize(
    "other",
    [
        "a golden dog running in the desert",
        "neon city street at night with cars",
        "a fish swimming underwater",
        "a rocket flying through space",
    ],
)
def test_different_prompts_look_clearly_different(other: str) -> None:
    base = raw(req("a red ball bouncing in a green park", seconds=0.25))[0]
    frame = raw(req(other, seconds=0.25))[0]
    assert np.abs(base.astype(int) - frame).mean() > 20


def test_colour_words_colour_the_scene() -> None:
    red = raw(req("a red scene", seconds=0.1))[0].reshape(-1, 3).mean(axis=0)
    blue = raw(req("a blue scene", seconds=0.1))[0].reshape(-1, 3).mean(axis=0)
    assert red[0] > red[2] + 20
    assert blue[2] > blue[0] + 20


@pytest.mark.parametrize(
    "prompt",
    [
        "rain falling on a forest, static camera",
        "a house on a hill, locked-off tripod shot",
        "",
        "a cat, slow zoom in",
    ],
)
def test_something_moves_in_every_frame(prompt: str) -> None:
    frames = raw(req(prompt, seconds=1.0))
    assert all(np.any(a != b) for a, b in itertools.pairwise(frames))


@pytest.mark.parametrize(
    "prompt,expected",
    [
        ("slow zoom in on a cat", CameraMove(zoom=1, speed=0.55)),
        ("the camera zooms out", CameraMove(zoom=-1)),
        ("pan left across the bay", CameraMove(pan_x=-1)),
        ("camera pans to the right", CameraMove(pan_x=1)),
        ("tilt up to the sky", CameraMove(pan_y=-1)),
        ("pan down", CameraMove(pan_y=1)),
        ("drone orbits the castle", CameraMove(orbit=True)),
        ("shaky handheld footage", CameraMove(shake=True)),
        ("zoom in and pan left", CameraMove(zoom=1, pan_x=-1)),
        ("static shot of a zoom lens", CameraMove()),
    ],
)
def test_camera_words(prompt: str, expected: CameraMove) -> None:
    move, named = read_camera(prompt)
    assert named and move == expected


def test_unnamed_camera_still_moves_the_view() -> None:
    assert read_camera("a quiet lake")[1] is False
    frames = raw(req("a quiet lake", seconds=1.0))
    assert np.abs(frames[0].astype(int) - frames[-1]).mean() > 1


def test_prompt_subjects_are_read() -> None:
    scene = read_prompt("three cats and a red car near a tree", 0)
    kinds = {s.kind: s for s in scene.subjects}
    assert kinds["cat"].count == 3 and kinds["tree"].count == 1
    assert kinds["car"].colour is not None and kinds["car"].colour[0] > 200


# Image to video


@pytest.mark.parametrize("prompt", ["", "pan left slowly", "zoom out, rain", "a cat walks in"])
def test_image_to_video_starts_on_the_image_then_moves(tmp_path: Path, prompt: str) -> None:
    image = photo()
    info = encode_and_decode(req(prompt, seconds=1.5, image=image), tmp_path / "i.mp4")
    fitted = fit_image(image, W, H)
    frames = info["frames"]
    assert len(frames) == 36
    assert psnr(frames[0], fitted) >= 30
    assert psnr(frames[-1], fitted) < psnr(frames[0], fitted) - 3


def test_image_to_video_first_raw_frame_is_exactly_the_fitted_image() -> None:
    image = photo(300, 700)  # portrait input into a landscape frame: a real crop
    first = next(PreviewEngine().render(req("zoom in", image=image)).frames())
    assert np.array_equal(first, fit_image(image, W, H))


# Reference to video


def test_reference_images_appear_in_the_clip() -> None:
    reference = np.full((300, 240, 3), ODD_COLOUR, np.uint8)
    plain = raw(req("a boat on the ocean", seconds=0.5))
    with_ref = raw(req("a boat on the ocean", seconds=0.5, reference_images=(photo(), reference)))
    assert max(has_colour(f, ODD_COLOUR) for f in plain) == 0
    assert max(has_colour(f, ODD_COLOUR) for f in with_ref) > 0.03


def test_seven_references_all_show() -> None:
    colours = [
        (13, 250, 171),
        (250, 13, 171),
        (171, 13, 250),
        (13, 171, 250),
        (250, 171, 13),
        (171, 250, 13),
        (128, 0, 255),
    ]
    refs = tuple(np.full((200, 200, 3), c, np.uint8) for c in colours)
    frame = raw(req("an abstract dream", seconds=0.1, reference_images=refs))[0]
    for colour in colours:
        assert has_colour(frame, colour, tolerance=3) > 0.005, colour


# Audio


def test_procedural_audio_is_deterministic_stereo_and_prompt_dependent() -> None:
    rain = procedural_audio("rain on a tin roof", 3, 2.0)
    assert rain.shape == (2 * AUDIO_RATE, 2) and rain.dtype == np.float32
    assert np.abs(rain).max() <= 1.0
    assert np.sqrt(np.mean(rain**2)) > 0.02  # not silent
    assert np.abs(rain[:, 0] - rain[:, 1]).mean() > 0.01  # really stereo
    assert np.array_equal(rain, procedural_audio("rain on a tin roof", 3, 2.0))
    city = procedural_audio("city traffic with music", 3, 2.0)
    assert np.abs(rain - city).mean() > 0.02
    other_seed = procedural_audio("rain on a tin roof", 4, 2.0)
    assert not np.array_equal(rain, other_seed)
    assert procedural_audio("x", 0, 0.0).shape == (0, 2)
    assert procedural_audio("x", 0, 1 / 3).shape == (16_000, 2)


def test_clip_audio_spans_the_clip() -> None:
    clip = PreviewEngine().render(req("ocean waves", seconds=1.25, audio=True))
    audio = clip.audio()
    assert audio is not None and audio.shape == (60_000, 2)


def test_engine_rejects_odd_sizes() -> None:
    with pytest.raises(ValueError):
        PreviewEngine().render(
            RenderRequest(
                mode="text-to-video", prompt="x", width=849, height=480, num_frames=1, seed=0
            )
        )
