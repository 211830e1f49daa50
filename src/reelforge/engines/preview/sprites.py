"""Subject sprites: small cartoon shapes drawn once, then pasted into frames with a mask.

Each kind is drawn facing right in a few poses (wings up/down, legs apart/together), at 2x and
scaled down for smooth edges. Pasting is one masked copy into a slice of the frame.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .palette import RGB, mix


@dataclass(frozen=True)
class Sprite:
    rgb: np.ndarray  # (h, w, 3) uint8
    # (h, w, 3) bool, where the sprite covers the frame; numpy copies ~10x faster with a
    # full-shape mask than with one it must broadcast.
    mask: np.ndarray

    @property
    def size(self) -> tuple[int, int]:
        return self.rgb.shape[1], self.rgb.shape[0]

    def flipped(self) -> Sprite:
        # Contiguous copies: masked copies from negatively strided views are ~10x slower.
        return Sprite(
            np.ascontiguousarray(self.rgb[:, ::-1]), np.ascontiguousarray(self.mask[:, ::-1])
        )


@dataclass(frozen=True)
class Kind:
    height: float  # sprite height as a fraction of the frame height
    aspect: float  # width / height
    poses: int
    colour: RGB  # used when the prompt gives none


Draw = Callable[[ImageDraw.ImageDraw, float, float, RGB, int], None]


def _overlap(
    frame: np.ndarray, sprite: Sprite, cx: float, cy: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The frame region under `sprite` centred on (cx, cy), with the sprite's matching pixels
    and mask, clipped to the frame; None when the sprite is entirely off it."""
    sw, sh = sprite.size
    left, top = round(cx - sw / 2), round(cy - sh / 2)
    fh, fw = frame.shape[:2]
    x0, y0 = max(left, 0), max(top, 0)
    x1, y1 = min(left + sw, fw), min(top + sh, fh)
    if x0 >= x1 or y0 >= y1:
        return None
    sx, sy = x0 - left, y0 - top
    inside = (slice(sy, sy + y1 - y0), slice(sx, sx + x1 - x0))
    return frame[y0:y1, x0:x1], sprite.rgb[inside], sprite.mask[inside]


def paste(frame: np.ndarray, sprite: Sprite, cx: float, cy: float) -> None:
    """Copy `sprite` into `frame` centred on (cx, cy), clipped to the frame."""
    if (found := _overlap(frame, sprite, cx, cy)) is not None:
        region, rgb, mask = found
        np.copyto(region, rgb, where=mask)


def blend(frame: np.ndarray, sprite: Sprite, cx: float, cy: float, alpha: float) -> None:
    """Like paste, at partial opacity (for subjects fading in over a photo)."""
    if alpha >= 0.999:
        paste(frame, sprite, cx, cy)
        return
    if alpha <= 0.0 or (found := _overlap(frame, sprite, cx, cy)) is None:
        return
    region, rgb, mask = found
    weight = round(alpha * 256)
    mixed = (rgb.astype(np.uint16) * weight + region.astype(np.uint16) * (256 - weight)) >> 8
    np.copyto(region, mixed.astype(np.uint8), where=mask)


