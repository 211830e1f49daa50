"""The model catalog: which models exist, what each may do, and what it costs.

Limits live here and nowhere else. The built-in catalog (catalog.toml beside this file) can be
extended or overridden with `--catalog FILE`; a model named in both is merged key by key.
Other top-level tables (`[moderation]`, the content policy) are kept raw in `Catalog.tables`,
and each engine's own keys raw in `Model.options`: the layers that own them check them at start-up.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

from reelforge.core.enums import Mode
from reelforge.core.sizes import ASPECT_RATIOS, RESOLUTIONS, frame_size

MODES = tuple(m.value for m in Mode)


class CatalogError(ValueError):
    """The catalog file is malformed; raised at start-up, never while serving."""


@dataclass(frozen=True)
class Prices:
    """USD prices, kept as Decimal so tick arithmetic is exact."""

    per_second: dict[str, Decimal]
    per_input_image: Decimal = Decimal(0)
    per_input_video_second: Decimal = Decimal(0)


@dataclass(frozen=True)
class Model:
    id: str
    engine: str
    modes: tuple[str, ...]
    resolutions: tuple[str, ...]
    aspect_ratios: tuple[str, ...]
    durations: dict[str, tuple[float, float]]
    input_video_durations: dict[str, tuple[float, float]]
    max_resolution: dict[str, str]
    prices: Prices
    aliases: tuple[str, ...] = ()
    max_reference_images: int = 0
    max_keyframes: int = 0
    max_reference_audios: int = 0
    last_frame: bool = False
    frame_pinning: bool = False
    voices: tuple[str, ...] = ()
    # OpenAI's `size` ("WxH") -> (aspect ratio, resolution) it renders at; empty: every size
    # this model renders natively. `seconds`: the lengths OpenAI's `seconds` may name; empty:
    # any whole number within `durations`.
    sizes: dict[str, tuple[str, str]] = field(default_factory=dict)
    seconds: tuple[int, ...] = ()
    options: dict[str, Any] = field(default_factory=dict)  # engine-specific keys

    def size_table(self, mode: str) -> dict[str, tuple[str, str]]:
        """The OpenAI sizes this model takes in `mode`, each with what it renders."""
        if self.sizes:
            allowed = self.resolutions_for(mode)
            return {k: v for k, v in self.sizes.items() if v[1] in allowed}
        table = {}
        for resolution in self.resolutions_for(mode):
            for ratio in self.aspect_ratios:
                width, height = frame_size(ratio, resolution)
                table[f"{width}x{height}"] = (ratio, resolution)
        return table

    def resolutions_for(self, mode: str) -> tuple[str, ...]:
        """The resolutions this model renders in `mode`, best last."""
        cap = self.max_resolution.get(mode)
        if cap is None:
            return self.resolutions
        return tuple(r for r in self.resolutions if RESOLUTIONS.index(r) <= RESOLUTIONS.index(cap))

    def describe(self) -> dict[str, Any]:
        """The public `VideoGenerationModel` shape, plus Reelforge's limits."""
        return {
            "id": self.id,
            "object": "model",
            "owned_by": "reelforge",
            "aliases": list(self.aliases),
            "modes": list(self.modes),
            "resolutions": list(self.resolutions),
            "aspect_ratios": list(self.aspect_ratios),
            "durations": {k: list(v) for k, v in self.durations.items()},
            "max_reference_images": self.max_reference_images,
            "max_keyframes": self.max_keyframes,
            "max_reference_audios": self.max_reference_audios,
            # Reelforge's own: what clients (the playground) need to offer only what works.
            "last_frame": self.last_frame,
            "voices": list(self.voices),
            "max_resolution": dict(self.max_resolution),
            "input_video_durations": {k: list(v) for k, v in self.input_video_durations.items()},
            "prices_usd": {
                "per_second": {k: float(v) for k, v in self.prices.per_second.items()},
                "per_input_image": float(self.prices.per_input_image),
                "per_input_video_second": float(self.prices.per_input_video_second),
            },
        }


_KNOWN_KEYS = {
    "engine",
    "modes",
    "resolutions",
    "aspect_ratios",
    "durations",
    "input_video_durations",
    "max_resolution",
    "prices",
    "aliases",
    "max_reference_images",
    "max_keyframes",
    "max_reference_audios",
    "last_frame",
    "frame_pinning",
    "voices",
    "sizes",
    "seconds",
}


def _pair(model_id: str, key: str, value: Any) -> tuple[float, float]:
    if not (
        isinstance(value, list)
        and len(value) == 2
        and all(isinstance(v, int | float) for v in value)
    ):
        raise CatalogError(f"models.{model_id}.{key}: expected [min, max], got {value!r}")
    return float(value[0]), float(value[1])


# Defaults for a model that leaves them out: the contract's limits, and free (self-hosted).
DEFAULT_DURATIONS = {
    Mode.TEXT_TO_VIDEO: [1, 15],
    Mode.IMAGE_TO_VIDEO: [1, 15],
    Mode.REFERENCE_TO_VIDEO: [1, 10],
    Mode.EXTENSION: [2, 10],
}
DEFAULT_INPUT_VIDEO_DURATIONS = {Mode.EDIT: [0, 8.7], Mode.EXTENSION: [2, 15]}


