"""Pinned frames (1.5): exact frames at given indices, and smooth motion between them.

A request may pin `image` to frame 0, `last_frame` to the final frame and keyframes to indices
strictly inside the clip. Every pinned frame is output exactly as fit_image(pin, width, height),
with nothing drawn over it.

Between two pins A (frame i) and B (frame j) the clip is a *bridge*: the camera leaves A and
arrives on B. Both pictures are moved by the same camera move (the prompt's, else a slow push
in): A from the identity view at i, B towards the identity view at j, each eased so that the
camera is at rest on the pins. Meanwhile A cross-fades into B. The fade's weight moves almost
linearly (a little easing at the ends), so two neighbouring frames differ by at most about
1.2 / (j - i) of the difference between A and B, plus the camera's own small step: never a cut.

Before the first pin (when `image` is not given) the clip opens on the procedural text-to-video
scene, which flows into the first pin the same way over its last stretch (a *lead*). After the
last pin (when `last_frame` is not given) the clip goes on as image-to-video from that pin (a
*tail*): image-to-video and extensions are a single tail from frame 0. Subjects, particles and
reference cards drawn over pinned footage fade out towards every pin and back in after it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelforge.engines.base import RenderRequest
from reelforge.media.fit import fit_image

from .backdrop import Layout
from .camera import _PAN_MAX, _PAN_PER_S, _ZOOM_MAX, _ZOOM_PER_S, CameraPath, Viewport, fine_canvas
from .scene import CameraMove

# A lead cross-fades into its pin over its last stretch: this long, or half the lead if longer.
LEAD_BLEND_S = 1.5
# Reference cards fade out this long before a pin and back in after it (or a quarter of a short
# gap between two pins).
CARD_FADE_S = 0.25


@dataclass(frozen=True)
class Pin:
    index: int
    pixels: np.ndarray  # fit_image(pin, width, height)


@dataclass(frozen=True)
class Segment:
    """Frames start..end (inclusive) between two pins; `before` None opens on the procedural
    scene (a lead), `after` None goes on from `before` as image-to-video (a tail)."""

    start: int
    end: int
    before: Pin | None
    after: Pin | None

    @property
    def length(self) -> int:
        return self.end - self.start


def collect_pins(request: RenderRequest) -> list[Pin]:
    """The request's pinned frames, fitted to the frame size, in frame order.

    `image` pins frame 0 and `last_frame` the final frame; keyframes outside 0 < index < n - 1
    are ignored, and where two pins claim a frame the first of image, keyframes, last frame wins.
    """
    n = request.num_frames
    if n <= 0:
        return []
    chosen: dict[int, np.ndarray] = {}
    if request.image is not None:
        chosen[0] = request.image
    for index, image in request.keyframes:
        if 0 < index < n - 1:
            chosen.setdefault(int(index), image)
    if request.last_frame is not None:
        chosen.setdefault(n - 1, request.last_frame)
    w, h = request.width, request.height
    return [Pin(i, fit_image(chosen[i], w, h)) for i in sorted(chosen)]


def plan_segments(pins: list[Pin], num_frames: int) -> list[Segment]:
    if num_frames <= 0:
        return []
    if not pins:
        return [Segment(0, num_frames - 1, None, None)]
    segments: list[Segment] = []
    if pins[0].index > 0:
        segments.append(Segment(0, pins[0].index, None, pins[0]))
    for a, b in zip(pins, pins[1:], strict=False):
        segments.append(Segment(a.index, b.index, a, b))
    if pins[-1].index < num_frames - 1:
        segments.append(Segment(pins[-1].index, num_frames - 1, pins[-1], None))
    return segments


def ease(u: np.ndarray | float) -> np.ndarray:
    """0 -> 1 with zero speed at both ends."""
    return 0.5 * (1.0 - np.cos(np.pi * np.asarray(u, dtype=np.float64)))


def blend_weight(u: float) -> float:
    """How much of the arriving picture shows, u in [0, 1]: nearly linear, eased at the ends."""
    u = min(max(u, 0.0), 1.0)
    return 0.7 * u + 0.3 * float(ease(u))


def bridge_paths(
    move: CameraMove, frames: int, fps: int, width: int, height: int
) -> tuple[CameraPath, CameraPath]:
    """Views for k = 0..frames of a bridge: (leaving A, arriving on B).

    The camera keeps going the one way through the bridge: A drifts off with the move as it
    fades, B comes in from behind the move and settles. Both are the identity view at their pin.
    """
    u = np.arange(frames + 1) / max(frames, 1)
    e = ease(u)
    seconds = frames / fps
    zoom, pan_x, pan_y = move.zoom, move.pan_x, move.pan_y
    if move.orbit:  # flattened to a sideways drift with a slight push, as an orbit reads
        pan_x, zoom = pan_x or 1, zoom or 1
    log_zoom = zoom * math.log1p(min(_ZOOM_MAX, _ZOOM_PER_S * move.speed * seconds))
    reach = min(_PAN_MAX, _PAN_PER_S * move.speed * seconds)
    px, py = pan_x * reach * width, pan_y * reach * height
    leave = CameraPath(px * e, py * e, np.exp(log_zoom * e))
    arrive = CameraPath(-px * (1 - e), -py * (1 - e), np.exp(-log_zoom * (1 - e)))
    return leave, arrive


def lead_window(length: int, fps: int) -> int:
    """How many frames before its pin a lead starts to cross-fade into it."""
    return min(length, max(round(LEAD_BLEND_S * fps), length // 2))


def card_fade_frames(gap: int, fps: int) -> int:
    return max(1, min(round(CARD_FADE_S * fps), gap // 4))


def pin_viewport(pixels: np.ndarray, margin_x: int, margin_y: int, zooms: bool) -> Viewport:
    """The pinned picture, extended by mirroring for the camera; the identity view is exact."""
    h, w = pixels.shape[:2]
    canvas = np.pad(pixels, ((margin_y, margin_y), (margin_x, margin_x), (0, 0)), mode="symmetric")
    return Viewport(canvas, w, h, fine_canvas(canvas) if zooms else None, smooth=True)


def pin_layout(width: int, height: int, margin_x: int, margin_y: int) -> Layout:
    """Where subjects stand over a photo (whose ground we cannot know): low in the frame."""
    return Layout(
        width=width + 2 * margin_x,
        height=height + 2 * margin_y,
        frame_w=width,
        frame_h=height,
        margin_x=margin_x,
        margin_y=margin_y,
        horizon=margin_y + 0.5 * height,
        ground=margin_y + 0.92 * height,
        water=None,
        sun=(margin_x + 0.75 * width, margin_y + 0.2 * height),
    )


def crossfade(a: np.ndarray, b: np.ndarray, weight: float) -> np.ndarray:
    """(1 - weight) * a + weight * b, rounded, as a new uint8 array (a itself at 0, b at 1)."""
    k = round(weight * 256)
    if k <= 0:
        return a
    if k >= 256:
        return b
    out = a.astype(np.uint16)
    out *= 256 - k
    mixed = b.astype(np.uint16)
    mixed *= k
    out += mixed
    out += 128
    out >>= 8
    return out.astype(np.uint8)
