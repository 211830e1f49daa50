"""Sniff and probe user-supplied media: images and videos are checked before any pixel is decoded.

Every failure is `InputError(field, message)`; nothing here leaks a stack trace to users.
"""

from __future__ import annotations

import io
import math
import os
import time
import warnings
from dataclasses import dataclass
from fractions import Fraction

import av
from PIL import Image

from reelforge.core.errors import InputError

MAX_IMAGE_SIDE = 16384
MAX_IMAGE_PIXELS = 64_000_000
MAX_VIDEO_SIDE = 8192

# --------------------------------------------------------------------------- images

_IMAGE_MAGIC: tuple[tuple[str, bytes], ...] = (
    ("png", b"\x89PNG\r\n\x1a\n"),
    ("jpeg", b"\xff\xd8\xff"),
)
_PIL_FORMAT = {"png": "PNG", "jpeg": "JPEG", "webp": "WEBP"}


def sniff_image(data: bytes, field: str) -> str:
    """Return "png", "jpeg" or "webp" for a decodable image of sane size, else InputError."""
    kind = next((name for name, magic in _IMAGE_MAGIC if data.startswith(magic)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "webp"
    if kind is None:
        raise InputError(field, "must be a PNG, JPEG or WebP image")
    try:
        with warnings.catch_warnings():
            # Our own limits below are stricter than Pillow's bomb warning.
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[_PIL_FORMAT[kind]])
    except Image.DecompressionBombError:
        raise InputError(field, "image dimensions are too large") from None
    except Exception:
        raise InputError(field, f"is not a valid {kind.upper()} image") from None
    with img:
        # Image.open only parsed the header: refuse huge sizes before pixels are allocated.
        width, height = img.size
        if width <= 0 or height <= 0:
            raise InputError(field, "image has no pixels")
        if width > MAX_IMAGE_SIDE or height > MAX_IMAGE_SIDE or width * height > MAX_IMAGE_PIXELS:
            raise InputError(
                field,
                f"image is {width}x{height}; the limit is {MAX_IMAGE_SIDE} px a side "
                f"and {MAX_IMAGE_PIXELS // 1_000_000} Mpx",
            )
        try:
            img.load()  # a full decode catches truncated and corrupt files
        except Exception:
            raise InputError(field, f"{kind.upper()} image is truncated or corrupt") from None
    return kind


# --------------------------------------------------------------------------- videos

# Codecs an input video may use, by FFmpeg's codec name, with the name users know them by.
VIDEO_CODECS = {"h264": "H.264", "hevc": "H.265", "vp9": "VP9", "av1": "AV1"}
MAX_VIDEO_PACKETS = 20_000  # ~15 s at over 1000 fps: far beyond any real input
PROBE_BUDGET_S = 10.0  # wall-clock cap on one probe (a 50 MiB file demuxes in well under 1 s)
_IO_TIMEOUT_S = 5.0  # FFmpeg's own interrupt check, per open and per packet read
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"  # Matroska and WebM
# Top-level atoms an MP4 or QuickTime file can start with.
_MOV_ATOMS = frozenset({b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot", b"uuid"})


@dataclass(frozen=True)
class VideoInfo:
    duration_s: float
    width: int  # display size: after rotation and non-square pixels
    height: int
    fps: float
    has_audio: bool
    codec: str  # "h264", "hevc", "vp9" or "av1"
    rotation: int = 0  # degrees clockwise to turn decoded pictures upright: 0, 90, 180 or 270


def sniff_video_container(head: bytes) -> str | None:
    """FFmpeg demuxer for a file starting with `head`: "mov" (MP4, MOV), "matroska" (WebM, MKV).

    Forcing the demuxer means garbage is never probed as some exotic raw format.
    """
    if head.startswith(_EBML_MAGIC):
        return "matroska"
    if len(head) >= 8 and head[4:8] in _MOV_ATOMS:
        return "mov"
    return None


def open_video(
    source: io.BytesIO | str, field: str, head: bytes | None = None
) -> av.container.InputContainer:
    """Open an input video with the demuxer its magic bytes call for, or raise InputError."""
    if head is None:
        if isinstance(source, str):
            with open(source, "rb") as f:
                head = f.read(16)
        else:
            with source.getbuffer() as view:  # (no copy of the whole file)
                head = bytes(view[:16])
    fmt = sniff_video_container(head)
    if fmt is None:
        raise InputError(field, "is not an MP4, MOV or WebM video")
    try:
        return av.open(source, mode="r", format=fmt, timeout=(_IO_TIMEOUT_S, _IO_TIMEOUT_S))
    except Exception:
        kind = "WebM/Matroska" if fmt == "matroska" else "MP4/MOV"
        raise InputError(field, f"is not a valid {kind} video (corrupt or truncated)") from None


def limit_decoder(stream: av.video.stream.VideoStream) -> None:
    """Make the decoder refuse frames larger than any input may be, even mid-stream."""
    ctx = stream.codec_context
    if not ctx.is_open:
        ctx.options = {**ctx.options, "max_pixels": str(MAX_VIDEO_SIDE * MAX_VIDEO_SIDE)}
        ctx.thread_type = "AUTO"


def video_stream(container: av.container.InputContainer, field: str) -> av.video.stream.VideoStream:
    """The container's first video stream, if it has one in a supported codec."""
    if not container.streams.video:
        raise InputError(field, "file has no video stream")
    stream = container.streams.video[0]
    try:
        codec = str(stream.codec_context.codec.canonical_name)
    except Exception:
        codec = "unknown"
    if codec not in VIDEO_CODECS:
        raise InputError(
            field, f"video codec '{codec}' is not supported; use H.264, H.265, VP9 or AV1"
        )
    return stream


def frame_rotation(frame: av.VideoFrame) -> int:
    """Degrees clockwise (0, 90, 180, 270) to turn `frame` upright, from its display matrix.

    Arbitrary angles snap to the nearest quarter turn; mirroring in the matrix is ignored.
    """
    try:
        ccw = frame.rotation  # counter-clockwise, in [-180, 180]
    except Exception:
        return 0
    if not ccw or not math.isfinite(ccw):
        return 0
    return (-round(ccw / 90) * 90) % 360


def probe_video(data_or_path: bytes | str | os.PathLike[str], field: str) -> VideoInfo:
    """Describe an MP4, MOV, WebM or Matroska input, or raise InputError if it is unusable.

    Video must be H.264, H.265, VP9 or AV1. Demuxes every packet (cheap, no decoding) to catch
    truncation, and decodes the first frame to prove the stream is really decodable and to read
    its rotation. Work is bounded: packets are capped and the probe has a wall-clock budget.
    """
    if isinstance(data_or_path, (bytes, bytearray, memoryview)):
        if len(data_or_path) == 0:
            raise InputError(field, "video file is empty")
        source: io.BytesIO | str = io.BytesIO(bytes(data_or_path))
    else:
        source = os.fspath(data_or_path)
        if not os.path.isfile(source) or os.path.getsize(source) == 0:
            raise InputError(field, "video file is empty or missing")
    deadline = time.monotonic() + PROBE_BUDGET_S
    container = open_video(source, field)
    try:
        return _inspect(container, field, deadline)
    except InputError:
        raise
    except Exception:
        raise InputError(field, "video is corrupt or truncated") from None
    finally:
        container.close()


def _check_side(width: int, height: int, field: str) -> None:
    if width <= 0 or height <= 0:
        raise InputError(
            field, f"video frame size is missing, invalid or over {MAX_VIDEO_SIDE} px a side"
        )
    if width > MAX_VIDEO_SIDE or height > MAX_VIDEO_SIDE:
        raise InputError(
            field, f"video is {width}x{height}; the limit is {MAX_VIDEO_SIDE} px a side"
        )


def _inspect(container: av.container.InputContainer, field: str, deadline: float) -> VideoInfo:
    stream = video_stream(container, field)
    ctx = stream.codec_context
    _check_side(int(ctx.width or 0), int(ctx.height or 0), field)
    limit_decoder(stream)

    time_base = stream.time_base or Fraction(1, 90000)
    declared = int(stream.frames or 0)  # MP4's sample count; 0 where unknown (WebM)
    packets = 0
    first_pts: int | None = None
    last_pts: int | None = None
    last_duration = 0
    end_s = 0.0  # where the last packet of any stream ends
    frame: av.VideoFrame | None = None
    try:
        for packet in container.demux():
            if time.monotonic() > deadline:
                raise InputError(field, f"video took longer than {PROBE_BUDGET_S:g} s to read")
            if packet.size == 0 or packet.pts is None:
                continue
            if packet.time_base:
                end_s = max(end_s, float((packet.pts + (packet.duration or 0)) * packet.time_base))
            if packet.stream_index != stream.index:
                continue
            packets += 1
            if packets > MAX_VIDEO_PACKETS:
                raise InputError(field, f"video has more than {MAX_VIDEO_PACKETS} frames")
            if not packet.is_discard:  # (packets outside an MP4 edit list are not shown)
                if first_pts is None or packet.pts < first_pts:
                    first_pts = packet.pts
                if last_pts is None or packet.pts >= last_pts:
                    last_pts, last_duration = packet.pts, packet.duration or 0
            if frame is None:
                try:
                    frame = next(iter(packet.decode()), None)
                except av.FFmpegError:
                    pass  # a bad packet is not yet a bad file; a later one may decode
    except av.FFmpegError:
        raise InputError(field, "video file is truncated or corrupt") from None
    if frame is None and packets:
        try:  # frames may be held back by the decoder until it is flushed
            frame = next(iter(stream.codec_context.decode(None)), None)
        except av.FFmpegError:
            frame = None
    if packets == 0 or frame is None:
        raise InputError(field, "video stream has no decodable frames")
    if declared and packets < declared:
        raise InputError(field, "video file is truncated")

    # The decoded picture is the truth (the container may disagree with the bitstream).
    width, height = int(frame.width), int(frame.height)
    _check_side(width, height, field)
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    fps = float(rate) if rate and 0 < float(rate) <= 1000 else 0.0

    # The span of the shown frames, first to last plus its duration. Declared durations are only
    # a fallback: WebM has none per stream, and MP4's is counted in decode order (too short when
    # a variable frame rate meets B-frames).
    duration = 0.0
    if first_pts is not None and last_pts is not None:
        tail = float(last_duration * time_base) if last_duration else (1 / fps if fps else 0.0)
        duration = float((last_pts - first_pts) * time_base) + tail
        for declared_s in (
            float(stream.duration * time_base) if stream.duration else 0.0,
            (container.duration or 0) / av.time_base,
        ):
            if declared_s > 0 and abs(declared_s - duration) < 0.5 / (fps or 24):
                duration = declared_s  # where it agrees, the declared figure is unrounded
                break
    if not duration > 0 and stream.duration:
        duration = float(stream.duration * time_base)
    if not duration > 0 and container.duration:
        duration = container.duration / av.time_base
    if not (duration > 0 and math.isfinite(duration)):
        raise InputError(field, "video has no duration")
    if not declared and container.duration and container.duration > 0:
        # No sample count to compare (WebM): the packets must reach the declared end.
        start = (container.start_time or 0) / av.time_base
        declared_end = start + container.duration / av.time_base
        if end_s < declared_end - max(0.5, 0.1 * (declared_end - start)):
            raise InputError(field, "video file is truncated")
    if not fps:
        fps = packets / duration

    sar = stream.sample_aspect_ratio or ctx.sample_aspect_ratio
    if sar and sar != 1 and Fraction(1, 4) <= sar <= 4:  # non-square pixels (anamorphic)
        width = max(2, round(width * sar))
    rotation = frame_rotation(frame)
    if rotation in (90, 270):
        width, height = height, width
    _check_side(width, height, field)
    return VideoInfo(
        duration_s=duration,
        width=width,
        height=height,
        fps=fps,
        has_audio=bool(container.streams.audio),
        codec=ctx.codec.canonical_name,
        rotation=rotation,
    )
