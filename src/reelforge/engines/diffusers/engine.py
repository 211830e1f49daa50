"""DiffusersEngine: renders with a model's diffusers pipeline, kept warm in the worker process.

A worker renders one job at a time. Each model's folder is loaded on its first job and kept;
the pipelines a mode needs beyond the folder's own (image-to-video or video-to-video on the
same weights) are built from it with `from_pipe`, sharing its modules. Progress is reported per
denoising step, and the worker's progress callback may raise to cancel: that happens between
steps and goes straight through. Any other failure inside the pipeline (out of memory included)
fails that job with a contract error code; memory is freed and the next job runs as usual.

Nothing is fetched from the network: folders are local and loaded with `local_files_only`, and
HF_HUB_OFFLINE is set for the process unless the operator set it.
"""

from __future__ import annotations

import gc
import logging
import os
import threading
from collections.abc import Iterator
from typing import Any

import numpy as np

from reelforge.core.errors import FAILED_PRECONDITION, INTERNAL_ERROR, SERVICE_UNAVAILABLE, JobError
from reelforge.engines.base import RenderRequest
from reelforge.engines.diffusers import ltx, shapes, wan
from reelforge.engines.diffusers.options import CAPABILITIES, DiffusersOptions, parse, pipeline_kind
from reelforge.engines.diffusers.plans import Plan
from reelforge.media.fit import fit_image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import diffusers  # noqa: E402
import torch  # noqa: E402 - after the environment above

log = logging.getLogger("reelforge.diffusers")

# Each family module maps modes onto its pipelines: CLASSES (kind -> pipeline class),
# route(mode, request, folder kind) -> kind, plan(request, options, kind) -> Plan,
# finish(pipe, plan, options, kwargs) for call arguments that need the loaded pipeline, and
# VAE_FLOAT32.
FAMILIES: dict[str, Any] = {"wan": wan, "ltx": ltx}
_CLASSES = {kind: name for family in FAMILIES.values() for kind, name in family.CLASSES.items()}


class _Loaded:
    """One model's pipelines: the folder's own and those derived from it, by kind."""

    def __init__(self, options: DiffusersOptions, kind: str, base: Any, device: str):
        self.options = options
        self.kind = kind  # CAPABILITIES key
        self.family = FAMILIES[options.family]
        self.device = device
        self.pipes: dict[str, Any] = {_kind_of(base): base}
        self.base = base


def _kind_of(pipe: Any) -> str:
    name = type(pipe).__name__
    return next((k for k, v in _CLASSES.items() if v == name), name)


