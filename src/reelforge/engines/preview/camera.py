"""The camera: a per-frame path (offset and zoom) and the cheap cut of each view from a canvas.

The canvas is painted once, a little larger than the frame, so that every view the path asks for
lies inside it. Each frame is then an integer slice (pans, shakes) or one nearest-neighbour
resize in Pillow's C code (zooms): no per-pixel Python or float math per frame. There is no
roll: a rotated cut measured 4-5x the cost of a zoomed one at 720p, more than the budget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from .scene import CameraMove

# Rates per second at speed 1.0, and caps so long clips do not fly off into the distance.
_ZOOM_PER_S = 0.035
_ZOOM_MAX = 0.5
_PAN_PER_S = 0.04  # fraction of the frame width (or height, for vertical moves)
_PAN_MAX = 0.6
_ORBIT_TURN_S = 12.0
_SHAKE = 0.012


@dataclass(frozen=True)
class View:
    """One frame's camera: offset of the view centre from the canvas centre, and zoom."""

    dx: float
    dy: float
    scale: float

    def shifted(self, parallax: float) -> View:
        """The view as seen by a layer nearer (>1) or farther (<1) than the backdrop."""
        return View(self.dx * parallax, self.dy * parallax, self.scale)


@dataclass(frozen=True)
class CameraPath:
    """Per frame: the view centre's offset from the canvas centre (canvas pixels) and the zoom
    (>1 is closer). Frame 0 is always the identity view."""

    dx: np.ndarray
    dy: np.ndarray
    scale: np.ndarray

    def margins(self, width: int, height: int) -> tuple[int, int]:
        """How far the canvas must extend beyond the frame on each side to hold every view."""
        reach_x = np.abs(self.dx) + width / 2 / self.scale
        reach_y = np.abs(self.dy) + height / 2 / self.scale
        return (
            max(0, math.ceil(float(reach_x.max()) - width / 2)) + 2,
            max(0, math.ceil(float(reach_y.max()) - height / 2)) + 2,
        )

    def view(self, i: int) -> View:
        return View(float(self.dx[i]), float(self.dy[i]), float(self.scale[i]))


def plan_camera(
    move: CameraMove, num_frames: int, fps: int, width: int, height: int, seed: int
) -> CameraPath:
    n = max(num_frames, 1)
    t = np.arange(n) / fps
    duration = max(n - 1, 1) / fps
    u = t / duration
    # Half linear, half eased: a steady move that starts and ends without a jolt.
    progress = 0.5 * u + 0.25 * (1 - np.cos(np.pi * u))
    speed = move.speed
    dx = np.zeros(n)
    dy = np.zeros(n)
    scale = np.ones(n)

    if move.zoom:
        amount = min(_ZOOM_MAX, _ZOOM_PER_S * speed * duration)
        grow = 1 + amount * progress
        scale = grow if move.zoom > 0 else 1 / grow
    if move.pan_x:
        dx += move.pan_x * min(_PAN_MAX, _PAN_PER_S * speed * duration) * width * progress
    if move.pan_y:
        dy += move.pan_y * min(_PAN_MAX, _PAN_PER_S * speed * duration) * height * progress
    if move.orbit:
        # Circling a subject, flattened to 2-D: the view swings on an ellipse and breathes in and
        # out; subjects move with parallax against the backdrop (see the engine), which sells
        # the depth.
        theta = 2 * np.pi * t * speed / _ORBIT_TURN_S
        radius = 0.12 * width
        dx += radius * np.sin(theta)
        dy += 0.25 * radius * (1 - np.cos(theta))
        scale = scale * (1 + 0.06 * (1 - np.cos(theta)))
    if move.shake:
        rng = np.random.default_rng(seed)
        ramp = np.minimum(1.0, np.arange(n) / 3)  # frame 0 stays put
        for axis, size in ((dx, width), (dy, height)):
            wobble = np.zeros(n)
            for _ in range(3):
                freq = rng.uniform(2.5, 7.0) * speed
                phase = rng.uniform(0, 2 * np.pi)
                wobble += np.sin(2 * np.pi * freq * t + phase) - np.sin(phase)
            axis += _SHAKE * size * wobble / 3 * ramp
    return CameraPath(dx, dy, np.asarray(scale, dtype=np.float64))


