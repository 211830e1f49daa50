"""From the contract's exact shape to the model's native one and back.

Models render stride*k+1 frames (Wan 4k+1, LTX 8k+1: the VAE's temporal compression) at their
own frame rate, at sizes that are multiples of 16 (or 32)
and within a pixel budget. Reelforge renders at the nearest such shape and resamples to exactly
the requested width x height, 24 fps and frame count. Frame i of the output shows the native
frame at the same point of the clip, with the first and last frames lined up exactly, so pinned
frames land where they were asked for.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np

from reelforge.media.fit import fit_image

TEMPORAL_STRIDE = 4  # the Wan VAE: 4k+1 frames; families pass their own `stride`


def render_size(width: int, height: int, max_area: int, multiple: int) -> tuple[int, int]:
    """The native (width, height): the output's aspect, at most max_area pixels, never larger
    than the output (rounded to `multiple`), each side a multiple of `multiple`."""
    scale = min(1.0, math.sqrt(max_area / (width * height)))
    w = max(multiple, round(width * scale / multiple) * multiple)
    h = max(multiple, round(height * scale / multiple) * multiple)
    while w * h > max_area and (w > multiple or h > multiple):  # rounding up overshot the budget
        if w / width >= h / height and w > multiple:
            w -= multiple
        else:
            h -= multiple
    return w, h


def native_frames(num_frames: int, fps: int, native_fps: int, stride: int = TEMPORAL_STRIDE) -> int:
    """The stride*k+1 frame count (k >= 1) nearest to `num_frames` at `fps` re-timed to
    `native_fps`."""
    wanted = max(1, num_frames) * native_fps / fps
    return stride * max(1, round((wanted - 1) / stride)) + 1


def at_least_native(count: int, stride: int = TEMPORAL_STRIDE) -> int:
    """The smallest stride*k+1 >= count."""
    return stride * math.ceil(max(0, count - 1) / stride) + 1


def at_most_native(count: int, stride: int = TEMPORAL_STRIDE) -> int:
    """The largest stride*k+1 <= count (1 at least)."""
    return stride * ((max(1, count) - 1) // stride) + 1


def native_index(i: int, num_frames: int, native: int) -> int:
    """The native frame shown at output frame i (first and last frames aligned)."""
    if num_frames <= 1 or native <= 1:
        return 0
    return round(i * (native - 1) / (num_frames - 1))


def to_uint8(frames: np.ndarray) -> np.ndarray:
    """Pipeline output (T, H, W, 3) floats in [0, 1] to uint8."""
    return (np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)


def resample(
    native: Sequence[np.ndarray],
    num_frames: int,
    width: int,
    height: int,
    pins: dict[int, np.ndarray] | None = None,
) -> Iterator[np.ndarray]:
    """Exactly `num_frames` frames of width x height; `pins` (output index -> exact frame)
    replace what the model drew there, as the contract requires."""
    pins = pins or {}
    last_j, last = -1, None
    for i in range(num_frames):
        if i in pins:
            yield pins[i]
            continue
        j = native_index(i, num_frames, len(native))
        if j != last_j:
            last_j, last = j, fit_image(native[j], width, height)
        yield last
