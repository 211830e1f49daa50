"""The diffusers engine in-process: shapes, catalog options, and what reaches the pipelines.

The spies wrap the pipelines' own internal steps (the VACE conditioning preprocessor, the
image-to-video and LTX latent preparation), so they see what the model is actually given.
"""

from __future__ import annotations

import dataclasses
import inspect
import subprocess
import sys

import numpy as np
import pytest
import torch

from reelforge.core.catalog import Catalog, CatalogError
from reelforge.core.errors import JobError
from reelforge.engines import check_catalog
from reelforge.engines.base import RenderRequest
from reelforge.engines.diffusers import shapes
from reelforge.engines.diffusers.engine import DiffusersEngine
from reelforge.media.fit import fit_image
from tests.tiny_wan import catalog_toml


@pytest.fixture(scope="module")
def engine() -> DiffusersEngine:
    return DiffusersEngine()


def request(catalog: Catalog, model: str, mode: str, **kw) -> RenderRequest:
    kw.setdefault("num_frames", 24)
    return RenderRequest(
        mode=mode, prompt="a red cat", width=848, height=480, seed=3, model=catalog.get(model), **kw
    )


def solid(rgb, width=64, height=48) -> np.ndarray:
    image = np.empty((height, width, 3), np.uint8)
    image[:] = rgb
    return image


# --- shapes ------------------------------------------------------------------------------


def test_native_shape_and_resampling():
    assert shapes.render_size(848, 480, 832 * 480, 16) == (832, 480)  # Wan 480p's own size
    assert shapes.render_size(480, 848, 832 * 480, 16) == (480, 832)
    assert shapes.render_size(1280, 720, 832 * 480, 16) in ((848, 464), (832, 480))
    assert shapes.render_size(320, 180, 832 * 480, 16) == (320, 176)  # never above the output
    assert shapes.render_size(848, 480, 48 * 32, 16) == (48, 32)
    for w, h in [(848, 480), (720, 1080), (480, 480)]:
        rw, rh = shapes.render_size(w, h, 704 * 1280, 32)
        assert rw % 32 == 0 and rh % 32 == 0 and rw * rh <= 704 * 1280
    assert shapes.native_frames(120, 24, 16) == 81  # 5 s: Wan's 81 frames
    assert shapes.native_frames(24, 24, 16) == 17
    assert shapes.native_frames(24, 24, 24) == 25
    assert shapes.native_frames(1, 24, 16) == 5
    assert all(shapes.native_frames(n, 24, 16) % 4 == 1 for n in range(1, 400))
    assert shapes.at_least_native(21) == 21 and shapes.at_least_native(22) == 25
    native = [np.full((8, 8, 3), j, np.uint8) for j in range(17)]
    pin = np.full((480, 848, 3), 200, np.uint8)
    out = list(shapes.resample(native, 24, 848, 480, {5: pin}))
    assert len(out) == 24 and out[0].shape == (480, 848, 3)
    assert out[0][0, 0, 0] == 0 and out[-1][0, 0, 0] == 16  # ends aligned
    assert out[5] is pin
    steps = [int(f[0, 0, 0]) for i, f in enumerate(out) if i != 5]
    assert steps == sorted(steps)


# --- catalog -------------------------------------------------------------------------------


