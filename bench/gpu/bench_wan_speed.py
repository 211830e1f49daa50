"""How fast does the diffusers engine run real-size models? Measured without weights (issue 12).

Nothing can be downloaded, so the models are built from their published configs (written below)
with random weights, which cost the same compute as real ones; quality is not measured. In one
run, for each model:
- the GPU's bf16 matmul peak (an 8192^3 GEMM), measured first;
- s/step of the plain diffusers pipeline, then of Reelforge's engine with each speed option
  alone and with the best combinations (per-step times from the step callbacks, after a
  warm-up call that compiles; VAE decode stubbed out in these runs);
- the DiT's achieved TFLOP/s (analytic FLOPs per forward) as a fraction of that peak, and the
  peak GPU memory of each run;
- end to end through the engine and the MP4 encoder, a 5 s 480p clip at 4 steps without
  guidance (the distilled recipe), with its stage breakdown.

Models: Wan2.1-T2V-1.3B 480p 81 frames, Wan2.2-TI2V-5B 720p 121 frames, LTX-Video 2B 768x512
121 frames. Built to finish in under 8 minutes on one H200 (--budget-s trims options if not).

Run:  make bench-gpu                                  (GPU; installs from .wheels/ if needed)
      python bench/gpu/bench_wan_speed.py --tiny      (CPU smoke: tiny configs, < 1 minute)
The GPU machine needs torch (CUDA), transformers and peft; `make wheelhouse` (on a machine with
network) downloads the rest into .wheels/.
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

# What the GPU machine lacks (it has torch, transformers and peft): `make wheelhouse` fetches
# these into .wheels/, and the script installs them from there.
WHEELS = {"diffusers": "diffusers==0.42.1", "torchao": "torchao==0.18.0", "av": "av"}


def ensure_packages() -> None:
    missing = [pin for name, pin in WHEELS.items() if importlib.util.find_spec(name) is None]
    if not missing:
        return
    wheels = ROOT / ".wheels"
    if not wheels.is_dir():
        sys.exit(f"missing {missing}: run `make wheelhouse` where there is network, copy .wheels/")
    pip = [sys.executable, "-m", "pip", "install", "-q", "--no-index", "--find-links", str(wheels)]
    subprocess.check_call([*pip, *missing])
    importlib.invalidate_caches()


# --- the models ------------------------------------------------------------------------------

WAN21_VAE: dict[str, Any] = {}  # AutoencoderKLWan's defaults are the Wan 2.1 VAE
WAN22_VAE = {  # Wan2.2-TI2V-5B-Diffusers vae/config.json (16x spatial, 48 channels)
    "base_dim": 160,
    "decoder_base_dim": 256,
    "z_dim": 48,
    "dim_mult": [1, 2, 4, 4],
    "num_res_blocks": 2,
    "temperal_downsample": [False, True, True],
    "is_residual": True,
    "in_channels": 12,
    "out_channels": 12,
    "patch_size": 2,
    "scale_factor_spatial": 16,
    "scale_factor_temporal": 4,
    "latents_mean": [0.0] * 48,
    "latents_std": [1.0] * 48,
}
WAN_DIT = {  # shared by Wan2.1-T2V-1.3B and Wan2.2-TI2V-5B (transformer/config.json)
    "patch_size": (1, 2, 2),
    "attention_head_dim": 128,
    "text_dim": 4096,
    "freq_dim": 256,
    "cross_attn_norm": True,
    "qk_norm": "rms_norm_across_heads",
    "eps": 1e-6,
    "rope_max_seq_len": 1024,
}
UMT5_XXL = {  # Wan's text encoder (google/umt5-xxl encoder)
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "feed_forward_proj": "gated-gelu",
    "relative_attention_num_buckets": 32,
}
T5_XXL = {**UMT5_XXL, "vocab_size": 32128}  # LTX-Video's text encoder (t5-v1_1-xxl encoder)


@dataclass
class Spec:
    name: str
    family: str  # "wan" or "ltx"
    dit: dict[str, Any]
    vae: dict[str, Any]
    text: dict[str, Any]
    width: int  # the benchmark shape (native)
    height: int
    frames: int
    fps: int
    flow_shift: float = 3.0
    expand_timesteps: bool = False  # Wan 2.2 TI2V
    vae_stride: int = 8
    text_len: int = 512
    share: float = 0.33  # of the time budget
    extra: dict[str, Any] = field(default_factory=dict)  # catalog keys

    @property
    def tokens(self) -> int:
        if self.family == "ltx":
            return ((self.frames - 1) // 8 + 1) * (self.height // 32) * (self.width // 32)
        cell = self.vae_stride * 2  # VAE stride x patch 2
        return ((self.frames - 1) // 4 + 1) * (self.height // cell) * (self.width // cell)

    def flops(self) -> float:
        """FLOPs of one DiT forward: self-attention (projections and N^2 scores), cross-
        attention over the text, and the FFN, per block."""
        if self.family == "ltx":
            heads, head_dim, layers = (
                self.dit.get("num_attention_heads", 32),
                self.dit.get("attention_head_dim", 64),
                self.dit.get("num_layers", 28),
            )
            d = heads * head_dim
            f = 4 * d
        else:
            d = self.dit["num_attention_heads"] * self.dit["attention_head_dim"]
            f, layers = self.dit["ffn_dim"], self.dit["num_layers"]
        n, t = self.tokens, self.text_len
        block = 8 * n * d * d + 4 * n * n * d + 4 * n * d * d + 4 * t * d * d + 4 * n * t * d
        return layers * (block + 4 * n * d * f)


FULL = [
    Spec(
        "Wan2.1-T2V-1.3B",
        "wan",
        {
            **WAN_DIT,
            "num_attention_heads": 12,
            "in_channels": 16,
            "out_channels": 16,
            "ffn_dim": 8960,
            "num_layers": 30,
        },
        WAN21_VAE,
        UMT5_XXL,
        832,
        480,
        81,
        16,
        share=0.35,
        extra={"max_area": 832 * 480},
    ),
    Spec(
        "Wan2.2-TI2V-5B",
        "wan",
        {
            **WAN_DIT,
            "num_attention_heads": 24,
            "in_channels": 48,
            "out_channels": 48,
            "ffn_dim": 14336,
            "num_layers": 30,
        },
        WAN22_VAE,
        UMT5_XXL,
        1280,
        704,
        121,
        24,
        flow_shift=5.0,
        expand_timesteps=True,
        vae_stride=16,
        share=0.45,
        extra={"max_area": 1280 * 704, "size_multiple": 32, "fps": 24},
    ),
    Spec(
        "LTX-Video-2B",
        "ltx",
        {},  # LTXVideoTransformer3DModel's defaults are the 2B model
        {"timestep_conditioning": True},  # 0.9.1+ VAE
        T5_XXL,
        768,
        512,
        121,
        24,
        text_len=128,
        share=0.20,
    ),
]
TINY_TEXT = {"vocab_size": 32, "d_model": 32, "d_kv": 8, "d_ff": 32, "num_layers": 1,
             "num_heads": 4, "relative_attention_num_buckets": 8}  # fmt: skip
TINY_WAN_DIT = {**WAN_DIT, "num_attention_heads": 2, "attention_head_dim": 12, "in_channels": 16,
                "out_channels": 16, "text_dim": 32, "ffn_dim": 32, "num_layers": 2,
                "rope_max_seq_len": 32}  # fmt: skip
TINY = [
    Spec(
        "tiny-wan",
        "wan",
        TINY_WAN_DIT,
        {"base_dim": 3, "dim_mult": [1, 1, 1, 1], "num_res_blocks": 1},
        TINY_TEXT,
        48, 32, 9, 16,
        text_len=16,
        extra={"max_area": 48 * 32, "max_sequence_length": 16},
    ),
    Spec(
        "tiny-ltx",
        "ltx",
        {"in_channels": 8, "out_channels": 8, "num_attention_heads": 2, "attention_head_dim": 8,
         "cross_attention_dim": 16, "num_layers": 2, "caption_channels": 32},
        {"latent_channels": 8, "block_out_channels": (8, 8, 8, 8),
         "decoder_block_out_channels": (8, 8, 8, 8), "layers_per_block": (1, 1, 1, 1, 1),
         "decoder_layers_per_block": (1, 1, 1, 1, 1), "timestep_conditioning": True},
        TINY_TEXT,
        64, 32, 9, 24,
        text_len=16,
        extra={"max_area": 64 * 32, "max_sequence_length": 16},
    ),
]  # fmt: skip


# --- building random pipelines -------------------------------------------------------------


class Builder:
    """Random pipelines for one Spec: the text encoder and VAE built once and shared, a fresh
    transformer (same seed) for every load, as the engine would get from a folder."""

    def __init__(self, spec: Spec, device: str, dtype: Any):
        import torch

        self.spec, self.device, self.dtype = spec, device, dtype
        self.skip_decode = False
        with _defaults(device, dtype):
            torch.manual_seed(0)
            self.text_encoder = self._text_encoder()
            self.vae = self._vae()
        self.vae.to(torch.float32 if spec.family == "wan" else dtype)

    def _text_encoder(self) -> Any:
        from transformers import T5Config, T5EncoderModel, UMT5Config, UMT5EncoderModel

        if self.spec.family == "ltx":
            return T5EncoderModel(T5Config(**self.spec.text)).eval()
        return UMT5EncoderModel(UMT5Config(**self.spec.text)).eval()

    def _vae(self) -> Any:
        import torch
        from diffusers import AutoencoderKLLTXVideo, AutoencoderKLWan

        base = AutoencoderKLLTXVideo if self.spec.family == "ltx" else AutoencoderKLWan
        builder = self

        class StubbableVAE(base):  # per-option runs skip the decode (timed end to end)
            def decode(self, z: Any, *args: Any, **kwargs: Any) -> Any:
                if builder.skip_decode:
                    return (torch.zeros(1, 3, 1, 16, 16, device=z.device, dtype=z.dtype),)
                return super().decode(z, *args, **kwargs)

        StubbableVAE.__name__ = base.__name__
        return StubbableVAE(**self.spec.vae).eval()

    def transformer(self) -> Any:
        import torch
        from diffusers import LTXVideoTransformer3DModel, WanTransformer3DModel

        with _defaults(self.device, self.dtype):
            torch.manual_seed(1)
            if self.spec.family == "ltx":
                return LTXVideoTransformer3DModel(**self.spec.dit).eval()
            return WanTransformer3DModel(**self.spec.dit).eval()

    def pipeline(self) -> Any:
        from diffusers import (
            FlowMatchEulerDiscreteScheduler,
            LTXConditionPipeline,
            UniPCMultistepScheduler,
            WanPipeline,
        )

        from tests.tiny_wan import word_tokenizer

        common = {"tokenizer": word_tokenizer(), "text_encoder": self.text_encoder, "vae": self.vae}
        if self.spec.family == "ltx":
            return LTXConditionPipeline(
                scheduler=FlowMatchEulerDiscreteScheduler(),
                transformer=self.transformer(),
                **common,
            )
        scheduler = UniPCMultistepScheduler(
            prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=self.spec.flow_shift
        )
        return WanPipeline(
            scheduler=scheduler,
            transformer=self.transformer(),
            expand_timesteps=self.spec.expand_timesteps,
            **common,
        )

    def folder(self, root: Path) -> Path:
        """A folder holding only model_index.json: what the catalog checks at start-up."""
        path = root / self.spec.name
        path.mkdir(parents=True, exist_ok=True)
        index = {"_class_name": "LTXConditionPipeline" if self.spec.family == "ltx" else
                 "WanPipeline", "_diffusers_version": "0.42.1"}  # fmt: skip
        if self.spec.expand_timesteps:
            index["expand_timesteps"] = True
        (path / "model_index.json").write_text(json.dumps(index))
        return path


class _defaults:
    """Build modules straight on the device in the dtype (no CPU float32 copy first)."""

    def __init__(self, device: str, dtype: Any):
        self.device, self.dtype = device, dtype

    def __enter__(self) -> None:
        import torch

        self._dtype = torch.get_default_dtype()
        torch.set_default_device(self.device)
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc: Any) -> None:
        import torch

        torch.set_default_device(None)
        torch.set_default_dtype(self._dtype)


def bench_engine(builder: Builder) -> Any:
    """Reelforge's engine, loading the builder's random pipelines instead of a folder."""
    from reelforge.engines.diffusers.engine import DiffusersEngine

    class BenchEngine(DiffusersEngine):
        def _from_pretrained(self, path: str, torch_dtype: Any) -> Any:
            return builder.pipeline()

    return BenchEngine()


# --- measuring ---------------------------------------------------------------------------------


def sync() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.synchronize()


def matmul_peak(device: str) -> float:
    """Dense matmul TFLOP/s: 8192^3 bf16 on a GPU, 512^3 float32 on the CPU (smoke)."""
    import torch

    n, dtype, reps = (8192, torch.bfloat16, 50) if device == "cuda" else (512, torch.float32, 5)
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(3):
        a @ b
    sync()
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    sync()
    return 2 * n**3 * reps / (time.perf_counter() - start) / 1e12


@dataclass
class Row:
    label: str
    s_step: float | None
    guided: bool = True
    peak_gib: float | None = None
    note: str = ""


def per_step(run: Callable[[Callable[..., None]], None]) -> float:
    """Median seconds between step callbacks of one call (the first interval dropped: text
    encoding and set-up run before the first step)."""
    stamps: list[float] = []

    def stamp(*_: Any) -> None:
        sync()
        stamps.append(time.perf_counter())

    run(stamp)
    gaps = [b - a for a, b in zip(stamps, stamps[1:], strict=False)]
    return statistics.median(gaps) if gaps else float("nan")


def reset_peak() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float | None:
    import torch

    return torch.cuda.max_memory_allocated() / 2**30 if torch.cuda.is_available() else None


def free() -> None:
    import torch

    torch._dynamo.reset()  # compiled code holds the modules it guards
    if torch.cuda.is_available():  # (on the CPU the tiny models are not worth a collection)
        gc.collect()
        torch.cuda.empty_cache()


class Bench:
    def __init__(self, spec: Spec, builder: Builder, root: Path, steps: int, tiny: bool):
        self.spec, self.builder, self.steps, self.tiny = spec, builder, steps, tiny
        self.path = builder.folder(root)
        self.catalog_file = root / f"{spec.name}.toml"

    def plain(self) -> Row:
        """The plain diffusers pipeline, called as its docs show (CFG on, default attention)."""
        import torch

        pipe = self.builder.pipeline()
        pipe.set_progress_bar_config(disable=True)
        kw = dict(
            prompt="a red cat runs over the hill",
            height=self.spec.height,
            width=self.spec.width,
            num_frames=self.spec.frames,
            guidance_scale=5.0 if self.spec.family == "wan" else 3.0,
            max_sequence_length=self.spec.text_len,
            output_type="latent",
        )

        def run(stamp: Callable[..., None], steps: int) -> None:
            def on_step(p: Any, i: int, t: Any, tensors: dict) -> dict:
                stamp()
                return tensors

            with torch.inference_mode():
                pipe(num_inference_steps=steps, callback_on_step_end=on_step, **kw)

        run(lambda: None, 1)  # warm-up
        reset_peak()
        s = per_step(lambda stamp: run(stamp, self.steps))
        row = Row("plain diffusers pipeline", s, peak_gib=peak_gib())
        pipe.transformer = None  # let it go before the next model is built
        free()
        return row

    def model(self, label: str, options: dict[str, Any]) -> Any:
        """A catalog model for the benchmark shape (via a catalog file, as serve loads it)."""
        from reelforge.core.catalog import Catalog
        from tests.tiny_wan import model_toml

        entry = {
            "engine": "diffusers",
            "path": str(self.path),
            "family": self.spec.family,
            "modes": ["text-to-video"],
            "resolutions": ["480p", "720p"],
            "max_area": self.spec.width * self.spec.height,
            "fps": self.spec.fps,
            **self.spec.extra,
            **options,
        }
        self.catalog_file.write_text(model_toml(label, entry))
        return Catalog.load(self.catalog_file).get(label)

    def request(self, model: Any, **kw: Any) -> Any:
        from reelforge.engines.base import RenderRequest

        # a request whose native shape is the benchmark's (the engine fits max_area)
        values = dict(
            mode="text-to-video",
            prompt="a red cat runs over the hill",
            width=self.spec.width,
            height=self.spec.height,
            num_frames=round((self.spec.frames - 1) * 24 / self.spec.fps),
            seed=0,
            model=model,
        )
        return RenderRequest(**(values | kw))

    def option(self, label: str, options: dict[str, Any]) -> Row:
        """Reelforge's engine with `options`: a warm-up call (loads, compiles), then steps."""
        from reelforge.core.catalog import Catalog
        from reelforge.core.errors import JobError
        from reelforge.engines import check_catalog, check_machine

        model_id = re.sub(r"[^a-z0-9_.]+", "-", label.lower()).strip("-")
        model = self.model(model_id, {"guidance_scale": 5.0 if self.spec.family == "wan" else 3.0,
                                      **options})  # fmt: skip
        guided = model.options["guidance_scale"] > 1
        try:
            check_catalog(Catalog([model]))  # as serve/worker do at start-up
            check_machine(Catalog([model]))
        except Exception as exc:  # noqa: BLE001 - a refusal is a result here
            return Row(label, None, guided, note=f"refused: {exc}")
        engine = bench_engine(self.builder)
        self.builder.skip_decode = True
        try:
            engine.render(self.request(model), steps=1)  # loads, compiles
            reset_peak()
            s = per_step(
                lambda stamp: engine.render(
                    self.request(model, progress=lambda d, t: stamp()), steps=self.steps
                )  # fmt: skip
            )
            return Row(label, s, guided, peak_gib=peak_gib())
        except JobError as exc:
            return Row(label, None, guided, note=f"failed: {exc.message}")
        finally:
            self.builder.skip_decode = False
            engine._models.clear()  # let its weights go before the next option loads
            engine._weights.clear()
            free()

    def end_to_end(self, options: dict[str, Any]) -> dict[str, Any]:
        """5 s of 480p 16:9 at 4 steps, no guidance, through the engine and the MP4 encoder."""
        from reelforge.core.sizes import frame_size
        from reelforge.engines.base import Timings
        from reelforge.media.encode import encode_clip

        model = self.model("e2e", {**options, "steps": 4, "guidance_scale": 1.0,
                                   "max_area": min(self.spec.width * self.spec.height,
                                                   832 * 480)})  # fmt: skip
        engine = bench_engine(self.builder)
        width, height = frame_size("16:9", "480p")
        seconds = 1 if self.tiny else 5
        request = self.request(model, width=width, height=height, num_frames=seconds * 24)
        self.builder.skip_decode = True
        engine.render(request, steps=1)  # loads and compiles (the decoder is not compiled)
        self.builder.skip_decode = False
        timings = Timings()
        request = self.request(  # a new prompt: the text encoder runs, as for a new job
            model,
            prompt="the blue bird flies over the sea",
            width=width,
            height=height,
            num_frames=seconds * 24,
            timings=timings,
        )
        out = Path(tempfile.mkdtemp()) / "e2e.mp4"
        reset_peak()
        start = time.perf_counter()
        clip = engine.render(request)
        with timings.stage("mp4_encode"):
            encode_clip(clip, request, str(out), lambda d, t: None)
        sync()
        wall = time.perf_counter() - start
        out.unlink()
        engine._models.clear()
        engine._weights.clear()
        free()
        return {"seconds": round(wall, 3), "stages": timings.as_dict(), "peak_gib": peak_gib(),
                "clip_s": seconds}  # fmt: skip


