"""Reference images as framed cards on screen, in shots directed by the prompt (references.py).

Shots. The references, in the order the prompt puts them, are split into shots of at least
MIN_SHOT_S each: as many shots as the clip holds, at most one per reference, so a 1 s clip shows
every card at once and a 10 s clip with three references gives each its own shot. The clip is
shared between the shots in proportion to their references' weights (mentioned ones get more),
none getting less than the minimum. Shots
cross-fade over FADE_S, centred on the cut, so every card is fully on screen for at least
MIN_SHOT_S - FADE_S (1.2 s); the first shot is there from frame 0 and the last stays to the end.

Layout. A shot's cards sit on a grid filling most of the frame, the columns chosen to give the
cards the most room, in reading order. A card is at least a sixth of the frame high (the lead up
to 0.57 of it), keeps its picture's aspect within 1:2..2:1 (fit_image crops the rest), and moves
only within its own cell, so cards never cover each other and never leave the frame.

Cost. Cards are fitted once per size (growing and shrinking cards step through a few sizes); a
frame pastes each with a slice copy and halves the pixels under its drop shadow with a shift.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from reelforge.media.fit import fit_image

from .references import Role
from .scene import stable_hash

MIN_SHOT_S = 1.5
FADE_S = 0.3
# The grid's share of the frame, and the tallest a card may be (as a share of the frame height).
_GRID_W, _GRID_H = 0.94, 0.9
_MAX_CARD_H = 0.62
# A card's share of its cell, by prominence (unmentioned, mentioned, lead).
_FILL = (0.76, 0.84, 0.92)
# Growing and shrinking cards step through sizes this far apart, never below this share of the
# frame height.
_SIZE_STEP = 0.04
_MIN_GROWN_H = 0.2
_LEAST_SLACK = 1.06


@dataclass(frozen=True)
class Shot:
    start: float  # seconds
    end: float
    references: tuple[int, ...]  # in order


@dataclass(frozen=True)
class _Place:
    role: Role
    shot: int
    cx: float  # resting centre in the frame
    cy: float
    w: int  # card size at full scale, border included
    h: int
    room_x: float  # how far the centre may move either way and stay in the cell
    room_y: float
    smallest: float  # the scale a growing card starts at and a shrinking one ends at
    phase: float


def plan_shots(roles: tuple[Role, ...], duration_s: float, turns: bool = True) -> list[Shot]:
    """Which references are on screen when: see the module docstring."""
    if not roles:
        return []
    ordered = sorted(roles, key=lambda r: r.order)
    n = len(ordered)
    count = max(1, min(n, int(duration_s // MIN_SHOT_S))) if turns else 1
    # Contiguous groups in order; any larger groups come last, so the lead's shot is the roomiest.
    sizes = [n // count + (1 if k >= count - n % count else 0) for k in range(count)]
    groups: list[list[Role]] = []
    at = 0
    for size in sizes:
        groups.append(ordered[at : at + size])
        at += size
    if count == 1:
        return [Shot(0.0, max(duration_s, 0.0), tuple(r.reference for r in groups[0]))]
    lengths = share_time([sum(r.weight for r in group) for group in groups], duration_s)
    shots: list[Shot] = []
    start = 0.0
    for k, group in enumerate(groups):
        end = duration_s if k == count - 1 else start + lengths[k]
        shots.append(Shot(start, end, tuple(r.reference for r in group)))
        start = end
    return shots


def share_time(weights: list[int], duration_s: float) -> list[float]:
    """Split the clip in proportion to `weights`, giving none less than MIN_SHOT_S (the caller
    makes sure that all of them can have it)."""
    lengths = [0.0] * len(weights)
    floor: set[int] = set()
    while True:
        free = duration_s - MIN_SHOT_S * len(floor)
        total = sum(w for k, w in enumerate(weights) if k not in floor)
        short = False
        for k, w in enumerate(weights):
            if k in floor:
                lengths[k] = MIN_SHOT_S
                continue
            lengths[k] = free * w / total
            if lengths[k] < MIN_SHOT_S:
                floor.add(k)
                short = True
        if not short:
            return lengths


def _grid(count: int, width: int, height: int) -> tuple[int, int]:
    """(columns, rows) giving the largest square room per card."""
    best = (1, count)
    best_room = -1.0
    for cols in range(1, count + 1):
        rows = math.ceil(count / cols)
        room = min(width * _GRID_W / cols, height * _GRID_H / rows)
        if room > best_room + 1e-9:
            best, best_room = (cols, rows), room
    return best


class Cards:
    def __init__(
        self,
        images: tuple[np.ndarray, ...],
        roles: tuple[Role, ...],
        width: int,
        height: int,
        duration_s: float,
        seed: int,
        turns: bool = True,
    ) -> None:
        self.width, self.height = width, height
        self._images = images
        self._shots = plan_shots(roles, duration_s, turns)
        self._places: list[list[_Place]] = []
        self._pixels: dict[tuple[int, int, int], np.ndarray] = {}
        self._shadow = max(2, round(height / 90))
        self._border = max(2, round(height / 150))
        # The picture inside every card is at least a sixth of the frame high, with some to spare.
        self._least_h = math.ceil(height / 6 * _LEAST_SLACK) + 2 * self._border
        by_ref = {r.reference: r for r in roles}
        for s, shot in enumerate(self._shots):
            places = self._lay_out(shot, s, by_ref, seed)
            # Back to front: the lead is drawn last.
            self._places.append(sorted(places, key=lambda p: (p.role.prominence, -p.role.order)))

    @property
    def shots(self) -> list[Shot]:
        return list(self._shots)

    def _lay_out(self, shot: Shot, s: int, by_ref: dict[int, Role], seed: int) -> list[_Place]:
        width, height = self.width, self.height
        count = len(shot.references)
        cols, rows = _grid(count, width, height)
        cell_w, cell_h = width * _GRID_W / cols, height * _GRID_H / rows
        places = []
        for k, ref in enumerate(shot.references):
            role = by_ref[ref]
            image = self._images[ref]
            aspect = min(max(image.shape[1] / max(image.shape[0], 1), 0.5), 2.0)
            fill = _FILL[role.prominence]
            card_h = min(cell_h, _MAX_CARD_H * height) * fill
            card_h = max(card_h, min(self._least_h, cell_h - 2 * self._shadow))
            # A narrow cell crops a wide picture (fit_image keeps its middle), never below 1:2.
            card_w = max(min(card_h * aspect, cell_w * fill), card_h / 2)
            row, col = divmod(k, cols)
            in_row = min(cols, count - row * cols)  # centre a short last row
            cx = width / 2 + (col - (in_row - 1) / 2) * cell_w
            cy = height / 2 + (row - (rows - 1) / 2) * cell_h
            w, h = (
                max(2 * self._border + 2, round(card_w)),
                max(2 * self._border + 2, round(card_h)),
            )
            smallest = 1.0
            least = max(self._least_h, _MIN_GROWN_H * height)
            if h > least:
                smallest = max(0.7, least / h)
            places.append(
                _Place(
                    role=role,
                    shot=s,
                    cx=cx,
                    cy=cy,
                    w=w,
                    h=h,
                    room_x=max(0.0, (cell_w - w) / 2 - self._shadow) * 0.9,
                    room_y=max(0.0, (cell_h - h) / 2 - self._shadow) * 0.9,
                    smallest=smallest,
                    phase=(stable_hash("card", seed, ref) % 6283) / 1000,
                )
            )
        return places

    def visible(self, t: float) -> list[tuple[int, float]]:
        """(reference, opacity) of each card on screen at time t."""
        out = []
        for s, shot in enumerate(self._shots):
            alpha = self._shot_alpha(s, t)
            if alpha > 0:
                out.extend((ref, alpha) for ref in shot.references)
        return out

    def _shot_alpha(self, s: int, t: float) -> float:
        shot = self._shots[s]
        alpha = 1.0
        if s > 0:
            alpha = min(alpha, (t - (shot.start - FADE_S / 2)) / FADE_S)
        if s < len(self._shots) - 1:
            alpha = min(alpha, ((shot.end + FADE_S / 2) - t) / FADE_S)
        return min(max(alpha, 0.0), 1.0)

    def draw(self, frame: np.ndarray, t: float, opacity: float = 1.0) -> None:
        """Draw the cards on screen at time t, at `opacity` (0..1) times their own."""
        if opacity <= 0:
            return
        for s, places in enumerate(self._places):
            alpha = self._shot_alpha(s, t) * opacity
            if alpha <= 0:
                continue
            shot = self._shots[s]
            for place in places:
                self._draw_one(frame, place, shot, t, alpha)

    def _draw_one(
        self, frame: np.ndarray, place: _Place, shot: Shot, t: float, alpha: float
    ) -> None:
        role = place.role
        span = max(shot.end - shot.start, 1e-6)
        u = min(max((t - shot.start) / span, 0.0), 1.0)
        progress = 0.5 * u + 0.25 * (1 - math.cos(math.pi * u))  # steady, eased at the ends
        local = t - shot.start
        x, y, scale = place.cx, place.cy, 1.0
        motion = role.motion
        if motion == "slide":
            x += role.dx * place.room_x * (2 * progress - 1)
            y += role.dy * place.room_y * (2 * progress - 1)
        elif motion == "grow":
            scale = place.smallest + (1 - place.smallest) * progress
        elif motion == "shrink":
            scale = 1 - (1 - place.smallest) * progress
        elif motion == "bounce":
            hop = abs(math.sin(math.pi * local / 0.7 + place.phase))
            y += place.room_y * (1 - 2 * hop)
        elif motion == "wobble":
            x += min(place.room_x, 0.03 * self.width) * math.sin(2 * math.pi * 1.5 * local)
        elif motion == "drift":
            drift = 0.05 * min(self.width, self.height)
            swing = 2 * math.pi * local / 4.0 + place.phase
            x += min(place.room_x, drift) * math.sin(swing)
            y += min(place.room_y, drift) * math.cos(swing * 0.8)
        pixels = self._card(role.reference, place, scale)
        h, w = pixels.shape[:2]
        left = min(max(round(x - w / 2), 0), self.width - w)
        top = min(max(round(y - h / 2), 0), self.height - h)
        s = self._shadow
        region = self._clip(left + s, top + s, w, h)
        if region is not None:
            shade = frame[region[0]]
            if alpha >= 1.0:
                np.right_shift(shade, 1, out=shade)
            else:
                keep = 256 - round(128 * alpha)
                shade[...] = (shade.astype(np.uint16) * keep >> 8).astype(np.uint8)
        region = self._clip(left, top, w, h)
        if region is None:
            return
        if alpha >= 1.0:
            frame[region[0]] = pixels[region[1]]
            return
        k = round(alpha * 256)
        under = frame[region[0]].astype(np.uint16)
        mixed = (pixels[region[1]].astype(np.uint16) * k + under * (256 - k) + 128) >> 8
        frame[region[0]] = mixed.astype(np.uint8)

    def _card(self, ref: int, place: _Place, scale: float) -> np.ndarray:
        """The framed card at a size step near `scale`, fitted on first use."""
        step = round((1 - scale) / _SIZE_STEP)
        factor = max(place.smallest, 1 - step * _SIZE_STEP) if step else 1.0
        b = self._border
        w = max(2 * b + 2, round(place.w * factor))
        h = max(2 * b + 2, round(place.h * factor))
        key = (ref, w, h)
        pixels = self._pixels.get(key)
        if pixels is None:
            pixels = np.full((h, w, 3), 250, np.uint8)
            pixels[b:-b, b:-b] = fit_image(self._images[ref], w - 2 * b, h - 2 * b)
            self._pixels[key] = pixels
        return pixels

    def _clip(
        self, left: int, top: int, w: int, h: int
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
