"""Output frame sizes per aspect ratio and resolution (DESIGN.md's table)."""

from __future__ import annotations

ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "16:9": (16, 9),
    "9:16": (9, 16),
    "1:1": (1, 1),
    "4:3": (4, 3),
    "3:4": (3, 4),
    "3:2": (3, 2),
    "2:3": (2, 3),
}

RESOLUTIONS = ("480p", "720p", "1080p")

_SIZES: dict[str, dict[str, tuple[int, int]]] = {
    "480p": {
        "16:9": (848, 480),
        "9:16": (480, 848),
        "1:1": (480, 480),
        "4:3": (640, 480),
        "3:4": (480, 640),
        "3:2": (720, 480),
        "2:3": (480, 720),
    },
    "720p": {
        "16:9": (1280, 720),
        "9:16": (720, 1280),
        "1:1": (720, 720),
        "4:3": (960, 720),
        "3:4": (720, 960),
        "3:2": (1080, 720),
        "2:3": (720, 1080),
    },
    "1080p": {
        "16:9": (1920, 1080),
        "9:16": (1080, 1920),
        "1:1": (1080, 1080),
        "4:3": (1440, 1080),
        "3:4": (1080, 1440),
        "3:2": (1620, 1080),
        "2:3": (1080, 1620),
    },
}


def frame_size(aspect_ratio: str, resolution: str) -> tuple[int, int]:
    """(width, height) of the output for a supported aspect ratio and resolution."""
    return _SIZES[resolution][aspect_ratio]


def nearest_aspect_ratio(width: int, height: int, allowed: list[str] | None = None) -> str:
    """The supported aspect ratio closest to width:height (compared on a log scale)."""
    import math

    candidates = allowed or list(ASPECT_RATIOS)
    target = math.log(width / height)
    return min(
        candidates, key=lambda r: abs(math.log(ASPECT_RATIOS[r][0] / ASPECT_RATIOS[r][1]) - target)
    )


_SHORT_SIDE = {"480p": 480, "720p": 720, "1080p": 1080}


def capped_size(width: int, height: int, max_resolution: str) -> tuple[int, int]:
    """An input video's size, scaled down so its short side fits `max_resolution`; even sides."""
    cap = _SHORT_SIDE[max_resolution]
    scale = min(1.0, cap / min(width, height))
    even = lambda v: max(2, int(round(v * scale / 2)) * 2)  # noqa: E731 - H.264 wants even sides
    return even(width), even(height)


def resolution_of(width: int, height: int) -> str:
    """The pricing tier of a frame size: the smallest named resolution that holds its short side."""
    short = min(width, height)
    return next((name for name, side in _SHORT_SIDE.items() if short <= side), "1080p")