def fine_canvas(canvas: np.ndarray) -> np.ndarray:
    """`canvas` at twice the resolution, for smooth zooms into photos.

    Aligned so that every even pixel of the result is exactly a pixel of `canvas` (the bicubic
    kernel is sampled at whole-pixel offsets there): a zoom that has barely begun then cuts the
    photo's own pixels, so moving off an exact frame (a pin) starts without a visible step.
    """
    height, width = canvas.shape[:2]
    # One edge pixel of room, so the quarter-pixel-shifted box stays inside the image.
    padded = np.pad(canvas, ((0, 1), (0, 1), (0, 0)), mode="edge")
    return np.array(
        Image.fromarray(padded).resize(
            (width * 2, height * 2),
            Image.Resampling.BICUBIC,
            box=(0.25, 0.25, width + 0.25, height + 0.25),
        )
    )


class Viewport:
    """Cuts views out of a canvas; `fine`, if given, is fine_canvas(canvas) and is used for
    zooms so they stay smooth (photos in image-to-video). `smooth` cuts pans at sixteenths of a
    pixel (blending the neighbouring whole-pixel cuts) rather than at whole pixels, so a slow pan
    over fine detail glides instead of stepping: a few milliseconds a frame at 720p, kept for
    photos, where the steps would show."""

    def __init__(
        self,
        canvas: np.ndarray,
        width: int,
        height: int,
        fine: np.ndarray | None = None,
        smooth: bool = False,
    ) -> None:
        self.canvas = canvas
        self.smooth = smooth
        self.width = width
        self.height = height
        self.centre_x = canvas.shape[1] / 2
        self.centre_y = canvas.shape[0] / 2
        self._source = fine if fine is not None else canvas
        self._density = self._source.shape[1] / canvas.shape[1]
        self._image: Image.Image | None = None  # made on the first zoomed view

    def render(self, view: View) -> np.ndarray:
        """The frame this view sees: a new, writable uint8 array."""
        w, h = self.width, self.height
        if view.scale == 1.0:
            x = self.centre_x + view.dx - w / 2
            y = self.centre_y + view.dy - h / 2
            if self.smooth:
                return self._shifted(x, y)
            left, top = round(x), round(y)
            return self.canvas[top : top + h, left : left + w].copy()
        k = self._density
        # A fine canvas holds canvas pixel x at fine pixel k * x; shifting the box by half a fine
        # pixel per extra step of density makes near-identity views land on exactly those.
        cx = (self.centre_x + view.dx) * k + (1 - k) / 2
        cy = (self.centre_y + view.dy) * k + (1 - k) / 2
        half_w, half_h = w / 2 / view.scale * k, h / 2 / view.scale * k
        box = (cx - half_w, cy - half_h, cx + half_w, cy + half_h)
        if self._image is None:
            self._image = Image.fromarray(self._source)
        return np.array(self._image.resize((w, h), Image.Resampling.NEAREST, box=box))

    def _shifted(self, x: float, y: float) -> np.ndarray:
        """The frame whose top-left corner is canvas point (x, y), bilinear in 1/16 pixels."""
        w, h = self.width, self.height
        left, top = math.floor(x), math.floor(y)
        kx, ky = round((x - left) * 16), round((y - top) * 16)
        if kx == 16:
            left, kx = left + 1, 0
        if ky == 16:
            top, ky = top + 1, 0
        c = self.canvas
        taps = [
            (c[top : top + h, left : left + w], (16 - kx) * (16 - ky)),
            (c[top : top + h, left + 1 : left + 1 + w], kx * (16 - ky)),
            (c[top + 1 : top + 1 + h, left : left + w], (16 - kx) * ky),
            (c[top + 1 : top + 1 + h, left + 1 : left + 1 + w], kx * ky),
        ]
        taps = [(pixels, weight) for pixels, weight in taps if weight]
        if len(taps) == 1:
            return taps[0][0].copy()
        out = taps[0][0].astype(np.uint16)
        out *= taps[0][1]
        for pixels, weight in taps[1:]:
            tap = pixels.astype(np.uint16)
            tap *= weight
            out += tap
        out += 128
        out >>= 8
        return out.astype(np.uint8)

    def to_screen(self, view: View, x: float, y: float) -> tuple[float, float]:
        """Where canvas point (x, y) lands in the frame for this view."""
        return (
            self.width / 2 + (x - self.centre_x - view.dx) * view.scale,
            self.height / 2 + (y - self.centre_y - view.dy) * view.scale,
        )
