"""The diffusers engine's speed options on tiny random models (CPU): each gives the output it
should (caches that never skip change nothing, LoRA scale 0 is the base, two attention backends
agree, FP8 storage stays close), nothing leaks between jobs, compiled blocks have no graph
break and do not recompile for a job of the same shape, and a bad option names its key."""

from __future__ import annotations

import dataclasses
import time

import numpy as np
import pytest
import torch
from safetensors.torch import save_file
from torch._dynamo.utils import counters

from reelforge.core.catalog import Catalog, CatalogError
from reelforge.engines import check_catalog, check_machine
from reelforge.engines.diffusers.engine import DiffusersEngine
from tests.test_diffusers import solid
from tests.tiny_wan import model_toml

STEPS = 3


def variant(catalog, base: str, name: str, **options):
    """`base`'s catalog model under another id with other engine options."""
    model = catalog.get(base)
    return dataclasses.replace(model, id=name, options={**model.options, **options})


def native(engine, model, mode="text-to-video", **kw) -> np.ndarray:
    """The model's own frames (before resampling) for a short 480p job."""
    kw.setdefault("num_frames", 8)
    return engine.render(request_for(model, mode, **kw)).native


def request_for(model, mode, **kw):
    from reelforge.engines.base import RenderRequest

    kw.setdefault("prompt", "a red cat")
    kw.setdefault("seed", 3)
    return RenderRequest(mode=mode, width=848, height=480, model=model, **kw)


def source_video(n=8):
    frames = [solid((20 * i % 255, 90, 160), 96, 64) for i in range(n)]
    return lambda: iter(frames)


# --- feature caches --------------------------------------------------------------------------

NEVER_SKIP = {
    "first_block": {"threshold": 0},
    "taylorseer": {"cache_interval": 1, "disable_cache_before_step": 100},
    "magcache": {"threshold": 0, "max_skip_steps": 0, "mag_ratios": [1.0] * STEPS},
    "pab": {"spatial_attention_block_skip_range": 1},
    "faster": {"spatial_attention_block_skip_range": 1, "unconditional_batch_skip_range": 1},
}


@pytest.mark.parametrize("kind", sorted(NEVER_SKIP))
def test_a_cache_that_never_skips_changes_nothing(catalog, kind):
    engine = DiffusersEngine()
    cache = {"kind": kind, **NEVER_SKIP[kind]}
    guidance = 1.0 if kind in ("pab", "faster") else 3.0  # (these two: Wan without guidance)
    plain = variant(catalog, "tiny-t2v", "plain", steps=STEPS, guidance_scale=guidance)
    cached = variant(
        catalog, "tiny-t2v", "cached", steps=STEPS, guidance_scale=guidance, cache=cache
    )
    assert np.array_equal(native(engine, cached), native(engine, plain))
    assert engine._models["cached"].weights is engine._models["plain"].weights  # one copy


def test_edits_and_ltx_work_with_a_cache(catalog):
    """WanVideoToVideoPipeline enters no cache context itself: the engine gives it one per
    branch, so an edit with a cache renders (and equals the uncached edit at threshold 0)."""
    engine = DiffusersEngine()
    fbc = {"kind": "first_block", "threshold": 0}
    taylor = {"kind": "taylorseer", **NEVER_SKIP["taylorseer"]}  # (FBC needs 2+ blocks)
    for base, mode, extra, cache in (
        ("tiny-t2v", "edit", {"source_frames": source_video()}, fbc),
        ("tiny-ltx", "text-to-video", {}, taylor),
    ):
        options = {"steps": STEPS, "guidance_scale": 3.0}
        plain = variant(catalog, base, f"{base}-plain", **options)
        cached = variant(catalog, base, f"{base}-cached", **options, cache=cache)
        want = native(engine, plain, mode, **extra)
        assert np.array_equal(native(engine, cached, mode, **extra), want), base


