"""Still previews of a finished MP4: a WebP poster and a JPEG spritesheet (OpenAI's `thumbnail`
and `spritesheet` content variants).

Spritesheet layout: one tile per second of video (the frame showing at 0 s, 1 s, 2 s, ...; at
most MAX_TILES, spread evenly over longer videos), each TILE_WIDTH pixels wide with the video's
aspect ratio (even height), left to right then top to bottom, COLUMNS to a row; the last row
may be short and the rest of it is black.
"""

from __future__ import annotations

import io
import math

import numpy as np
from PIL import Image

from reelforge.media.decode import video_frames
from reelforge.media.probe import probe_video

TILE_WIDTH = 256
COLUMNS = 5
MAX_TILES = 60
WEBP_QUALITY = 80
JPEG_QUALITY = 85
THUMBNAIL, SPRITESHEET = "thumbnail.webp", "spritesheet.jpg"  # their names beside the video


def key(job_id: str, name: str) -> str:
    """Where a job's still `name` is kept in storage (the janitor removes the folder)."""
    return f"previews/{job_id}/{name}"


def thumbnail(path: str) -> bytes:
    """The first frame at full size, as WebP."""
    info = probe_video(path, "video")
    [frame] = video_frames(path, info.width, info.height, 1, 1, field="video")
    out = io.BytesIO()
    Image.fromarray(frame).save(out, "WEBP", quality=WEBP_QUALITY)
    return out.getvalue()


def spritesheet(path: str) -> bytes:
    """A JPEG grid of frames, laid out as the module docstring says."""
    info = probe_video(path, "video")
    width = TILE_WIDTH
    height = max(2, round(TILE_WIDTH * info.height / info.width / 2) * 2)
    seconds = max(1, math.ceil(info.duration_s - 1e-6))
    frames = list(video_frames(path, width, height, 1, seconds, field="video"))
    if len(frames) > MAX_TILES:
        frames = [frames[round(i)] for i in np.linspace(0, len(frames) - 1, MAX_TILES)]
    rows = math.ceil(len(frames) / COLUMNS)
    sheet = np.zeros((rows * height, min(len(frames), COLUMNS) * width, 3), np.uint8)
    for i, frame in enumerate(frames):
        row, col = divmod(i, COLUMNS)
        sheet[row * height : (row + 1) * height, col * width : (col + 1) * width] = frame
    out = io.BytesIO()
    Image.fromarray(sheet).save(out, "JPEG", quality=JPEG_QUALITY)
    return out.getvalue()


MAKERS = {THUMBNAIL: thumbnail, SPRITESHEET: spritesheet}