def option_sets(device: str) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """Each option alone, and the combinations, for this device."""
    gpu = device == "cuda"
    attention = "_native_cudnn" if gpu else "_native_math"
    backend = "inductor" if gpu else "eager"
    quant = "fp8_dynamic" if gpu else "int8_weight"
    blocks = {"compile": "blocks", "compile_backend": backend}
    alone = [
        (f"attention {attention}", {"attention": attention}),
        (f"compile blocks ({backend})", {"attention": "native", **blocks}),
        (f"quantize {quant}", {"attention": "native", "quantize": quant}),
        ("fp8_storage", {"attention": "native", "fp8_storage": True}),
        ("cache first_block 0.1", {"attention": "native",
                                   "cache": {"kind": "first_block", "threshold": 0.1}}),
        ("guidance 1.0 (no CFG)", {"attention": "native", "guidance_scale": 1.0}),
    ]  # fmt: skip
    combined = [
        (f"best: {attention} + blocks", {"attention": attention, **blocks}),
        (f"best: {attention} + blocks + {quant}",
         {"attention": attention, **blocks, "quantize": quant}),
        ("distilled: best + guidance 1.0",
         {"attention": attention, **blocks, "quantize": quant, "guidance_scale": 1.0}),
    ]  # fmt: skip
    if not gpu:  # the CPU refuses FP8 compute: show the refusal rather than hide the option
        alone.append(("quantize fp8_dynamic", {"quantize": "fp8_dynamic"}))
    return alone, combined


