"""Usage in `cost_in_usd_ticks` (1 tick = 1e-10 USD), from the catalog's prices."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal

from reelforge.core.catalog import Model
from reelforge.core.enums import Mode
from reelforge.core.spec import JobSpec

TICKS_PER_USD = Decimal(10_000_000_000)


def cost_ticks(
    model: Model,
    resolution: str,
    output_seconds: float,
    input_images: int = 0,
    input_video_seconds: float = 0.0,
) -> int:
    """Generated seconds at the resolution's rate, plus each input image and input-video second."""
    per_second = model.prices.per_second.get(resolution, Decimal(0))
    usd = (
        per_second * Decimal(str(output_seconds))
        + model.prices.per_input_image * input_images
        + model.prices.per_input_video_second * Decimal(str(round(input_video_seconds, 3)))
    )
    return int((usd * TICKS_PER_USD).quantize(Decimal(1), rounding=ROUND_HALF_UP))


def max_cost_ticks(model: Model, spec: JobSpec) -> int:
    """The most a job can cost, known when it is accepted: what its spend reservation holds.

    A generation's cost is known exactly. An edit or extension depends on its input video, which
    is often only fetched when it renders: assume the longest input the mode accepts (in whole
    seconds, above any rounding of frames), at the best resolution the mode renders."""
    if spec.mode not in (Mode.EDIT, Mode.EXTENSION):
        return cost_ticks(
            model, spec.resolution or "", spec.duration_s or 0.0, spec.input_image_count()
        )
    longest = math.ceil(model.input_video_durations.get(spec.mode, (0.0, 0.0))[1] + 0.01)
    output = longest if spec.mode == Mode.EDIT else longest + (spec.duration_s or 0.0)
    best = model.resolutions_for(spec.mode)[-1]
    return cost_ticks(model, best, output, input_video_seconds=longest)