def test_catalog_checks_diffusers_options_at_load(tiny_models, tmp_path):
    def load(text: str) -> Catalog:
        path = tmp_path / "c.toml"
        path.write_text(text)
        catalog = Catalog.load(path)
        check_catalog(catalog)  # the engines check their own keys (as serve and worker do)
        return catalog

    head = '[models."m"]\nengine = "diffusers"\n'
    with pytest.raises(CatalogError, match="path"):
        load(head + 'modes = ["text-to-video"]\n')
    with pytest.raises(CatalogError, match=r"unknown key\(s\) \['stepz'\]"):
        load(head + f'path = "{tiny_models["t2v"]}"\nmodes = ["text-to-video"]\nstepz = 3\n')
    with pytest.raises(CatalogError, match="steps: expected int"):
        load(head + f'path = "{tiny_models["t2v"]}"\nmodes = ["text-to-video"]\nsteps = "3"\n')
    with pytest.raises(CatalogError, match="cpu_offload"):
        load(
            head + f'path = "{tiny_models["t2v"]}"\nmodes = ["text-to-video"]\ncpu_offload = "x"\n'
        )
    with pytest.raises(CatalogError, match=r"WanPipeline cannot do \['image-to-video'\]"):
        load(head + f'path = "{tiny_models["t2v"]}"\nmodes = ["image-to-video"]\n')
    with pytest.raises(CatalogError, match="keyframes need a WanVACEPipeline"):
        load(
            head + f'path = "{tiny_models["i2v"]}"\nmodes = ["image-to-video"]\nmax_keyframes = 2\n'
        )
    # the minimal entry loads (contract durations, free), and an alias takes a name over
    catalog = load(
        head + f'path = "{tiny_models["t2v"]}"\nmodes = ["text-to-video"]\n'
        'aliases = ["grok-imagine-video"]\n'
    )
    model = catalog.get("grok-imagine-video")
    assert model.id == "m" and model.engine == "diffusers"
    assert model.durations["text-to-video"] == (1.0, 15.0)
    assert "grok-imagine-video" not in catalog.models and "grok-imagine-video-1.5" in catalog.models
    assert model.options["path"] == str(tiny_models["t2v"])


# --- what reaches the pipelines ------------------------------------------------------------


def test_progress_is_reported_per_denoising_step(catalog, engine):
    seen = []
    clip = engine.render(
        request(catalog, "tiny-t2v", "text-to-video", progress=lambda d, t: seen.append((d, t)))
    )
    assert seen == [(1, 2), (2, 2)]
    frames = list(clip.frames())
    assert len(frames) == 24 and frames[0].shape == (480, 848, 3) and clip.audio() is None


def test_cancel_raises_through_between_steps(catalog, engine):
    class Cancelled(Exception):
        pass

    seen = []

    def progress(done, total):
        seen.append(done)
        raise Cancelled()

    with pytest.raises(Cancelled):
        engine.render(request(catalog, "tiny-t2v", "text-to-video", progress=progress))
    assert seen == [1]  # stopped after the first step, not converted into a job error


def test_a_requests_negative_prompt_reaches_the_pipeline(catalog, engine, monkeypatch):
    pipe = engine._pipe(engine._model("tiny-t2v", catalog.get("tiny-t2v").options), "t2v")
    got = []
    original = pipe.encode_prompt

    def spy(*args, **kwargs):
        # (the engine's own wrapper, the prompt cache, takes *args, **kwargs; diffusers passes
        # keywords)
        got.append(kwargs["negative_prompt"])
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe, "encode_prompt", spy)
    engine.render(request(catalog, "tiny-t2v", "text-to-video", negative_prompt="blurry, cats"))
    engine.render(request(catalog, "tiny-t2v", "text-to-video"))
    assert got == ["blurry, cats", None]  # the catalog's (none here) when the request has none


