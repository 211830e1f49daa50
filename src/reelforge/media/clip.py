"""What the encoder takes: a clip (frames and a soundtrack) and the format to write it in.

Engines produce clips; the encoder only needs these shapes, so it never depends on engines.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol

import numpy as np

FPS = 24
AUDIO_RATE = 48_000


class Clip(Protocol):
    """A rendered clip: frames are produced lazily so memory stays flat whatever the duration."""

    def frames(self) -> Iterator[np.ndarray]: ...

    def audio(self) -> np.ndarray | None:
        """Stereo float32 samples in [-1, 1], shape (n, 2), at AUDIO_RATE, or None for silence."""
        ...


class ClipFormat(Protocol):
    """The output's size, length and rate, and whether it carries an audio track."""

    width: int
    height: int
    num_frames: int
    fps: int
    generate_audio: bool
