"""Video edits for the preview engine: the input's own frames, changed the way the prompt asks.

Each look is a colour matrix plus per-channel curves, applied frame by frame, so an edited clip is
clearly the same footage and clearly edited. A prompt that names no known look still gets a
visible, deterministic change chosen from its hash.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import numpy as np

_GREY = np.array([[0.299, 0.587, 0.114]] * 3, dtype=np.float32)
_SEPIA = np.array(
    [[0.393, 0.769, 0.189], [0.349, 0.686, 0.168], [0.272, 0.534, 0.131]], dtype=np.float32
)
_IDENTITY = np.eye(3, dtype=np.float32)


@dataclass(frozen=True)
class Look:
    matrix: np.ndarray  # 3x3, applied to RGB in [0, 255]
    gain: tuple[float, float, float] = (1.0, 1.0, 1.0)
    offset: tuple[float, float, float] = (0.0, 0.0, 0.0)
    gamma: float = 1.0
    vignette: float = 0.0  # 0: none, 1: corners go black


def _saturate(amount: float) -> np.ndarray:
    return _GREY + amount * (_IDENTITY - _GREY)


LOOKS: dict[str, Look] = {
    "black and white": Look(_GREY),
    "monochrome": Look(_GREY),
    "grayscale": Look(_GREY),
    "greyscale": Look(_GREY),
    "sepia": Look(_SEPIA),
    "vintage": Look(
        _SEPIA * 0.85 + _IDENTITY * 0.15, gain=(1.0, 0.95, 0.85), offset=(18, 12, 0), vignette=0.6
    ),
    "night": Look(_saturate(0.5), gain=(0.45, 0.55, 0.9), offset=(0, 0, 12), gamma=1.3),
    "warm": Look(_IDENTITY, gain=(1.12, 1.0, 0.8), offset=(12, 4, 0)),
    "cool": Look(_IDENTITY, gain=(0.82, 0.97, 1.15), offset=(0, 4, 14)),
    "neon": Look(_saturate(1.9), gain=(1.1, 0.9, 1.2), gamma=0.85, vignette=0.4),
    "invert": Look(-_IDENTITY, offset=(255, 255, 255)),
    "negative": Look(-_IDENTITY, offset=(255, 255, 255)),
    "bright": Look(_IDENTITY, gain=(1.25, 1.25, 1.25), offset=(20, 20, 20)),
    "dark": Look(_IDENTITY, gain=(0.6, 0.6, 0.6), gamma=1.2),
    "vivid": Look(_saturate(1.6)),
    "desaturate": Look(_saturate(0.3)),
}


def named_look(prompt: str) -> Look | None:
    """The look a prompt names (the longest name wins), or None."""
    text = " ".join(prompt.lower().replace("-", " ").split())
    named = [name for name in LOOKS if name in text]
    return LOOKS[max(named, key=len)] if named else None


def fallback_look(prompt: str, seed: int = 0) -> Look:
    """For a prompt that names nothing we know: a hue turn picked from its hash, so the edit is
    still visible and deterministic."""
    text = " ".join(prompt.lower().split())
    digest = hashlib.sha256(f"{seed}:{text}".encode()).digest()
    angle = (digest[0] / 255.0) * 2 * np.pi / 3 + np.pi / 3  # a hue rotation of 60-180 degrees
    return Look(_hue_rotation(angle), vignette=0.5)


def _hue_rotation(angle: float) -> np.ndarray:
    """Rotate hue around the grey axis by `angle` radians, keeping luminance roughly constant."""
    cos, sin = np.cos(angle), np.sin(angle)
    k = 1 / 3
    s = np.sqrt(k)
    return np.array(
        [
            [cos + (1 - cos) * k, k * (1 - cos) - s * sin, k * (1 - cos) + s * sin],
            [k * (1 - cos) + s * sin, cos + k * (1 - cos), k * (1 - cos) - s * sin],
            [k * (1 - cos) - s * sin, k * (1 - cos) + s * sin, cos + k * (1 - cos)],
        ],
        dtype=np.float32,
    )


def _vignette(height: int, width: int, strength: float) -> np.ndarray:
    y = np.linspace(-1, 1, height, dtype=np.float32)[:, None]
    x = np.linspace(-1, 1, width, dtype=np.float32)[None, :]
    return (1 - strength * np.clip((x * x + y * y) / 2, 0, 1) ** 1.5)[..., None]


def apply_look(frames: Iterable[np.ndarray], look: Look) -> Iterator[np.ndarray]:
    """Apply `look` to each RGB uint8 frame."""
    matrix = (look.matrix * np.array(look.gain, dtype=np.float32)[:, None]).T
    offset = np.array(look.offset, dtype=np.float32)
    shade: np.ndarray | None = None
    for frame in frames:
        out = frame.astype(np.float32) @ matrix + offset
        if look.gamma != 1.0:
            out = 255.0 * (np.clip(out, 0, 255) / 255.0) ** look.gamma
        if look.vignette:
            if shade is None:
                shade = _vignette(frame.shape[0], frame.shape[1], look.vignette)
            out *= shade
        yield np.clip(out, 0, 255).astype(np.uint8)
