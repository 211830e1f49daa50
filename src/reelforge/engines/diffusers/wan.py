"""Wan 2.x: each contract mode as a diffusers pipeline call (no torch here; the engine runs it).

- text-to-video: WanPipeline (or WanVACEPipeline with nothing pinned).
- image-to-video: WanImageToVideoPipeline with `image`, and `last_image` for a last frame.
- pinned frames (keyframes, last frame) on a VACE model: WanVACEPipeline with a conditioning
  video holding each pin at its native frame and a mask that is black (keep) there, white
  (generate) elsewhere.
- reference-to-video: WanVACEPipeline `reference_images` (plus any pinned frames).
- extension: VACE conditioned on the input's last `context_frames` native frames (mask black),
  rendering what follows; on an image-to-video model, the input's last frame as `image`.
- edit: WanVideoToVideoPipeline on the input re-timed to the native frame rate.
Every plan renders at the native shape (shapes.py); the engine resamples to the exact output.
"""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image

from reelforge.engines.base import RenderRequest
from reelforge.engines.diffusers import shapes
from reelforge.engines.diffusers.options import DiffusersOptions
from reelforge.media.fit import fit_image

T2V, I2V, VACE, V2V = "t2v", "i2v", "vace", "v2v"
GREY = 128  # "nothing here" in a VACE conditioning video (0 in the model's [-1, 1] range)


@dataclass
class Plan:
    """One pipeline call and which of its frames make the output."""

    kind: str  # T2V, I2V, VACE or V2V
    width: int  # native size
    height: int
    kwargs: dict[str, Any] = field(default_factory=dict)  # mode-specific call arguments
    keep_from: int = 0  # the output is native frames [keep_from, keep_from + keep)
    keep: int | None = None  # None: to the end
    pinned_native: tuple[int, ...] = ()  # native frames conditioned on (for logs and tests)


def route(mode: str, request: RenderRequest, pipeline_kind: str) -> str:
    """Which pipeline renders `mode` for a folder whose model_index names `pipeline_kind`."""
    if mode == "edit":
        return V2V
    if pipeline_kind == "WanVACEPipeline":
        return VACE
    if pipeline_kind == "WanImageToVideoPipeline":
        return I2V
    if mode in ("image-to-video", "extension"):
        return I2V  # Wan 2.2 TI2V: the same weights, image-conditioned
    return T2V


def plan(request: RenderRequest, options: DiffusersOptions, kind: str) -> Plan:
    w, h = shapes.render_size(
        request.width, request.height, options.max_area, options.size_multiple
    )
    native = shapes.native_frames(request.num_frames, request.fps, options.fps)
    fit = lambda rgb: Image.fromarray(fit_image(rgb, w, h))  # noqa: E731
    if kind == T2V:
        return Plan(T2V, w, h, {"num_frames": native})
    if kind == I2V:
        if request.image is None:
            raise ValueError("image-to-video needs an image")
        kwargs: dict[str, Any] = {"num_frames": native, "image": fit(request.image)}
        pinned = [0]
        if request.last_frame is not None:
            kwargs["last_image"] = fit(request.last_frame)
            pinned.append(native - 1)
        return Plan(I2V, w, h, kwargs, pinned_native=tuple(pinned))
    if kind == V2V:
        return _edit(request, options, w, h)
    if request.mode == "extension":
        return _extension(request, options, w, h, fit)
    pins: dict[int, np.ndarray] = {}
    if request.image is not None:
        pins[0] = request.image
    for index, image in request.keyframes:
        pins[shapes.native_index(index, request.num_frames, native)] = image
    if request.last_frame is not None:
        pins[native - 1] = request.last_frame
    kwargs = {"num_frames": native}
    if pins:
        kwargs["video"], kwargs["mask"] = _conditioning(
            native, w, h, {j: fit(p) for j, p in pins.items()}
        )
    if request.reference_images:
        # VACE fits each reference inside the frame itself; hand it a modest copy.
        kwargs["reference_images"] = [_thumbnail(r, w, h) for r in request.reference_images]
    return Plan(VACE, w, h, kwargs, pinned_native=tuple(sorted(pins)))


def _conditioning(
    native: int, w: int, h: int, pins: dict[int, Image.Image]
) -> tuple[list[Image.Image], list[Image.Image]]:
    """A VACE conditioning video and mask: the pins at their frames (mask black), grey and
    white everywhere else."""
    grey = Image.new("RGB", (w, h), (GREY, GREY, GREY))
    keep, free = Image.new("L", (w, h), 0), Image.new("L", (w, h), 255)
    video = [pins.get(j, grey) for j in range(native)]
    mask = [keep if j in pins else free for j in range(native)]
    return video, mask


def _thumbnail(rgb: np.ndarray, w: int, h: int) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8))
    scale = min(1.0, 2 * max(w, h) / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _extension(request: RenderRequest, options: DiffusersOptions, w: int, h: int, fit) -> Plan:
    """VACE: the input's end as pinned context, then the new segment (which starts on the
    input's last frame, as the contract's continuation does)."""
    if request.image is None:
        raise ValueError("an extension needs the input's last frame")
    new = shapes.native_frames(request.num_frames, request.fps, options.fps)
    context = _tail(request, options, w, h) or [fit(request.image)]
    context[-1] = fit(request.image)  # exactly the frame the continuation starts on
    total = shapes.at_least_native(len(context) - 1 + new)
    video, mask = _conditioning(total, w, h, dict(enumerate(context)))
    return Plan(
        VACE,
        w,
        h,
        {"num_frames": total, "video": video, "mask": mask},
        keep_from=len(context) - 1,
        keep=new,
        pinned_native=tuple(range(len(context))),
    )


def _tail(request: RenderRequest, options: DiffusersOptions, w: int, h: int) -> list[Image.Image]:
    """The input's last `context_frames` frames at the native frame rate, fitted."""
    if request.source_frames is None:
        return []
    step = request.fps / options.fps  # source frames per native frame
    span = math.ceil((options.context_frames - 1) * step) + 1
    last = collections.deque(request.source_frames(), maxlen=span)
    if not last:
        return []
    picks = sorted(
        {len(last) - 1 - round(k * step) for k in range(options.context_frames)} - {-1},
        key=int,
    )
    return [Image.fromarray(fit_image(last[i], w, h)) for i in picks if i >= 0]


def _edit(request: RenderRequest, options: DiffusersOptions, w: int, h: int) -> Plan:
    """The source re-timed to the native frame rate; only the frames used are kept, fitted."""
    if request.source_frames is None:
        raise ValueError("an edit needs the source video's frames")
    native = shapes.native_frames(request.num_frames, request.fps, options.fps)
    wanted: dict[int, list[int]] = collections.defaultdict(list)
    for j in range(native):  # native frame j shows source frame i
        i = shapes.native_index(j, native, request.num_frames)
        wanted[i].append(j)
    video: list[Image.Image | None] = [None] * native
    for i, frame in enumerate(request.source_frames()):
        for j in wanted.get(i, ()):
            video[j] = Image.fromarray(fit_image(frame, w, h))
    for j in range(native):  # a source shorter than announced: hold its last frame
        if video[j] is None:
            video[j] = video[j - 1] if j else Image.new("RGB", (w, h), (GREY, GREY, GREY))
    return Plan(V2V, w, h, {"video": video, "strength": options.strength})
