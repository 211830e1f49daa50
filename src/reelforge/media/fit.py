"""Fitting input images to output frames, and decoding image bytes to RGB arrays."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# Transparent areas are laid on white: logos and stickers are drawn for a light page.
_MATTE = (255, 255, 255)


def fit_image(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    """Scale `rgb` to cover width x height, then centre-crop: uint8 array (height, width, 3).

    The crop and resize happen in one Lanczos pass, so no detail is lost to an intermediate.
    """
    if width <= 0 or height <= 0:
        raise ValueError(f"target size must be positive, got {width}x{height}")
    image = _to_pil_rgb(rgb)
    src_w, src_h = image.size
    if (src_w, src_h) == (width, height):
        return np.array(image, dtype=np.uint8)
    target = width / height
    # The largest centred box of the target's aspect ratio inside the source.
    if src_w / src_h > target:
        box_w, box_h = src_h * target, float(src_h)
    else:
        box_w, box_h = float(src_w), src_w / target
    left = (src_w - box_w) / 2
    top = (src_h - box_h) / 2
    box = (left, top, left + box_w, top + box_h)
    fitted = image.resize((width, height), Image.Resampling.LANCZOS, box=box)
    return np.array(fitted, dtype=np.uint8)


def image_from_bytes(data: bytes) -> np.ndarray:
    """Decode PNG/JPEG/WebP (anything Pillow reads) to an RGB uint8 array (height, width, 3).

    EXIF orientation is applied, so a portrait phone photo comes out upright.
    """
    try:
        with Image.open(io.BytesIO(data)) as opened:
            opened.load()
            image = ImageOps.exif_transpose(opened)
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc
    return np.array(_flatten(image), dtype=np.uint8)


def _flatten(image: Image.Image) -> Image.Image:
    """Any Pillow mode to RGB; alpha (including palette transparency) over a white matte."""
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        matte = Image.new("RGBA", rgba.size, (*_MATTE, 255))
        return Image.alpha_composite(matte, rgba).convert("RGB")
    if image.mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16-bit greyscale: keep the top 8 bits rather than clipping everything to white.
        wide = np.asarray(image, dtype=np.uint32)
        scale = 257 if wide.max(initial=0) > 255 else 1
        image = Image.fromarray((wide // scale).clip(0, 255).astype(np.uint8), mode="L")
    return image.convert("RGB")


def _to_pil_rgb(rgb: np.ndarray) -> Image.Image:
    """Accept (h, w), (h, w, 1), (h, w, 3) or (h, w, 4) arrays, uint8 or other numeric."""
    array = np.asarray(rgb)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim not in (2, 3) or (array.ndim == 3 and array.shape[2] not in (3, 4)):
        raise ValueError(f"expected an image array (h, w[, 1|3|4]), got shape {array.shape}")
    if array.dtype != np.uint8:
        array = np.clip(array, 0, 255).astype(np.uint8)
    image = Image.fromarray(np.ascontiguousarray(array))
    return _flatten(image)
