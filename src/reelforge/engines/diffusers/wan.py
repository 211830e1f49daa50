"""Wan 2.x: each contract mode as a diffusers pipeline call (no torch here; the engine runs it).

- text-to-video: WanPipeline (or WanVACEPipeline with nothing pinned).
- image-to-video: WanImageToVideoPipeline with `image`, and `last_image` for a last frame.
- pinned frames (keyframes, last frame) on a VACE model: WanVACEPipeline with a conditioning
  video holding each pin at its native frame and a mask that is black (keep) there, white
  (generate) elsewhere.
- reference-to-video: WanVACEPipeline `reference_images` (plus any pinned frames).
- extension: VACE conditioned on the input's last `context_frames` native frames (mask black),
  rendering what follows; on an image-to-video model, the input's last frame as `image`.
- edit: WanVideoToVideoPipeline on the input re-timed to the native frame rate.
Every plan renders at the native shape (shapes.py); the engine resamples to the exact output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from reelforge.engines.base import RenderRequest
from reelforge.engines.diffusers import shapes
from reelforge.engines.diffusers.options import DiffusersOptions
from reelforge.engines.diffusers.plans import (
    GREY,
    Plan,
    extension_context,
    native_pins,
    picture,
    source_video,
)

T2V, I2V, VACE, V2V = "t2v", "i2v", "vace", "v2v"
# The pipeline class of each kind; the folder's own is loaded, the others built with from_pipe.
CLASSES = {
    T2V: "WanPipeline",
    I2V: "WanImageToVideoPipeline",
    VACE: "WanVACEPipeline",
    V2V: "WanVideoToVideoPipeline",
}
VAE_FLOAT32 = True  # the Wan VAE is kept in float32, as its authors recommend


def route(mode: str, request: RenderRequest, pipeline_kind: str) -> str:
    """Which pipeline renders `mode` for a folder whose model_index names `pipeline_kind`."""
    if mode == "edit":
        return V2V
    if pipeline_kind == "WanVACEPipeline":
        return VACE
    if pipeline_kind == "WanImageToVideoPipeline":
        return I2V
    if mode in ("image-to-video", "extension"):
        return I2V  # Wan 2.2 TI2V: the same weights, image-conditioned
    return T2V


def plan(request: RenderRequest, options: DiffusersOptions, kind: str) -> Plan:
    w, h = shapes.render_size(
        request.width, request.height, options.max_area, options.size_multiple
    )
    native = shapes.native_frames(request.num_frames, request.fps, options.fps)
    fit = lambda rgb: picture(rgb, w, h)  # noqa: E731
    if kind == T2V:
        return Plan(T2V, w, h, {"num_frames": native})
    if kind == I2V:
        if request.image is None:
            raise ValueError("image-to-video needs an image")
        kwargs: dict[str, Any] = {"num_frames": native, "image": fit(request.image)}
        pinned = [0]
        if request.last_frame is not None:
            kwargs["last_image"] = fit(request.last_frame)
            pinned.append(native - 1)
        return Plan(I2V, w, h, kwargs, pinned_native=tuple(pinned))
    if kind == V2V:
        return _edit(request, options, w, h)
    if request.mode == "extension":
        return _extension(request, options, w, h)
    pins = native_pins(request, native)
    kwargs = {"num_frames": native}
    if pins:
        kwargs["video"], kwargs["mask"] = _conditioning(
            native, w, h, {j: fit(p) for j, p in pins.items()}
        )
    if request.reference_images:
        # VACE fits each reference inside the frame itself; hand it a modest copy.
        kwargs["reference_images"] = [_thumbnail(r, w, h) for r in request.reference_images]
    return Plan(VACE, w, h, kwargs, pinned_native=tuple(sorted(pins)))


def _conditioning(
    native: int, w: int, h: int, pins: dict[int, Image.Image]
) -> tuple[list[Image.Image], list[Image.Image]]:
    """A VACE conditioning video and mask: the pins at their frames (mask black), grey and
    white everywhere else."""
    grey = Image.new("RGB", (w, h), (GREY, GREY, GREY))
    keep, free = Image.new("L", (w, h), 0), Image.new("L", (w, h), 255)
    video = [pins.get(j, grey) for j in range(native)]
    mask = [keep if j in pins else free for j in range(native)]
    return video, mask


def _thumbnail(rgb: np.ndarray, w: int, h: int) -> Image.Image:
    image = Image.fromarray(np.ascontiguousarray(rgb[..., :3]).astype(np.uint8))
    scale = min(1.0, 2 * max(w, h) / max(image.size))
    if scale < 1.0:
        size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
        image = image.resize(size, Image.Resampling.LANCZOS)
    return image


def _extension(request: RenderRequest, options: DiffusersOptions, w: int, h: int) -> Plan:
    """VACE: the input's end as pinned context, then the new segment (which starts on the
    input's last frame, as the contract's continuation does)."""
    context = extension_context(request, options, w, h)
    new = shapes.native_frames(request.num_frames, request.fps, options.fps)
    total = shapes.at_least_native(len(context) - 1 + new)
    video, mask = _conditioning(total, w, h, dict(enumerate(context)))
    return Plan(
        VACE,
        w,
        h,
        {"num_frames": total, "video": video, "mask": mask},
        keep_from=len(context) - 1,
        keep=new,
        pinned_native=tuple(range(len(context))),
    )


def _edit(request: RenderRequest, options: DiffusersOptions, w: int, h: int) -> Plan:
    """The source re-timed to the native frame rate, re-imagined by `strength`."""
    native = shapes.native_frames(request.num_frames, request.fps, options.fps)
    video = source_video(request, native, w, h)
    return Plan(V2V, w, h, {"video": video, "strength": options.strength})


def finish(pipe: Any, plan: Plan, options: DiffusersOptions, kwargs: dict[str, Any]) -> None:
    """Call arguments that depend on the loaded pipeline."""
    if plan.kind == VACE:
        kwargs["conditioning_scale"] = options.conditioning_scale
    if plan.kind == I2V:
        _clip_context(pipe, kwargs)


def _clip_context(pipe: Any, kwargs: dict[str, Any]) -> None:
    """Wan 2.1 image-to-video models also see the image through CLIP. A plain I2V model takes
    one image there (the last frame then conditions through the latents only); a first-last-
    frame model (FLF2V) takes two (without a last frame, the first image twice)."""
    config = getattr(pipe.transformer, "config", None)
    if config is None or config.get("image_dim") is None or pipe.image_encoder is None:
        return  # Wan 2.2: latents only
    two = config.get("pos_embed_seq_len") is not None
    if two == ("last_image" in kwargs):
        return  # the pipeline's own behaviour is right
    images = [kwargs["image"], kwargs["image"]] if two else kwargs["image"]
    device = pipe._execution_device
    kwargs["image_embeds"] = pipe.encode_image(images, device).reshape(1, -1, config["image_dim"])