def test_no_cache_state_leaks_from_one_job_into_the_next(catalog):
    fbc = {"kind": "first_block", "threshold": 0.5}  # skips: the cache does change the output
    model = variant(catalog, "tiny-t2v", "fbc", steps=4, guidance_scale=3.0, cache=fbc)
    plain = variant(catalog, "tiny-t2v", "plain", steps=4, guidance_scale=3.0)
    jobs = [
        {"prompt": "a red cat runs", "seed": 1},
        {"prompt": "the blue bird flies over the sea", "seed": 2, "num_frames": 20},
    ]
    fresh = [native(DiffusersEngine(), model, **job) for job in jobs]
    assert not np.array_equal(fresh[0], native(DiffusersEngine(), plain, **jobs[0]))

    engine = DiffusersEngine()

    class Cancelled(Exception):
        pass

    def cancel(done, total):
        if done == 2:
            raise Cancelled()

    with pytest.raises(Cancelled):  # a job stopped half-way leaves its features behind...
        native(engine, model, prompt="a dog walks under the hill", progress=cancel)
    for job, want in zip(jobs, fresh, strict=True):  # ...and none reach the next jobs
        assert np.array_equal(native(engine, model, **job), want)


# --- LoRA ------------------------------------------------------------------------------------


def lightx2v_lora(path, blocks=2, dim=24, ffn=32, rank=4):
    """A LoRA in the layout lightx2v and CausVid publish (original Wan module names, not
    diffusers'), as load_lora_weights must convert it."""
    gen = torch.Generator().manual_seed(5)
    tensors = {}

    def linear(name, fan_in, fan_out):
        key = f"diffusion_model.{name}"
        tensors[f"{key}.lora_down.weight"] = torch.randn(rank, fan_in, generator=gen) * 0.5
        tensors[f"{key}.lora_up.weight"] = torch.randn(fan_out, rank, generator=gen) * 0.5
        tensors[f"{key}.alpha"] = torch.tensor(float(rank))

    for b in range(blocks):
        for attn in ("self_attn", "cross_attn"):
            for proj in "qkvo":
                linear(f"blocks.{b}.{attn}.{proj}", dim, dim)
        linear(f"blocks.{b}.ffn.0", dim, ffn)
        linear(f"blocks.{b}.ffn.2", ffn, dim)
    save_file(tensors, str(path))
    return str(path)


def test_a_lightx2v_lora_loads_changes_the_output_and_scale_0_is_the_base(catalog, tmp_path):
    path = lightx2v_lora(tmp_path / "lightx2v.safetensors")
    engine = DiffusersEngine()
    base = variant(catalog, "tiny-t2v", "base")
    fast = variant(catalog, "tiny-t2v", "fast", lora=[{"path": path, "scale": 1.0}])
    off = variant(catalog, "tiny-t2v", "off", lora=[{"path": path, "scale": 0.0}])
    fused = variant(catalog, "tiny-t2v", "fused", lora=[{"path": path}], lora_fuse=True)
    want = native(engine, base)
    with_lora = native(engine, fast)
    assert np.abs(with_lora.astype(int) - want).mean() > 5  # the LoRA changes the video
    assert np.array_equal(native(engine, off), want)  # scale 0: the base exactly
    assert np.array_equal(native(engine, base), want)  # the alias's adapter is off again
    assert np.abs(native(engine, fused).astype(int) - with_lora).max() <= 1  # fused == unfused
    # base, fast and off share one copy of the weights; the fused model has its own
    shared = engine._models["base"].weights
    assert engine._models["fast"].weights is shared and engine._models["off"].weights is shared
    assert engine._models["fused"].weights is not shared
    assert len(engine._weights) == 2