def test_vace_gets_the_pins_in_its_video_and_mask(catalog, engine, monkeypatch):
    pipe = engine._pipe(engine._model("tiny-vace", catalog.get("tiny-vace").options), "vace")
    got = {}
    original = pipe.preprocess_conditions

    def spy(*args, **kwargs):
        video, mask, refs = original(*args, **kwargs)
        got.update(video=video, mask=mask, refs=refs)
        return video, mask, refs

    monkeypatch.setattr(pipe, "preprocess_conditions", spy)
    first, key, last = solid((250, 0, 0)), solid((0, 250, 0)), solid((0, 0, 250))
    clip = engine.render(
        request(
            catalog,
            "tiny-vace",
            "image-to-video",
            image=first,
            keyframes=((12, key),),
            last_frame=last,
            reference_images=(solid((200, 200, 0), 30, 30),),
        )
    )
    mask = got["mask"][0, 0, :, 0, 0]  # (frames,) of the first pixel; 0 = keep, 1 = generate
    pinned = [j for j in range(len(mask)) if mask[j] < 0.5]
    assert pinned == [0, 8, 16]  # output 0, 12 (of 24) and 23 at 17 native frames
    colours = {0: (1, -1, -1), 8: (-1, 1, -1), 16: (-1, -1, 1)}
    for j, rgb in colours.items():
        pixel = got["video"][0, :, j, 16, 24].tolist()  # [-1, 1]
        assert np.allclose(pixel, rgb, atol=0.05), (j, pixel)
    assert abs(float(got["video"][0, 0, 4].mean())) < 0.01  # unpinned: grey
    assert len(got["refs"][0]) == 1
    frames = list(clip.frames())
    for i, image in ((0, first), (12, key), (23, last)):
        assert np.array_equal(frames[i], fit_image(image, 848, 480))


def test_image_to_video_gets_the_first_and_last_image(catalog, engine, monkeypatch):
    pipe = engine._pipe(engine._model("tiny-i2v", catalog.get("tiny-i2v").options), "i2v")
    got = {}
    original = pipe.prepare_latents

    def spy(*args, **kwargs):
        bound = inspect.signature(original).bind(*args, **kwargs).arguments
        got.update(image=bound["image"], last_image=bound["last_image"])
        latents, condition = original(*args, **kwargs)
        got["mask"] = condition[0, :4, :, 0, 0]  # the 4 mask channels per latent frame
        return latents, condition

    monkeypatch.setattr(pipe, "prepare_latents", spy)
    engine.render(
        request(
            catalog,
            "tiny-i2v",
            "image-to-video",
            image=solid((250, 0, 0)),
            last_frame=solid((0, 0, 250)),
        )
    )
    assert got["image"][0, :, 16, 24].tolist() == pytest.approx([0.96, -1, -1], abs=0.05)
    assert got["last_image"][0, :, 16, 24].tolist() == pytest.approx([-1, -1, 0.96], abs=0.05)
    mask = got["mask"]  # (4, latent frames): first and last latent frames are kept
    assert mask[:, 0].tolist() == [1, 1, 1, 1]
    assert mask[:, -1].tolist() == [0, 0, 0, 1]  # the last of 17 native frames
    assert mask[:, 1:-1].abs().sum() == 0


def test_out_of_memory_fails_the_job_and_the_engine_recovers(catalog, engine, monkeypatch):
    loaded = engine._model("tiny-t2v", catalog.get("tiny-t2v").options)
    pipe = engine._pipe(loaded, "t2v")
    transformer = pipe.transformer
    real_forward = transformer.forward

    def oom(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 80.00 GiB")

    monkeypatch.setattr(transformer, "forward", oom)
    with pytest.raises(JobError) as failed:
        engine.render(request(catalog, "tiny-t2v", "text-to-video"))
    assert failed.value.code == "service_unavailable"
    assert "ran out of memory" in failed.value.message
    monkeypatch.setattr(transformer, "forward", real_forward)
    assert len(list(engine.render(request(catalog, "tiny-t2v", "text-to-video")).frames())) == 24
    assert engine._model("tiny-t2v", catalog.get("tiny-t2v").options) is loaded  # kept warm


def test_a_missing_folder_fails_the_job_with_a_clear_message(tmp_path, engine):
    path = tmp_path / "c.toml"
    path.write_text(
        '[models."gone"]\nengine = "diffusers"\nmodes = ["text-to-video"]\n'
        f'path = "{tmp_path / "nowhere"}"\n'
    )
    model = Catalog.load(path).get("gone")
    with pytest.raises(JobError) as failed:
        engine.render(RenderRequest("text-to-video", "a cat", 848, 480, 24, 0, model=model))
    assert failed.value.code == "failed_precondition" and "nowhere" in failed.value.message


def test_torch_is_imported_only_when_a_model_uses_the_engine(tiny_models, tmp_path):
    path = tmp_path / "c.toml"
    path.write_text(catalog_toml(tiny_models))
    script = (
        "import sys\n"
        "from reelforge.core.catalog import Catalog\n"
        "from reelforge.engines import available_engines, check_catalog\n"
        "assert sorted(available_engines(Catalog.load())) == ['preview']\n"
        "catalog = Catalog.load(sys.argv[1])\n"
        "check_catalog(catalog)  # options checked, still no torch\n"
        "assert 'torch' not in sys.modules and 'diffusers' not in sys.modules\n"
        "assert sorted(available_engines(catalog)) == ['diffusers', 'preview']\n"
        "assert 'torch' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", script, str(path)], check=True, timeout=120)


