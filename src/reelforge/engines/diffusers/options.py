"""Per-model options of the diffusers engine, parsed from the catalog (no torch here).

Stable keys: `path`, `steps`, `max_area`. Family options: everything else in `_DEFAULTS`.
The catalog calls `parse` at start-up, so a typo fails `reelforge serve` instead of a job.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelforge.core.catalog import CatalogError, Model

FAMILIES = ("wan", "ltx")
DTYPES = ("auto", "bfloat16", "float16", "float32")
OFFLOAD = ("none", "model", "sequential")

# What each diffusers pipeline class (a folder's model_index.json `_class_name`) can render.
# `keyframes` and `last_frame` need a pipeline that can pin frames other than the first.
_LTX = {
    "family": "ltx",
    "modes": {"text-to-video", "image-to-video", "extension", "edit"},
    "pins": "all",
}
CAPABILITIES: dict[str, dict[str, Any]] = {
    "WanPipeline": {"family": "wan", "modes": {"text-to-video", "edit"}, "pins": False},
    # Wan 2.2 TI2V-5B: one folder, text and image to video (first frame only).
    "WanPipeline+expand_timesteps": {
        "family": "wan",
        "modes": {"text-to-video", "image-to-video", "extension", "edit"},
        "pins": False,
    },
    "WanImageToVideoPipeline": {
        "family": "wan",
        "modes": {"image-to-video", "extension"},
        "pins": "last",
    },
    "WanVACEPipeline": {
        "family": "wan",
        "modes": {"text-to-video", "image-to-video", "reference-to-video", "extension"},
        "pins": "all",
    },
    # LTX-Video: every folder has the same modules and renders through LTXConditionPipeline.
    "LTXConditionPipeline": _LTX,
    "LTXPipeline": _LTX,
    "LTXImageToVideoPipeline": _LTX,
}


@dataclass(frozen=True)
class DiffusersOptions:
    path: str
    family: str = "wan"
    steps: int = 30
    max_area: int = 832 * 480  # pixels per frame the model renders at, before resampling
    fps: int = 16  # the frame rate the model was trained at
    size_multiple: int = 16  # VAE stride x patch size
    dtype: str = "auto"  # bfloat16 on a GPU, float32 on the CPU
    device: str = "auto"  # cuda when available
    cpu_offload: str = "none"
    vae_tiling: bool = False
    guidance_scale: float = 5.0
    flow_shift: float | None = None  # None: the scheduler's own
    negative_prompt: str | None = None
    max_sequence_length: int = 512
    strength: float = 0.7  # edit: how much of the source is re-imagined
    conditioning_scale: float = 1.0  # VACE
    context_frames: int = 5  # extension: frames of the input's end conditioned on
    decode_timestep: float = 0.0  # LTX 0.9.1+: the VAE decodes at this timestep ...
    decode_noise_scale: float = 0.0  # ... with this much noise mixed in


# Where a family's defaults differ from Wan's (an entry's own keys still win).
FAMILY_DEFAULTS: dict[str, dict[str, Any]] = {
    "wan": {},
    "ltx": {
        "fps": 24,
        "size_multiple": 32,  # VAE stride 32
        "max_area": 768 * 512,
        "guidance_scale": 3.0,
        "max_sequence_length": 128,
        "context_frames": 9,  # 8k+1: what the pipeline keeps of a conditioning video
        "decode_timestep": 0.05,
        "decode_noise_scale": 0.025,
    },
}


_DEFAULTS = DiffusersOptions(path="")
_TYPES: dict[str, tuple[type, ...]] = {
    "path": (str,),
    "family": (str,),
    "steps": (int,),
    "max_area": (int,),
    "fps": (int,),
    "size_multiple": (int,),
    "dtype": (str,),
    "device": (str,),
    "cpu_offload": (str, bool),
    "vae_tiling": (bool,),
    "guidance_scale": (int, float),
    "flow_shift": (int, float),
    "negative_prompt": (str,),
    "max_sequence_length": (int,),
    "strength": (int, float),
    "conditioning_scale": (int, float),
    "context_frames": (int,),
    "decode_timestep": (int, float),
    "decode_noise_scale": (int, float),
}


def parse(model_id: str, raw: dict[str, Any]) -> DiffusersOptions:
    """Typed options from a catalog entry's engine keys; CatalogError naming the bad key."""
    where = f"models.{model_id}"
    if unknown := sorted(set(raw) - set(_TYPES)):
        raise CatalogError(
            f"{where}: unknown key(s) {unknown} for engine 'diffusers'; known: {sorted(_TYPES)}"
        )
    if not isinstance(raw.get("path"), str) or not raw["path"]:
        raise CatalogError(f"{where}.path: engine 'diffusers' needs a local diffusers folder")
    values: dict[str, Any] = {}
    for key, value in raw.items():
        types = _TYPES[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = "/".join(t.__name__ for t in types)
            raise CatalogError(f"{where}.{key}: expected {names}, got {value!r}")
        values[key] = float(value) if float in types and not isinstance(value, bool) else value
    if values.get("cpu_offload") is True:
        values["cpu_offload"] = "model"
    elif values.get("cpu_offload") is False:
        values["cpu_offload"] = "none"
    family = values.get("family", _DEFAULTS.family)
    if family not in FAMILIES:
        raise CatalogError(f"{where}.family: {family!r} not in {list(FAMILIES)}")
    options = DiffusersOptions(**{**FAMILY_DEFAULTS[family], **values})
    for key, allowed in (
        ("dtype", DTYPES),
        ("cpu_offload", OFFLOAD),
    ):
        if getattr(options, key) not in allowed:
            raise CatalogError(f"{where}.{key}: {getattr(options, key)!r} not in {list(allowed)}")
    for key in ("steps", "max_area", "fps", "size_multiple", "max_sequence_length"):
        if getattr(options, key) <= 0:
            raise CatalogError(f"{where}.{key}: must be positive")
    if options.max_area < options.size_multiple**2:
        raise CatalogError(f"{where}.max_area: below one {options.size_multiple}px square")
    if not 0 < options.strength <= 1:
        raise CatalogError(f"{where}.strength: must be in (0, 1]")
    if options.context_frames < 1:
        raise CatalogError(f"{where}.context_frames: must be at least 1")
    if family == "ltx" and options.context_frames % 8 != 1:
        raise CatalogError(f"{where}.context_frames: LTX conditions on 8k+1 frames (1, 9, 17...)")
    if options.device not in ("auto", "cpu", "mps") and not options.device.startswith("cuda"):
        raise CatalogError(f"{where}.device: 'auto', 'cpu', 'mps' or 'cuda[:n]'")
    return options


def pipeline_kind(path: str | Path) -> str | None:
    """The CAPABILITIES key for a local diffusers folder, or None when it can't be read."""
    try:
        index = json.loads((Path(path) / "model_index.json").read_text())
    except (OSError, ValueError):
        return None
    name = index.get("_class_name", "")
    if name == "WanPipeline" and index.get("expand_timesteps"):
        return "WanPipeline+expand_timesteps"
    return name


def validate(model: Model) -> DiffusersOptions:
    """A catalog model's diffusers options, checked: CatalogError naming the bad key."""
    options = parse(model.id, model.options)
    pins = {"max_keyframes": model.max_keyframes, "last_frame": model.last_frame}
    check_modes(model.id, options, model.modes, pins)
    return options


def check_modes(
    model_id: str, options: DiffusersOptions, modes: tuple[str, ...], pins: dict
) -> None:
    """When the folder is present, refuse modes and pins its pipeline cannot do, at start-up.

    `pins`: the model's max_keyframes and last_frame. A folder not (yet) mounted is checked when
    the first job loads it instead.
    """
    kind = pipeline_kind(options.path)
    if kind is None:
        return
    where = f"models.{model_id}"
    caps = CAPABILITIES.get(kind)
    if caps is None:
        raise CatalogError(
            f"{where}.path: {options.path} holds a {kind or 'unknown'} pipeline; "
            f"the diffusers engine runs {sorted(CAPABILITIES)}"
        )
    if caps["family"] != options.family:
        raise CatalogError(
            f'{where}.family: {options.path} holds a {kind}; set family = "{caps["family"]}"'
        )
    if bad := [m for m in modes if m not in caps["modes"]]:
        raise CatalogError(
            f"{where}.modes: a {kind} cannot do {bad}; it can do {sorted(caps['modes'])}"
        )
    if pins.get("max_keyframes") and caps["pins"] != "all":
        raise CatalogError(
            f"{where}.max_keyframes: keyframes need a WanVACEPipeline or an LTX folder, not {kind}"
        )
    if pins.get("last_frame") and not caps["pins"]:
        raise CatalogError(
            f"{where}.last_frame: a {kind} cannot pin the last frame; use a Wan 2.1 I2V/FLF2V,"
            " a VACE or an LTX folder"
        )
