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

import contextlib
import gc
import logging
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from reelforge.core.catalog import CatalogError
from reelforge.core.errors import FAILED_PRECONDITION, INTERNAL_ERROR, SERVICE_UNAVAILABLE, JobError
from reelforge.core.sizes import frame_size
from reelforge.engines.base import FPS, RenderRequest, Timings
from reelforge.engines.diffusers import checks, ltx, shapes, speed, wan
from reelforge.engines.diffusers.options import (
    CAPABILITIES,
    DiffusersOptions,
    parse,
    pipeline_kind,
)
from reelforge.engines.diffusers.plans import Plan
from reelforge.media.fit import fit_image

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import diffusers  # noqa: E402
import torch  # noqa: E402 - after the environment above

log = logging.getLogger("reelforge.diffusers")

WARM_UP_S = 5.0  # the clip length the warm-up compiles for (when the model serves it)

# Each family module maps modes onto its pipelines: CLASSES (kind -> pipeline class),
# route(mode, request, folder kind) -> kind, plan(request, options, kind) -> Plan,
# finish(pipe, plan, options, kwargs) for call arguments that need the loaded pipeline, and
# VAE_FLOAT32.
FAMILIES: dict[str, Any] = {"wan": wan, "ltx": ltx}
_CLASSES = {kind: name for family in FAMILIES.values() for kind, name in family.CLASSES.items()}


class _Weights:
    """One folder's modules in this process, shared by every catalog model whose options agree
    on `weights_key` (a full-step model and its 4-step LoRA alias hold one copy). `applied`
    is what the shared modules are currently set up for; `_activate` changes it per job."""

    def __init__(self, kind: str, base: Any, device: str):
        self.kind = kind  # CAPABILITIES key of the folder
        self.base = base
        self.scheduler = base.scheduler  # the folder's own; each model derives its own from it
        self.device = device
        self.pipes: dict[str, Any] = {}
        self.stages = speed.Stages()
        self.adapters: set[str] = set()  # names of the LoRAs loaded as (unfused) adapters
        self.applied: dict[str, Any] = {}
        self.running: Any = None  # the pipeline in a call (the cache's timestep callbacks)
        self.add(base)

    def add(self, pipe: Any) -> Any:
        self.pipes[_kind_of(pipe)] = pipe
        self.stages.wrap_encoder(pipe)
        self.stages.wrap_decoder(pipe.vae)
        pipe.set_progress_bar_config(disable=True)
        return pipe

    def current_timestep(self) -> Any:
        return self.running.current_timestep if self.running is not None else None


class _Loaded:
    """One catalog model: its options, its own scheduler, and the weights it renders with."""

    def __init__(self, options: DiffusersOptions, weights: _Weights):
        self.options = options
        self.weights = weights
        self.kind = weights.kind
        self.family = FAMILIES[options.family]
        self.scheduler = speed.scheduler(weights.scheduler, options)
        self.attention = checks.attention_of(options, weights.device)


def _kind_of(pipe: Any) -> str:
    name = type(pipe).__name__
    return next((k for k, v in _CLASSES.items() if v == name), name)


