"""Reference images as floating cards: each one framed, laid out on a grid, gently drifting.

Cards are fitted once; a frame pastes each with a slice copy and halves the pixels under its
drop shadow with a shift, so a full set of seven costs a fraction of a millisecond.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelforge.media.fit import fit_image


@dataclass(frozen=True)
class _Card:
    pixels: np.ndarray  # (h, w, 3) uint8, border included
    cx: float  # resting centre in the frame
    cy: float
    phase: float
    period: float


class Cards:
    def __init__(
        self, images: tuple[np.ndarray, ...], width: int, height: int, rng: np.random.Generator
    ) -> None:
        self.width, self.height = width, height
        self._cards: list[_Card] = []
        n = len(images)
        if n == 0:
            return
        if width >= height:
            cols = n if n <= 3 else math.ceil(n / 2)
        else:  # portrait frames stack cards rather than shrink them into slivers
            cols = 1 if n <= 2 else 2
        rows = math.ceil(n / cols)
        cell_w, cell_h = width * 0.92 / cols, height * 0.8 / rows
        self._drift = min(cell_w, cell_h) * 0.05
        self._shadow = max(2, round(height / 90))
        border = max(2, round(height / 150))
        for i, image in enumerate(images):
            aspect = min(max(image.shape[1] / max(image.shape[0], 1), 0.5), 2.0)
            card_h = min(cell_h * 0.84, cell_w * 0.84 / aspect)
            card_w = card_h * aspect
            inner_w = max(2, round(card_w) - 2 * border)
            inner_h = max(2, round(card_h) - 2 * border)
            framed = np.full((inner_h + 2 * border, inner_w + 2 * border, 3), 250, np.uint8)
            framed[border:-border, border:-border] = fit_image(image, inner_w, inner_h)
            row, col = divmod(i, cols)
            in_row = min(cols, n - row * cols)  # centre a short last row
            cx = width / 2 + (col - (in_row - 1) / 2) * cell_w
            cy = height / 2 + (row - (rows - 1) / 2) * cell_h
            self._cards.append(
                _Card(framed, cx, cy, rng.uniform(0, 2 * math.pi), rng.uniform(3.0, 5.0))
            )

    def draw(self, frame: np.ndarray, t: float) -> None:
        for card in self._cards:
            swing = 2 * math.pi * t / card.period + card.phase
            cx = card.cx + self._drift * math.sin(swing)
            cy = card.cy + self._drift * math.cos(swing * 0.8)
            h, w = card.pixels.shape[:2]
            left, top = round(cx - w / 2), round(cy - h / 2)
            s = self._shadow
            region = self._clip(frame, left + s, top + s, w, h)
            if region is not None:
                shade = frame[region[0]]
                np.right_shift(shade, 1, out=shade)
            region = self._clip(frame, left, top, w, h)
            if region is not None:
                frame[region[0]] = card.pixels[region[1]]

    def _clip(
        self, frame: np.ndarray, left: int, top: int, w: int, h: int
    ) -> tuple[tuple[slice, slice], tuple[slice, slice]] | None:
        """Matching slices of the frame and of a w x h card placed at (left, top)."""
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + w, self.width), min(top + h, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        return (
            (slice(y0, y1), slice(x0, x1)),
            (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left)),
        )
