"""Decode an input video into frames at the output frame rate and size, and read its audio.

Inputs have passed `probe_video` (container, codec and size checked). Decoding streams: one frame
is held at a time, never the whole clip. Pictures come out upright (the display matrix is
honoured) and scaled to the size asked for. Packets that fail to decode are skipped; a stream
that keeps failing, or a container that cannot be read on, raises `InputError`.
"""

from __future__ import annotations

from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np
from av.video.reformatter import VideoReformatter

from reelforge.core.errors import InputError
from reelforge.media.probe import frame_rotation, limit_decoder, open_video, video_stream

MAX_BAD_RUN = 24  # packets in a row that fail to decode before the input counts as corrupt
MAX_AUDIO_S = 120.0  # audio_samples() never decodes more than this (memory stays bounded)


def video_frames(
    path: str, width: int, height: int, fps: int, count: int, field: str = "video.url"
) -> Iterator[np.ndarray]:
    """Exactly `count` upright RGB frames (height, width, 3) at `fps`, each the source frame
    showing at that instant.

    Sampling by timestamp normalises variable frame rates; a source shorter than `count` frames
    holds its last frame.
    """
    if count <= 0:
        return
    with open_video(path, field) as container:
        stream = video_stream(container, field)
        to_rgb = _Converter(width, height, field)
        # Timestamps are rounded to the time base (WebM: 1 ms): that much early still counts.
        slack = min(max(float(stream.time_base or 0), 1e-6), 0.5 / fps)
        emitted = 0
        held: av.VideoFrame | None = None  # the source frame showing now, converted on demand
        held_rgb: np.ndarray | None = None
        decoded = _decoded(container, stream, field)
        try:
            for frame, t in _timed(decoded, stream):
                # Every output instant that falls before this frame shows the previous one.
                while held is not None and emitted < count and emitted / fps < t - slack:
                    if held_rgb is None:
                        held_rgb = to_rgb(held)
                    yield held_rgb
                    emitted += 1
                if emitted >= count:
                    return
                held, held_rgb = frame, None
            while held is not None and emitted < count:
                if held_rgb is None:
                    held_rgb = to_rgb(held)
                yield held_rgb
                emitted += 1
        finally:
            decoded.close()  # stop demuxing before the container closes


def last_frame(path: str, width: int, height: int, field: str = "video.url") -> np.ndarray:
    """The final displayed frame, upright, as RGB (height, width, 3).

    Seeks to the last keyframe and decodes from there; if seeking fails (or finds nothing) the
    whole stream is decoded instead, keeping one frame at a time.
    """
    to_rgb = _Converter(width, height, field)
    try:
        with open_video(path, field) as container:
            stream = video_stream(container, field)
            end = _end_timestamp(container, stream)
            if end is not None:
                container.seek(end, backward=True, any_frame=False, stream=stream)
                frame = _latest(_decoded(container, stream, field))
                if frame is not None:
                    return to_rgb(frame)  # (a failed seek raises, or leaves us at the start)
    except (av.FFmpegError, InputError, ValueError, OverflowError):
        pass  # decode everything below; it raises the real problem, if there is one
    with open_video(path, field) as container:
        stream = video_stream(container, field)
        frame = _latest(_decoded(container, stream, field))
    if frame is None:
        raise InputError(field, "video stream has no decodable frames")
    return to_rgb(frame)