class DiffusersEngine:
    name = "diffusers"

    def __init__(self) -> None:
        self._models: dict[str, _Loaded] = {}
        self._weights: dict[tuple, _Weights] = {}
        self._lock = threading.Lock()

    # --- loading ---------------------------------------------------------------------------

    def _model(self, model_id: str, raw: dict[str, Any], timings: Timings | None = None) -> _Loaded:
        options = parse(model_id, raw)
        loaded = self._models.get(model_id)
        if loaded is not None and loaded.options == options:
            return loaded
        if loaded is not None:  # the catalog entry changed: let the old one go first
            del self._models[model_id]
            self._drop_unused_weights()
        try:
            checks.check(model_id, options)
        except CatalogError as exc:
            raise JobError(FAILED_PRECONDITION, str(exc)) from None
        weights = self._weights.get(options.weights_key)
        if weights is None:
            start = time.perf_counter()
            weights = self._load(model_id, options)
            self._weights[options.weights_key] = weights
            if timings is not None:
                timings.add("load", time.perf_counter() - start)
        loaded = _Loaded(options, weights)
        self._models[model_id] = loaded
        return loaded

    def _load(self, model_id: str, options: DiffusersOptions) -> _Weights:
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
        device = checks.device_of(options)
        dtype = _dtype(options.dtype, device)
        torch_dtype: Any = dtype
        if dtype != torch.float32 and FAMILIES[options.family].VAE_FLOAT32:
            torch_dtype = {"vae": torch.float32, "default": dtype}
        try:
            base = self._from_pretrained(options.path, torch_dtype)
            if options.lora_fuse and options.lora:
                speed.fuse_loras(base, options.lora)
        except Exception as exc:  # noqa: BLE001 - a broken folder fails the job, not the worker
            log.exception("loading %s from %s failed", model_id, options.path)
            _free()
            raise JobError(
                FAILED_PRECONDITION,
                f"model '{model_id}' could not be loaded from {options.path}: {_short(exc)}",
            ) from None
        _place(base, options, device)
        try:
            speed.prepare_weights(base, options, dtype)
        except Exception as exc:  # noqa: BLE001 - as a folder that cannot be loaded
            log.exception("preparing %s failed", model_id)
            _free()
            raise JobError(
                FAILED_PRECONDITION,
                f"model '{model_id}': quantize/fp8_storage/compile failed: {_short(exc)}",
            ) from None
        log.info(
            "loaded %s (%s) from %s on %s, %s%s",
            model_id,
            kind,
            options.path,
            device,
            dtype,
            "".join(
                f", {k} {v}"
                for k, v in (
                    ("quantize", options.quantize),
                    ("compile", options.compile),
                    ("fp8_storage", options.fp8_storage),
                )
                if v not in ("none", "off", False)
            ),
        )
        return _Weights(kind, base, device)

    def _from_pretrained(self, path: str, torch_dtype: Any) -> Any:
        """The folder's pipeline (bench/gpu builds random full-size ones in memory instead)."""
        return diffusers.DiffusionPipeline.from_pretrained(
            path, dtype=torch_dtype, local_files_only=True
        )

    def _drop_unused_weights(self) -> None:
        used = {loaded.options.weights_key for loaded in self._models.values()}
        for key in [k for k in self._weights if k not in used]:
            del self._weights[key]
        _free()

    def _pipe(self, loaded: _Loaded, kind: str) -> Any:
        weights = loaded.weights
        pipe = weights.pipes.get(kind)
        if pipe is None:
            cls = getattr(diffusers, _CLASSES[kind])
            pipe = cls.from_pipe(weights.base)  # the same modules, already placed
            if loaded.options.cpu_offload != "none":
                _place(pipe, loaded.options, weights.device)
            weights.add(pipe)
        return pipe

    def _activate(self, loaded: _Loaded, pipe: Any) -> None:
        """Set the shared modules up for `loaded`'s settings (only what differs is changed)."""
        weights, options = loaded.weights, loaded.options
        pipe.scheduler = loaded.scheduler
        weights.stages.capacity = options.prompt_cache
        loras = () if options.lora_fuse else options.lora
        for lora in loras:
            if speed.adapter_name(lora) not in weights.adapters:
                speed.load_lora(weights.base, lora)
                weights.adapters.add(speed.adapter_name(lora))
        wanted = {
            "loras": loras,
            # (MagCache is built for a number of steps, FasterCache for guidance on or off)
            "cache": (options.cache, options.steps, options.guidance_scale > 1)
            if options.cache
            else (),
            "attention": loaded.attention,
            "vae": (options.vae_tiling, options.vae_slicing),
        }
        applied = weights.applied
        if weights.adapters and applied.get("loras") != wanted["loras"]:
            speed.set_loras(weights.base, loras)
        if applied.get("cache", ()) != wanted["cache"]:
            for model in speed.transformers(weights.base):
                if model.is_cache_enabled:
                    model.disable_cache()
                if options.cache:
                    model.enable_cache(speed.cache_config(options, weights.current_timestep))
        if applied.get("attention", "native") != wanted["attention"]:
            for model in speed.transformers(weights.base):
                model.set_attention_backend(wanted["attention"])
        if applied.get("vae", (False, False)) != wanted["vae"]:
            speed.vae_flags(weights.base.vae, options)
        weights.applied = wanted

    def warm(self, model: Any) -> None:
        """Load `model`'s pipeline now rather than on its first job."""
        with self._lock:
            self._model(model.id, model.options)

    def warm_up(self, model: Any, force: bool = False, steps: int = 2) -> dict[str, float]:
        """Start-up hook: when `model` asks for it (its `warm_up` key; on by default when it is
        compiled) or `force`, load it and render one short job per resolution it serves, so
        compilation and kernel autotuning happen now rather than in a user's job. The shape is
        16:9 at the model's longest duration up to WARM_UP_S (Wan's and LTX's training length).
        Returns the seconds each resolution took ({} when nothing was rendered)."""
        if not (force or parse(model.id, model.options).warms_up):
            return {}
        plain = ("text-to-video", "image-to-video", "reference-to-video")
        mode = next((m for m in plain if m in model.modes), None)
        if mode is None:  # edit/extension only: their shapes follow the input video
            self.warm(model)
            return {}
        longest = max((hi for _, hi in model.durations.values()), default=1.0)
        seconds = min(longest, WARM_UP_S)
        grey = np.full((64, 64, 3), 128, np.uint8)
        took = {}
        for resolution in model.resolutions:
            width, height = frame_size("16:9", resolution)
            request = RenderRequest(
                mode=mode,
                prompt="warm-up",
                width=width,
                height=height,
                num_frames=max(1, int(seconds * FPS)),
                seed=0,
                image=grey if mode == "image-to-video" else None,
                reference_images=(grey,) if mode == "reference-to-video" else (),
                model=model,
            )
            start = time.perf_counter()
            self.render(request, steps=steps)
            took[resolution] = round(time.perf_counter() - start, 3)
        log.info("warm-up of %s done: %s", model.id, took)
        return took

    # --- rendering ---------------------------------------------------------------------------

    def render(self, request: RenderRequest, steps: int | None = None) -> DiffusersClip:
        if request.model is None:
            raise ValueError("the diffusers engine needs the catalog model in the request")
        timings = request.timings
        with self._lock:
            loaded = self._model(request.model.id, request.model.options, timings)
            start = time.perf_counter()
            kind = loaded.family.route(request.mode, request, loaded.kind)
            try:
                plan = loaded.family.plan(request, loaded.options, kind)
            except ValueError as exc:
                raise JobError(INTERNAL_ERROR, f"cannot render {request.mode}: {exc}") from None
            pipe = self._pipe(loaded, kind)
            try:
                self._activate(loaded, pipe)
            except Exception as exc:  # noqa: BLE001 - e.g. a file that is not a LoRA
                log.exception("setting up %s failed", request.model.id)
                raise JobError(
                    FAILED_PRECONDITION,
                    f"model '{request.model.id}': its lora/cache/attention could not be set up:"
                    f" {_short(exc)}",
                ) from None
            if timings is not None:  # the input video decoded and fitted to the native size
                timings.add("inputs", time.perf_counter() - start)
            frames = self._run(pipe, plan, request, loaded, steps or loaded.options.steps)
        keep = frames[plan.keep_from :]
        if plan.keep is not None:
            keep = keep[: plan.keep]
        return DiffusersClip(keep, request)

    def _run(
        self, pipe: Any, plan: Plan, request: RenderRequest, loaded: _Loaded, steps: int
    ) -> np.ndarray:
        options = loaded.options
        weights = loaded.weights
        stopped: list[BaseException] = []

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
        if options.timesteps is not None:
            kwargs["timesteps"] = list(options.timesteps)
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
        # Without a context of its own, the video-to-video pipeline's cache hooks get ours.
        contexts = (
            speed.branch_contexts(pipe.transformer, options.guidance_scale > 1)
            if options.cache and _kind_of(pipe) == wan.V2V
            else contextlib.nullcontext()
        )
        measured = Timings()
        weights.stages.timings = measured
        weights.running = pipe
        speed.reset_caches(pipe)
        start = time.perf_counter()
        try:
            with torch.inference_mode(), contexts:
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
        finally:
            speed.reset_caches(pipe)  # a cancelled call leaves its features behind otherwise
            weights.stages.timings = None
            weights.running = None
            _record(request.timings, measured, time.perf_counter() - start)
        if isinstance(video, torch.Tensor):
            video = video.float().cpu().numpy()
        return shapes.to_uint8(np.asarray(video))


def _record(timings: Timings | None, measured: Timings, call_s: float) -> None:
    """The pipeline call split into text encoding, VAE decode and the denoising in between."""
    if timings is None:
        return
    outside = 0.0
    for stage, seconds in measured.seconds.items():
        timings.add(stage, seconds)
        outside += seconds
    timings.add("denoise", max(0.0, call_s - outside))


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
    pipe.set_progress_bar_config(disable=True)


def _free() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


def _short(exc: BaseException, limit: int = 300) -> str:
    text = f"{type(exc).__name__}: {exc}".replace("\n", " ")
    return text if len(text) <= limit else text[: limit - 3] + "..."