# --- LTX-Video -----------------------------------------------------------------------------


def test_ltx_native_shapes_are_8k_plus_1_frames_at_multiples_of_32():
    assert shapes.native_frames(120, 24, 24, stride=8) == 121  # 5 s: LTX's 121 frames
    assert shapes.native_frames(24, 24, 24, stride=8) == 25
    assert shapes.native_frames(1, 24, 24, stride=8) == 9
    assert shapes.native_frames(48, 24, 30, stride=8) == 57  # 2 s re-timed to 30 fps: 60
    assert all(shapes.native_frames(n, 24, 25, stride=8) % 8 == 1 for n in range(1, 400))
    assert shapes.at_least_native(33, 8) == 33 and shapes.at_least_native(34, 8) == 41
    assert shapes.at_most_native(8, 8) == 1 and shapes.at_most_native(17, 8) == 17
    assert shapes.render_size(848, 480, 768 * 512, 32) == (832, 448)


def test_ltx_catalog_options_and_refusals(tiny_models, tmp_path):
    def load(extra: str) -> Catalog:
        path = tmp_path / "c.toml"
        path.write_text(
            f'[models."m"]\nengine = "diffusers"\npath = "{tiny_models["ltx"]}"\n' + extra
        )
        catalog = Catalog.load(path)
        check_catalog(catalog)
        return catalog

    options = load('family = "ltx"\nmodes = ["text-to-video", "edit"]\n').get("m").options
    from reelforge.engines.diffusers.options import parse

    parsed = parse("m", options)  # the family's own defaults, unless the entry sets them
    assert (parsed.fps, parsed.size_multiple, parsed.context_frames) == (24, 32, 9)
    assert parse("m", {**options, "fps": 30}).fps == 30
    with pytest.raises(CatalogError, match=r"cannot do \['reference-to-video'\]"):
        load('family = "ltx"\nmodes = ["text-to-video", "reference-to-video"]\n')
    with pytest.raises(CatalogError, match='holds a LTXConditionPipeline; set family = "ltx"'):
        load('modes = ["text-to-video"]\n')  # family defaults to wan
    with pytest.raises(CatalogError, match="8k\\+1"):
        load('family = "ltx"\nmodes = ["extension"]\ncontext_frames = 5\n')
    with pytest.raises(CatalogError, match="family"):
        load('family = "ltx2"\nmodes = ["text-to-video"]\n')


def ltx_plan(catalog, mode, **kw):
    from reelforge.engines.diffusers import ltx
    from reelforge.engines.diffusers.options import parse

    req = request(catalog, "tiny-ltx", mode, **kw)
    return ltx.plan(req, parse("tiny-ltx", req.model.options), ltx.LTX)