def report(spec: Spec, peak: float, rows: list[Row], e2e: dict | None, tiny: bool) -> dict:
    plain = rows[0].s_step
    flops = spec.flops()
    unit = "TFLOP/s"
    print(
        f"\n== {spec.name}: {spec.width}x{spec.height}, {spec.frames} frames, {spec.tokens:,}"
        f" tokens, {flops / 1e12:,.2f} TFLOP per DiT forward =="
    )
    print(f"{'':44} {'s/step':>8} {'x plain':>8} {unit:>9} {'% peak':>7} {'peak GiB':>9}")
    out = []
    for row in rows:
        if row.s_step is None:
            print(f"{row.label:44} {row.note}")
            out.append({"label": row.label, "note": row.note})
            continue
        forward = row.s_step / (2 if row.guided else 1)
        achieved = flops / forward / 1e12
        mem = f"{row.peak_gib:9.1f}" if row.peak_gib is not None else f"{'-':>9}"
        ratio = row.s_step / plain if plain else float("nan")
        print(
            f"{row.label:44} {row.s_step:8.3f} {ratio:8.2f} {achieved:9.1f}"
            f" {100 * achieved / peak:6.1f}% {mem}"
        )
        out.append({"label": row.label, "s_step": round(row.s_step, 4), "x_plain": round(ratio, 3),
                    "tflops": round(achieved, 2), "peak_fraction": round(achieved / peak, 3),
                    "peak_gib": row.peak_gib})  # fmt: skip
    if e2e is not None:
        stages = ", ".join(f"{k} {v:.2f}" for k, v in e2e["stages"].items())
        print(
            f"end to end, {e2e['clip_s']} s of 480p at 4 steps, no CFG: {e2e['seconds']:.2f} s"
            f" ({stages})"
        )
    return {"model": spec.name, "tokens": spec.tokens, "tflop_per_forward": flops / 1e12,
            "rows": out, "end_to_end": e2e}  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tiny", action="store_true", help="tiny configs on the CPU (smoke)")
    parser.add_argument("--models", help="comma-separated names (default: all)")
    parser.add_argument("--steps", type=int, help="timed steps per call (4; --tiny: 3)")
    parser.add_argument("--budget-s", type=float, default=450, help="options past it are skipped")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    ensure_packages()
    import torch

    started = time.monotonic()
    args.steps = args.steps or (3 if args.tiny else 4)
    device = "cuda" if torch.cuda.is_available() and not args.tiny else "cpu"
    if device == "cpu":
        torch.set_num_threads(1)  # tiny matrices: threads only contend
    if not args.tiny and device != "cuda":
        sys.exit("no CUDA device: run with --tiny for the CPU smoke")
    dtype = torch.bfloat16 if device == "cuda" else torch.float32
    specs = TINY if args.tiny else FULL
    if args.models:
        wanted = args.models.split(",")
        specs = [s for s in specs if s.name in wanted]
    gpu = torch.cuda.get_device_name() if device == "cuda" else "CPU"
    print(f"device: {gpu}; torch {torch.__version__}", end="")
    import diffusers

    print(f"; diffusers {diffusers.__version__}")
    peak = matmul_peak(device)
    precision = "bf16" if device == "cuda" else "fp32"
    print(f"measured dense matmul peak: {peak:.3g} TFLOP/s ({precision})")
    alone, combined = option_sets(device)
    results = {"device": gpu, "matmul_peak_tflops": round(peak, 2), "models": []}
    root = Path(tempfile.mkdtemp(prefix="bench-wan-"))
    deadline = started
    for spec in specs:
        deadline += args.budget_s * spec.share
        builder = Builder(spec, device, dtype)
        bench = Bench(spec, builder, root, args.steps, args.tiny)
        rows = [bench.plain()]
        for label, options in combined + alone:  # the combinations first, if time runs short
            if time.monotonic() > deadline:
                rows.append(Row(label, None, note="skipped: over this model's time budget"))
                continue
            rows.append(bench.option(label, options))
        best = combined[1][1] if not args.tiny else combined[0][1]
        e2e = bench.end_to_end({k: v for k, v in best.items() if k != "guidance_scale"})
        results["models"].append(report(spec, peak, rows, e2e, args.tiny))
        del builder, bench
        free()
    took = time.monotonic() - started
    print(f"\ntotal {took:.0f} s")
    results["total_s"] = round(took, 1)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
