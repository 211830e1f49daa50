"""Input video decoding: codecs and containers, rotation, variable frame rate, odd sizes, damage.

The corpus is made here with PyAV (x264, x265, libvpx-vp9, SVT-AV1), small and about a second
long. Rotated files carry a display matrix (`VideoStream.set_display_rotation`), written by
FFmpeg's MP4/MOV/Matroska muxers. tests/e2e/test_bad_inputs.py reuses these makers.
"""

from __future__ import annotations

import io
import struct
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from reelforge.core.errors import InputError
from reelforge.core.sizes import capped_size
from reelforge.media import decode, probe
from reelforge.media.decode import audio_samples, last_frame, video_frames
from reelforge.media.probe import probe_video

FPS = 24

# --------------------------------------------------------------------------- corpus makers


def picture(i: int, width: int, height: int) -> np.ndarray:
    """An upright test picture: red band on top, blue band on the left, grey level = frame i."""
    img = np.full((height, width, 3), 40 + 8 * (i % 24), np.uint8)
    img[: max(4, height // 5)] = (230, 20, 20)
    img[:, : max(4, width // 5)] = (20, 20, 230)
    return img


def grey_index(img: np.ndarray) -> int:
    """Which frame `picture` drew, read from the bottom-right quarter."""
    h, w = img.shape[:2]
    level = float(img[h // 2 :, w // 2 :].mean())
    return int(round((level - 40) / 8))


def assert_upright(img: np.ndarray) -> None:
    h, w = img.shape[:2]
    top = img[: max(1, h // 10), w // 2 :].reshape(-1, 3).mean(0)
    left = img[h // 2 :, : max(1, w // 10)].reshape(-1, 3).mean(0)
    bottom = img[-max(1, h // 10) :, w // 2 :].reshape(-1, 3).mean(0)
    right = img[h // 2 :, -max(1, w // 10) :].reshape(-1, 3).mean(0)
    assert top[0] > 150 and top[2] < 100, f"top edge is not red: {top}"
    assert left[2] > 150 and left[0] < 100, f"left edge is not blue: {left}"
    assert abs(bottom[0] - bottom[2]) < 40 and abs(right[0] - right[2]) < 40, (bottom, right)


def encode(
    fmt: str = "mp4",
    codec: str = "libx264",
    size: tuple[int, int] = (64, 48),
    frames: int = 24,
    *,
    rotation: int = 0,
    pix_fmt: str = "yuv420p",
    times: list[float] | None = None,
    sar: Fraction | None = None,
    audio_s: float | None = None,
    options: dict[str, str] | None = None,
) -> bytes:
    """A small video made here; `size` is the upright (display) size.

    rotation: counter-clockwise degrees of the display matrix (PyAV's convention); the coded
    picture is turned the other way, so a correct player shows `picture` upright.
    times: per-frame timestamps in seconds (a variable frame rate).
    sar: the pixels' aspect ratio, written into the stream (non-square pixels).
    audio_s: add that much 440 Hz AAC (MP4/MOV) or Opus (WebM) mono.
    """
    width, height = size
    coded = (height, width) if rotation in (90, 270) else (width, height)
    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt) as out:
        video = out.add_stream(codec, rate=FPS, options=options or {})
        video.width, video.height = coded
        video.pix_fmt = pix_fmt
        if times is not None:
            video.codec_context.time_base = Fraction(1, 1000)
        if rotation:
            video.set_display_rotation(rotation)
        if sar is not None:
            video.codec_context.sample_aspect_ratio = sar
        sound = None
        if audio_s is not None:
            sound = out.add_stream("libopus" if fmt == "webm" else "aac", rate=48000)
        for i in range(frames if times is None else len(times)):
            img = np.ascontiguousarray(np.rot90(picture(i, width, height), k=-rotation // 90))
            frame = av.VideoFrame.from_ndarray(img, format="rgb24")
            if times is not None:
                frame.pts, frame.time_base = round(times[i] * 1000), Fraction(1, 1000)
            out.mux(video.encode(frame))
        out.mux(video.encode())
        if sound is not None and audio_s is not None:
            t = np.arange(int(audio_s * 48000)) / 48000
            pcm = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
            aframe = av.AudioFrame.from_ndarray(pcm, format="flt", layout="mono")
            aframe.sample_rate = 48000
            for packet in sound.encode(aframe):
                out.mux(packet)
            for packet in sound.encode():
                out.mux(packet)
    return buf.getvalue()


def corrupt_packets(data: bytes, fmt: str, first: int, last: int = 10**9) -> bytes:
    """Remux `data` with video packets first..last filled with random bytes (their first and last
    byte kept, so the muxer's VP9 superframe check passes them through): the container is sound,
    the bitstream is not."""
    rng = np.random.default_rng(3)
    buf = io.BytesIO()
    with av.open(io.BytesIO(data)) as src, av.open(buf, "w", format=fmt) as out:
        source = src.streams.video[0]
        target = out.add_stream_from_template(source)
        n = 0
        for packet in src.demux(source):
            if packet.size == 0:
                continue
            if first <= n <= last and packet.size > 2:
                payload = bytes(packet)
                packet.update(payload[:1] + rng.bytes(packet.size - 2) + payload[-1:])
            n += 1
            packet.stream = target
            out.mux(packet)
    return buf.getvalue()


def patch_vp9_size(data: bytes, width: int, height: int) -> bytes:
    """Rewrite the frame size in the first VP9 keyframe header (profile 0: after the sync code,
    4 colour bits, then width-1 and height-1 as 16-bit fields)."""
    i = data.index(b"\x49\x83\x42") + 3
    bits = int.from_bytes(data[i : i + 5], "big")
    bits &= ~(((1 << 32) - 1) << 4)
    bits |= ((width - 1) << 20) | ((height - 1) << 4)
    return data[:i] + bits.to_bytes(5, "big") + data[i + 5 :]


def ivf(width: int = 65535, height: int = 65535) -> bytes:
    """An IVF (raw VP9) header declaring an absurd size, and a junk frame: IVF is refused."""
    header = b"DKIF" + struct.pack("<HHIHHIII", 0, 32, 0x30395056, width, height, 24, 1, 1)
    header += bytes(4)
    return header + struct.pack("<IQ", 16, 0) + b"\x82\x49\x83\x42" + bytes(12)


def audio_only_webm() -> bytes:
    buf = io.BytesIO()
    with av.open(buf, "w", format="webm") as out:
        stream = out.add_stream("libopus", rate=48000)
        frame = av.AudioFrame.from_ndarray(
            np.zeros((1, 48000), np.float32), format="flt", layout="mono"
        )
        frame.sample_rate = 48000
        for packet in [*stream.encode(frame), *stream.encode()]:
            out.mux(packet)
    return buf.getvalue()


def bad_corpus() -> list[tuple[str, bytes]]:
    """Inputs `probe_video` must refuse (quickly); names are for messages."""
    rng = np.random.default_rng(11)
    mp4 = encode()
    webm = encode("webm", "libvpx-vp9", frames=48)
    vp9_mp4 = encode("mp4", "libvpx-vp9")
    return [
        ("empty", b""),
        ("text", b"this is not a video\n" * 50),
        ("random", rng.bytes(20_000)),
        ("png", b"\x89PNG\r\n\x1a\n" + rng.bytes(500)),
        ("ivf", ivf()),
        ("mp4-truncated", mp4[: len(mp4) // 2]),
        ("mp4-header-only", mp4[:40]),
        ("webm-truncated", webm[: len(webm) // 2]),
        ("webm-header+junk", webm[:200] + rng.bytes(5000)),
        ("ebml-magic-only", b"\x1a\x45\xdf\xa3" + rng.bytes(3000)),
        ("vp9-webm-65536x65536", patch_vp9_size(webm, 65536, 65536)),
        ("vp9-webm-20000x16", patch_vp9_size(webm, 20000, 16)),
        ("vp9-mp4-30000x30000", patch_vp9_size(vp9_mp4, 30000, 30000)),
        ("mpeg4-codec", encode("mp4", "mpeg4", frames=6)),
        ("audio-only-webm", audio_only_webm()),
        ("all-packets-garbage", corrupt_packets(mp4, "mp4", 0)),
    ]


def write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# --------------------------------------------------------------------------- codecs, containers

CODECS = [
    ("h264-mp4", "mp4", "libx264", "h264"),
    ("h264-mov", "mov", "libx264", "h264"),
    ("h264-mkv", "matroska", "libx264", "h264"),
    ("hevc-mp4", "mp4", "libx265", "hevc"),
    ("vp9-webm", "webm", "libvpx-vp9", "vp9"),
    ("vp9-mp4", "mp4", "libvpx-vp9", "vp9"),
    ("av1-mp4", "mp4", "libsvtav1", "av1"),
    ("av1-webm", "webm", "libsvtav1", "av1"),
]


@pytest.mark.parametrize(("name", "fmt", "encoder", "codec"), CODECS, ids=[c[0] for c in CODECS])
def test_each_codec_and_container_decodes(
    tmp_path: Path, name: str, fmt: str, encoder: str, codec: str
) -> None:
    path = write(tmp_path, name, encode(fmt, encoder))
    info = probe_video(path, "video.url")
    assert (info.codec, info.width, info.height, info.rotation) == (codec, 64, 48, 0)
    assert info.duration_s == pytest.approx(1.0, abs=0.01)
    assert info.fps == pytest.approx(24, abs=0.1)
    count = round(info.duration_s * FPS)
    frames = list(video_frames(path, 64, 48, FPS, count))
    assert count == 24 and len(frames) == 24
    assert all(f.shape == (48, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert [grey_index(f) for f in frames] == list(range(24))
    assert_upright(frames[0])
    assert np.array_equal(last_frame(path, 64, 48), frames[-1])


def test_scaling_to_another_size(tmp_path: Path) -> None:
    path = write(tmp_path, "in.webm", encode("webm", "libvpx-vp9", size=(96, 64)))
    frames = list(video_frames(path, 48, 32, FPS, 24))
    assert [f.shape for f in frames] == [(32, 48, 3)] * 24
    assert_upright(frames[5])


# --------------------------------------------------------------------------- rotation

TURNABLE = [("mp4", "libx264"), ("mov", "libx264"), ("webm", "libvpx-vp9")]


ROTATED = [
    *[(fmt, codec, ccw) for fmt, codec in TURNABLE for ccw in (90, 180, 270)],
    ("mp4", "libx265", 90),
    ("webm", "libsvtav1", 270),
]


@pytest.mark.parametrize(("fmt", "codec", "ccw"), ROTATED)
def test_rotation_is_honoured(tmp_path: Path, fmt: str, codec: str, ccw: int) -> None:
    path = write(tmp_path, f"rot.{fmt}", encode(fmt, codec, size=(48, 80), frames=12, rotation=ccw))
    with av.open(path) as container:  # the file really is stored turned
        coded = container.streams.video[0].codec_context
        assert (coded.width, coded.height) == ((80, 48) if ccw != 180 else (48, 80))
    info = probe_video(path, "video.url")
    assert (info.width, info.height) == (48, 80)  # display size
    assert info.rotation == (-ccw) % 360  # clockwise turn that makes it upright
    frames = list(video_frames(path, 48, 80, FPS, 12))
    assert [f.shape for f in frames] == [(80, 48, 3)] * 12
    for f in frames[::5]:
        assert_upright(f)
    assert [grey_index(f) for f in frames] == list(range(12))
    last = last_frame(path, 48, 80)
    assert_upright(last)
    assert np.array_equal(last, frames[-1])


def test_non_square_pixels_give_the_display_width(tmp_path: Path) -> None:
    path = write(tmp_path, "sar.mp4", encode(size=(64, 48), frames=6, sar=Fraction(2, 1)))
    info = probe_video(path, "video.url")
    assert (info.width, info.height) == (128, 48)
    frames = list(video_frames(path, info.width, info.height, FPS, 6))
    assert frames[0].shape == (48, 128, 3)
    assert_upright(frames[0])


def test_rotated_input_scales_to_its_capped_display_size(tmp_path: Path) -> None:
    path = write(tmp_path, "r.mp4", encode(size=(60, 100), frames=6, rotation=270))
    info = probe_video(path, "video.url")
    width, height = capped_size(info.width, info.height, "480p")
    assert (width, height) == (60, 100)
    for f in video_frames(path, width, height, FPS, 6):
        assert f.shape == (100, 60, 3)
        assert_upright(f)


# --------------------------------------------------------------------------- frame rate


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_variable_frame_rate_is_sampled_by_timestamp(tmp_path: Path, fmt: str) -> None:
    times = [0.0, 0.03, 0.05, 0.21, 0.25, 0.5, 0.52, 0.7, 0.95, 1.2, 1.21, 1.5]
    codec = "libvpx-vp9" if fmt == "webm" else "libx264"
    path = write(tmp_path, f"vfr.{fmt}", encode(fmt, codec, times=times))
    info = probe_video(path, "video.url")
    assert 1.5 < info.duration_s < 1.6
    count = round(info.duration_s * FPS)
    frames = list(video_frames(path, 64, 48, FPS, count))
    assert len(frames) == count
    expected = [max(j for j, t in enumerate(times) if t <= k / FPS + 1e-6) for k in range(count)]
    assert [grey_index(f) for f in frames] == expected


def test_high_frame_rate_is_resampled_to_24(tmp_path: Path) -> None:
    buf = io.BytesIO()
    with av.open(buf, "w", format="mp4") as out:  # a real 60 fps file: 1 s, 60 frames
        stream = out.add_stream("libx264", rate=60)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(60):
            frame = av.VideoFrame.from_ndarray(picture(i // 3, 64, 48), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    path = write(tmp_path, "60.mp4", buf.getvalue())
    info = probe_video(path, "video.url")
    assert info.fps == pytest.approx(60) and info.duration_s == pytest.approx(1.0, abs=0.02)
    frames = list(video_frames(path, 64, 48, FPS, 24))
    # output k shows source frame floor(k * 60 / 24), which drew picture(that // 3)
    assert [grey_index(f) for f in frames] == [(k * 60 // 24) // 3 for k in range(24)]


def test_short_source_holds_its_last_frame(tmp_path: Path) -> None:
    path = write(tmp_path, "short.mp4", encode(frames=6))
    frames = list(video_frames(path, 64, 48, FPS, 10))
    assert [grey_index(f) for f in frames] == [0, 1, 2, 3, 4, 5, 5, 5, 5, 5]


# --------------------------------------------------------------------------- odd sizes


@pytest.mark.parametrize(
    ("fmt", "codec", "pix_fmt"),
    [("webm", "libvpx-vp9", "yuv420p"), ("mp4", "libx264", "yuv444p")],
)
def test_odd_source_size(tmp_path: Path, fmt: str, codec: str, pix_fmt: str) -> None:
    path = write(tmp_path, f"odd.{fmt}", encode(fmt, codec, size=(321, 181), pix_fmt=pix_fmt))
    info = probe_video(path, "video.url")
    assert (info.width, info.height) == (321, 181)
    width, height = capped_size(info.width, info.height, "720p")
    assert width % 2 == 0 and height % 2 == 0
    frames = list(video_frames(path, width, height, FPS, 24))
    assert len(frames) == 24 and frames[0].shape == (height, width, 3)
    assert_upright(frames[0])
    assert [grey_index(f) for f in frames] == list(range(24))
    assert np.array_equal(last_frame(path, width, height), frames[-1])


# --------------------------------------------------------------------------- last frame, audio


def test_last_frame_seeks_instead_of_decoding_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "long.mp4", encode(frames=120, options={"g": "24"}))
    everything = list(video_frames(path, 64, 48, FPS, 120))
    decoded = 0
    real = decode._decoded

    def counting(*args, **kwargs):
        nonlocal decoded
        for frame in real(*args, **kwargs):
            decoded += 1
            yield frame

    monkeypatch.setattr(decode, "_decoded", counting)
    last = last_frame(path, 64, 48)
    assert np.array_equal(last, everything[-1])
    assert decoded <= 30  # one GOP, not 120 frames


def test_last_frame_falls_back_when_seeking_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "in.webm", encode("webm", "libvpx-vp9"))

    def broken_seek(*args, **kwargs):
        raise av.error.PermissionError(1, "no seeking here")

    monkeypatch.setattr(av.container.InputContainer, "seek", broken_seek)
    expected = list(video_frames(path, 64, 48, FPS, 24))[-1]
    assert np.array_equal(last_frame(path, 64, 48), expected)


@pytest.mark.parametrize("fmt", ["mp4", "webm"])
def test_audio_samples(tmp_path: Path, fmt: str) -> None:
    codec = "libvpx-vp9" if fmt == "webm" else "libx264"
    path = write(tmp_path, f"a.{fmt}", encode(fmt, codec, audio_s=1.0))
    assert probe_video(path, "video.url").has_audio
    audio = audio_samples(path)
    assert audio is not None and audio.dtype == np.float32 and audio.shape[1] == 2
    assert abs(len(audio) - 48000) < 48000 * 0.05
    middle = audio[10000:40000]
    assert np.allclose(middle[:, 0], middle[:, 1], atol=1e-3)
    assert 0.3 < float(np.abs(middle).max()) < 0.6
    resampled = audio_samples(path, rate=16000)
    assert resampled is not None and abs(len(resampled) - 16000) < 800
    quarter = audio_samples(path, max_s=0.25)
    assert quarter is not None and len(quarter) == 12000


def test_audio_samples_none_without_audio(tmp_path: Path) -> None:
    assert audio_samples(write(tmp_path, "v.mp4", encode(frames=6))) is None


# --------------------------------------------------------------------------- damage


def test_a_corrupt_packet_mid_stream_is_skipped(tmp_path: Path) -> None:
    for fmt, codec in [("mp4", "libx264"), ("webm", "libvpx-vp9"), ("mp4", "libx265")]:
        data = corrupt_packets(encode(fmt, codec), fmt, 10, 10)
        path = write(tmp_path, f"c.{fmt}", data)
        probe_video(path, "video.url")
        frames = list(video_frames(path, 64, 48, FPS, 24))
        assert len(frames) == 24
        assert grey_index(frames[0]) == 0


@pytest.mark.parametrize(
    ("fmt", "codec"), [("mp4", "libx264"), ("webm", "libvpx-vp9"), ("mp4", "libx265")]
)
def test_corrupt_stream_mid_way_raises_input_error(tmp_path: Path, fmt: str, codec: str) -> None:
    data = corrupt_packets(encode(fmt, codec, frames=72), fmt, 4)
    path = write(tmp_path, f"c.{fmt}", data)
    probe_video(path, "video.url")  # the start is fine: only decoding finds the damage
    start = time.monotonic()
    with pytest.raises(InputError) as info:
        for _ in video_frames(path, 64, 48, FPS, 72, field="video.url"):
            pass
    assert info.value.field == "video.url" and "corrupt" in info.value.message
    assert time.monotonic() - start < 5
    with pytest.raises(InputError, match="corrupt"):
        list(video_frames(path, 64, 48, FPS, 72, field="videos[0].url"))


def test_bad_corpus_refused_quickly(tmp_path: Path) -> None:
    for name, data in bad_corpus():
        start = time.monotonic()
        with pytest.raises(InputError) as info:
            probe_video(data, "video.url")
        assert info.value.field == "video.url", name
        assert time.monotonic() - start < 2, name
        if name == "mpeg4-codec":
            assert "mpeg4" in info.value.message
        if name.startswith("vp9-"):
            assert "size" in info.value.message or "8192" in info.value.message, name
        if data:  # the same bytes on disk: refused too, and decoding them never crashes
            path = write(tmp_path, name, data)
            with pytest.raises(InputError):
                probe_video(path, "video.url")
            for read in (
                lambda p=path: list(video_frames(p, 64, 48, FPS, 24)),
                lambda p=path: last_frame(p, 64, 48),
                lambda p=path: audio_samples(p),
            ):
                try:
                    read()  # a half file may still decode; what matters is no other error
                except InputError as exc:
                    assert exc.field == "video.url"


def test_probe_work_is_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = encode(frames=48)
    monkeypatch.setattr(probe, "MAX_VIDEO_PACKETS", 30)
    with pytest.raises(InputError, match="more than 30 frames"):
        probe_video(data, "video.url")
    monkeypatch.setattr(probe, "MAX_VIDEO_PACKETS", 100)
    monkeypatch.setattr(probe, "PROBE_BUDGET_S", -1.0)  # already out of time
    with pytest.raises(InputError, match="took longer"):
        probe_video(data, "video.url")


def test_decoding_memory_stays_flat(tmp_path: Path) -> None:
    import tracemalloc

    path = write(tmp_path, "big.webm", encode("webm", "libvpx-vp9", size=(320, 240), frames=96))
    frames = video_frames(path, 320, 240, FPS, 96)
    next(frames)
    tracemalloc.start()
    for _ in frames:
        pass
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 10 * 320 * 240 * 3  # a few frames at most, not 96


def test_paths_and_field_names(tmp_path: Path) -> None:
    path = write(tmp_path, "x.bin", b"garbage" * 100)
    with pytest.raises(InputError) as info:
        list(video_frames(path, 64, 48, FPS, 1, field="video.url"))
    assert info.value.field == "video.url"
    with pytest.raises(InputError):
        last_frame(path, 64, 48)
    with pytest.raises(InputError):
        audio_samples(path)
