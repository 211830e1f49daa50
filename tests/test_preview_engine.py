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
from reelforge.engines.preview.audio import procedural_audio
from reelforge.engines.preview.references import (
    direct,
    motion_of,
    placeholders,
    strip_placeholders,
)
from reelforge.engines.preview.scene import CameraMove, read_camera, read_prompt
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


# Reference-to-video: placeholders and direction (small frames from here on, to stay fast)

SW, SH = 320, 180
SOLIDS = (
    (13, 250, 171),
    (250, 13, 171),
    (171, 13, 250),
    (13, 171, 250),
    (250, 171, 13),
    (171, 250, 13),
    (128, 0, 255),
)


def small(
    prompt: str = "",
    *,
    frames: int = 24,
    width: int = SW,
    height: int = SH,
    seed: int = 1,
    **kw: object,
) -> RenderRequest:
    return RenderRequest(
        mode="reference-to-video" if "reference_images" in kw else "image-to-video",
        prompt=prompt,
        width=width,
        height=height,
        num_frames=frames,
        seed=seed,
        generate_audio=False,
        **kw,
    )  # type: ignore[arg-type]


def solid(colour: tuple[int, int, int], width: int = 120, height: int = 120) -> np.ndarray:
    return np.full((height, width, 3), colour, np.uint8)


def card_box(frame: np.ndarray, colour: tuple[int, int, int]) -> tuple[int, float, float] | None:
    """(height, centre x, centre y) of the region showing `colour` when it is a whole card:
    a filled rectangle (nothing covers it); None when the colour is absent or broken up."""
    close = np.all(np.abs(frame.astype(np.int16) - colour) <= 6, axis=-1)
    if not close.any():
        return None
    ys, xs = np.nonzero(close)
    h, w = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
    if close.sum() < 0.9 * h * w:
        return None
    return int(h), float(xs.mean()), float(ys.mean())


def test_placeholders_count_from_one_unless_image_0_appears() -> None:
    one = placeholders("<IMAGE_1> walks left. Then <IMAGE_2> sits", 2)
    assert [(m.reference, m.phrase) for m in one] == [(0, "walks left"), (1, "sits")]
    zero = placeholders("<IMAGE_1> chases <IMAGE_0> to the right", 2)
    assert [(m.reference, m.phrase) for m in zero] == [(1, "chases"), (0, "to the right")]
    assert [m.reference for m in placeholders("<image_2> and <Image_1>", 3)] == [1, 0]
    assert placeholders("no placeholders here", 3) == []


def test_placeholders_out_of_range_are_ignored() -> None:
    assert [m.reference for m in placeholders("<IMAGE_3> and <IMAGE_2> and <IMAGE_1>", 2)] == [
        1,
        0,
    ]
    assert [m.reference for m in placeholders("<IMAGE_0> <IMAGE_7> <IMAGE_6>", 7)] == [0, 6]
    assert placeholders("<IMAGE_1>", 0) == []


def test_prompt_directs_order_prominence_and_motion() -> None:
    roles = direct("<IMAGE_3> walks left while <IMAGE_1> rises; <IMAGE_3> waves", 4)
    by_ref = {r.reference: r for r in roles}
    assert [by_ref[i].order for i in range(4)] == [1, 2, 0, 3]
    assert by_ref[2].prominence == 2 and by_ref[0].prominence == 1 and by_ref[1].prominence == 0
    assert by_ref[2].weight > by_ref[0].weight > by_ref[1].weight
    assert (by_ref[2].motion, by_ref[2].dx) == ("slide", -1)
    assert (by_ref[0].motion, by_ref[0].dy) == ("slide", -1)
    assert by_ref[1].motion == by_ref[3].motion == "drift"
    assert motion_of("approaches the camera")[0] == "grow"
    assert motion_of("walks away")[0] == "shrink"
    assert motion_of("bounces happily")[0] == "bounce"
    assert motion_of("is on the table")[0] == "drift"


def test_placeholders_do_not_count_as_scene_words() -> None:
    scene = read_prompt(strip_placeholders("<IMAGE_2> cat"), 0)
    assert {s.kind: s.count for s in scene.subjects}["cat"] == 1


@pytest.mark.parametrize("size", [(SW, SH), (96, 160), (160, 160)])
def test_every_reference_shows_whole_and_large_in_a_one_second_clip(size: tuple) -> None:
    w, h = size
    refs = tuple(solid(c, 100 + 17 * k, 120) for k, c in enumerate(SOLIDS))
    frames = raw(small("an abstract dream", width=w, height=h, reference_images=refs))
    for colour in SOLIDS:
        boxes = [card_box(f, colour) for f in frames]
        whole = [b for b in boxes if b is not None and b[0] >= h / 6]
        assert len(whole) >= 12, colour  # at least half a second, whole and large


