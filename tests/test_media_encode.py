"""The MP4 writer and the image helpers, checked by decoding what they produce."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pytest
from PIL import Image

from reelforge.engines.base import AUDIO_RATE, RenderRequest
from reelforge.media.encode import Mp4Writer, encode_clip
from reelforge.media.fit import fit_image, image_from_bytes

W, H = 848, 480


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10 * np.log10(255**2 / mse)


def still(width: int = W, height: int = H) -> np.ndarray:
    """A smooth synthetic picture with a few hard-edged shapes."""
    yy, xx = np.mgrid[0:height, 0:width]
    image = np.stack(
        [xx * 255 // width, yy * 255 // height, 128 + 50 * np.sin(xx / 40) * np.cos(yy / 30)],
        axis=-1,
    ).astype(np.uint8)
    image[height // 4 : height // 2, width // 5 : width // 2] = (220, 40, 50)
    image[height // 2 : 3 * height // 4, width // 2 : 4 * width // 5] = (30, 60, 200)
    return image


def probe(path: Path) -> dict:
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        audio = container.streams.audio[0] if container.streams.audio else None
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video)]
        info = {
            "frames": frames,
            "codec": video.codec_context.name,
            "pix_fmt": video.codec_context.pix_fmt,
            "fps": float(video.average_rate),
            "size": (video.codec_context.width, video.codec_context.height),
            "video_s": float(video.duration * video.time_base),
            "audio": None,
        }
        if audio is not None:
            info["audio"] = {
                "codec": audio.codec_context.name,
                "channels": audio.codec_context.layout.nb_channels,
                "rate": audio.codec_context.sample_rate,
                "seconds": float(audio.duration * audio.time_base),
            }
    return info


class FakeClip:
    def __init__(self, frames: list[np.ndarray], audio: np.ndarray | None) -> None:
        self._frames, self._audio = frames, audio

    def frames(self) -> Iterator[np.ndarray]:
        yield from self._frames

    def audio(self) -> np.ndarray | None:
        return self._audio


def request(num_frames: int, generate_audio: bool) -> RenderRequest:
    return RenderRequest(
        mode="text-to-video",
        prompt="test",
        width=W,
        height=H,
        num_frames=num_frames,
        seed=0,
        generate_audio=generate_audio,
    )


def tone(seconds: float) -> np.ndarray:
    t = np.arange(round(seconds * AUDIO_RATE)) / AUDIO_RATE
    return (0.3 * np.stack([np.sin(2 * np.pi * 440 * t), np.sin(2 * np.pi * 660 * t)], 1)).astype(
        np.float32
    )


def test_writer_keeps_every_frame_at_24_fps_without_audio(tmp_path: Path) -> None:
    frames = [np.full((H, W, 3), 8 * i, np.uint8) for i in range(31)]
    with Mp4Writer(tmp_path / "a.mp4", W, H, with_audio=False) as out:
        for frame in frames:
            out.write_frame(frame)
    info = probe(tmp_path / "a.mp4")
    assert len(info["frames"]) == 31
    assert info["size"] == (W, H)
    assert info["fps"] == 24
    assert info["codec"] == "h264" and info["pix_fmt"] == "yuv420p"
    assert info["audio"] is None
    assert abs(info["video_s"] - 31 / 24) < 0.01
    # Frames stay in order: the grey level climbs.
    means = [f.mean() for f in info["frames"]]
    assert means == sorted(means)


def test_still_image_survives_encoding(tmp_path: Path) -> None:
    image = still()
    with Mp4Writer(tmp_path / "s.mp4", W, H, with_audio=False) as out:
        for _ in range(12):
            out.write_frame(image)
    frames = probe(tmp_path / "s.mp4")["frames"]
    assert min(psnr(frame, image) for frame in frames) >= 35


def test_index_is_at_the_front(tmp_path: Path) -> None:
    with Mp4Writer(tmp_path / "f.mp4", W, H, with_audio=True) as out:
        out.write_frame(still())
        out.write_audio(tone(0.1))
    data = (tmp_path / "f.mp4").read_bytes()
    assert 0 < data.index(b"moov") < data.index(b"mdat")


def test_audio_written_in_chunks_is_aac_stereo(tmp_path: Path) -> None:
    samples = tone(2.0)
    with Mp4Writer(tmp_path / "c.mp4", W, H, with_audio=True) as out:
        for i in range(48):
            out.write_frame(still())
            out.write_audio(samples[i * 2000 : (i + 1) * 2000])
    audio = probe(tmp_path / "c.mp4")["audio"]
    assert audio == {
        "codec": "aac",
        "channels": 2,
        "rate": AUDIO_RATE,
        "seconds": pytest.approx(2.0, abs=0.1),
    }


def test_writer_rejects_wrong_shapes(tmp_path: Path) -> None:
    with Mp4Writer(tmp_path / "r.mp4", W, H, with_audio=False) as out:
        with pytest.raises(ValueError):
            out.write_frame(np.zeros((H, W + 2, 3), np.uint8))
        with pytest.raises(ValueError):
            out.write_frame(np.zeros((H, W, 3), np.float32))
        with pytest.raises(RuntimeError):
            out.write_audio(tone(0.1))
        out.write_frame(still())
    with pytest.raises(ValueError):
        Mp4Writer(tmp_path / "odd.mp4", 101, 100, with_audio=False)


@pytest.mark.parametrize("audio_seconds", [1.5, 0.4, 3.0])
def test_encode_clip_audio_spans_the_video(tmp_path: Path, audio_seconds: float) -> None:
    frames = [still()] * 36
    done: list[tuple[int, int]] = []
    encode_clip(
        FakeClip(frames, tone(audio_seconds)),
        request(36, True),
        tmp_path / "v.mp4",
        progress=lambda d, t: done.append((d, t)),
    )
    info = probe(tmp_path / "v.mp4")
    assert len(info["frames"]) == 36
    assert info["audio"]["codec"] == "aac" and info["audio"]["channels"] == 2
    assert info["audio"]["seconds"] == pytest.approx(36 / 24, abs=0.1)
    assert done == [(i, 36) for i in range(1, 37)]


def test_encode_clip_without_generate_audio_has_no_audio_stream(tmp_path: Path) -> None:
    encode_clip(FakeClip([still()] * 10, tone(1.0)), request(10, False), tmp_path / "n.mp4")
    info = probe(tmp_path / "n.mp4")
    assert info["audio"] is None and len(info["frames"]) == 10


def test_encode_clip_refuses_a_clip_of_the_wrong_length(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="9 frames"):
        encode_clip(FakeClip([still()] * 9, None), request(10, False), tmp_path / "x.mp4")
    with pytest.raises(ValueError, match="more than"):
        encode_clip(FakeClip([still()] * 11, None), request(10, False), tmp_path / "y.mp4")


def test_encode_clip_passes_on_render_errors(tmp_path: Path) -> None:
    class Broken(FakeClip):
        def frames(self) -> Iterator[np.ndarray]:
            yield still()
            raise RuntimeError("engine fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        encode_clip(Broken([], None), request(5, False), tmp_path / "b.mp4")


# fit_image


def test_fit_image_crops_the_centre_of_a_wide_image() -> None:
    # Three 100-wide bands: red | green | blue. A square output must be the green middle.
    image = np.zeros((100, 300, 3), np.uint8)
    image[:, :100] = (255, 0, 0)
    image[:, 100:200] = (0, 255, 0)
    image[:, 200:] = (0, 0, 255)
    fitted = fit_image(image, 50, 50)
    assert fitted.shape == (50, 50, 3) and fitted.dtype == np.uint8
    assert np.abs(fitted[:, 2:-2].astype(int) - (0, 255, 0)).max() <= 2


def test_fit_image_crops_the_centre_of_a_tall_image() -> None:
    # Rows carry their own index: the kept rows must be the middle ones, scaled.
    image = np.repeat(np.arange(200, dtype=np.uint8)[:, None, None], 100, axis=1)
    image = np.repeat(image, 3, axis=2)
    fitted = fit_image(image, 100, 50)  # from 100x200 keep the centre 100x50: rows 75..125
    assert fitted.shape == (50, 100, 3)
    column = fitted[:, 50, 0].astype(int)
    assert abs(column[0] - 75) <= 2 and abs(column[-1] - 124) <= 2
    assert np.all(np.diff(column) >= 0)


def test_fit_image_scales_up_to_cover_and_accepts_grey_and_alpha() -> None:
    small = np.full((30, 40, 3), 90, np.uint8)
    assert fit_image(small, 848, 480).shape == (480, 848, 3)
    grey = np.full((30, 40), 200, np.uint8)
    assert fit_image(grey, 64, 64)[10, 10].tolist() == [200, 200, 200]
    rgba = np.zeros((30, 40, 4), np.uint8)
    rgba[..., 3] = 0  # fully transparent: the white matte shows
    assert fit_image(rgba, 64, 36)[5, 5].tolist() == [255, 255, 255]


def test_fit_image_of_the_right_size_is_unchanged() -> None:
    image = still(64, 48)
    assert np.array_equal(fit_image(image, 64, 48), image)


# image_from_bytes


def encoded(image: Image.Image, fmt: str, **params: object) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **params)
    return buf.getvalue()


@pytest.mark.parametrize("fmt,tolerance", [("PNG", 0), ("JPEG", 12), ("WEBP", 12)])
def test_image_from_bytes_decodes_common_formats(fmt: str, tolerance: int) -> None:
    source = still(96, 64)
    data = encoded(Image.fromarray(source), fmt, **({"quality": 95} if fmt != "PNG" else {}))
    decoded = image_from_bytes(data)
    assert decoded.shape == (64, 96, 3) and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - source).mean() <= tolerance


def test_image_from_bytes_flattens_alpha_grey_and_palette() -> None:
    rgba = np.zeros((20, 30, 4), np.uint8)
    rgba[:, :15] = (255, 0, 0, 255)  # opaque red left half, transparent right half
    out = image_from_bytes(encoded(Image.fromarray(rgba, "RGBA"), "PNG"))
    assert out.shape == (20, 30, 3)
    assert out[10, 5].tolist() == [255, 0, 0] and out[10, 25].tolist() == [255, 255, 255]

    grey = image_from_bytes(encoded(Image.new("L", (10, 8), 77), "PNG"))
    assert grey.shape == (8, 10, 3) and grey[0, 0].tolist() == [77, 77, 77]

    palette = Image.new("P", (10, 8))
    palette.putpalette([0, 0, 0, 10, 200, 30] + [0] * 762)
    palette.paste(1, (0, 0, 10, 8))
    assert image_from_bytes(encoded(palette, "PNG"))[0, 0].tolist() == [10, 200, 30]


def test_image_from_bytes_honours_exif_orientation() -> None:
    image = Image.fromarray(still(80, 40))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display": a phone held upright
    decoded = image_from_bytes(encoded(image, "JPEG", exif=exif.tobytes()))
    assert decoded.shape == (80, 40, 3)


def test_image_from_bytes_rejects_garbage() -> None:
    with pytest.raises(ValueError):
        image_from_bytes(b"definitely not an image")
