"""The speed features the engine applies to a loaded pipeline (torch and diffusers here).

Weights (once per load): fused LoRAs, torchao quantization, FP8 storage, compilation.
Per job (the engine reconciles them before each call, so catalog models sharing one copy of the
weights each get their own): LoRA adapters and scales, the feature cache, the attention backend,
the scheduler and the VAE's tiling and slicing.
"""

from __future__ import annotations

import contextlib
import inspect
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import diffusers
import torch

from reelforge.engines.base import Timings
from reelforge.engines.diffusers.options import DiffusersOptions, Lora

TRANSFORMERS = ("transformer", "transformer_2")


def transformers(pipe: Any) -> list[Any]:
    """The pipeline's denoisers (Wan 2.2 A14B has two)."""
    return [m for name in TRANSFORMERS if (m := getattr(pipe, name, None)) is not None]


# --- schedule ------------------------------------------------------------------------------


def scheduler(folder_scheduler: Any, options: DiffusersOptions) -> Any:
    """The model's scheduler: the folder's (or another flow-matching one) with its shift."""
    config = folder_scheduler.config
    if options.scheduler == "unipc":
        shift = options.flow_shift or config.get("flow_shift") or config.get("shift") or 1.0
        return diffusers.UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=shift
        )
    if options.scheduler == "euler":
        shift = options.flow_shift or config.get("shift") or config.get("flow_shift") or 1.0
        return diffusers.FlowMatchEulerDiscreteScheduler(shift=shift)
    if options.flow_shift is None:
        return type(folder_scheduler).from_config(config)
    key = "flow_shift" if "flow_shift" in config else "shift"
    return type(folder_scheduler).from_config(config, **{key: options.flow_shift})


# --- LoRA ----------------------------------------------------------------------------------


def adapter_name(lora: Lora) -> str:
    """One adapter per (file, target): models sharing weights and a LoRA share the adapter."""
    return f"{lora.into}:{lora.path}".replace(".", "_")


def load_lora(pipe: Any, lora: Lora) -> None:
    pipe.load_lora_weights(
        lora.path,
        adapter_name=adapter_name(lora),
        load_into_transformer_2=lora.into == "transformer_2",
    )


def set_loras(pipe: Any, loras: tuple[Lora, ...]) -> None:
    """Make exactly `loras` active, at their scales, on each denoiser (others off)."""
    for name in TRANSFORMERS:
        model = getattr(pipe, name, None)
        if model is None or not getattr(model, "peft_config", None):
            continue
        mine = [lora for lora in loras if lora.into == name]
        if mine:
            model.enable_lora()
            model.set_adapters([adapter_name(x) for x in mine], [x.scale for x in mine])
        else:
            model.disable_lora()


def fuse_loras(pipe: Any, loras: tuple[Lora, ...]) -> None:
    """Fold the LoRAs into the weights and drop the adapters: no per-step cost afterwards."""
    for lora in loras:
        load_lora(pipe, lora)
    set_loras(pipe, loras)
    components = sorted({lora.into for lora in loras})
    pipe.fuse_lora(components=components, lora_scale=1.0)
    pipe.unload_lora_weights()


# --- precision -----------------------------------------------------------------------------


def quantize(pipe: Any, kind: str) -> None:
    """torchao on the denoisers' linear layers (dynamic: weights and activations in 8 bits)."""
    from torchao.quantization import (
        Float8DynamicActivationFloat8WeightConfig,
        Float8WeightOnlyConfig,
        Int8DynamicActivationInt8WeightConfig,
        Int8WeightOnlyConfig,
        PerRow,
        quantize_,
    )

    configs: dict[str, Callable[[], Any]] = {
        "int8_weight": Int8WeightOnlyConfig,
        "int8_dynamic": Int8DynamicActivationInt8WeightConfig,
        "fp8_dynamic": lambda: Float8DynamicActivationFloat8WeightConfig(granularity=PerRow()),
        "fp8_weight": Float8WeightOnlyConfig,
    }
    for model in transformers(pipe):
        quantize_(model, configs[kind]())


def fp8_storage(pipe: Any, compute_dtype: torch.dtype) -> None:
    """Weights kept in float8_e4m3fn and upcast layer by layer: half the memory of bf16."""
    for model in transformers(pipe):
        model.enable_layerwise_casting(
            storage_dtype=torch.float8_e4m3fn, compute_dtype=compute_dtype
        )


def prepare_weights(pipe: Any, options: DiffusersOptions, compute_dtype: torch.dtype) -> None:
    """What changes the loaded weights themselves, in order: quantize or FP8 storage, then
    compile (which must see the final modules)."""
    if options.quantize != "none":
        quantize(pipe, options.quantize)
    if options.fp8_storage:
        fp8_storage(pipe, compute_dtype)
    if options.compile != "off":
        compile_transformers(pipe, options)


# --- compilation ---------------------------------------------------------------------------