def test_models_sharing_weights_keep_their_own_schedule(catalog):
    engine = DiffusersEngine()
    shifted = variant(catalog, "tiny-t2v", "shifted", flow_shift=7.0, scheduler="unipc")
    native(engine, shifted)
    native(engine, variant(catalog, "tiny-t2v", "folder"))  # the folder's scheduler, as saved
    used = engine._models["folder"].weights.base.scheduler
    assert type(used).__name__ == "FlowMatchEulerDiscreteScheduler" and used.config.shift == 3.0
    assert engine._models["shifted"].scheduler.config.flow_shift == 7.0


def test_a_file_that_is_not_a_lora_fails_its_jobs_clearly(catalog, tmp_path):
    from reelforge.core.errors import JobError

    bad = tmp_path / "notes.safetensors"
    bad.write_bytes(b"not a LoRA")
    model = variant(catalog, "tiny-t2v", "bad-lora", lora=[{"path": str(bad)}])
    with pytest.raises(JobError) as failed:
        native(DiffusersEngine(), model)
    assert failed.value.code == "failed_precondition"
    assert "'bad-lora': its lora/cache/attention could not be set up" in failed.value.message


# --- compilation -----------------------------------------------------------------------------


def test_compiled_blocks_run_every_mode_without_graph_breaks_or_recompiles(catalog):
    """compile = "blocks" with fullgraph=True raises on any graph break; a second job of the
    same shape compiles nothing new, and the warm-up compiles before the first job."""
    engine = DiffusersEngine()
    compiled = {"compile": "blocks", "compile_backend": "eager"}
    image = solid((200, 40, 40))
    jobs = [
        ("tiny-t2v", "text-to-video", {}),
        ("tiny-t2v", "edit", {"source_frames": source_video()}),
        ("tiny-i2v", "image-to-video", {"image": image, "last_frame": image}),
        ("tiny-vace", "reference-to-video", {"reference_images": (image,)}),
        ("tiny-ltx", "image-to-video", {"image": image}),
    ]
    torch._dynamo.reset()
    counters.clear()
    for base, mode, extra in jobs:
        model = variant(catalog, base, f"{base}-compiled", **compiled)
        native(engine, model, mode, **extra)
        graphs = counters["stats"]["unique_graphs"]
        native(engine, model, mode, **extra)
        assert counters["stats"]["unique_graphs"] == graphs, f"{mode} on {base} recompiled"
    assert not counters["graph_break"]


def test_warm_up_compiles_each_resolution_before_the_first_job(catalog):
    engine = DiffusersEngine()
    model = variant(catalog, "tiny-t2v", "warm", compile="blocks", compile_backend="eager")
    torch._dynamo.reset()
    counters.clear()
    took = engine.warm_up(model)
    assert list(took) == ["480p"]
    graphs = counters["stats"]["unique_graphs"]
    assert graphs > 0
    # a user's job of the shape warmed up (16:9 480p, the longest duration): nothing to compile
    seconds = max(hi for _, hi in model.durations.values())
    native(engine, model, num_frames=int(seconds * 24))
    assert counters["stats"]["unique_graphs"] == graphs
    assert engine.warm_up(variant(catalog, "tiny-t2v", "not-compiled")) == {}  # not asked for


def test_compiled_blocks_with_a_cache_and_full_compile(catalog):
    engine = DiffusersEngine()
    plain = native(engine, variant(catalog, "tiny-t2v", "plain", guidance_scale=3.0))
    fbc = {"kind": "first_block", "threshold": 0}
    both = variant(
        catalog,
        "tiny-t2v",
        "both",
        guidance_scale=3.0,
        compile="blocks",
        compile_backend="eager",
        cache=fbc,
    )
    assert np.array_equal(native(engine, both), plain)
    full = variant(
        catalog, "tiny-t2v", "full", guidance_scale=3.0, compile="full", compile_backend="eager"
    )
    assert np.abs(native(engine, full).astype(int) - plain).max() <= 1


# --- attention and precision ------------------------------------------------------------------


