"""Decode an input video into frames at the output frame rate and size."""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np


def video_frames(path: str, width: int, height: int, fps: int, count: int) -> Iterator[np.ndarray]:
    """Exactly `count` RGB frames at `fps`, each the source frame showing at that instant.

    Sampling by timestamp normalises variable frame rates; a source shorter than `count` frames
    holds its last frame.
    """
    with av.open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        time_base = stream.time_base or Fraction(1, 90000)
        start = stream.start_time or 0
        emitted = 0
        current: np.ndarray | None = None
        for frame in container.decode(stream):
            t = float(((frame.pts or 0) - start) * time_base)
            # Every output instant that falls before this frame shows the previous one.
            while current is not None and emitted < count and emitted / fps < t - 1e-6:
                yield current
                emitted += 1
            if emitted >= count:
                return
            current = frame.to_ndarray(format="rgb24", width=width, height=height)
        while current is not None and emitted < count:
            yield current
            emitted += 1
