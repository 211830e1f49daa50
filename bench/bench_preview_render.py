"""Preview engine: does rendering add little to encoding? (goal: ratio <= 1.3)

Baseline: the same 240 frames of 1280x720 (a 10 s 720p text-to-video clip) and its soundtrack,
rendered into memory beforehand, encoded with Mp4Writer. Measured: PreviewEngine render +
encode_clip of that request end to end (frames, soundtrack and encoding). Both use the encoder
settings in reelforge.media.encode. The two are run alternately, three times each, and the
medians compared.

Run from the repository root:  .venv/bin/python bench/bench_preview_render.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from reelforge.engines.base import RenderRequest
from reelforge.engines.preview import PreviewEngine
from reelforge.media.encode import VIDEO_OPTIONS, Mp4Writer, encode_clip

# A zoom: the dearest camera move to render (one resize per frame; pans are plain slices).
PROMPT = "a red ball bouncing past a cat in a green park, the camera zooms in"


def request(seconds: int, generate_audio: bool) -> RenderRequest:
    return RenderRequest(
        mode="text-to-video",
        prompt=PROMPT,
        width=1280,
        height=720,
        num_frames=seconds * 24,
        seed=7,
        generate_audio=generate_audio,
    )


def encode_only(frames: list[np.ndarray], audio: np.ndarray | None, path: Path) -> float:
    start = time.perf_counter()
    with Mp4Writer(path, 1280, 720, with_audio=audio is not None) as out:
        per_frame = 48_000 // 24
        for i, frame in enumerate(frames):
            out.write_frame(frame)
            if audio is not None:
                out.write_audio(audio[i * per_frame : (i + 1) * per_frame])
    return time.perf_counter() - start


def render_and_encode(req: RenderRequest, path: Path) -> float:
    start = time.perf_counter()
    encode_clip(PreviewEngine().render(req), req, path)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument(
        "--no-audio", action="store_true", help="video only, in both runs (generate_audio=false)"
    )
    args = parser.parse_args()

    req = request(args.seconds, not args.no_audio)
    clip = PreviewEngine().render(req)
    frames = list(clip.frames())  # the baseline's frames, rendered before any timing
    audio = clip.audio()
    print(
        f"clip: {len(frames)} frames {req.width}x{req.height}, audio={req.generate_audio}, "
        f"x264 {VIDEO_OPTIONS}, {os.cpu_count()} CPUs"
    )

    baseline: list[float] = []
    measured: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.repeats):
            baseline.append(encode_only(frames, audio, Path(tmp) / f"base{i}.mp4"))
            measured.append(render_and_encode(req, Path(tmp) / f"full{i}.mp4"))
            print(
                f"run {i + 1}: encode-only {baseline[-1]:.2f} s, render+encode {measured[-1]:.2f} s"
            )
    base, full = statistics.median(baseline), statistics.median(measured)
    print(f"median encode-only: {base:.2f} s ({len(frames) / base:.0f} fps)")
    print(f"median render+encode: {full:.2f} s ({len(frames) / full:.0f} fps)")
    print(f"ratio render+encode / encode-only: {full / base:.2f} (goal <= 1.3)")


if __name__ == "__main__":
    main()