def test_ltx_plans(catalog):
    t2v = ltx_plan(catalog, "text-to-video")
    assert (t2v.width, t2v.height, t2v.kwargs) == (64, 32, {"num_frames": 25})
    pinned = ltx_plan(
        catalog,
        "image-to-video",
        num_frames=48,
        image=solid((250, 0, 0)),
        keyframes=((16, solid((0, 250, 0))), (30, solid((0, 0, 250)))),
        last_frame=solid((9, 9, 9)),
    )
    # 2 s -> 49 native frames; output 16 and 30 of 48 -> native round(16 * 48 / 47) = 16, 31
    assert pinned.kwargs["num_frames"] == 49
    assert [c.frame_index for c in pinned.kwargs["conditions"]] == [0, 16, 31, 48]
    assert all(c.strength == 1.0 and c.video is None for c in pinned.kwargs["conditions"])
    assert pinned.kwargs["conditions"][2].image.getpixel((0, 0)) == (0, 0, 250)
    source = [solid((i, i, i), 320, 180) for i in range(48)]
    ext = ltx_plan(catalog, "extension", image=source[-1], source_frames=lambda: iter(source))
    (condition,) = ext.kwargs["conditions"]
    assert condition.frame_index == 0 and len(condition.video) == 9  # the input's last 9
    assert [f.getpixel((0, 0))[0] for f in condition.video] == list(range(39, 48))
    # 8 context frames + 25 new = 33 native; the output is the 25 from the input's last frame
    assert (ext.kwargs["num_frames"], ext.keep_from, ext.keep) == (33, 8, 25)
    edit = ltx_plan(catalog, "edit", num_frames=48, source_frames=lambda: iter(source))
    (condition,) = edit.kwargs["conditions"]
    assert len(condition.video) == edit.kwargs["num_frames"] == 49
    assert condition.strength == pytest.approx(0.3)  # 1 - strength: 70% re-imagined


def test_ltx_gets_every_pin_at_its_native_frame(catalog, engine, monkeypatch):
    pipe = engine._pipe(engine._model("tiny-ltx", catalog.get("tiny-ltx").options), "ltx")
    got = {}
    original = pipe.prepare_latents

    def spy(*args, **kwargs):
        bound = inspect.signature(original).bind(*args, **kwargs).arguments
        got.update(bound)
        return original(*args, **kwargs)

    monkeypatch.setattr(pipe, "prepare_latents", spy)
    seen = []
    first, key, last = solid((250, 0, 0)), solid((0, 250, 0)), solid((0, 0, 250))
    clip = engine.render(
        request(
            catalog,
            "tiny-ltx",
            "image-to-video",
            num_frames=48,
            image=first,
            keyframes=((24, key),),
            last_frame=last,
            progress=lambda d, t: seen.append((d, t)),
        )
    )
    assert seen == [(1, 2), (2, 2)]
    # output 24 of 48 -> native round(24 * 48 / 47) = 25 of 49
    assert got["condition_frame_index"] == [0, 25, 48]
    assert got["condition_strength"] == [1.0, 1.0, 1.0]
    assert (got["num_frames"], got["width"], got["height"]) == (49, 64, 32)
    colours = [(1, -1, -1), (-1, 1, -1), (-1, -1, 1)]  # [-1, 1]
    for tensor, rgb in zip(got["conditions"], colours, strict=True):
        assert tensor.shape[2] == 1  # one frame each
        assert np.allclose(tensor[0, :, 0, 16, 32].tolist(), rgb, atol=0.05)
    frames = list(clip.frames())
    assert len(frames) == 48 and frames[0].shape == (480, 848, 3)
    for i, image in ((0, first), (24, key), (47, last)):
        assert np.array_equal(frames[i], fit_image(image, 848, 480))


def test_ltx_runs_in_bfloat16_with_its_vae_in_the_same_dtype(catalog, engine):
    model = catalog.get("tiny-ltx")
    model = dataclasses.replace(
        model, id="ltx-bf16", options={**model.options, "dtype": "bfloat16"}
    )
    clip = engine.render(RenderRequest("text-to-video", "a cat", 64, 32, 24, 0, model=model))
    assert len(list(clip.frames())) == 24
    # (Wan keeps its VAE in float32; LTX decodes latents cast to the transformer's dtype)
    assert engine._model(model.id, model.options).weights.base.vae.dtype == torch.bfloat16