def test_references_take_turns_each_whole_for_over_a_second() -> None:
    refs = tuple(solid(c) for c in SOLIDS[:3])
    frames = raw(small("a calm lake", frames=24 * 6, reference_images=refs))
    firsts = []
    for colour in SOLIDS[:3]:
        whole = [i for i, f in enumerate(frames) if (b := card_box(f, colour)) and b[0] >= SH / 6]
        assert len(whole) >= 24, colour
        firsts.append(whole[0])
    assert firsts == sorted(firsts)  # unmentioned: list order
    assert card_box(frames[0], SOLIDS[0]) is not None


def test_first_mentioned_reference_comes_first_and_gets_more_time() -> None:
    refs = tuple(solid(c) for c in SOLIDS[:2])
    frames = raw(small("a meadow where <IMAGE_2> dances", frames=24 * 5, reference_images=refs))
    seen = [[card_box(f, c) is not None for f in frames] for c in SOLIDS[:2]]
    assert seen[1][0] and not seen[0][0]
    assert sum(seen[1]) > 1.5 * sum(seen[0]) >= 36


def test_lead_reference_is_largest_when_all_share_the_screen() -> None:
    refs = tuple(solid(c) for c in SOLIDS[:3])
    frame = raw(small("<IMAGE_2> stands still", frames=6, reference_images=refs))[3]
    heights = [card_box(frame, c)[0] for c in SOLIDS[:3]]  # type: ignore[index]
    assert heights[1] > heights[0] and heights[1] > heights[2]


@pytest.mark.parametrize(
    "phrase,axis,sign",
    [("walks left", 1, -1), ("drives to the right", 1, 1), ("rises", 2, -1), ("falls", 2, 1)],
)
def test_phrase_after_a_placeholder_moves_its_card(phrase: str, axis: int, sign: int) -> None:
    frames = raw(small(f"<IMAGE_1> {phrase}", frames=36, reference_images=(solid(SOLIDS[0]),)))
    start, end = card_box(frames[0], SOLIDS[0]), card_box(frames[-1], SOLIDS[0])
    assert start is not None and end is not None
    assert sign * (end[axis] - start[axis]) > 10


def test_growing_reference_grows() -> None:
    frames = raw(small("<IMAGE_1> approaches", frames=36, reference_images=(solid(SOLIDS[0]),)))
    start, end = card_box(frames[0], SOLIDS[0]), card_box(frames[-1], SOLIDS[0])
    assert start is not None and end is not None and end[0] > start[0] * 1.15


def test_reference_clip_is_deterministic() -> None:
    request = small(
        "<IMAGE_1> bounces past <IMAGE_2>", reference_images=(photo(), solid(SOLIDS[1]))
    )
    a, b = raw(request), raw(request)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


# Frame pinning (1.5)