class DiffusersEngine:
    name = "diffusers"

    def __init__(self) -> None:
        self._models: dict[str, _Loaded] = {}
        self._lock = threading.Lock()

    # --- loading ---------------------------------------------------------------------------

    def _model(self, model_id: str, raw: dict[str, Any]) -> _Loaded:
        options = parse(model_id, raw)
        loaded = self._models.get(model_id)
        if loaded is not None and loaded.options == options:
            return loaded
        if loaded is not None:  # the catalog entry changed: let the old one go first
            del self._models[model_id]
            _free()
        kind = pipeline_kind(options.path)
        if kind not in CAPABILITIES:
            raise JobError(
                FAILED_PRECONDITION,
                f"model '{model_id}': {options.path} is not a diffusers folder this engine runs"
                f" (found {kind or 'no readable model_index.json'})",
            )
        if CAPABILITIES[kind]["family"] != options.family:
            raise JobError(
                FAILED_PRECONDITION,
                f"model '{model_id}': {options.path} holds a {kind}, not a"
                f' {options.family} model; set family = "{CAPABILITIES[kind]["family"]}"',
            )
        device = options.device
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        dtype = _dtype(options.dtype, device)
        torch_dtype: Any = dtype
        if dtype != torch.float32 and FAMILIES[options.family].VAE_FLOAT32:
            torch_dtype = {"vae": torch.float32, "default": dtype}
        try:
            base = diffusers.DiffusionPipeline.from_pretrained(
                options.path, dtype=torch_dtype, local_files_only=True
            )
        except Exception as exc:  # noqa: BLE001 - a broken folder fails the job, not the worker
            log.exception("loading %s from %s failed", model_id, options.path)
            _free()
            raise JobError(
                FAILED_PRECONDITION,
                f"model '{model_id}' could not be loaded from {options.path}: {_short(exc)}",
            ) from None
        if options.flow_shift is not None:
            config = base.scheduler.config
            key = "flow_shift" if "flow_shift" in config else "shift"
            base.scheduler = type(base.scheduler).from_config(config, **{key: options.flow_shift})
        _place(base, options, device)
        loaded = _Loaded(options, kind, base, device)
        self._models[model_id] = loaded
        log.info("loaded %s (%s) from %s on %s, %s", model_id, kind, options.path, device, dtype)
        return loaded

    def _pipe(self, loaded: _Loaded, kind: str) -> Any:
        pipe = loaded.pipes.get(kind)
        if pipe is None:
            cls = getattr(diffusers, _CLASSES[kind])
            pipe = cls.from_pipe(loaded.base)  # the same modules, already placed
            if loaded.options.cpu_offload != "none":
                _place(pipe, loaded.options, loaded.device)
            loaded.pipes[kind] = pipe
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def warm(self, model: Any) -> None:
        """Load `model`'s pipeline now rather than on its first job."""
        with self._lock:
            self._model(model.id, model.options)

    # --- rendering ---------------------------------------------------------------------------

    def render(self, request: RenderRequest) -> DiffusersClip:
        if request.model is None:
            raise ValueError("the diffusers engine needs the catalog model in the request")
        with self._lock:
            loaded = self._model(request.model.id, request.model.options)
            kind = loaded.family.route(request.mode, request, loaded.kind)
            try:
                plan = loaded.family.plan(request, loaded.options, kind)
            except ValueError as exc:
                raise JobError(INTERNAL_ERROR, f"cannot render {request.mode}: {exc}") from None
            pipe = self._pipe(loaded, kind)
            frames = self._run(pipe, plan, request, loaded)
        keep = frames[plan.keep_from :]
        if plan.keep is not None:
            keep = keep[: plan.keep]
        return DiffusersClip(keep, request)

    def _run(self, pipe: Any, plan: Plan, request: RenderRequest, loaded: _Loaded) -> np.ndarray:
        options = loaded.options
        stopped: list[BaseException] = []
        steps = options.steps

        def on_step(pipeline: Any, i: int, t: Any, tensors: dict) -> dict:
            total = getattr(pipeline, "_num_timesteps", None) or steps
            if request.progress is not None:
                try:
                    request.progress(i + 1, total)
                except BaseException as exc:
                    log.info("render stopped after step %d of %d", i + 1, total)
                    stopped.append(exc)
                    raise
            return tensors

        kwargs: dict[str, Any] = dict(
            prompt=request.prompt,
            height=plan.height,
            width=plan.width,
            num_inference_steps=steps,
            guidance_scale=options.guidance_scale,
            generator=torch.Generator("cpu").manual_seed(request.seed),
            max_sequence_length=options.max_sequence_length,
            output_type="np",
            callback_on_step_end=on_step,
            **plan.kwargs,
        )
        negative = request.negative_prompt or options.negative_prompt  # the request's wins
        if negative:
            kwargs["negative_prompt"] = negative
        loaded.family.finish(pipe, plan, options, kwargs)
        log.info(
            "%s: %s %dx%d, %s native frames, %d steps, conditioned on native frames %s",
            request.model.id if request.model else "?",
            type(pipe).__name__,
            plan.width,
            plan.height,
            plan.kwargs.get("num_frames", len(plan.kwargs.get("video", ()))),
            steps,
            list(plan.pinned_native),
        )
        try:
            with torch.inference_mode():
                output = pipe(**kwargs)
            video = output.frames[0]
        except BaseException as exc:
            if stopped and exc is stopped[0]:
                _free()
                raise  # cancelled between steps: the worker's own exception
            _free()
            if isinstance(exc, torch.OutOfMemoryError | MemoryError):
                log.warning("out of memory rendering %s: %s", request.mode, exc)
                raise JobError(
                    SERVICE_UNAVAILABLE,
                    "the model ran out of memory rendering this video; try a shorter duration or"
                    " a lower resolution",
                ) from None
            if isinstance(exc, Exception):
                log.exception("the %s pipeline failed", type(pipe).__name__)
                raise JobError(INTERNAL_ERROR, f"the model failed: {_short(exc)}") from None
            raise
        if isinstance(video, torch.Tensor):
            video = video.float().cpu().numpy()
        return shapes.to_uint8(np.asarray(video))


class DiffusersClip:
    """The native frames resampled to the exact output; pins exact at their indices. No audio:
    these models make none, so the file carries a silent track when audio was asked for."""

    def __init__(self, native: np.ndarray, request: RenderRequest):
        self.native = native
        self.request = request

    def pins(self) -> dict[int, np.ndarray]:
        r = self.request
        if r.mode == "edit":
            return {}
        fit = lambda image: fit_image(image, r.width, r.height)  # noqa: E731
        pins = {i: fit(image) for i, image in r.keyframes}
        if r.image is not None:
            pins[0] = fit(r.image)
        if r.last_frame is not None and r.num_frames > 1:
            pins[r.num_frames - 1] = fit(r.last_frame)
        return pins

    def frames(self) -> Iterator[np.ndarray]:
        r = self.request
        return shapes.resample(list(self.native), r.num_frames, r.width, r.height, self.pins())

    def audio(self) -> np.ndarray | None:
        return None


def _dtype(name: str, device: str) -> torch.dtype:
    if name == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, name)


def _place(pipe: Any, options: DiffusersOptions, device: str) -> None:
    if options.cpu_offload == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif options.cpu_offload == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)
    if options.vae_tiling and hasattr(pipe.vae, "enable_tiling"):
        pipe.vae.enable_tiling()
    pipe.set_progress_bar_config(disable=True)


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
