"""Per-model options of the diffusers engine, parsed from the catalog (no torch here).

Stable keys: `path`, `steps`, `max_area`. Family options: everything else in `_DEFAULTS`.
The catalog calls `parse` at start-up, so a typo fails `reelforge serve` instead of a job;
what needs torch or the device to check (attention kernels, FP8, compile backends) is checked
by `reelforge.engines.diffusers.check_machine` on the machines that render.
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
SCHEDULERS = ("folder", "unipc", "euler")  # folder: the folder's own scheduler
COMPILE = ("off", "blocks", "full")
QUANTIZE = ("none", "int8_weight", "int8_dynamic", "fp8_dynamic", "fp8_weight")
LORA_TARGETS = ("transformer", "transformer_2")
# Feature caches (diffusers hooks) and the scalar settings each takes; the engine builds the
# config. Callbacks and module identifiers are wired by the engine, never set from the catalog.
CACHES: dict[str, dict[str, tuple[type, ...]]] = {
    "first_block": {"threshold": (int, float)},
    "taylorseer": {
        "cache_interval": (int,),
        "disable_cache_before_step": (int,),
        "disable_cache_after_step": (int,),
        "max_order": (int,),
        "use_lite_mode": (bool,),
    },
    "magcache": {
        "threshold": (int, float),
        "max_skip_steps": (int,),
        "retention_ratio": (int, float),
        "mag_ratios": (list,),
        "calibrate": (bool,),
    },
    "faster": {
        "spatial_attention_block_skip_range": (int,),
        "spatial_attention_timestep_skip_range": (list,),
        "unconditional_batch_skip_range": (int,),
        "unconditional_batch_timestep_skip_range": (int, list),
        "alpha_low_frequency": (int, float),
        "alpha_high_frequency": (int, float),
        "is_guidance_distilled": (bool,),
    },
    "pab": {
        "spatial_attention_block_skip_range": (int,),
        "spatial_attention_timestep_skip_range": (list,),
        "cross_attention_block_skip_range": (int,),
        "cross_attention_timestep_skip_range": (list,),
    },
}

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
class Lora:
    """One LoRA file loaded through diffusers' load_lora_weights (non-diffusers layouts such as
    lightx2v's and CausVid's are converted by it)."""

    path: str
    scale: float = 1.0
    into: str = "transformer"  # or "transformer_2" (Wan 2.2 A14B's low-noise expert)


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
    # --- speed (docs/models.md "Speed") ---
    lora: tuple[Lora, ...] = ()
    lora_fuse: bool = False  # fold the LoRAs into the weights: no per-step cost, no sharing
    scheduler: str = "folder"
    timesteps: tuple[float, ...] | None = None  # LTX: an explicit schedule (steps = its length)
    attention: str = "auto"  # a diffusers attention backend; auto: the fastest installed
    compile: str = "off"
    compile_backend: str = "inductor"
    compile_mode: str | None = None  # torch.compile's mode, e.g. "max-autotune-no-cudagraphs"
    warm_up: bool | None = None  # render once per resolution at worker start; None: if compiled
    cache: tuple[tuple[str, Any], ...] = ()  # (("kind", ...), (setting, value)...) sorted
    quantize: str = "none"  # torchao, on the transformer(s)
    fp8_storage: bool = False  # weights stored in float8_e4m3fn, computed in `dtype`
    prompt_cache: int = 32  # prompt embeddings kept (LRU); 0: encode every time
    vae_slicing: bool = False

    @property
    def cache_kind(self) -> str | None:
        return dict(self.cache).get("kind")

    @property
    def cache_settings(self) -> dict[str, Any]:
        return {k: v for k, v in self.cache if k != "kind"}

    @property
    def warms_up(self) -> bool:
        return self.compile != "off" if self.warm_up is None else self.warm_up

    @property
    def needs_machine_check(self) -> bool:
        """Whether a value here depends on the device or installed packages (checks.py)."""
        return (
            self.device not in ("auto", "cpu")
            or self.attention not in ("auto", "native")
            or self.quantize != "none"
            or self.compile != "off"
            or self.fp8_storage
            or bool(self.lora)
        )

    @property
    def weights_key(self) -> tuple:
        """Models whose options agree on this share one loaded copy of the folder's weights
        (per-job settings such as LoRA scales, cache, attention and the scheduler are applied to
        it before each job)."""
        private = self.lora if self.lora_fuse else ()
        return (
            self.path,
            self.family,
            self.dtype,
            self.device,
            self.cpu_offload,
            self.quantize,
            self.fp8_storage,
            self.compile,
            self.compile_backend,
            self.compile_mode,
            self.compile != "off" and bool(self.cache),  # blocks compiled without fullgraph
            private,
        )


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
    "lora": (list,),
    "lora_fuse": (bool,),
    "scheduler": (str,),
    "timesteps": (list,),
    "attention": (str,),
    "compile": (str,),
    "compile_backend": (str,),
    "compile_mode": (str,),
    "warm_up": (bool,),
    "cache": (dict,),
    "quantize": (str,),
    "fp8_storage": (bool,),
    "prompt_cache": (int,),
    "vae_slicing": (bool,),
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
    if "lora" in values:
        values["lora"] = _loras(where, values["lora"], family)
    if "cache" in values:
        values["cache"] = _cache(where, values["cache"])
    if "timesteps" in values:
        values["timesteps"] = _timesteps(where, values, family)
    options = DiffusersOptions(**{**FAMILY_DEFAULTS[family], **values})
    for key, allowed in (
        ("dtype", DTYPES),
        ("cpu_offload", OFFLOAD),
        ("scheduler", SCHEDULERS),
        ("compile", COMPILE),
        ("quantize", QUANTIZE),
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
    if options.prompt_cache < 0:
        raise CatalogError(f"{where}.prompt_cache: must be 0 (off) or more")
    if options.quantize != "none" and options.fp8_storage:
        raise CatalogError(
            f"{where}.fp8_storage: cannot be combined with quantize = {options.quantize!r}"
            " (the weights are already quantized)"
        )
    if family == "wan" and options.cache_kind in ("pab", "faster") and options.guidance_scale > 1:
        # These keep one state per layer, not per branch, and Wan runs the conditional and
        # unconditional passes as separate calls: the second would reuse the first's features.
        raise CatalogError(
            f"{where}.cache.kind: {options.cache_kind!r} needs guidance_scale <= 1 on Wan (its"
            " two guidance passes would share cached features); use first_block, taylorseer"
            " or magcache with guidance"
        )
    if options.cache and options.compile == "full":
        raise CatalogError(
            f"{where}.cache: the cache hooks run between the transformer's blocks; use compile ="
            ' "blocks" with a cache, not "full"'
        )
    return options


def _loras(where: str, raw: list, family: str) -> tuple[Lora, ...]:
    loras = []
    for i, entry in enumerate(raw):
        at = f"{where}.lora[{i}]"
        if not isinstance(entry, dict):
            raise CatalogError(f"{at}: expected a table {{path, scale, into}}, got {entry!r}")
        if unknown := sorted(set(entry) - {"path", "scale", "into"}):
            raise CatalogError(f"{at}: unknown key(s) {unknown}; known: ['into', 'path', 'scale']")
        path, scale, into = entry.get("path"), entry.get("scale", 1.0), entry.get("into")
        if not isinstance(path, str) or not path:
            raise CatalogError(f"{at}.path: a local LoRA file (.safetensors) is required")
        if not Path(path).is_file():
            raise CatalogError(f"{at}.path: {path} is not a file")
        if isinstance(scale, bool) or not isinstance(scale, int | float):
            raise CatalogError(f"{at}.scale: expected a number, got {scale!r}")
        into = into or "transformer"
        if into not in LORA_TARGETS:
            raise CatalogError(f"{at}.into: {into!r} not in {list(LORA_TARGETS)}")
        if into == "transformer_2" and family != "wan":
            raise CatalogError(f"{at}.into: only Wan 2.2 A14B folders have a transformer_2")
        loras.append(Lora(path, float(scale), into))
    return tuple(loras)


def _cache(where: str, raw: dict) -> tuple[tuple[str, Any], ...]:
    kind = raw.get("kind")
    if kind not in CACHES:
        raise CatalogError(f"{where}.cache.kind: {kind!r} not in {list(CACHES)}")
    known = CACHES[kind]
    if unknown := sorted(set(raw) - set(known) - {"kind"}):
        raise CatalogError(
            f"{where}.cache: unknown key(s) {unknown} for kind {kind!r}; known: {sorted(known)}"
        )
    settings: dict[str, Any] = {"kind": kind}
    for key, value in raw.items():
        if key == "kind":
            continue
        types = known[key]
        if isinstance(value, bool) and bool not in types or not isinstance(value, types):
            names = "/".join(t.__name__ for t in types)
            raise CatalogError(f"{where}.cache.{key}: expected {names}, got {value!r}")
        if isinstance(value, list):
            if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
                raise CatalogError(f"{where}.cache.{key}: expected numbers, got {value!r}")
            value = tuple(value)
        if isinstance(value, int | float) and not isinstance(value, bool) and value < 0:
            raise CatalogError(f"{where}.cache.{key}: must not be negative")
        settings[key] = value
    if kind == "magcache" and "mag_ratios" not in settings and not settings.get("calibrate"):
        raise CatalogError(
            f"{where}.cache.mag_ratios: MagCache needs this model's magnitude ratios (one per"
            " step, from a calibrate = true run on the real weights)"
        )
    return tuple(sorted(settings.items()))


def _timesteps(where: str, values: dict[str, Any], family: str) -> tuple[float, ...]:
    raw = values["timesteps"]
    if family != "ltx":
        raise CatalogError(
            f"{where}.timesteps: Wan pipelines take no explicit timesteps; set steps, flow_shift"
            " and scheduler instead"
        )
    if not raw or not all(isinstance(t, int | float) and not isinstance(t, bool) for t in raw):
        raise CatalogError(f"{where}.timesteps: expected a non-empty list of numbers")
    if any(b >= a for a, b in zip(raw, raw[1:], strict=False)):
        raise CatalogError(f"{where}.timesteps: must be strictly decreasing")
    if "steps" in values and values["steps"] != len(raw):
        raise CatalogError(
            f"{where}.steps: {values['steps']} disagrees with the {len(raw)} timesteps given"
        )
    values["steps"] = len(raw)
    return tuple(float(t) for t in raw)


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
