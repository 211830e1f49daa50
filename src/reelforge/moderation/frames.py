"""Which frames of a video the detector looks at, and getting them cheaply.

Output frames are taken as the encoder receives them (on the render thread) and shrunk to the
detector's input at once; the detector scores them on a thread of its own while x264 encodes.
Input videos are decoded at the sampling rate, converting only the sampled pictures.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from concurrent.futures import Future

import numpy as np

from reelforge.media.clip import FPS, Clip
from reelforge.media.decode import video_frames
from reelforge.moderation.images import INPUT_SIZE, letterbox


def sample_indices(num_frames: int, per_second: float, fps: int = FPS) -> list[int]:
    """The middle frame of each 1/per_second stretch (the last stretch may be shorter), so a
    clip of any length gets at least one."""
    if num_frames <= 0:
        return []
    step = fps / per_second
    count = max(1, math.ceil(num_frames / step))
    middles = ((k * step + min(num_frames, (k + 1) * step)) / 2 for k in range(count))
    return sorted({min(num_frames - 1, int(m)) for m in middles})


class Watched:
    """A clip whose sampled frames go to `inspect` (letterboxed for the detector) as they
    stream to the encoder; `inspect` returns a future of the frame's scores, so detection runs
    alongside the encoding."""

    def __init__(
        self,
        clip: Clip,
        num_frames: int,
        per_second: float,
        inspect: Callable[[np.ndarray], Future[np.ndarray]],
    ):
        self._clip = clip
        self._wanted = set(sample_indices(num_frames, per_second))
        self._inspect = inspect
        self.indices: list[int] = []  # the clip frames sampled
        self.pending: list[Future[np.ndarray]] = []  # their scores, in the same order

    def frames(self) -> Iterator[np.ndarray]:
        self.indices, self.pending = [], []
        for n, frame in enumerate(self._clip.frames()):
            if n in self._wanted:
                self.pending.append(self._inspect(letterbox(frame)))
                self.indices.append(n)
            yield frame

    def audio(self) -> np.ndarray | None:
        return self._clip.audio()


def video_samples(
    path: str, width: int, height: int, duration_s: float, per_second: float, field: str
) -> Iterator[np.ndarray]:
    """A video's pictures at t = 0, 1/per_second, 2/per_second, ... (upright), decoded
    straight to the detector's scale, one at a time."""
    scale = INPUT_SIZE / max(width, height, 1)
    w, h = max(2, round(width * scale)), max(2, round(height * scale))
    count = max(1, math.ceil(duration_s * per_second))
    for picture in video_frames(path, w, h, per_second, count, field=field):
        yield letterbox(picture)
