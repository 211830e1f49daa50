"""What only this machine can say about a model's options: is the device there, is the attention
kernel installed, can the GPU do FP8, is the compile backend known (torch and diffusers here).

`check` runs at start-up through `reelforge.engines.check_machine` (so `serve`/`worker`
refuse to start) and again when a worker loads the model. Each refusal names the key.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence

import torch

from reelforge.core.catalog import CatalogError
from reelforge.engines.diffusers.options import DiffusersOptions

# Attention backends that run off CUDA (the others are CUDA kernels). `*_hub` backends fetch
# their kernels from the Hugging Face Hub at run time; Reelforge never downloads, so they are
# refused.
_CPU_BACKENDS = {"native", "_native_math", "flex"}
# The FP8 tensor cores torchao's float8 kernels need: Ada (sm89) and Hopper (sm90) onwards.
_FP8_CAPABILITY = (8, 9)


def device_of(options: DiffusersOptions) -> str:
    if options.device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return options.device


def default_attention(device: str) -> str:
    """The fastest attention backend really installed for `device`.

    Hopper and Blackwell: FlashAttention 3 when its package is there, else PyTorch SDPA's cuDNN
    kernel (about FA3 speed, ~1.9x FA2: pytorch/pytorch#142132). Older GPUs: FlashAttention 2
    when installed, else PyTorch SDPA's own choice. CPU: PyTorch SDPA.
    """
    if not device.startswith("cuda"):
        return "native"
    from diffusers.models import attention_dispatch as dispatch

    major, _ = torch.cuda.get_device_capability(device)
    if major == 9 and dispatch._CAN_USE_FLASH_ATTN_3:
        return "_flash_3"
    if major >= 9:
        return "_native_cudnn"
    return "flash" if dispatch._CAN_USE_FLASH_ATTN else "native"


def attention_of(options: DiffusersOptions, device: str) -> str:
    return default_attention(device) if options.attention == "auto" else options.attention


def check(model_id: str, options: DiffusersOptions, devices: Sequence[str] = ()) -> None:
    """CatalogError naming the key when this machine cannot run `options`, or when a GPU of
    `devices` (`--devices`, where the workers are pinned) is not there for it."""
    where = f"models.{model_id}"
    if devices and options.device != "cpu":
        _check_devices(where, options.device, devices)
    device = device_of(options)
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise CatalogError(f"{where}.device: {device!r} but torch sees no CUDA device")
        index = torch.device(device).index or 0
        if index >= torch.cuda.device_count():
            raise CatalogError(
                f"{where}.device: {device!r} but only {torch.cuda.device_count()} CUDA device(s)"
            )
    elif device == "mps" and not torch.backends.mps.is_available():
        raise CatalogError(f"{where}.device: 'mps' is not available here")
    _check_attention(where, attention_of(options, device), device)
    _check_quantize(where, options, device)
    _check_compile(where, options)
    if options.lora and importlib.util.find_spec("peft") is None:
        raise CatalogError(f"{where}.lora: LoRAs need the `peft` package (pip install peft)")
    if options.fp8_storage and device == "mps":
        raise CatalogError(f"{where}.fp8_storage: float8 storage is not supported on 'mps'")


def _check_devices(where: str, device: str, devices: Sequence[str]) -> None:
    """A worker pinned to a GPU that is not there would fail every job it takes: refuse to
    start instead. Run in the parent, before any worker is pinned: it sees every GPU."""
    named = ",".join(devices)
    if device.startswith("cuda:") and torch.device(device).index != 0:
        raise CatalogError(
            f"{where}.device: {device!r} with --devices {named}: each worker sees only its own "
            "GPU, as cuda:0; use 'cuda' or 'auto'"
        )
    if not torch.cuda.is_available():
        raise CatalogError(f"{where}: --devices {named} but torch sees no CUDA device")
    count = torch.cuda.device_count()
    if missing := [d for d in devices if int(d) >= count]:
        raise CatalogError(
            f"{where}: --devices {named} names GPU {', '.join(missing)}, but this machine has "
            f"{count} (0 to {count - 1})"
        )


def _check_attention(where: str, backend: str, device: str) -> None:
    from diffusers.models.attention_dispatch import (
        AttentionBackendName,
        _check_attention_backend_requirements,
    )

    names = sorted(b.value for b in AttentionBackendName)
    if backend not in names:
        raise CatalogError(
            f"{where}.attention: {backend!r} is not a diffusers backend; one of {names}"
        )
    if backend.endswith("_hub"):
        raise CatalogError(
            f"{where}.attention: {backend!r} downloads its kernel from the Hugging Face Hub at"
            " run time, which Reelforge never does; install the kernel's package and use the"
            " backend without _hub"
        )
    if backend not in _CPU_BACKENDS and not device.startswith("cuda"):
        raise CatalogError(
            f"{where}.attention: {backend!r} needs a CUDA device; this model runs on {device!r}"
            " (use 'native' or '_native_math')"
        )
    try:
        _check_attention_backend_requirements(AttentionBackendName(backend))
    except (RuntimeError, ImportError) as exc:
        raise CatalogError(f"{where}.attention: {backend!r} is not usable here: {exc}") from None


def _check_quantize(where: str, options: DiffusersOptions, device: str) -> None:
    if options.quantize == "none":
        return
    if importlib.util.find_spec("torchao") is None:
        raise CatalogError(f"{where}.quantize: needs the `torchao` package (pip install torchao)")
    if options.quantize.startswith("fp8"):
        if not device.startswith("cuda"):
            raise CatalogError(
                f"{where}.quantize: {options.quantize!r} needs a CUDA GPU with FP8 tensor cores"
                f" (compute capability 8.9+); this model runs on {device!r}"
            )
        capability = torch.cuda.get_device_capability(device)
        if capability < _FP8_CAPABILITY:
            raise CatalogError(
                f"{where}.quantize: {options.quantize!r} needs compute capability 8.9+ (Ada,"
                f" Hopper, Blackwell); {torch.cuda.get_device_name(device)} is"
                f" {capability[0]}.{capability[1]}"
            )


def _check_compile(where: str, options: DiffusersOptions) -> None:
    if options.compile == "off":
        return
    import torch._dynamo

    backends = set(torch._dynamo.list_backends(exclude_tags=())) | {"inductor"}
    if options.compile_backend not in backends:
        raise CatalogError(
            f"{where}.compile_backend: {options.compile_backend!r} is not a torch.compile"
            f" backend here; one of {sorted(backends)}"
        )