def _model(model_id: str, raw: dict[str, Any]) -> Model:
    try:
        modes = tuple(raw["modes"])
        engine = raw["engine"]
    except KeyError as missing:
        raise CatalogError(f"models.{model_id}: missing key {missing}") from None
    prices_raw = raw.get("prices", {})
    if bad := [m for m in modes if m not in MODES]:
        raise CatalogError(f"models.{model_id}.modes: unknown {bad}; known: {list(MODES)}")
    resolutions = tuple(raw.get("resolutions", ["480p", "720p"]))
    if bad := [r for r in resolutions if r not in RESOLUTIONS]:
        raise CatalogError(f"models.{model_id}.resolutions: unknown {bad}")
    aspect_ratios = tuple(raw.get("aspect_ratios", list(ASPECT_RATIOS)))
    if bad := [a for a in aspect_ratios if a not in ASPECT_RATIOS]:
        raise CatalogError(f"models.{model_id}.aspect_ratios: unknown {bad}")
    prices = Prices(
        per_second={r: Decimal(str(p)) for r, p in prices_raw.get("per_second", {}).items()},
        per_input_image=Decimal(str(prices_raw.get("per_input_image", 0))),
        per_input_video_second=Decimal(str(prices_raw.get("per_input_video_second", 0))),
    )
    return Model(
        id=model_id,
        engine=engine,
        modes=modes,
        resolutions=resolutions,
        aspect_ratios=aspect_ratios,
        durations={
            k: _pair(model_id, f"durations.{k}", v)
            for k, v in _defaulted(raw.get("durations", {}), DEFAULT_DURATIONS, modes).items()
        },
        input_video_durations={
            k: _pair(model_id, f"input_video_durations.{k}", v)
            for k, v in _defaulted(
                raw.get("input_video_durations", {}), DEFAULT_INPUT_VIDEO_DURATIONS, modes
            ).items()
        },
        max_resolution=dict(raw.get("max_resolution", {})),
        prices=prices,
        aliases=tuple(raw.get("aliases", ())),
        max_reference_images=int(raw.get("max_reference_images", 0)),
        max_keyframes=int(raw.get("max_keyframes", 0)),
        max_reference_audios=int(raw.get("max_reference_audios", 0)),
        last_frame=bool(raw.get("last_frame", False)),
        frame_pinning=bool(raw.get("frame_pinning", False)),
        voices=tuple(v.lower() for v in raw.get("voices", ())),
        sizes=_sizes(model_id, raw.get("sizes", {}), resolutions, aspect_ratios),
        seconds=tuple(int(s) for s in raw.get("seconds", ())),
        options=_engine_options(raw),
    )


def _sizes(
    model_id: str, raw: dict[str, Any], resolutions: tuple[str, ...], ratios: tuple[str, ...]
) -> dict[str, tuple[str, str]]:
    """`sizes = {"1280x720" = ["16:9", "720p"], ...}`, each naming what the model renders."""
    table = {}
    for size, value in raw.items():
        ok = isinstance(value, list) and len(value) == 2
        if not ok or value[0] not in ratios or value[1] not in resolutions:
            raise CatalogError(
                f"models.{model_id}.sizes.{size}: expected [aspect ratio, resolution] of this "
                f"model ({list(ratios)}, {list(resolutions)}), got {value!r}"
            )
        table[size] = (value[0], value[1])
    return table


def _defaulted(given: dict[str, Any], defaults: dict[str, Any], modes: tuple[str, ...]) -> dict:
    """`given`, plus the default for each of `modes` it leaves out."""
    return {**{m: defaults[m] for m in modes if m in defaults}, **given}


def _engine_options(raw: dict[str, Any]) -> dict[str, Any]:
    """The keys this module does not know: the engine's own, checked by the engine at start-up."""
    return {k: v for k, v in raw.items() if k not in _KNOWN_KEYS}


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


class Catalog:
    def __init__(self, models: list[Model], tables: dict[str, Any] | None = None):
        self.tables = tables or {}  # top-level tables besides `models`, e.g. `moderation`
        # An alias naming another model's id takes that name over, and the other model leaves
        # the catalog: `aliases = ["grok-imagine-video"]` on a local model serves apps that ask
        # for the hosted model's name.
        claimed: dict[str, str] = {}
        for m in models:
            for alias in m.aliases:
                if alias in claimed and claimed[alias] != m.id:
                    raise CatalogError(
                        f"alias '{alias}' is claimed by both '{claimed[alias]}' and '{m.id}'"
                    )
                claimed[alias] = m.id
        models = [m for m in models if claimed.get(m.id, m.id) == m.id]
        self.models = {m.id: m for m in models}
        self._names: dict[str, Model] = {}
        for m in models:
            for name in (m.id, *m.aliases):
                self._names[name] = m

    def get(self, name: str) -> Model | None:
        """The model for an id or an alias."""
        return self._names.get(name)

    def names(self) -> list[str]:
        return sorted(self._names)

    @classmethod
    def load(cls, extra_file: str | Path | None = None) -> Catalog:
        raw = tomllib.loads(resources.files("reelforge.core").joinpath("catalog.toml").read_text())
        if extra_file is not None:
            try:
                extra = tomllib.loads(Path(extra_file).read_text())
            except (OSError, tomllib.TOMLDecodeError) as exc:
                raise CatalogError(f"cannot read catalog {extra_file}: {exc}") from None
            raw = _merge(raw, extra)
        models = [_model(mid, spec) for mid, spec in raw.get("models", {}).items()]
        return cls(models, {k: v for k, v in raw.items() if k != "models"})
