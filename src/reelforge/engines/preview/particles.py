"""Particles over the frame: rain, snow, motes, bubbles, embers, fireflies, dust, sparkles.

Hundreds of tiny stamps whose positions are closed-form in t; each frame writes only their
pixels (one fancy-indexed read and write), so a full screen of rain costs well under a
millisecond. They also guarantee that something moves in every frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .palette import RGB, Palette, mix


@dataclass(frozen=True)
class _Style:
    per_megapixel: float  # how many particles per million frame pixels
    vx: tuple[float, float]  # velocity range, in frame heights per second
    vy: tuple[float, float]
    sway: float  # sideways wobble amplitude, frame heights
    size: float  # stamp size, frame heights (at least a pixel)
    streak: bool  # a slanted line along the velocity instead of a square
    opacity: float  # 1.0 overwrites, less blends with what is under it
    blink: bool  # each particle is visible only part of the time


_STYLES: dict[str, _Style] = {
    "rain": _Style(450, (0.25, 0.35), (1.4, 1.9), 0.0, 0.03, True, 0.45, False),
    "snow": _Style(450, (-0.03, 0.03), (0.08, 0.16), 0.02, 0.006, False, 0.9, False),
    "motes": _Style(90, (-0.02, 0.02), (-0.05, -0.02), 0.01, 0.004, False, 0.5, False),
    "spray": _Style(90, (0.02, 0.06), (-0.03, 0.0), 0.01, 0.004, False, 0.6, False),
    "bubbles": _Style(110, (-0.01, 0.01), (-0.2, -0.1), 0.015, 0.007, False, 0.55, False),
    "embers": _Style(150, (-0.03, 0.03), (-0.25, -0.12), 0.02, 0.004, False, 0.9, True),
    "fireflies": _Style(60, (-0.03, 0.03), (-0.03, 0.03), 0.03, 0.006, False, 0.85, True),
    "dust": _Style(160, (0.08, 0.14), (-0.01, 0.01), 0.005, 0.003, False, 0.4, False),
    "twinkle": _Style(80, (-0.01, 0.01), (0.0, 0.01), 0.002, 0.005, False, 1.0, True),
}


def _colour(kind: str, palette: Palette) -> RGB:
    return {
        "rain": mix(palette.sky_bottom, (220, 230, 255), 0.6),
        "snow": (250, 250, 255),
        "bubbles": (220, 245, 255),
        "embers": (255, 150, 50),
        "fireflies": (230, 255, 120),
        "dust": mix(palette.ground, (255, 240, 210), 0.5),
        "twinkle": (255, 255, 240),
        "spray": (255, 255, 255),
    }.get(kind, mix(palette.glow, (255, 255, 255), 0.3))


class Particles:
    def __init__(
        self, kind: str, width: int, height: int, palette: Palette, rng: np.random.Generator
    ) -> None:
        style = _STYLES.get(kind, _STYLES["motes"])
        self.width, self.height = width, height
        count = max(12, round(style.per_megapixel * width * height / 1e6))
        self._x0 = rng.uniform(0, width, count)
        self._y0 = rng.uniform(0, height, count)
        self._vx = rng.uniform(*style.vx, count) * height
        self._vy = rng.uniform(*style.vy, count) * height
        self._sway = style.sway * height
        self._freq = rng.uniform(0.2, 0.6, count) * 2 * np.pi
        self._phase = rng.uniform(0, 2 * np.pi, count)
        self._blink = style.blink
        self._opacity = round(style.opacity * 256)
        self._colour = np.asarray(_colour(kind, palette), dtype=np.uint16)
        self._stamp_y, self._stamp_x = self._stamp(style, height)

    @staticmethod
    def _stamp(style: _Style, height: int) -> tuple[np.ndarray, np.ndarray]:
        """Pixel offsets of one particle."""
        size = max(1, round(style.size * height))
        if style.streak:
            ys = np.arange(size)
            slant = float(np.mean(style.vx) / np.mean(style.vy))
            xs = np.round(ys * slant).astype(np.int64)
            return ys, xs
        ys, xs = np.mgrid[0:size, 0:size]
        return ys.ravel(), xs.ravel()

    def draw(self, frame: np.ndarray, t: float, amount: float = 1.0) -> None:
        """Stamp the particles at time t; `amount` in [0, 1] shows only that share of them.

        `frame` must be C-contiguous (as every frame the viewport makes is): pixels are written
        through a flat view of it."""
        if not frame.flags.c_contiguous:
            raise ValueError("particles draw into C-contiguous frames only")
        count = int(len(self._x0) * min(max(amount, 0.0), 1.0))
        if count == 0:
            return
        wobble = np.sin(self._freq[:count] * t + self._phase[:count])
        x = self._x0[:count] + self._vx[:count] * t + self._sway * wobble
        y = self._y0[:count] + self._vy[:count] * t
        if self._blink:
            on = np.sin(self._freq[:count] * 3 * t + self._phase[:count] * 7) > 0.2
            x, y = x[on], y[on]
        xi = x.astype(np.int64)[:, None] + self._stamp_x[None, :]
        yi = y.astype(np.int64)[:, None] + self._stamp_y[None, :]
        xi %= self.width
        yi %= self.height
        # One flat index into the pixel rows is cheaper than a pair of index arrays.
        flat = (yi * self.width + xi).ravel()
        pixels = frame.reshape(-1, 3)
        if self._opacity >= 256:
            pixels[flat] = self._colour.astype(np.uint8)
            return
        under = pixels[flat].astype(np.uint16)
        pixels[flat] = ((self._colour * self._opacity + under * (256 - self._opacity)) >> 8).astype(
            np.uint8
        )
