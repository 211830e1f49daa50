"""One wire-neutral request shape in, one validated `JobSpec` out.

Surfaces (REST, gRPC) translate their wire shapes into `VideoRequest`; `build_spec` checks it
against the model catalog and resolves defaults. Pure: no I/O, so every rule is easy to test.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
from dataclasses import dataclass, field
from typing import Any

from reelforge.core.catalog import Catalog, Model
from reelforge.core.enums import Kind, Mode
from reelforge.core.errors import ApiError, invalid
from reelforge.core.units import whole_number

GENERATION, EDIT, EXTENSION = Kind.GENERATION, Kind.EDIT, Kind.EXTENSION
DEFAULT_DURATION = {GENERATION: 8, EXTENSION: 6}
DEFAULT_ASPECT_RATIO = "16:9"
DEFAULT_RESOLUTION = "480p"
MIN_KEYFRAME_GAP_S = 1 / 3
MAX_PROMPT_CHARS = 8192
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class InputRef:
    """Where an input comes from: a remote URL, a stored blob (decoded data URLs), or a file id."""

    url: str | None = None
    blob: str | None = None
    file_id: str | None = None
    field: str = ""  # the wire field it came from, for error messages

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass(frozen=True)
class Keyframe:
    image: InputRef
    timestamp_s: float


@dataclass
class VideoRequest:
    """What a client asked for, before validation. `duration` is kept raw (int, str or None)."""

    model: str | None = None
    prompt: str = ""
    duration: Any = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    image: InputRef | None = None
    video: InputRef | None = None
    last_frame: InputRef | None = None
    reference_images: list[InputRef] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    generate_audio: bool | None = None
    seed: int | None = None
    negative_prompt: str | None = None


@dataclass
class JobSpec:
    """A validated job. JSON-serialisable through `to_dict`/`from_dict`; stored on the job row."""

    kind: str
    mode: str
    model: str
    prompt: str
    duration_s: float | None  # output seconds (generation) or added seconds (extension); edit: None
    aspect_ratio: str | None  # None: follow the input image or video
    resolution: str | None  # None: follow the input video (edit, extension)
    seed: int
    generate_audio: bool
    image: InputRef | None = None
    video: InputRef | None = None
    last_frame: InputRef | None = None
    reference_images: list[InputRef] = field(default_factory=list)
    keyframes: list[Keyframe] = field(default_factory=list)
    voices: list[str] = field(default_factory=list)
    negative_prompt: str = ""  # what the clip should not show; engines that take one use it
    # What the surface that created the job needs to show it again (OpenAI: the size, seconds
    # and model name as asked, remixed_from_video_id). Rendering never reads it.
    surface_fields: dict[str, Any] = field(default_factory=dict)
    # A test's scenario (core/scenario.py, `serve --scenarios`): Scenario.to_dict() or None.
    scenario: dict[str, Any] | None = None

    def inputs(self) -> list[InputRef]:
        """Every input to fetch, in a stable order."""
        refs = [self.image, self.video, self.last_frame, *self.reference_images]
        refs += [k.image for k in self.keyframes]
        return [r for r in refs if r is not None]

    def input_image_count(self) -> int:
        return sum(1 for r in self.inputs() if r is not self.video)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> JobSpec:
        def ref(value: dict[str, Any] | None) -> InputRef | None:
            return InputRef(**value) if value else None

        data = dict(raw)
        for key in ("image", "video", "last_frame"):
            data[key] = ref(data.get(key))
        data["reference_images"] = [InputRef(**r) for r in data.get("reference_images", [])]
        data["keyframes"] = [
            Keyframe(image=InputRef(**k["image"]), timestamp_s=k["timestamp_s"])
            for k in data.get("keyframes", [])
        ]
        return cls(**data)


def resolve_model(catalog: Catalog, name: str | None) -> Model:
    if not name:
        raise invalid("model", f"is required; available: {catalog.names()}")
    model = catalog.get(name)
    if model is None:
        raise ApiError(
            404, f"model: '{name}' not found; available: {catalog.names()}", field="model"
        )
    return model


def _duration(raw: Any, default: int, limits: tuple[float, float], what: str) -> int:
    if raw is None:
        value = default
    elif isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, float) and raw.is_integer():
        value = int(raw)
    elif isinstance(raw, str) and whole_number(raw) is not None:
        value = whole_number(raw)
    else:
        raise invalid("duration", f"must be a whole number of seconds, got {raw!r}")
    low, high = limits
    if not low <= value <= high:
        raise invalid(
            "duration", f"{what} must be between {low:g} and {high:g} seconds, got {value}"
        )
    return value


def _choice(
    name: str, value: str | None, allowed: tuple[str, ...], default: str | None
) -> str | None:
    if value is None:
        return default
    if value not in allowed:
        raise invalid(name, f"'{value}' is not supported here; allowed: {list(allowed)}")
    return value


def _mode(kind: str, req: VideoRequest) -> str:
    if kind == EDIT:
        return Mode.EDIT
    if kind == EXTENSION:
        return Mode.EXTENSION
    if req.video is not None:
        return Mode.EDIT  # gRPC: GenerateVideo with `video` is an edit
    if req.reference_images or req.voices:
        return Mode.REFERENCE_TO_VIDEO
    if req.image is not None:
        return Mode.IMAGE_TO_VIDEO
    return Mode.TEXT_TO_VIDEO


def _not_accepted(req: VideoRequest, mode: str, *names: str) -> None:
    for name in names:
        if getattr(req, name) not in (None, [], ""):
            raise invalid(name, f"is not accepted for {mode}")


def build_spec(kind: str, req: VideoRequest, catalog: Catalog) -> JobSpec:
    """Validate `req` for endpoint `kind` against the catalog; raise ApiError naming the field."""
    model = resolve_model(catalog, req.model)
    mode = _mode(kind, req)
    if mode not in model.modes:
        raise invalid(
            "model", f"'{model.id}' does not support {mode}; it supports {list(model.modes)}"
        )
    prompt = (req.prompt or "").strip()
    if len(prompt) > MAX_PROMPT_CHARS:
        raise invalid("prompt", f"is longer than {MAX_PROMPT_CHARS} characters")
    pins_frame = req.image is not None or req.last_frame is not None or bool(req.keyframes)
    if not prompt and not (mode in (Mode.IMAGE_TO_VIDEO, Mode.TEXT_TO_VIDEO) and pins_frame):
        raise invalid("prompt", f"is required for {mode}")

    negative = (req.negative_prompt or "").strip()
    if len(negative) > MAX_PROMPT_CHARS:
        raise invalid("negative_prompt", f"is longer than {MAX_PROMPT_CHARS} characters")
    if req.seed is not None and not (isinstance(req.seed, int) and 0 <= req.seed <= MAX_SEED):
        raise invalid("seed", f"must be an integer between 0 and {MAX_SEED}")
    common = dict(
        kind=kind,
        mode=mode,
        model=model.id,
        prompt=prompt,
        seed=req.seed or 0,
        generate_audio=True if req.generate_audio is None else bool(req.generate_audio),
        negative_prompt=negative,
    )

    if mode in (Mode.EDIT, Mode.EXTENSION):
        if req.video is None:
            raise invalid("video", f"is required for {mode}")
        _not_accepted(
            req,
            mode,
            "aspect_ratio",
            "resolution",
            "image",
            "last_frame",
            "reference_images",
            "keyframes",
            "voices",
        )
        if mode == Mode.EDIT:
            _not_accepted(req, mode, "duration")
            return JobSpec(
                duration_s=None, aspect_ratio=None, resolution=None, video=req.video, **common
            )
        added = _duration(
            req.duration, DEFAULT_DURATION[EXTENSION], model.durations[mode], Mode.EXTENSION
        )
        return JobSpec(
            duration_s=added, aspect_ratio=None, resolution=None, video=req.video, **common
        )

    duration = _duration(req.duration, DEFAULT_DURATION[GENERATION], model.durations[mode], mode)
    aspect_default = None if req.image is not None else DEFAULT_ASPECT_RATIO
    aspect_ratio = _choice("aspect_ratio", req.aspect_ratio, model.aspect_ratios, aspect_default)
    resolution = _choice(
        "resolution", req.resolution, model.resolutions_for(mode), DEFAULT_RESOLUTION
    )

    if mode == Mode.REFERENCE_TO_VIDEO:
        if len(req.reference_images) > model.max_reference_images:
            raise invalid(
                "reference_images",
                f"at most {model.max_reference_images} images, got {len(req.reference_images)}",
            )
        if req.image is not None and not model.frame_pinning:
            raise invalid("image", f"cannot be combined with reference_images on '{model.id}'")
        _check_voices(req.voices, model)
    if req.last_frame is not None and not model.last_frame:
        raise invalid("last_frame", f"is not supported by '{model.id}'")
    _check_keyframes(req.keyframes, duration, model)

    return JobSpec(
        duration_s=duration,
        aspect_ratio=aspect_ratio,
        resolution=resolution,
        image=req.image,
        last_frame=req.last_frame,
        reference_images=list(req.reference_images),
        keyframes=sorted(req.keyframes, key=lambda k: k.timestamp_s),
        voices=[v.lower() for v in req.voices],
        **common,
    )


def _check_voices(voices: list[str], model: Model) -> None:
    if len(voices) > model.max_reference_audios:
        raise invalid(
            "reference_audios",
            f"at most {model.max_reference_audios} on '{model.id}', got {len(voices)}",
        )
    for i, voice in enumerate(voices):
        if voice.lower() not in model.voices:
            raise invalid(
                f"reference_audios[{i}].voice_id",
                f"unknown voice '{voice}'; valid: {list(model.voices)}",
            )


def _check_keyframes(keyframes: list[Keyframe], duration: float, model: Model) -> None:
    if not keyframes:
        return
    if len(keyframes) > model.max_keyframes:
        raise invalid(
            "keyframes", f"at most {model.max_keyframes} on '{model.id}', got {len(keyframes)}"
        )
    times = sorted(k.timestamp_s for k in keyframes)
    for t in times:
        if not (math.isfinite(t) and 0 < t < duration):
            raise invalid(
                "keyframes.timestamp_s", f"must be strictly between 0 and {duration:g}, got {t:g}"
            )
    for a, b in itertools.pairwise(times):
        if b - a < MIN_KEYFRAME_GAP_S - 1e-6:
            raise invalid(
                "keyframes.timestamp_s", f"keyframes must be at least 1/3 s apart ({a:g} and {b:g})"
            )


def check_input_video(model: Model, mode: str, seconds: float) -> str | None:
    """A message if an input video's length is outside the model's limits for `mode`, else None."""
    low, high = model.input_video_durations.get(mode, (0.0, math.inf))
    if not low <= seconds <= high + 1e-3:
        return f"input video must be {low:g}-{high:g} s for {mode}, got {seconds:.2f} s"
    return None
