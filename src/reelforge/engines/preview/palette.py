"""Colours of a scene, chosen from the prompt's colour and mood words (else from its hash)."""

from __future__ import annotations

import colorsys
from dataclasses import dataclass

RGB = tuple[int, int, int]


@dataclass(frozen=True)
class Palette:
    sky_top: RGB
    sky_bottom: RGB
    far: RGB  # distant hills, haze, far water
    ground: RGB  # the near ground or water
    dark: RGB  # silhouettes: buildings, trunks
    glow: RGB  # sun, lit windows, sparkles
    accent: RGB  # the default colour of subjects
    accent2: RGB

    @property
    def is_dark(self) -> bool:
        return sum(self.sky_top) < 150


def hsv(hue_deg: float, sat: float, val: float) -> RGB:
    r, g, b = colorsys.hsv_to_rgb((hue_deg % 360) / 360, min(max(sat, 0), 1), min(max(val, 0), 1))
    return (round(r * 255), round(g * 255), round(b * 255))


def mix(a: RGB, b: RGB, t: float) -> RGB:
    return (
        round(a[0] + (b[0] - a[0]) * t),
        round(a[1] + (b[1] - a[1]) * t),
        round(a[2] + (b[2] - a[2]) * t),
    )


# Plain colour words: a hue (or None for the greys) and how saturated the scene may be.
COLOUR_WORDS: dict[str, tuple[float | None, float]] = {
    "red": (0, 0.85),
    "crimson": (348, 0.85),
    "scarlet": (5, 0.9),
    "orange": (28, 0.9),
    "amber": (40, 0.9),
    "gold": (46, 0.8),
    "golden": (44, 0.8),
    "yellow": (54, 0.85),
    "lime": (90, 0.85),
    "green": (125, 0.7),
    "emerald": (145, 0.75),
    "mint": (155, 0.4),
    "teal": (178, 0.75),
    "cyan": (186, 0.8),
    "turquoise": (172, 0.7),
    "blue": (218, 0.75),
    "azure": (205, 0.7),
    "navy": (228, 0.8),
    "indigo": (248, 0.7),
    "purple": (276, 0.65),
    "violet": (268, 0.6),
    "lavender": (262, 0.35),
    "magenta": (305, 0.8),
    "pink": (330, 0.5),
    "rose": (340, 0.55),
    "brown": (25, 0.6),
    "white": (None, 0.0),
    "silver": (None, 0.0),
    "grey": (None, 0.0),
    "gray": (None, 0.0),
    "black": (None, 0.0),
}

# Colours of named things, for subjects: "a black cat", "a golden dog".
SUBJECT_COLOURS: dict[str, RGB] = {
    "white": (240, 240, 236),
    "silver": (190, 194, 200),
    "grey": (128, 130, 134),
    "gray": (128, 130, 134),
    "black": (28, 28, 32),
    "brown": (120, 72, 38),
}


def subject_colour(word: str) -> RGB | None:
    if word in SUBJECT_COLOURS:
        return SUBJECT_COLOURS[word]
    if word in COLOUR_WORDS:
        hue, sat = COLOUR_WORDS[word]
        return hsv(hue or 0, max(sat, 0.55), 0.92)
    return None


def _sunset() -> Palette:
    return Palette(
        (62, 40, 110),
        (250, 150, 70),
        (150, 70, 90),
        (60, 30, 60),
        (35, 18, 40),
        (255, 214, 120),
        (240, 100, 60),
        (255, 190, 80),
    )


def _night() -> Palette:
    return Palette(
        (6, 8, 24),
        (28, 40, 80),
        (30, 36, 64),
        (14, 18, 30),
        (6, 8, 14),
        (250, 236, 170),
        (150, 170, 255),
        (255, 220, 120),
    )


def _neon() -> Palette:
    return Palette(
        (12, 6, 30),
        (60, 20, 90),
        (40, 20, 70),
        (18, 10, 30),
        (10, 6, 18),
        (0, 255, 230),
        (255, 40, 200),
        (60, 220, 255),
    )


def _ocean() -> Palette:
    return Palette(
        (40, 110, 200),
        (170, 215, 240),
        (40, 120, 170),
        (10, 70, 120),
        (12, 40, 60),
        (255, 250, 220),
        (250, 120, 50),
        (255, 255, 255),
    )


def _forest() -> Palette:
    return Palette(
        (110, 170, 210),
        (215, 235, 220),
        (80, 130, 100),
        (40, 90, 40),
        (25, 45, 25),
        (255, 240, 180),
        (200, 60, 40),
        (240, 200, 60),
    )


