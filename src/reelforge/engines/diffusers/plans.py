"""What every family's plan shares: the Plan itself and the input video re-timed to the
model's frame rate (no torch here)."""

from __future__ import annotations

import collections
import math
from dataclasses import dataclass, field
from typing import Any

from PIL import Image

from reelforge.engines.base import RenderRequest
from reelforge.engines.diffusers import shapes
from reelforge.engines.diffusers.options import DiffusersOptions
from reelforge.media.fit import fit_image

GREY = 128  # "nothing here" in a conditioning frame (0 in the models' [-1, 1] range)


@dataclass
class Plan:
    """One pipeline call and which of its frames make the output."""

    kind: str  # a family's pipeline kind (its CLASSES key)
    width: int  # native size
    height: int
    kwargs: dict[str, Any] = field(default_factory=dict)  # mode-specific call arguments
    keep_from: int = 0  # the output is native frames [keep_from, keep_from + keep)
    keep: int | None = None  # None: to the end
    pinned_native: tuple[int, ...] = ()  # native frames conditioned on (for logs and tests)


def picture(rgb: Any, w: int, h: int) -> Image.Image:
    """An RGB array fitted to the native size, as the pipelines take it."""
    return Image.fromarray(fit_image(rgb, w, h))


def native_pins(request: RenderRequest, native: int) -> dict[int, Any]:
    """The request's pinned images (first frame, keyframes, last frame) by native frame."""
    pins: dict[int, Any] = {}
    if request.image is not None:
        pins[0] = request.image
    for index, image in request.keyframes:
        pins[shapes.native_index(index, request.num_frames, native)] = image
    if request.last_frame is not None:
        pins[native - 1] = request.last_frame
    return pins


def tail_frames(
    request: RenderRequest, options: DiffusersOptions, w: int, h: int
) -> list[Image.Image]:
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
    return [picture(last[i], w, h) for i in picks if i >= 0]


def extension_context(
    request: RenderRequest, options: DiffusersOptions, w: int, h: int
) -> list[Image.Image]:
    """An extension's conditioning frames: the input's end, closing exactly on the frame the
    continuation starts on (the contract's `image`, the input's last frame)."""
    if request.image is None:
        raise ValueError("an extension needs the input's last frame")
    context = tail_frames(request, options, w, h) or [picture(request.image, w, h)]
    context[-1] = picture(request.image, w, h)
    return context


def source_video(request: RenderRequest, native: int, w: int, h: int) -> list[Image.Image]:
    """Edit: the source re-timed to `native` frames; only the frames used are kept, fitted."""
    if request.source_frames is None:
        raise ValueError("an edit needs the source video's frames")
    wanted: dict[int, list[int]] = collections.defaultdict(list)
    for j in range(native):  # native frame j shows source frame i
        i = shapes.native_index(j, native, request.num_frames)
        wanted[i].append(j)
    video: list[Image.Image | None] = [None] * native
    for i, frame in enumerate(request.source_frames()):
        for j in wanted.get(i, ()):
            video[j] = picture(frame, w, h)
    for j in range(native):  # a source shorter than announced: hold its last frame
        if video[j] is None:
            video[j] = video[j - 1] if j else Image.new("RGB", (w, h), (GREY, GREY, GREY))
    return video  # type: ignore[return-value]