class SpriteBook:
    """Draws sprites on first use and keeps them: a clip needs a few dozen at most."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, RGB, int, int, bool], Sprite] = {}

    def get(self, kind: str, colour: RGB, height_px: int, pose: int, flip: bool) -> Sprite:
        key = (kind, colour, height_px, pose, flip)
        sprite = self._cache.get(key)
        if sprite is None:
            if flip:
                sprite = self.get(kind, colour, height_px, pose, False).flipped()
            else:
                sprite = draw_sprite(kind, colour, height_px, pose)
            self._cache[key] = sprite
        return sprite


def draw_sprite(kind: str, colour: RGB, height_px: int, pose: int) -> Sprite:
    spec = KINDS[kind]
    h = max(4, height_px)
    w = max(4, round(h * spec.aspect))
    scale = 2  # drawn at 2x and reduced, for smooth edges
    canvas = Image.new("RGBA", (w * scale, h * scale), (0, 0, 0, 0))
    _DRAWERS[kind](ImageDraw.Draw(canvas), w * scale, h * scale, colour, pose % spec.poses)
    small = np.asarray(canvas.reduce(scale))  # a box filter: exact for 2x, and cheap
    mask = np.repeat(small[:, :, 3:4] >= 128, 3, axis=2)
    return Sprite(np.ascontiguousarray(small[:, :, :3]), mask)


def _shade(colour: RGB, amount: float) -> RGB:
    return mix(colour, (0, 0, 0), amount)


def _light(colour: RGB, amount: float) -> RGB:
    return mix(colour, (255, 255, 255), amount)


def _cat(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    legs = _shade(c, 0.2)
    stride = 0.06 * w if pose else -0.06 * w
    for x in (0.25, 0.62):
        d.rectangle((x * w + stride, 0.62 * h, x * w + stride + 0.07 * w, h), fill=legs)
        d.rectangle((x * w - stride + 0.05 * w, 0.62 * h, x * w - stride + 0.12 * w, h), fill=legs)
    d.line(
        [(0.18 * w, 0.5 * h), (0.06 * w, 0.3 * h), (0.1 * w, 0.08 * h)],
        fill=c,
        width=round(0.06 * w),
        joint="curve",
    )
    d.ellipse((0.14 * w, 0.38 * h, 0.78 * w, 0.75 * h), fill=c)
    d.ellipse((0.6 * w, 0.12 * h, 0.98 * w, 0.55 * h), fill=c)
    d.polygon([(0.63 * w, 0.25 * h), (0.66 * w, 0.0), (0.76 * w, 0.16 * h)], fill=c)
    d.polygon([(0.82 * w, 0.16 * h), (0.92 * w, 0.0), (0.95 * w, 0.26 * h)], fill=c)
    eye = (20, 20, 20) if sum(c) > 200 else (220, 220, 120)
    d.ellipse((0.83 * w, 0.26 * h, 0.88 * w, 0.33 * h), fill=eye)


def _dog(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    legs = _shade(c, 0.25)
    stride = 0.07 * w if pose else -0.07 * w
    for x in (0.2, 0.6):
        d.rectangle((x * w + stride, 0.55 * h, x * w + stride + 0.08 * w, h), fill=legs)
        d.rectangle((x * w - stride + 0.04 * w, 0.55 * h, x * w - stride + 0.12 * w, h), fill=legs)
    d.line([(0.15 * w, 0.45 * h), (0.03 * w, 0.15 * h)], fill=c, width=round(0.06 * w))
    d.rounded_rectangle((0.1 * w, 0.32 * h, 0.78 * w, 0.68 * h), radius=0.15 * h, fill=c)
    d.ellipse((0.62 * w, 0.05 * h, 0.9 * w, 0.48 * h), fill=c)
    d.ellipse((0.8 * w, 0.2 * h, 1.0 * w, 0.42 * h), fill=_light(c, 0.15))
    d.ellipse((0.95 * w, 0.22 * h, 1.0 * w, 0.3 * h), fill=(25, 20, 20))
    d.ellipse((0.6 * w, 0.08 * h, 0.72 * w, 0.45 * h), fill=_shade(c, 0.35))
    d.ellipse((0.78 * w, 0.14 * h, 0.83 * w, 0.22 * h), fill=(25, 20, 20))


def _bird(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    d.polygon([(0.0, 0.35 * h), (0.2 * w, 0.45 * h), (0.2 * w, 0.65 * h)], fill=_shade(c, 0.2))
    d.ellipse((0.12 * w, 0.35 * h, 0.75 * w, 0.75 * h), fill=c)
    d.ellipse((0.6 * w, 0.25 * h, 0.88 * w, 0.6 * h), fill=c)
    d.polygon([(0.86 * w, 0.38 * h), (1.0 * w, 0.45 * h), (0.86 * w, 0.5 * h)], fill=(245, 170, 40))
    d.ellipse((0.74 * w, 0.33 * h, 0.79 * w, 0.41 * h), fill=(10, 10, 10))
    wing = _shade(c, 0.3)
    tip = 0.0 if pose == 0 else (0.55 * h if pose == 1 else 1.0 * h)
    d.polygon([(0.3 * w, 0.5 * h), (0.6 * w, 0.5 * h), (0.35 * w, tip)], fill=wing)


def _car(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    d.polygon(
        [(0.22 * w, 0.42 * h), (0.32 * w, 0.08 * h), (0.68 * w, 0.08 * h), (0.8 * w, 0.42 * h)],
        fill=_shade(c, 0.15),
    )
    d.polygon(
        [(0.3 * w, 0.4 * h), (0.36 * w, 0.15 * h), (0.48 * w, 0.15 * h), (0.48 * w, 0.4 * h)],
        fill=(170, 210, 235),
    )
    d.polygon(
        [(0.52 * w, 0.4 * h), (0.52 * w, 0.15 * h), (0.65 * w, 0.15 * h), (0.73 * w, 0.4 * h)],
        fill=(170, 210, 235),
    )
    d.rounded_rectangle((0.0, 0.38 * h, w, 0.8 * h), radius=0.12 * h, fill=c)
    d.rectangle((0.93 * w, 0.48 * h, w, 0.58 * h), fill=(255, 240, 160))
    d.rectangle((0.0, 0.48 * h, 0.04 * w, 0.58 * h), fill=(200, 30, 30))
    for x in (0.22, 0.78):
        cx, cy, r = x * w, 0.78 * h, 0.22 * h
        d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=(25, 25, 28))
        d.ellipse((cx - r * 0.5, cy - r * 0.5, cx + r * 0.5, cy + r * 0.5), fill=(170, 170, 175))
        angle = np.pi / 2 * pose / 3
        dx, dy = np.cos(angle) * r * 0.5, np.sin(angle) * r * 0.5
        d.line((cx - dx, cy - dy, cx + dx, cy + dy), fill=(60, 60, 64), width=round(r / 5))


def _ball(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    d.ellipse((0, 0, w, h), fill=c)
    angle = 360 / 4 * pose
    d.arc(
        (0.1 * w, -0.4 * h, 0.9 * w, 0.7 * h),
        40 + angle,
        140 + angle,
        fill=_light(c, 0.7),
        width=round(0.08 * w),
    )
    d.ellipse((0.2 * w, 0.15 * h, 0.4 * w, 0.35 * h), fill=_light(c, 0.5))


def _person(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    skin, trousers = (225, 180, 140), (50, 60, 90)
    swing = (0.22 if pose == 0 else -0.22) * w
    lw = round(0.14 * w)
    d.line((0.5 * w, 0.6 * h, 0.5 * w + swing, h), fill=trousers, width=lw)
    d.line((0.5 * w, 0.6 * h, 0.5 * w - swing, h), fill=trousers, width=lw)
    d.line((0.5 * w, 0.3 * h, 0.5 * w - swing, 0.58 * h), fill=skin, width=round(0.1 * w))
    d.rounded_rectangle((0.28 * w, 0.24 * h, 0.72 * w, 0.64 * h), radius=0.1 * w, fill=c)
    d.line((0.5 * w, 0.3 * h, 0.5 * w + swing, 0.58 * h), fill=skin, width=round(0.1 * w))
    d.ellipse((0.3 * w, 0.02 * h, 0.7 * w, 0.24 * h), fill=skin)
    d.chord((0.3 * w, 0.0, 0.7 * w, 0.2 * h), 180, 360, fill=(60, 40, 30))


def _robot(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    metal = _shade(c, 0.25)
    step = 0.05 * h if pose else 0.0
    d.rectangle((0.3 * w, 0.7 * h - step, 0.42 * w, h - step), fill=metal)
    d.rectangle((0.58 * w, 0.7 * h, 0.7 * w, h), fill=metal)
    d.rectangle((0.2 * w, 0.32 * h, 0.8 * w, 0.72 * h), fill=c)
    d.rectangle((0.32 * w, 0.42 * h, 0.68 * w, 0.55 * h), fill=_light(c, 0.5))
    d.rectangle((0.3 * w, 0.08 * h, 0.7 * w, 0.3 * h), fill=c)
    d.line((0.5 * w, 0.0, 0.5 * w, 0.08 * h), fill=metal, width=round(0.04 * w))
    glow = (90, 255, 240) if pose == 0 else (255, 90, 90)
    for x in (0.38, 0.56):
        d.rectangle((x * w, 0.15 * h, (x + 0.07) * w, 0.22 * h), fill=glow)


def _sun(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    cx, cy = w / 2, h / 2
    for k in range(12):
        a = 2 * np.pi * (k / 12 + pose / 48)
        inner, outer = 0.36 * w, 0.5 * w
        side = 0.1
        d.polygon(
            [
                (cx + inner * np.cos(a - side), cy + inner * np.sin(a - side)),
                (cx + outer * np.cos(a), cy + outer * np.sin(a)),
                (cx + inner * np.cos(a + side), cy + inner * np.sin(a + side)),
            ],
            fill=_light(c, 0.2),
        )
    d.ellipse((0.16 * w, 0.16 * h, 0.84 * w, 0.84 * h), fill=c)


def _moon(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    d.ellipse((0, 0, w, h), fill=c)
    for x, y, r in ((0.3, 0.35, 0.08), (0.55, 0.6, 0.1), (0.62, 0.3, 0.05)):
        d.ellipse(((x - r) * w, (y - r) * h, (x + r) * w, (y + r) * h), fill=_shade(c, 0.12))


def _tree(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    sway = (pose - 1) * 0.04 * w
    d.polygon(
        [(0.44 * w, h), (0.56 * w, h), (0.53 * w + sway, 0.45 * h), (0.47 * w + sway, 0.45 * h)],
        fill=(100, 65, 35),
    )
    for x, y, r in ((0.5, 0.28, 0.3), (0.28, 0.42, 0.22), (0.72, 0.42, 0.22), (0.5, 0.5, 0.24)):
        cx, cy = x * w + sway * (1.5 - y), y * h
        d.ellipse(
            (cx - r * w, cy - r * w, cx + r * w, cy + r * w), fill=_shade(c, 0.12 * (y > 0.4))
        )


def _fish(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    flap = (0.15 if pose == 0 else -0.15) * h
    d.polygon(
        [(0.28 * w, 0.5 * h), (0.0, 0.1 * h + flap), (0.0, 0.9 * h + flap)], fill=_shade(c, 0.2)
    )
    d.ellipse((0.15 * w, 0.12 * h, w, 0.88 * h), fill=c)
    d.polygon([(0.45 * w, 0.2 * h), (0.6 * w, 0.0), (0.7 * w, 0.2 * h)], fill=_shade(c, 0.2))
    d.ellipse((0.75 * w, 0.3 * h, 0.85 * w, 0.45 * h), fill=(255, 255, 255))
    d.ellipse((0.78 * w, 0.33 * h, 0.83 * w, 0.42 * h), fill=(10, 10, 10))


def _star(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    size = 1.0 if pose == 0 else 0.75
    points = []
    for k in range(10):
        r = (0.5 if k % 2 == 0 else 0.2) * size
        a = -np.pi / 2 + np.pi * k / 5
        points.append((w / 2 + r * w * np.cos(a), h / 2 + r * h * np.sin(a)))
    d.polygon(points, fill=c)


def _flower(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    sway = (pose - 1) * 0.08 * w
    d.line((0.5 * w, h, 0.5 * w + sway, 0.4 * h), fill=(50, 140, 60), width=round(0.08 * w))
    d.ellipse((0.5 * w, 0.6 * h, 0.8 * w, 0.72 * h), fill=(60, 160, 70))
    cx, cy = 0.5 * w + sway, 0.3 * h
    for k in range(6):
        a = 2 * np.pi * k / 6
        px, py, r = cx + 0.2 * w * np.cos(a), cy + 0.2 * w * np.sin(a), 0.16 * w
        d.ellipse((px - r, py - r, px + r, py + r), fill=c)
    d.ellipse((cx - 0.12 * w, cy - 0.12 * w, cx + 0.12 * w, cy + 0.12 * w), fill=(250, 210, 60))


def _house(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    d.rectangle((0.1 * w, 0.42 * h, 0.9 * w, h), fill=c)
    d.polygon([(0.0, 0.45 * h), (0.5 * w, 0.0), (w, 0.45 * h)], fill=(150, 50, 40))
    d.rectangle((0.42 * w, 0.65 * h, 0.58 * w, h), fill=(90, 55, 30))
    window = (255, 225, 130) if pose else (180, 215, 240)
    for x in (0.2, 0.66):
        d.rectangle((x * w, 0.55 * h, (x + 0.14) * w, 0.7 * h), fill=window)


def _boat(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    d.polygon([(0.0, 0.68 * h), (w, 0.68 * h), (0.82 * w, h), (0.15 * w, h)], fill=c)
    d.line((0.5 * w, 0.05 * h, 0.5 * w, 0.7 * h), fill=(90, 60, 40), width=round(0.03 * w))
    lean = (0.03 if pose else -0.03) * w
    d.polygon(
        [(0.52 * w, 0.05 * h), (0.52 * w, 0.62 * h), (0.88 * w + lean, 0.62 * h)],
        fill=(248, 248, 240),
    )
    d.polygon(
        [(0.48 * w, 0.12 * h), (0.48 * w, 0.62 * h), (0.2 * w + lean, 0.62 * h)],
        fill=(235, 235, 225),
    )


def _plane(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    d.polygon(
        [(0.05 * w, 0.05 * h), (0.15 * w, 0.05 * h), (0.25 * w, 0.45 * h), (0.08 * w, 0.45 * h)],
        fill=_shade(c, 0.2),
    )
    d.rounded_rectangle((0.05 * w, 0.38 * h, w, 0.62 * h), radius=0.12 * h, fill=c)
    d.polygon([(0.4 * w, 0.5 * h), (0.6 * w, 0.5 * h), (0.45 * w, h)], fill=_shade(c, 0.25))
    for x in np.arange(0.5, 0.9, 0.07).tolist():
        d.ellipse((x * w, 0.44 * h, (x + 0.03) * w, 0.52 * h), fill=(60, 90, 130))
    if pose:
        d.ellipse((0.0, 0.46 * h, 0.05 * w, 0.54 * h), fill=(255, 60, 60))


def _cloud(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    for x, y, rx, ry in (
        (0.3, 0.6, 0.25, 0.35),
        (0.55, 0.45, 0.28, 0.45),
        (0.75, 0.62, 0.22, 0.33),
        (0.5, 0.7, 0.4, 0.28),
    ):
        d.ellipse(((x - rx) * w, (y - ry) * h, (x + rx) * w, (y + ry) * h), fill=c)


def _butterfly(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    spread = (0.5, 0.32, 0.12)[pose]
    for side in (-1, 1):
        x0 = 0.5 * w + side * spread * w
        d.ellipse((min(0.5 * w, x0), 0.05 * h, max(0.5 * w, x0), 0.55 * h), fill=c)
        x1 = 0.5 * w + side * spread * 0.7 * w
        d.ellipse((min(0.5 * w, x1), 0.45 * h, max(0.5 * w, x1), 0.9 * h), fill=_shade(c, 0.2))
    d.line((0.5 * w, 0.1 * h, 0.5 * w, 0.9 * h), fill=(30, 30, 30), width=round(0.05 * w))


def _rocket(d: ImageDraw.ImageDraw, w: float, h: float, c: RGB, pose: int) -> None:
    flame = (255, 160, 40) if pose == 0 else (255, 220, 80)
    d.polygon(
        [(0.3 * w, 0.8 * h), (0.7 * w, 0.8 * h), (0.5 * w, (0.95 + 0.05 * pose) * h)], fill=flame
    )
    d.polygon([(0.1 * w, 0.8 * h), (0.3 * w, 0.55 * h), (0.3 * w, 0.8 * h)], fill=(200, 40, 40))
    d.polygon([(0.9 * w, 0.8 * h), (0.7 * w, 0.55 * h), (0.7 * w, 0.8 * h)], fill=(200, 40, 40))
    d.rounded_rectangle((0.3 * w, 0.2 * h, 0.7 * w, 0.82 * h), radius=0.1 * w, fill=c)
    d.polygon([(0.3 * w, 0.22 * h), (0.5 * w, 0.0), (0.7 * w, 0.22 * h)], fill=(200, 40, 40))
    d.ellipse((0.4 * w, 0.32 * h, 0.6 * w, 0.44 * h), fill=(120, 190, 240))


KINDS: dict[str, Kind] = {
    "cat": Kind(0.17, 1.3, 2, (230, 140, 60)),
    "dog": Kind(0.2, 1.35, 2, (150, 95, 50)),
    "bird": Kind(0.08, 1.4, 3, (60, 120, 220)),
    "car": Kind(0.14, 2.4, 4, (210, 40, 40)),
    "ball": Kind(0.11, 1.0, 4, (240, 60, 60)),
    "person": Kind(0.3, 0.45, 2, (60, 120, 200)),
    "robot": Kind(0.28, 0.6, 2, (170, 180, 195)),
    "sun": Kind(0.22, 1.0, 4, (255, 205, 60)),
    "moon": Kind(0.18, 1.0, 1, (240, 238, 215)),
    "tree": Kind(0.45, 0.8, 3, (60, 150, 60)),
    "fish": Kind(0.09, 1.6, 2, (250, 140, 40)),
    "star": Kind(0.06, 1.0, 2, (255, 225, 90)),
    "flower": Kind(0.14, 0.6, 3, (235, 80, 140)),
    "house": Kind(0.3, 1.1, 2, (230, 215, 180)),
    "boat": Kind(0.2, 1.0, 2, (150, 80, 40)),
    "plane": Kind(0.09, 2.6, 2, (235, 235, 240)),
    "cloud": Kind(0.14, 2.0, 1, (250, 250, 252)),
    "butterfly": Kind(0.07, 1.1, 3, (250, 150, 40)),
    "rocket": Kind(0.22, 0.5, 2, (235, 235, 240)),
}

_DRAWERS: dict[str, Draw] = {
    "cat": _cat,
    "dog": _dog,
    "bird": _bird,
    "car": _car,
    "ball": _ball,
    "person": _person,
    "robot": _robot,
    "sun": _sun,
    "moon": _moon,
    "tree": _tree,
    "fish": _fish,
    "star": _star,
    "flower": _flower,
    "house": _house,
    "boat": _boat,
    "plane": _plane,
    "cloud": _cloud,
    "butterfly": _butterfly,
    "rocket": _rocket,
}