def compile_transformers(pipe: Any, options: DiffusersOptions) -> None:
    """`blocks`: each repeated transformer block compiled once and reused (regional compile);
    `full`: the whole denoiser. With a feature cache the cache's hooks run in Python between
    the compiled blocks, so the blocks are compiled without fullgraph."""
    kwargs: dict[str, Any] = {"backend": options.compile_backend}
    if options.compile_mode:
        kwargs["mode"] = options.compile_mode
    for model in transformers(pipe):
        if options.compile == "blocks":
            model.compile_repeated_blocks(fullgraph=not options.cache, **kwargs)
        else:
            model.compile(**kwargs)


# --- feature caches ------------------------------------------------------------------------


def cache_config(options: DiffusersOptions, current_timestep: Callable[[], Any]) -> Any:
    """The diffusers hook config for the model's `cache` table."""
    kind, settings = options.cache_kind, dict(options.cache_settings)
    if kind == "first_block":
        return diffusers.FirstBlockCacheConfig(**settings)
    if kind == "taylorseer":
        return diffusers.TaylorSeerCacheConfig(**settings)
    if kind == "magcache":
        if "mag_ratios" in settings:
            settings["mag_ratios"] = list(settings["mag_ratios"])
        return diffusers.MagCacheConfig(num_inference_steps=options.steps, **settings)
    if kind == "faster":
        # Without guidance there is no batched unconditional half for it to skip.
        settings.setdefault("is_guidance_distilled", options.guidance_scale <= 1)
        return diffusers.FasterCacheConfig(current_timestep_callback=current_timestep, **settings)
    if kind == "pab":
        return diffusers.PyramidAttentionBroadcastConfig(
            current_timestep_callback=current_timestep, **settings
        )
    raise ValueError(f"unknown cache kind {kind!r}")


def reset_caches(pipe: Any) -> None:
    """Forget every cached feature: nothing carries over from one job into the next."""
    for model in transformers(pipe):
        if model.is_cache_enabled:
            model._reset_stateful_cache()


@contextlib.contextmanager
def branch_contexts(model: Any, guided: bool) -> Iterator[None]:
    """WanVideoToVideoPipeline calls its transformer without a cache context, which the cache
    hooks need. Give each call the context WanPipeline would: "cond", then "uncond" when
    guided, with the step index; each branch then keeps its own cached features."""
    from diffusers.hooks.hooks import CacheContext, _set_cache_context

    calls = 0

    def before(module: Any, args: Any) -> None:
        nonlocal calls
        branch = "uncond" if guided and calls % 2 else "cond"
        step = calls // 2 if guided else calls
        _set_cache_context(module, CacheContext(branch, step_index=step))
        calls += 1

    def after(module: Any, args: Any, output: Any) -> None:
        _set_cache_context(module, None)

    handles = [model.register_forward_pre_hook(before), model.register_forward_hook(after)]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()
        _set_cache_context(model, None)


# --- work outside the denoiser -------------------------------------------------------------


class Stages:
    """Wraps a pipeline's text encoding (with a bounded LRU of prompt embeddings) and its VAE
    decode so each call's time lands in the current job's timings."""

    def __init__(self) -> None:
        self.timings: Timings | None = None  # the running job's, set by the engine
        self.capacity = 0
        self._prompts: OrderedDict[tuple, Any] = OrderedDict()
        self.encoder_calls = 0  # the text encoder really ran (a cache miss)

    def wrap_encoder(self, pipe: Any) -> None:
        encode = pipe.encode_prompt
        signature = inspect.signature(encode)

        def encode_prompt(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                bound = signature.bind(*args, **kwargs)
                bound.apply_defaults()
                key = self._key(bound.arguments)
                if key is not None and key in self._prompts:
                    self._prompts.move_to_end(key)
                    return self._prompts[key]
                self.encoder_calls += 1
                result = encode(*args, **kwargs)
                if key is not None:
                    self._prompts[key] = result
                    while len(self._prompts) > self.capacity:
                        self._prompts.popitem(last=False)
                return result
            finally:
                self._add("text_encode", start)

        pipe.encode_prompt = encode_prompt

    def wrap_decoder(self, vae: Any) -> None:
        vae._reelforge_stages = self  # the latest loader of this VAE records its decodes
        if getattr(vae, "_reelforge_timed", False):
            return  # pipelines built with from_pipe share the VAE
        decode = vae.decode

        def timed_decode(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return decode(*args, **kwargs)
            finally:
                vae._reelforge_stages._add("vae_decode", start)

        vae.decode = timed_decode
        vae._reelforge_timed = True

    def _key(self, arguments: dict[str, Any]) -> tuple | None:
        """What the embeddings depend on, or None when they must not be cached."""
        if self.capacity <= 0:
            return None
        key = []
        for name, value in sorted(arguments.items()):
            if isinstance(value, torch.Tensor):
                return None  # embeddings handed in: nothing to encode
            if isinstance(value, list):
                value = tuple(value)
            if isinstance(value, torch.device | torch.dtype):
                value = str(value)
            key.append((name, value))
        return tuple(key)

    def _add(self, stage: str, start: float) -> None:
        if self.timings is not None:
            self.timings.add(stage, time.perf_counter() - start)


def vae_flags(vae: Any, options: DiffusersOptions) -> None:
    for flag, on in (("tiling", options.vae_tiling), ("slicing", options.vae_slicing)):
        method = getattr(vae, f"{'enable' if on else 'disable'}_{flag}", None)
        if method is not None:
            method()