def test_two_cpu_attention_backends_agree(catalog):
    engine = DiffusersEngine()
    sdpa = native(engine, variant(catalog, "tiny-t2v", "sdpa", attention="native"))
    math = native(engine, variant(catalog, "tiny-t2v", "math", attention="_native_math"))
    assert engine._models["math"].weights is engine._models["sdpa"].weights
    assert np.abs(sdpa.astype(int) - math).max() <= 1
    assert engine._models["sdpa"].attention == "native"
    auto = variant(catalog, "tiny-t2v", "auto")
    native(engine, auto)
    assert engine._models["auto"].attention == "native"  # the CPU default


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def test_fp8_storage_stays_close_to_bfloat16_and_int8_runs(catalog):
    engine = DiffusersEngine()
    bf16 = native(engine, variant(catalog, "tiny-t2v", "bf16", dtype="bfloat16"))
    fp8 = variant(catalog, "tiny-t2v", "fp8", dtype="bfloat16", fp8_storage=True)
    stored = native(engine, fp8)
    assert engine._models["fp8"].weights.base.transformer.blocks[0].ffn.net[2].weight.dtype == (
        torch.float8_e4m3fn
    )
    assert psnr(stored, bf16) > 30, psnr(stored, bf16)
    int8 = native(engine, variant(catalog, "tiny-t2v", "int8", quantize="int8_weight"))
    fp32 = native(engine, variant(catalog, "tiny-t2v", "fp32"))
    assert psnr(int8, fp32) > 30, psnr(int8, fp32)


# --- prompt cache ------------------------------------------------------------------------------


def test_a_prompt_cache_hit_skips_the_text_encoder(catalog):
    engine = DiffusersEngine()
    model = variant(catalog, "tiny-t2v", "lru", prompt_cache=1, guidance_scale=3.0)
    native(engine, model, prompt="a red cat")
    encoder = engine._models["lru"].weights.base.text_encoder
    calls = []
    hook = encoder.register_forward_hook(lambda *a: calls.append(1))
    try:
        native(engine, model, prompt="a red cat", seed=9)
        assert calls == []  # prompt and (empty) negative prompt from the cache
        native(engine, model, prompt="a blue dog")
        assert len(calls) == 2  # prompt and negative prompt
        native(engine, model, prompt="a red cat")  # evicted: the cache holds one entry
        assert len(calls) == 4
        off = variant(catalog, "tiny-t2v", "no-lru", prompt_cache=0, guidance_scale=3.0)
        native(engine, off, prompt="a red cat")
        native(engine, off, prompt="a red cat")
        assert len(calls) == 8
    finally:
        hook.remove()


# --- options refused at start-up ----------------------------------------------------------------


