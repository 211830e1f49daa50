"""What a job costs, from its spec and (edit, extension) its input video's size and length.

One function for the worker, which charges it, and the service, which quotes it before a job
exists (`POST .../estimate`), so that the quote is always the charge.
"""

from __future__ import annotations

from reelforge.core.catalog import Model
from reelforge.core.enums import Mode
from reelforge.core.pricing import cost_ticks
from reelforge.core.sizes import capped_size, resolution_of
from reelforge.core.spec import JobSpec
from reelforge.media.clip import FPS
from reelforge.media.probe import VideoInfo


def output_size(model: Model, spec: JobSpec, video: VideoInfo) -> tuple[int, int]:
    """An edit's or extension's frame size: the input's, capped at the mode's best resolution."""
    return capped_size(video.width, video.height, model.resolutions_for(spec.mode)[-1])


def edit_frames(video: VideoInfo) -> int:
    """An edit keeps its input's length, in whole frames at the output rate."""
    return max(1, round(video.duration_s * FPS))


def job_cost(model: Model, spec: JobSpec, video: VideoInfo | None = None) -> int:
    """The job's price in ticks; `video` is the input video of an edit or extension."""
    if video is None:
        assert spec.resolution is not None and spec.duration_s is not None
        return cost_ticks(model, spec.resolution, spec.duration_s, spec.input_image_count())
    width, height = output_size(model, spec, video)
    if spec.mode == Mode.EDIT:
        output_s = edit_frames(video) / FPS
    else:
        assert spec.duration_s is not None
        output_s = spec.duration_s
    return cost_ticks(
        model, resolution_of(width, height), output_s, input_video_seconds=video.duration_s
    )
