"""Actors: the prompt's subjects placed in the scene, each with its own way of moving.

An actor's place at time t is a closed-form function (no state carried between frames), in
canvas coordinates, so the camera sees subjects move with the world when it pans or zooms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .backdrop import Layout
from .palette import RGB, Palette
from .scene import Scene
from .sprites import KINDS

# Horizontal speeds in frame widths per second, and how each kind moves.
_MOTION: dict[str, tuple[str, float]] = {
    "cat": ("walk", 0.09),
    "dog": ("walk", 0.11),
    "person": ("walk", 0.05),
    "robot": ("walk", 0.04),
    "car": ("drive", 0.22),
    "ball": ("bounce", 0.1),
    "bird": ("fly", 0.13),
    "butterfly": ("flutter", 0.05),
    "plane": ("cruise", 0.07),
    "fish": ("swim", 0.08),
    "cloud": ("drift", 0.015),
    "boat": ("sail", 0.025),
    "sun": ("rise", 0.0),
    "moon": ("drift", 0.006),
    "star": ("twinkle", 0.0),
    "tree": ("sway", 0.0),
    "flower": ("sway", 0.0),
    "house": ("still", 0.0),
    "rocket": ("launch", 0.0),
}
# How much each kind moves against the backdrop when the camera moves: the sky barely, near
# things more. Parallax is what makes pans and orbits read as depth.
_PARALLAX = {0: 0.3, 1: 0.6, 2: 0.9, 3: 1.0, 4: 1.1, 5: 1.15, 6: 1.2, 7: 1.3}
# Drawing order: the sky first, flyers last.
_LAYER = {
    "sun": 0,
    "moon": 0,
    "star": 0,
    "cloud": 1,
    "plane": 1,
    "rocket": 1,
    "house": 2,
    "tree": 2,
    "boat": 3,
    "fish": 3,
    "flower": 4,
    "robot": 5,
    "person": 5,
    "car": 5,
    "dog": 6,
    "cat": 6,
    "ball": 6,
    "bird": 7,
    "butterfly": 7,
}


@dataclass(frozen=True)
class Actor:
    kind: str
    colour: RGB
    height: float  # sprite height in canvas pixels at zoom 1
    layer: int
    parallax: float
    motion: str
    x0: float  # canvas position at t = 0 (before wrapping)
    y0: float
    vx: float  # canvas pixels per second, signed
    phase: float
    wrap: tuple[float, float]  # horizontal range the actor wraps around in

    def place(self, t: float) -> tuple[float, float, int, bool]:
        """Centre (x, y) in canvas pixels, pose index and whether it faces left, at time t."""
        poses = KINDS[self.kind].poses
        h = self.height
        x = self.x0 + self.vx * t
        y = self.y0
        pose = 0
        m = self.motion
        if m == "walk":
            y -= 0.04 * h * abs(math.sin(2 * math.pi * 1.8 * t + self.phase))
            pose = int(t * 3.6 + self.phase) % poses
        elif m == "drive":
            y -= 0.01 * h * math.sin(2 * math.pi * 6 * t)
            pose = int(t * 16) % poses
        elif m == "bounce":
            y -= 2.8 * h * abs(math.sin(math.pi * t / 1.1 + self.phase))
            pose = int(t * 8) % poses
        elif m == "fly":
            y += 0.6 * h * math.sin(2 * math.pi * 0.4 * t + self.phase)
            pose = int(t * 9 + self.phase) % poses
        elif m == "flutter":
            y += 1.2 * h * math.sin(2 * math.pi * 0.7 * t + self.phase)
            x += 0.8 * h * math.sin(2 * math.pi * 0.35 * t + self.phase)
            pose = int(t * 12) % poses
        elif m == "cruise":
            y -= 0.02 * h * t
            pose = int(t * 2) % poses
        elif m == "swim":
            y += 0.5 * h * math.sin(2 * math.pi * 0.5 * t + self.phase)
            pose = int(t * 5 + self.phase) % poses
        elif m == "sail":
            y += 0.03 * h * math.sin(2 * math.pi * 0.35 * t + self.phase)
            pose = int(t * 1.5) % poses
        elif m == "rise":
            y -= 0.06 * h * t
            pose = int(t * 5) % poses
        elif m == "twinkle":
            pose = int(t * 5 + self.phase * 3) % poses
        elif m == "sway":
            pose = round(1 + math.sin(2 * math.pi * 0.5 * t + self.phase)) % poses
        elif m == "launch":
            span = self.wrap[1] - self.wrap[0]
            y = self.wrap[1] - ((self.wrap[1] - self.y0 + 0.15 * h * t * 6) % span)
            x += 0.1 * h * math.sin(2 * math.pi * 0.3 * t + self.phase)
            pose = int(t * 12) % poses
        if self.vx and m != "launch":
            low, high = self.wrap
            x = low + (x - low) % (high - low)
        return x, y, pose, self.vx < 0


def cast(
    scene: Scene, layout: Layout, rng: np.random.Generator, mid_dx: float, duration: float
) -> list[Actor]:
    """Place every subject so that it is in view around the middle of the clip."""
    actors: list[Actor] = []
    fw, fh = layout.frame_w, layout.frame_h
    for subject in scene.subjects:
        kind = KINDS[subject.kind]
        motion, speed = _MOTION[subject.kind]
        colour = subject.colour or _default_colour(subject.kind, kind.colour, scene.palette, rng)
        count = subject.count
        parallax = _PARALLAX[_LAYER[subject.kind]]
        centre_x = layout.width / 2 + mid_dx * parallax
        for k in range(count):
            height = kind.height * fh * rng.uniform(0.9, 1.1)
            width = height * kind.aspect
            direction = 1 if rng.random() < 0.5 else -1
            vx = direction * speed * fw * rng.uniform(0.85, 1.15)
            # Spread several of a kind across the view; movers cross its middle mid-clip.
            slot = (k + 0.5) / count - 0.5
            x_mid = centre_x + slot * fw * 0.75 + rng.uniform(-0.08, 0.08) * fw
            x0 = x_mid - vx * duration / 2
            y0 = _height_for(subject.kind, layout, rng, height, k)
            margin = width
            actors.append(
                Actor(
                    kind=subject.kind,
                    colour=colour,
                    height=height,
                    layer=_LAYER[subject.kind] * 10 + min(k, 9),
                    parallax=parallax,
                    motion=motion,
                    x0=x0,
                    y0=y0,
                    vx=vx if motion not in ("launch",) else 0.0,
                    phase=rng.uniform(0, 2 * math.pi),
                    wrap=(
                        (-margin, layout.width + margin)
                        if motion != "launch"
                        else (-height, layout.height + height)
                    ),
                )
            )
    actors.sort(key=lambda a: (a.layer, a.y0))
    return actors


def _height_for(kind: str, layout: Layout, rng: np.random.Generator, h: float, k: int) -> float:
    """Where (the centre of) a subject sits vertically, in canvas pixels."""
    ground = layout.ground if layout.water is None else layout.frame_y(0.95)
    if kind in ("cat", "dog", "person", "robot", "car", "ball", "house", "tree", "flower"):
        depth = 0.025 * layout.frame_h * (k % 3)
        return ground - h / 2 + depth
    if kind == "boat":
        water = layout.water if layout.water is not None else layout.frame_y(0.7)
        return water - h * 0.35 + 0.04 * layout.frame_h * (k % 2)
    if kind == "fish":
        top = layout.water if layout.water is not None else layout.frame_y(0.2)
        low = top + h  # below the surface; a low water line leaves little room
        return rng.uniform(low, max(low, layout.frame_y(0.8)))
    if kind in ("sun", "moon"):
        return layout.frame_y(rng.uniform(0.15, 0.3))
    if kind == "star":
        return layout.frame_y(rng.uniform(0.05, 0.4))
    if kind == "rocket":
        return layout.frame_y(rng.uniform(0.5, 0.8))
    if kind in ("cloud", "plane"):
        return layout.frame_y(rng.uniform(0.08, 0.3))
    return layout.frame_y(rng.uniform(0.2, 0.55))  # birds, butterflies


def _default_colour(kind: str, colour: RGB, palette: Palette, rng: np.random.Generator) -> RGB:
    # Things with a colour of their own keep it; the rest take the scene's accent now and then.
    if kind in ("sun", "moon", "cloud", "tree", "star", "house", "plane", "rocket", "fish"):
        return colour
    return palette.accent if rng.random() < 0.5 else colour