def _snow() -> Palette:
    return Palette(
        (140, 170, 210),
        (230, 238, 248),
        (170, 185, 210),
        (236, 240, 246),
        (70, 80, 100),
        (255, 255, 240),
        (200, 40, 50),
        (40, 90, 160),
    )


def _desert() -> Palette:
    return Palette(
        (90, 150, 220),
        (240, 215, 170),
        (210, 150, 90),
        (225, 180, 110),
        (120, 70, 40),
        (255, 245, 200),
        (40, 120, 70),
        (200, 60, 40),
    )


def _space() -> Palette:
    return Palette(
        (2, 2, 10),
        (16, 10, 40),
        (60, 30, 90),
        (20, 16, 40),
        (4, 4, 8),
        (255, 255, 255),
        (240, 140, 60),
        (110, 200, 255),
    )


# Mood words bring a whole palette; later words in this table win over earlier ones.
MOOD_PALETTES = {
    "desert": _desert,
    "sand": _desert,
    "dune": _desert,
    "dunes": _desert,
    "forest": _forest,
    "jungle": _forest,
    "woods": _forest,
    "meadow": _forest,
    "ocean": _ocean,
    "sea": _ocean,
    "beach": _ocean,
    "underwater": _ocean,
    "lake": _ocean,
    "snow": _snow,
    "snowy": _snow,
    "winter": _snow,
    "ice": _snow,
    "arctic": _snow,
    "sunset": _sunset,
    "sunrise": _sunset,
    "dusk": _sunset,
    "dawn": _sunset,
    "night": _night,
    "midnight": _night,
    "moonlight": _night,
    "moonlit": _night,
    "dark": _night,
    "neon": _neon,
    "cyberpunk": _neon,
    "synthwave": _neon,
    "space": _space,
    "galaxy": _space,
    "cosmos": _space,
    "nebula": _space,
    "planet": _space,
}


def from_hue(hue: float, sat: float) -> Palette:
    """A whole palette around one hue: light sky, deeper ground, a complementary accent."""
    return Palette(
        sky_top=hsv(hue + 8, 0.55 * sat + 0.15, 0.55),
        sky_bottom=hsv(hue - 10, 0.3 * sat + 0.05, 0.96),
        far=hsv(hue + 20, 0.45 * sat + 0.1, 0.7),
        ground=hsv(hue - 15, 0.7 * sat + 0.1, 0.42),
        dark=hsv(hue, 0.6 * sat, 0.16),
        glow=hsv(hue + 40, 0.25, 1.0),
        accent=hsv(hue + 180, 0.75, 0.95),
        accent2=hsv(hue, max(sat, 0.3), 1.0),
    )


def grey_palette(light: bool) -> Palette:
    if light:
        return Palette(
            (170, 175, 185),
            (245, 245, 245),
            (190, 192, 198),
            (120, 122, 128),
            (50, 50, 55),
            (255, 255, 255),
            (40, 40, 44),
            (210, 40, 40),
        )
    return Palette(
        (10, 10, 12),
        (60, 60, 66),
        (50, 50, 56),
        (24, 24, 28),
        (8, 8, 10),
        (230, 230, 230),
        (220, 220, 220),
        (210, 40, 40),
    )


def choose_palette(words: list[str], prompt_hash: int, seed_hash: int) -> Palette:
    """Mood words first, then plain colour words tint it, else a hue from the prompt's hash."""
    moods = [MOOD_PALETTES[w] for w in words if w in MOOD_PALETTES]
    colours = [COLOUR_WORDS[w] for w in words if w in COLOUR_WORDS]
    if moods:
        base = moods[-1]()
        if colours:
            hue, sat = colours[0]
            tint = hsv(hue or 0, sat, 0.95) if hue is not None else base.accent
            return Palette(
                base.sky_top,
                base.sky_bottom,
                base.far,
                base.ground,
                base.dark,
                base.glow,
                tint,
                base.accent2,
            )
        return base
    if colours:
        hue, sat = colours[0]
        if hue is None:
            return grey_palette(light=not any(w in ("black", "dark") for w in words))
        palette = from_hue(hue, sat)
        if len(colours) > 1 and colours[1][0] is not None:
            second_hue, second_sat = colours[1]
            palette = Palette(
                palette.sky_top,
                palette.sky_bottom,
                palette.far,
                hsv(second_hue or 0, 0.7 * second_sat + 0.1, 0.45),
                palette.dark,
                palette.glow,
                hsv(second_hue or 0, 0.8, 0.95),
                palette.accent2,
            )
        return palette
    # No colour in the prompt: the prompt picks the hue, the seed nudges it.
    hue = (prompt_hash % 360) + (seed_hash % 41) - 20
    sat = 0.35 + ((prompt_hash >> 12) % 50) / 100
    return from_hue(hue, sat)
