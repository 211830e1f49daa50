"""LTX-Video: each contract mode as one LTXConditionPipeline call (imported by the engine only).

LTXConditionPipeline conditions on images or short videos placed at any frame index, so one
pipeline does every mode the family offers:
- text-to-video: no conditions.
- image-to-video, last frame, keyframes: one image condition per pinned native frame (frame 0
  replaces the first latent frame; later ones join as extra tokens placed at their frame).
- extension: the input's last `context_frames` native frames as a video condition at frame 0;
  the output is what follows them, starting on the input's last frame.
- edit: the whole source as a video condition at frame 0 with strength 1 - `strength`, so its
  latents start part-way noised and are denoised only from there on (SDEdit through the mask).
reference-to-video is not something LTX can do; the catalog refuses it.
Every plan renders 8k+1 frames at sizes that are multiples of 32 (shapes.py); the engine
resamples to the exact output.
"""

from __future__ import annotations

from typing import Any

from diffusers.pipelines.ltx.pipeline_ltx_condition import LTXVideoCondition

from reelforge.engines.base import RenderRequest
from reelforge.engines.diffusers import shapes
from reelforge.engines.diffusers.options import DiffusersOptions
from reelforge.engines.diffusers.plans import (
    Plan,
    extension_context,
    native_pins,
    picture,
    source_video,
)

LTX = "ltx"
CLASSES = {LTX: "LTXConditionPipeline"}
VAE_FLOAT32 = False  # the pipeline decodes latents cast to the transformer's dtype
FRAME_STRIDE = 8  # the LTX VAE's temporal compression: 8k+1 frames


def route(mode: str, request: RenderRequest, pipeline_kind: str) -> str:
    return LTX  # whatever LTX class the folder names, the condition pipeline runs it


def plan(request: RenderRequest, options: DiffusersOptions, kind: str) -> Plan:
    w, h = shapes.render_size(
        request.width, request.height, options.max_area, options.size_multiple
    )
    native = shapes.native_frames(request.num_frames, request.fps, options.fps, FRAME_STRIDE)
    if request.mode == "edit":
        video = source_video(request, native, w, h)
        edit = LTXVideoCondition(video=video, frame_index=0, strength=1.0 - options.strength)
        return Plan(LTX, w, h, {"num_frames": native, "conditions": [edit]})
    if request.mode == "extension":
        return _extension(request, options, w, h, native)
    pins = native_pins(request, native)
    conditions = [
        LTXVideoCondition(image=picture(pins[j], w, h), frame_index=j) for j in sorted(pins)
    ]
    kwargs: dict[str, Any] = {"num_frames": native}
    if conditions:
        kwargs["conditions"] = conditions
    return Plan(LTX, w, h, kwargs, pinned_native=tuple(sorted(pins)))


def _extension(request: RenderRequest, options: DiffusersOptions, w: int, h: int, new: int) -> Plan:
    context = extension_context(request, options, w, h)
    # The pipeline keeps the first 8k+1 frames of a conditioning video: keep the last ones.
    context = context[-shapes.at_most_native(len(context), FRAME_STRIDE) :]
    if len(context) == 1:
        condition = LTXVideoCondition(image=context[0], frame_index=0)
    else:
        condition = LTXVideoCondition(video=context, frame_index=0)
    total = shapes.at_least_native(len(context) - 1 + new, FRAME_STRIDE)
    return Plan(
        LTX,
        w,
        h,
        {"num_frames": total, "conditions": [condition]},
        keep_from=len(context) - 1,
        keep=new,
        pinned_native=tuple(range(len(context))),
    )


def finish(pipe: Any, plan: Plan, options: DiffusersOptions, kwargs: dict[str, Any]) -> None:
    """The frame rate places the frames in time (the model's rotary positions)."""
    kwargs["frame_rate"] = options.fps
    kwargs["decode_timestep"] = options.decode_timestep
    kwargs["decode_noise_scale"] = options.decode_noise_scale
