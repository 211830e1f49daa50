"""The backdrop: a still scene painted once per clip, larger than the frame, for the camera.

Smooth light (sky gradients, glows, haze, soft clouds) is computed at quarter resolution and
scaled up, which is cheap and looks the same; crisp shapes (hills, buildings, waves, trees) are
then drawn at full resolution with Pillow.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw

from .palette import RGB, Palette, mix

_LOW = 4  # smooth light is painted at 1/_LOW resolution


@dataclass(frozen=True)
class Layout:
    """Where things are, in canvas pixels: subjects stand, swim and fly relative to these."""

    width: int  # canvas size
    height: int
    frame_w: int
    frame_h: int
    margin_x: int  # the frame-0 view starts here
    margin_y: int
    horizon: float  # y of the horizon
    ground: float  # y where walkers' feet are
    water: float | None  # y of the water line boats ride on, if any
    sun: tuple[float, float]  # where the sky's light comes from

    def frame_y(self, fraction: float) -> float:
        """A height within the frame-0 view, as a canvas y."""
        return self.margin_y + fraction * self.frame_h


def paint_backdrop(
    theme: str,
    palette: Palette,
    frame_w: int,
    frame_h: int,
    margin_x: int,
    margin_y: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, Layout]:
    width, height = frame_w + 2 * margin_x, frame_h + 2 * margin_y
    horizon = margin_y + frame_h * rng.uniform(0.52, 0.64)
    water = None
    if theme == "ocean":
        water = horizon + 0.1 * frame_h
    sun = (
        margin_x + frame_w * rng.uniform(0.2, 0.8),
        horizon - frame_h * (0.08 if theme == "ocean" else rng.uniform(0.12, 0.3)),
    )
    layout = Layout(
        width,
        height,
        frame_w,
        frame_h,
        margin_x,
        margin_y,
        horizon,
        margin_y + frame_h * 0.86,
        water,
        sun,
    )

    light = _light(theme, palette, layout, rng)
    image = Image.fromarray(light).resize((width, height), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(image)
    if palette.is_dark and theme not in ("underwater", "abstract"):
        _stars(draw, layout, rng, top=0, bottom=layout.horizon)
    _PAINTERS.get(theme, _hills)(draw, layout, palette, rng)
    return np.array(image), layout


def _light(theme: str, palette: Palette, layout: Layout, rng: np.random.Generator) -> np.ndarray:
    """Sky and ground gradients, sun glow and soft clouds at low resolution, as uint8 RGB."""
    w, h = max(2, layout.width // _LOW), max(2, layout.height // _LOW)
    ys = (np.arange(h, dtype=np.float32) + 0.5) * _LOW
    xs = (np.arange(w, dtype=np.float32) + 0.5) * _LOW
    top, bottom = _arr(palette.sky_top), _arr(palette.sky_bottom)
    if theme in ("underwater", "space", "abstract"):
        # No horizon: one gradient over the whole frame-0 view.
        u = np.clip((ys - layout.margin_y) / layout.frame_h, 0, 1)[:, None]
        if theme == "underwater":
            top, bottom = _arr(mix(palette.sky_bottom, palette.far, 0.4)), _arr(palette.ground)
        field = top + (bottom - top) * u[:, :, None]
        field = np.broadcast_to(field, (h, w, 3)).copy()
    else:
        sky_u = np.clip((ys - layout.margin_y) / max(layout.horizon - layout.margin_y, 1), 0, 1)
        sky = top + (bottom - top) * (sky_u**0.8)[:, None]
        ground_u = np.clip((ys - layout.horizon) / max(layout.height - layout.horizon, 1), 0, 1)
        ground = _arr(palette.far) + (_arr(palette.ground) - _arr(palette.far)) * ground_u[:, None]
        column = np.where((ys < layout.horizon)[:, None], sky, ground)
        field = np.broadcast_to(column[:, None, :], (h, w, 3)).copy()

    gx, gy = xs[None, :], ys[:, None]
    if theme == "underwater":
        # Shafts of light from the surface, fading with depth.
        slant = gx + 0.35 * gy
        shafts = np.maximum(0, np.sin(slant / layout.frame_w * rng.uniform(9, 15))) ** 6
        fade = np.clip(1 - (gy - layout.margin_y) / layout.frame_h, 0, 1) ** 1.5
        field += (shafts * fade * 0.35)[:, :, None] * (_arr(palette.glow) - field)
    elif theme == "abstract":
        for _ in range(int(rng.integers(6, 11))):
            colour = _arr(
                [palette.accent, palette.accent2, palette.glow, palette.far][int(rng.integers(4))]
            )
            cx = layout.margin_x + rng.uniform(-0.1, 1.1) * layout.frame_w
            cy = layout.margin_y + rng.uniform(-0.1, 1.1) * layout.frame_h
            r = layout.frame_h * rng.uniform(0.15, 0.45)
            blob = np.exp(-((gx - cx) ** 2 + (gy - cy) ** 2) / (2 * r * r))
            field += (0.7 * blob)[:, :, None] * (colour - field)
    elif theme == "space":
        for _ in range(3):
            colour = _arr([palette.accent, palette.accent2, palette.far][int(rng.integers(3))])
            cx = layout.margin_x + rng.uniform(0, 1) * layout.frame_w
            cy = layout.margin_y + rng.uniform(0, 1) * layout.frame_h
            rx, ry = layout.frame_w * rng.uniform(0.2, 0.5), layout.frame_h * rng.uniform(0.1, 0.3)
            blob = np.exp(-(((gx - cx) / rx) ** 2 + ((gy - cy) / ry) ** 2))
            field += (0.3 * blob)[:, :, None] * (colour - field)
    else:
        sx, sy = layout.sun
        r = layout.frame_h * (0.35 if palette.is_dark else 0.5)
        glow = np.exp(-((gx - sx) ** 2 + (gy - sy) ** 2) / (2 * r * r))
        glow *= gy < layout.horizon + 0.05 * layout.frame_h
        field += (0.55 * glow)[:, :, None] * (_arr(palette.glow) - field)
        if not palette.is_dark:
            cloud = _arr(mix(palette.sky_bottom, (255, 255, 255), 0.7))
            for _ in range(int(rng.integers(3, 8))):
                cx = rng.uniform(0, layout.width)
                cy = layout.margin_y + rng.uniform(0.05, 0.35) * layout.frame_h
                rx, ry = layout.frame_w * rng.uniform(0.08, 0.2), layout.frame_h * 0.05
                puff = np.exp(-(((gx - cx) / rx) ** 2 + ((gy - cy) / ry) ** 2))
                field += (0.6 * puff * (gy < layout.horizon))[:, :, None] * (cloud - field)
    return np.clip(field, 0, 255).astype(np.uint8)


def _arr(colour: RGB | list[int]) -> np.ndarray:
    return np.asarray(colour, dtype=np.float32)


def _ridge(
    layout: Layout,
    rng: np.random.Generator,
    base: float,
    amplitude: float,
    waves: int = 3,
    step: int = 12,
) -> list[tuple[float, float]]:
    """A wavy skyline from left to right, closed along the bottom of the canvas: a polygon."""
    xs = np.arange(0, layout.width + step, step, dtype=np.float64)
    ys = np.full_like(xs, base)
    for _ in range(waves):
        period = layout.frame_w * rng.uniform(0.15, 0.9)
        ys += (
            amplitude
            * rng.uniform(0.3, 1.0)
            * np.sin(2 * np.pi * xs / period + rng.uniform(0, 2 * np.pi))
        )
    points = list(zip(xs.tolist(), ys.tolist(), strict=True))
    return [*points, (float(layout.width), float(layout.height)), (0.0, float(layout.height))]


def _stars(
    draw: ImageDraw.ImageDraw,
    layout: Layout,
    rng: np.random.Generator,
    top: float,
    bottom: float,
) -> None:
    count = int(layout.width * max(bottom - top, 0) / 1800)
    xs = rng.uniform(0, layout.width, count)
    ys = rng.uniform(top, bottom, count)
    shades = rng.integers(110, 256, count)
    for x, y, shade in zip(xs.tolist(), ys.tolist(), shades.tolist(), strict=True):
        colour = (shade, shade, min(255, shade + 20))
        if shade > 235:
            draw.rectangle((x, y, x + 1, y + 1), fill=colour)
        else:
            draw.point((x, y), fill=colour)


def _hills(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    for k in range(3):
        colour = mix(palette.far, palette.ground, k / 2)
        base = layout.horizon + (k * 0.09 - 0.02) * fh
        draw.polygon(_ridge(layout, rng, base, 0.04 * fh * (1 + k)), fill=colour)
    # Scattered bushes in the near field give the eye something to track when the camera moves.
    for _ in range(int(layout.width / layout.frame_w * 14)):
        x = rng.uniform(0, layout.width)
        y = layout.horizon + rng.uniform(0.22, 0.5) * fh
        r = fh * rng.uniform(0.01, 0.03)
        draw.ellipse(
            (x - r * 1.6, y - r, x + r * 1.6, y + r), fill=mix(palette.ground, palette.dark, 0.45)
        )


def _forest(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    draw.polygon(_ridge(layout, rng, layout.horizon - 0.02 * fh, 0.05 * fh), fill=palette.far)
    for row in range(3):
        depth = row / 2
        green = mix(mix(palette.far, palette.ground, depth), palette.dark, 0.2 + 0.3 * depth)
        size = fh * (0.12 + 0.12 * depth)
        base = layout.horizon + (0.02 + 0.12 * row) * fh
        x = rng.uniform(-size, 0)
        while x < layout.width + size:
            foot = base + rng.uniform(-0.02, 0.02) * fh
            tall = size * rng.uniform(0.8, 1.3)
            half = tall * 0.32
            draw.rectangle(
                (x - half * 0.12, foot - tall * 0.2, x + half * 0.12, foot),
                fill=mix(palette.dark, (90, 60, 30), 0.4),
            )
            for tier in range(3):
                y0 = foot - tall * (0.15 + 0.28 * tier)
                w = half * (1 - 0.25 * tier)
                draw.polygon([(x - w, y0), (x + w, y0), (x, y0 - tall * 0.42)], fill=green)
            x += size * rng.uniform(0.35, 0.8)
        if row == 1:
            draw.rectangle(
                (0, base + 0.04 * fh, layout.width, layout.height),
                fill=mix(palette.ground, palette.dark, 0.15),
            )


def _ocean(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    horizon, beach = layout.horizon, layout.margin_y + 0.88 * fh
    draw.line(
        (0, horizon, layout.width, horizon),
        fill=mix(palette.far, palette.glow, 0.3),
        width=max(1, round(fh / 360)),
    )
    crest = mix(palette.ground, palette.glow, 0.45)
    for j in range(int(fh / 9)):
        depth = (j / (fh / 9)) ** 1.7
        y = horizon + depth * (beach - horizon) + rng.uniform(-2, 2)
        length = fh * (0.03 + 0.25 * depth)
        thick = max(1, round(fh / 480 * (1 + 3 * depth)))
        x = rng.uniform(-length, 0)
        while x < layout.width:
            draw.line((x, y, x + length, y), fill=crest, width=thick)
            x += length * rng.uniform(1.5, 4)
    sx = layout.sun[0]
    for j in range(24):  # the sun's glitter path on the water
        y = horizon + (j / 24) ** 1.4 * (beach - horizon)
        half = fh * (0.01 + 0.05 * j / 24) * rng.uniform(0.5, 1.2)
        draw.line((sx - half, y, sx + half, y), fill=palette.glow, width=max(1, round(fh / 300)))
    sand = mix(palette.accent2, (235, 210, 160), 0.6)
    draw.polygon(_ridge(layout, rng, beach, 0.015 * fh, waves=2), fill=sand)


def _underwater(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    floor = layout.margin_y + 0.84 * fh
    sand = mix(palette.far, (200, 180, 130), 0.6)
    draw.polygon(_ridge(layout, rng, floor, 0.03 * fh, waves=2), fill=sand)
    for _ in range(int(layout.width / layout.frame_w * 10)):
        x = rng.uniform(0, layout.width)
        tall = fh * rng.uniform(0.12, 0.35)
        points = [
            (x + 0.02 * fh * np.sin(k * 0.9), floor + 0.02 * fh - tall * k / 8) for k in range(9)
        ]
        draw.line(
            points,
            fill=mix((40, 140, 70), palette.dark, rng.uniform(0, 0.4)),
            width=max(2, round(fh / 120)),
            joint="curve",
        )
    for _ in range(int(layout.width / layout.frame_w * 6)):
        x, r = rng.uniform(0, layout.width), fh * rng.uniform(0.02, 0.06)
        draw.ellipse(
            (x - r * 1.5, floor - r * 0.6, x + r * 1.5, floor + r),
            fill=mix(palette.dark, sand, 0.4),
        )


def _city(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    street = layout.margin_y + 0.8 * fh
    lit = palette.glow if palette.is_dark else mix(palette.sky_bottom, (255, 255, 255), 0.5)
    for depth, shade in (
        (0, mix(palette.far, palette.sky_bottom, 0.3)),
        (1, mix(palette.dark, palette.far, 0.35)),
    ):
        x = rng.uniform(-0.05, 0) * fh
        while x < layout.width:
            bw = fh * rng.uniform(0.09, 0.2) * (1 + 0.3 * depth)
            top = street - fh * rng.uniform(0.2, 0.55) * (0.7 + 0.4 * depth)
            draw.rectangle((x, top, x + bw, street), fill=shade)
            if depth:
                win = max(2.0, fh / 90)
                for wy in np.arange(top + win * 1.5, street - win * 2, win * 2.2).tolist():
                    for wx in np.arange(x + win, x + bw - win * 1.5, win * 2.0).tolist():
                        if rng.random() < (0.45 if palette.is_dark else 0.25):
                            draw.rectangle((wx, wy, wx + win, wy + win), fill=lit)
            x += bw + fh * rng.uniform(0.0, 0.03)
    draw.rectangle(
        (0, street, layout.width, layout.height), fill=mix(palette.dark, (70, 70, 75), 0.5)
    )
    lane_y = layout.margin_y + 0.9 * fh
    dash = fh * 0.06
    for x in np.arange(0, layout.width, dash * 2.2).tolist():
        draw.rectangle((x, lane_y, x + dash, lane_y + max(2, fh / 160)), fill=(230, 220, 150))


def _desert(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    for k in range(3):
        colour = mix(palette.far, palette.ground, k / 2)
        draw.polygon(
            _ridge(layout, rng, layout.horizon + k * 0.1 * fh, 0.05 * fh, waves=2, step=8),
            fill=colour,
        )
    cactus = mix((50, 110, 60), palette.dark, 0.3)
    for _ in range(int(layout.width / layout.frame_w * 4)):
        x = rng.uniform(0, layout.width)
        foot = layout.horizon + rng.uniform(0.15, 0.35) * fh
        tall, arm = fh * rng.uniform(0.06, 0.14), max(2.0, fh / 100)
        draw.rectangle((x - arm, foot - tall, x + arm, foot), fill=cactus)
        draw.rectangle(
            (x - arm * 4, foot - tall * 0.6, x - arm * 2.8, foot - tall * 0.3), fill=cactus
        )
        draw.rectangle((x - arm * 4, foot - tall * 0.45, x, foot - tall * 0.3), fill=cactus)


def _mountains(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    snow = mix(palette.sky_bottom, (255, 255, 255), 0.8)
    for k, colour in enumerate((mix(palette.far, palette.sky_bottom, 0.35), palette.far)):
        x = rng.uniform(-0.3, 0) * fh
        base = layout.horizon + 0.04 * fh * k
        while x < layout.width:
            half = fh * rng.uniform(0.25, 0.5)
            peak = base - fh * rng.uniform(0.18, 0.38) * (1 - 0.2 * k)
            px = x + half * rng.uniform(0.8, 1.2)
            draw.polygon([(x, base), (px, peak), (x + 2 * half, base)], fill=colour)
            cap = 0.25
            left = (px + (x - px) * cap, peak + (base - peak) * cap)
            right = (px + (x + 2 * half - px) * cap, peak + (base - peak) * cap)
            draw.polygon([left, (px, peak), right], fill=snow)
            x += half * rng.uniform(0.9, 1.5)
    draw.polygon(
        _ridge(layout, rng, layout.horizon + 0.06 * fh, 0.03 * fh),
        fill=mix(palette.ground, palette.far, 0.3),
    )


def _space(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    _stars(draw, layout, rng, top=0, bottom=layout.height)
    fh = layout.frame_h
    r = fh * rng.uniform(0.12, 0.3)
    cx = layout.margin_x + layout.frame_w * rng.uniform(0.15, 0.85)
    cy = layout.margin_y + fh * rng.uniform(0.25, 0.75)
    body = palette.accent if rng.random() < 0.5 else palette.accent2
    draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=body)
    for band in range(3):  # cloud bands across the planet
        y = cy - r * 0.5 + band * r * 0.4
        half = (r * r - (y - cy) ** 2) ** 0.5 * 0.95
        draw.line(
            (cx - half, y, cx + half, y),
            fill=mix(body, (255, 255, 255), 0.25),
            width=max(2, round(r / 10)),
        )
    shadow = mix(body, palette.sky_top, 0.75)
    draw.chord((cx - r, cy - r, cx + r, cy + r), 300, 120, fill=shadow)


def _abstract(
    draw: ImageDraw.ImageDraw, layout: Layout, palette: Palette, rng: np.random.Generator
) -> None:
    fh = layout.frame_h
    colours = (palette.accent, palette.accent2, palette.glow, palette.dark)
    for _ in range(int(layout.width / layout.frame_w * 12)):
        colour = colours[int(rng.integers(len(colours)))]
        x, y = rng.uniform(0, layout.width), rng.uniform(0, layout.height)
        r = fh * rng.uniform(0.03, 0.15)
        width = max(2, round(fh / rng.uniform(90, 200)))
        if rng.random() < 0.5:
            draw.ellipse((x - r, y - r, x + r, y + r), outline=colour, width=width)
        else:
            draw.rectangle((x - r, y - r, x + r, y + r), outline=colour, width=width)


_PAINTERS: dict[
    str, Callable[[ImageDraw.ImageDraw, Layout, Palette, np.random.Generator], None]
] = {
    "hills": _hills,
    "forest": _forest,
    "ocean": _ocean,
    "underwater": _underwater,
    "city": _city,
    "desert": _desert,
    "mountains": _mountains,
    "space": _space,
    "abstract": _abstract,
}