def audio_samples(
    path: str, rate: int = 48000, *, max_s: float | None = None, field: str = "video.url"
) -> np.ndarray | None:
    """The input's first audio stream as float32 stereo (n, 2) at `rate`, or None without audio.

    Aligned to the video: audio that starts after the first video frame is preceded by silence,
    audio before it is dropped. At most `max_s` seconds (default MAX_AUDIO_S) are decoded.
    None also when the audio stream has no decodable frames.
    """
    limit = int(rate * (MAX_AUDIO_S if max_s is None else max_s))
    with open_video(path, field) as container:
        if not container.streams.audio:
            return None
        astream = container.streams.audio[0]
        video_start = 0.0
        if container.streams.video:
            vstream = container.streams.video[0]
            if vstream.start_time is not None and vstream.time_base:
                video_start = float(vstream.start_time * vstream.time_base)
        resampler = av.AudioResampler(format="flt", layout="stereo", rate=rate)
        chunks: list[np.ndarray] = []
        total = 0
        offset: int | None = None  # samples of silence to add (> 0) or to drop (< 0)
        try:
            for packet in container.demux(astream):
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    continue  # skip a bad audio packet
                for frame in frames:
                    if offset is None and frame.pts is not None and frame.time_base:
                        offset = round((float(frame.pts * frame.time_base) - video_start) * rate)
                    for out in resampler.resample(frame):
                        chunk = out.to_ndarray().reshape(-1, 2)
                        chunks.append(chunk)
                        total += len(chunk)
                if total >= limit + abs(offset or 0):
                    break
            else:
                for out in resampler.resample(None):
                    chunks.append(out.to_ndarray().reshape(-1, 2))
        except av.FFmpegError:
            pass  # keep what decoded before the damage
    if not chunks:
        return None
    audio = np.concatenate(chunks).astype(np.float32, copy=False)
    if offset and offset > 0:
        audio = np.concatenate([np.zeros((offset, 2), np.float32), audio])
    elif offset and offset < 0:
        audio = audio[-offset:]
    return np.ascontiguousarray(audio[:limit])


# --------------------------------------------------------------------------- helpers


class _Converter:
    """Decoded frame -> upright RGB array at (width, height); one scaler reused throughout."""

    def __init__(self, width: int, height: int, field: str):
        self.width, self.height, self.field = width, height, field
        self.reformatter = VideoReformatter()

    def __call__(self, frame: av.VideoFrame) -> np.ndarray:
        rotation = frame_rotation(frame)
        # Scale first, to the size the picture has *before* it is turned upright.
        w, h = (self.height, self.width) if rotation in (90, 270) else (self.width, self.height)
        try:
            rgb = self.reformatter.reformat(frame, width=w, height=h, format="rgb24")
            img = rgb.to_ndarray()
        except (av.FFmpegError, ValueError):
            raise InputError(self.field, "video frames could not be converted") from None
        if rotation:
            img = np.ascontiguousarray(np.rot90(img, k=-rotation // 90))
        return img


def _decoded(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, field: str
) -> Iterator[av.VideoFrame]:
    """Every frame of `stream`, skipping bad packets (MAX_BAD_RUN of them in a row at most)."""
    limit_decoder(stream)
    packets = container.demux(stream)
    bad_run = 0
    decoded = 0
    try:
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except av.FFmpegError:
                raise InputError(
                    field, "video is corrupt or truncated and cannot be read"
                ) from None
            try:
                frames = packet.decode()
            except av.FFmpegError:
                bad_run += 1
                if bad_run >= MAX_BAD_RUN:
                    raise InputError(
                        field, f"video is corrupt: {bad_run} frames in a row could not be decoded"
                    ) from None
                continue
            bad_run = 0
            decoded += len(frames)
            yield from frames
    finally:
        packets.close()
    if decoded == 0:
        raise InputError(field, "video stream has no decodable frames")


def _timed(
    frames: Iterator[av.VideoFrame], stream: av.video.stream.VideoStream
) -> Iterator[tuple[av.VideoFrame, float]]:
    """Pair frames with their time in seconds from the stream's start (guessed where missing)."""
    start = stream.start_time
    time_base = stream.time_base or Fraction(1, 90000)
    rate = stream.average_rate or stream.guessed_rate
    step = 1 / float(rate) if rate else 1 / 24
    last = -step
    for frame in frames:
        if frame.pts is None:
            t = last + step
        else:
            if start is None:
                start = frame.pts
            t = float((frame.pts - start) * time_base)
        last = t
        yield frame, t


def _latest(frames: Iterator[av.VideoFrame]) -> av.VideoFrame | None:
    """The frame with the latest timestamp (the last one where timestamps are missing)."""
    best: av.VideoFrame | None = None
    for frame in frames:
        if best is None or frame.pts is None or best.pts is None or frame.pts >= best.pts:
            best = frame
    return best


def _end_timestamp(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream
) -> int | None:
    """The end of `stream` in its own time base (what a seek to the last keyframe aims at)."""
    time_base = stream.time_base
    if not time_base:
        return None
    start = stream.start_time or 0
    if stream.duration and stream.duration > 0:
        return start + stream.duration
    if container.duration and container.duration > 0:
        return start + int(container.duration / av.time_base / time_base)
    return None