BAD_OPTIONS = [
    ({"lora": [{"path": "/nowhere.safetensors"}]}, r"\.lora\[0\]\.path: /nowhere"),
    ({"lora": [{"path": __file__, "into": "unet"}]}, r"\.lora\[0\]\.into"),
    ({"lora": [{"path": __file__, "scale": "x"}]}, r"\.lora\[0\]\.scale"),
    ({"lora": [{"path": __file__, "rank": 4}]}, r"\.lora\[0\]: unknown key"),
    ({"scheduler": "ddim"}, r"\.scheduler: 'ddim'"),
    ({"timesteps": [1000, 500]}, r"\.timesteps: Wan pipelines take no explicit timesteps"),
    ({"compile": "yes"}, r"\.compile: 'yes'"),
    ({"cache": {"kind": "teacache"}}, r"\.cache\.kind: 'teacache'"),
    (
        {"cache": {"kind": "first_block", "treshold": 0.1}},
        r"\.cache: unknown key\(s\) \['treshold'",
    ),
    ({"cache": {"kind": "first_block", "threshold": -1}}, r"\.cache\.threshold: must not be neg"),
    ({"cache": {"kind": "magcache"}}, r"\.cache\.mag_ratios: MagCache needs"),
    ({"cache": {"kind": "first_block"}, "compile": "full"}, r"\.cache: the cache hooks run"),
    ({"cache": {"kind": "pab"}, "guidance_scale": 5.0}, r"\.cache\.kind: 'pab' needs guidance"),
    ({"quantize": "fp4"}, r"\.quantize: 'fp4'"),
    ({"quantize": "int8_weight", "fp8_storage": True}, r"\.fp8_storage: cannot be combined"),
    ({"prompt_cache": -1}, r"\.prompt_cache"),
    ({"attention": 3}, r"\.attention: expected str"),
]
RUNTIME_REFUSALS = [
    ({"attention": "sdpa"}, r"\.attention: 'sdpa' is not a diffusers backend"),
    ({"attention": "flash"}, r"\.attention: 'flash' needs a CUDA device"),
    ({"attention": "_native_cudnn"}, r"\.attention: '_native_cudnn' needs a CUDA device"),
    ({"attention": "flash_hub"}, r"\.attention: 'flash_hub' downloads its kernel"),
    ({"quantize": "fp8_dynamic"}, r"\.quantize: 'fp8_dynamic' needs a CUDA GPU with FP8"),
    ({"compile": "blocks", "compile_backend": "tensorrt"}, r"\.compile_backend: 'tensorrt'"),
    ({"device": "cuda:1"}, r"\.device: 'cuda:1' but torch sees no CUDA device"),
]


def entry(tiny_models, options: dict) -> str:
    base = {"engine": "diffusers", "modes": ["text-to-video"], "path": str(tiny_models["t2v"])}
    return model_toml("m", base | options)


def start_up_checks(catalog: Catalog) -> None:
    """What `serve` and `worker` run before they start (reelforge.server.open_backend)."""
    check_catalog(catalog)
    check_machine(catalog)


@pytest.mark.parametrize("options,message", BAD_OPTIONS + RUNTIME_REFUSALS)
def test_every_invalid_option_is_refused_naming_its_key(tiny_models, tmp_path, options, message):
    path = tmp_path / "c.toml"
    path.write_text(entry(tiny_models, options))
    with pytest.raises(CatalogError, match=rf"models\.m{message}"):
        start_up_checks(Catalog.load(path))


def test_devices_must_be_gpus_this_machine_has(tiny_models, tmp_path, monkeypatch):
    """`--devices` on a machine with two GPUs (torch.cuda stood in for: the suite has none)."""
    path = tmp_path / "c.toml"
    path.write_text(entry(tiny_models, {}))
    catalog = Catalog.load(path)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    with pytest.raises(CatalogError, match=r"models\.m: --devices 1,2 names GPU 2, but this"):
        check_machine(catalog, ["1", "2"])
    from reelforge.engines.diffusers import checks

    checks._check_devices("models.m", "auto", ["0", "1"])  # both there


def test_good_speed_options_pass_validation(tiny_models, tmp_path, catalog):
    path = tmp_path / "c.toml"
    options = {
        "lora": [{"path": __file__, "scale": 0.5}],
        "attention": "_native_math",
        "compile": "blocks",
        "compile_backend": "aot_eager",
        "cache": {"kind": "taylorseer", "cache_interval": 4},
        "quantize": "int8_weight",
        "lora_fuse": True,
        "scheduler": "unipc",
        "flow_shift": 5.0,
        "vae_slicing": True,
    }
    path.write_text(entry(tiny_models, options))
    start_up_checks(Catalog.load(path))
    ltx = variant(catalog, "tiny-ltx", "ltx-distilled", steps=4, timesteps=[1000, 993, 987, 981])
    start_up_checks(Catalog([ltx]))
    engine = DiffusersEngine()
    start = time.perf_counter()
    seen = []
    native(engine, ltx, progress=lambda d, t: seen.append((d, t)))
    assert seen[-1] == (4, 4) and time.perf_counter() - start < 30  # the 4 given timesteps
