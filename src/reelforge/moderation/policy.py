"""The operator's moderation policy: the `[moderation]` table of the catalog TOML.

Parsed and checked when the catalog loads, so a typo stops start-up instead of a job. The
product defaults live in the built-in catalog.toml; a `Policy()` made in code moderates nothing.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any

from reelforge.core.catalog import Catalog, CatalogError

STAGES = ("prompt", "input_images", "input_video", "reference_images", "output")
IMAGE_STAGES = STAGES[1:]

# What the detector bundled with nudenet 3.4 (320n.onnx) can report. A custom `images.model`
# may know other labels; those are checked against the model's own list when it loads.
NUDENET_LABELS = (
    "FEMALE_GENITALIA_COVERED",
    "FACE_FEMALE",
    "BUTTOCKS_EXPOSED",
    "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED",
    "MALE_BREAST_EXPOSED",
    "ANUS_EXPOSED",
    "FEET_EXPOSED",
    "BELLY_COVERED",
    "FEET_COVERED",
    "ARMPITS_COVERED",
    "ARMPITS_EXPOSED",
    "FACE_MALE",
    "BELLY_EXPOSED",
    "MALE_GENITALIA_EXPOSED",
    "ANUS_COVERED",
    "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
)


class PolicyError(ValueError):
    """The `[moderation]` table is malformed."""


@dataclass(frozen=True)
class TextPolicy:
    threshold: float = 1.0  # classifier probability at which a prompt is blocked
    blocked_terms: tuple[str, ...] = ()
    blocked_patterns: tuple[re.Pattern[str], ...] = ()


@dataclass(frozen=True)
class ImagePolicy:
    labels: dict[str, float] = field(default_factory=dict)  # label -> score that blocks
    model: str = ""  # an ONNX detector of nudenet's kind; "" = the one nudenet ships
    threads: int = 1  # ONNX Runtime threads per worker process
    input_video_frames_per_second: float = 1.0
    output_frames_per_second: float = 1.0


@dataclass(frozen=True)
class Policy:
    enabled: bool = False
    stages: frozenset[str] = frozenset()
    charge_blocked: bool = True  # upstream charges for moderation-blocked outputs
    text: TextPolicy = TextPolicy()
    images: ImagePolicy = ImagePolicy()

    def runs(self, stage: str) -> bool:
        """Whether `stage` checks anything: on, and for pictures with a label to look for."""
        if not self.enabled or stage not in self.stages:
            return False
        return stage == "prompt" or bool(self.images.labels)

    @property
    def needs_text(self) -> bool:
        return self.runs("prompt")

    @property
    def needs_images(self) -> bool:
        return any(self.runs(s) for s in IMAGE_STAGES)

    @classmethod
    def from_catalog(cls, catalog: Catalog) -> Policy:
        """The catalog's `[moderation]` table; CatalogError names the bad key."""
        try:
            return cls.from_toml(catalog.tables.get("moderation", {}))
        except PolicyError as exc:
            raise CatalogError(str(exc)) from None

    @classmethod
    def from_toml(cls, raw: dict[str, Any]) -> Policy:
        """The policy from a parsed `[moderation]` table; PolicyError names the bad key."""
        _only(raw, "moderation", {"enabled", "charge_blocked", "stages", "text", "images"})
        stages = _table(raw, "moderation", "stages")
        _only(stages, "moderation.stages", set(STAGES))
        text = _table(raw, "moderation", "text")
        _only(text, "moderation.text", {"threshold", "blocked_terms", "blocked_patterns"})
        images = _table(raw, "moderation", "images")
        _only(
            images,
            "moderation.images",
            {
                "labels",
                "model",
                "threads",
                "input_video_frames_per_second",
                "output_frames_per_second",
            },
        )
        return cls(
            enabled=_bool(raw, "moderation", "enabled", False),
            stages=frozenset(s for s in STAGES if _bool(stages, "moderation.stages", s, False)),
            charge_blocked=_bool(raw, "moderation", "charge_blocked", True),
            text=TextPolicy(
                threshold=_number(text, "moderation.text", "threshold", 1.0, 0.0, 1.0),
                blocked_terms=tuple(_strings(text, "moderation.text", "blocked_terms")),
                blocked_patterns=tuple(_patterns(text)),
            ),
            images=ImagePolicy(
                labels=_labels(images, bool(images.get("model"))),
                model=str(images.get("model", "")),
                threads=int(_number(images, "moderation.images", "threads", 1, 1, 64)),
                input_video_frames_per_second=_number(
                    images, "moderation.images", "input_video_frames_per_second", 1.0, 0.01, 24
                ),
                output_frames_per_second=_number(
                    images, "moderation.images", "output_frames_per_second", 1.0, 0.01, 24
                ),
            ),
        )


def _only(raw: dict[str, Any], where: str, known: set[str]) -> None:
    if unknown := sorted(set(raw) - known):
        raise PolicyError(f"{where}: unknown keys {unknown}; known: {sorted(known)}")


def _table(raw: dict[str, Any], where: str, key: str) -> dict[str, Any]:
    value = raw.get(key, {})
    if not isinstance(value, dict):
        raise PolicyError(f"{where}.{key}: expected a table, got {value!r}")
    return value


def _bool(raw: dict[str, Any], where: str, key: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise PolicyError(f"{where}.{key}: expected true or false, got {value!r}")
    return value


def _number(
    raw: dict[str, Any], where: str, key: str, default: float, low: float, high: float
) -> float:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PolicyError(f"{where}.{key}: expected a number, got {value!r}")
    if not low <= value <= high:
        raise PolicyError(f"{where}.{key}: must be between {low} and {high}, got {value}")
    return float(value)


def _strings(raw: dict[str, Any], where: str, key: str) -> list[str]:
    value = raw.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise PolicyError(f"{where}.{key}: expected a list of non-empty strings")
    return value


def _patterns(text: dict[str, Any]) -> list[re.Pattern[str]]:
    compiled = []
    for n, pattern in enumerate(_strings(text, "moderation.text", "blocked_patterns")):
        try:
            compiled.append(re.compile(pattern, re.IGNORECASE))
        except re.error as exc:
            raise PolicyError(f"moderation.text.blocked_patterns[{n}]: {exc}") from None
    return compiled


def _labels(images: dict[str, Any], custom_model: bool) -> dict[str, float]:
    """label -> threshold; `false` switches off a label a base catalog turned on."""
    raw = _table(images, "moderation.images", "labels")
    labels: dict[str, float] = {}
    for label, value in raw.items():
        if value is False:
            continue
        if not custom_model and label not in NUDENET_LABELS:
            raise PolicyError(
                f"moderation.images.labels: unknown label '{label}'; "
                f"the bundled detector knows {list(NUDENET_LABELS)}"
            )
        labels[label] = _number(raw, "moderation.images.labels", label, 0.5, 0.01, 1.0)
    return labels
