"""Usage in `cost_in_usd_ticks` (1 tick = 1e-10 USD), from the catalog's prices."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

from reelforge.core.catalog import Model

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