def pictures() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three clearly different pictures: two photo-like, one of hard-edged shapes and stripes
    (where a camera move stepping whole pixels would show)."""
    first = photo()
    second = photo(500, 300)[::-1, ::-1].copy()
    second[..., 0] = 255 - second[..., 0]
    third = np.full((300, 400, 3), (235, 225, 200), np.uint8)
    for x in range(0, 400, 24):  # stripes
        third[:, x : x + 4] = (40, 40, 70)
    third[40:140, 40:180] = (200, 30, 40)
    third[170:280, 220:370] = (20, 120, 200)
    yy, xx = np.mgrid[0:300, 0:400]
    third[(yy - 90) ** 2 + (xx - 300) ** 2 < 50**2] = (250, 200, 0)
    return first, second, third


def mad(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a.astype(np.int16) - b).mean())


def pin_indices(request: RenderRequest) -> dict[int, np.ndarray]:
    pins = {}
    if request.image is not None:
        pins[0] = request.image
    pins.update(dict(request.keyframes))
    if request.last_frame is not None:
        pins[request.num_frames - 1] = request.last_frame
    return pins


def assert_no_cuts(frames: list[np.ndarray], pins: dict[int, np.ndarray]) -> None:
    """Between consecutive pins, no step is more than a fifth of the way from one to the other."""
    order = sorted(pins)
    for a, b in itertools.pairwise(order):
        span = mad(frames[a], frames[b])
        steps = [mad(x, y) for x, y in itertools.pairwise(frames[a : b + 1])]
        assert max(steps) <= 0.2 * span + 1.5, (a, b, max(steps), span)


PIN_CASES = {
    "first and last": dict(frames=24, image="0", last_frame="1"),
    "first, keyframes, last": dict(
        frames=60, image="0", keyframes=((12, "2"), (36, "1")), last="2"
    ),
    "last only": dict(frames=36, last_frame="1"),
    "keyframe only": dict(frames=48, keyframes=((20, "2"),)),
    "first and keyframe": dict(frames=48, image="1", keyframes=((24, "0"),)),
}


def pinned_request(case: str, prompt: str = "a dog on a beach, slow pan left", **kw: object):
    spec = dict(PIN_CASES[case])
    images = pictures()
    frames = int(spec.pop("frames"))  # type: ignore[arg-type]
    args: dict[str, object] = {}
    if "image" in spec:
        args["image"] = images[int(spec["image"])]  # type: ignore[arg-type]
    if "last_frame" in spec:
        args["last_frame"] = images[int(spec["last_frame"])]  # type: ignore[arg-type]
    if "last" in spec:
        args["last_frame"] = images[int(spec["last"])]  # type: ignore[arg-type]
    if "keyframes" in spec:
        args["keyframes"] = tuple((i, images[int(k)]) for i, k in spec["keyframes"])  # type: ignore[union-attr]
    return small(prompt, frames=frames, **args, **kw)


@pytest.mark.parametrize("case", list(PIN_CASES))
def test_pinned_frames_are_exact_and_motion_between_them_is_smooth(case: str) -> None:
    request = pinned_request(case)
    frames = raw(request)
    assert len(frames) == request.num_frames
    pins = pin_indices(request)
    for index, image in pins.items():
        assert np.array_equal(frames[index], fit_image(image, SW, SH)), index
    assert_no_cuts(frames, pins)
    if request.image is None:  # the clip opens on the procedural scene, not on a pin
        first_pin = fit_image(pins[min(pins)], SW, SH)
        assert mad(frames[0], first_pin) > 20
        steps = [mad(x, y) for x, y in itertools.pairwise(frames[: min(pins) + 1])]
        assert max(steps) <= 0.2 * mad(frames[0], first_pin) + 1.5


def test_pins_between_solid_colours_cross_fade_without_a_cut() -> None:
    red, blue = solid((220, 30, 30)), solid((20, 60, 220))
    frames = raw(small("static camera", frames=24, image=red, last_frame=blue))
    steps = [mad(x, y) for x, y in itertools.pairwise(frames)]
    assert max(steps) <= 0.08 * mad(frames[0], frames[-1])
    assert all(s > 0 for s in steps)  # it keeps moving: no held frames


def test_pins_are_deterministic() -> None:
    request = pinned_request("first, keyframes, last")
    a, b = raw(request), raw(request)
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))


def test_pins_with_references_keep_the_pins_and_show_the_references() -> None:
    request = pinned_request(
        "first and last",
        "<IMAGE_2> walks left",
        reference_images=(solid(SOLIDS[0]), solid(SOLIDS[1])),
    )
    frames = raw(request)
    for index, image in pin_indices(request).items():
        assert np.array_equal(frames[index], fit_image(image, SW, SH))
    for colour in SOLIDS[:2]:
        assert sum(card_box(f, colour) is not None for f in frames) >= 6, colour


def test_encoded_pins_survive_x264(tmp_path: Path) -> None:
    first, second, _ = pictures()
    request = small(
        "a dog on a beach, slow pan left",
        frames=60,
        image=first,
        keyframes=((12, second), (36, first)),
        last_frame=second,
    )
    info = encode_and_decode(request, tmp_path / "pins.mp4")
    frames = info["frames"]
    assert len(frames) == request.num_frames
    pins = pin_indices(request)
    for index, image in pins.items():
        assert psnr(frames[index], fit_image(image, SW, SH)) >= 30, index
    assert_no_cuts(frames, pins)


def test_encoded_last_frame_only_ends_on_the_picture(tmp_path: Path) -> None:
    request = pinned_request("last only", "a red ball in a park")
    frames = encode_and_decode(request, tmp_path / "last.mp4")["frames"]
    last = fit_image(request.last_frame, SW, SH)  # type: ignore[arg-type]
    assert psnr(frames[-1], last) >= 30
    assert psnr(frames[0], last) < 20


# Extension: the new segment continues from the source's last frame


def test_extension_starts_exactly_on_the_last_frame_and_moves_on_smoothly() -> None:
    last = pictures()[2]  # fine detail shows any resampling step at once
    for prompt in ("", "zoom out", "the camera pans right"):
        request = RenderRequest(
            mode="extension",
            prompt=prompt,
            width=SW,
            height=SH,
            num_frames=36,
            seed=3,
            generate_audio=False,
            image=last,
        )
        frames = raw(request)
        assert np.array_equal(frames[0], fit_image(last, SW, SH))
        steps = [mad(x, y) for x, y in itertools.pairwise(frames)]
        assert steps[0] <= max(steps[1:6]) + 0.5, (prompt, steps[:6])
        assert mad(frames[0], frames[-1]) > 5  # and it does move on
