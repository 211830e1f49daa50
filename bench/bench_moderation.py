"""What content moderation costs a job: the worker's real render path with the built-in policy
(prompt classifier, output frames sampled once a second, input videos likewise) against the
same path with moderation off, in one run; then the output stage at other sampling rates.

Goal: the default policy adds <= 15% to a 10 s 720p text-to-video job. The models are loaded
before timing (a worker loads them once, on its first job; that one-off is printed too).

Run from the repo root: .venv/bin/python bench/bench_moderation.py
"""

from __future__ import annotations

import dataclasses
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from reelforge.core.catalog import Catalog
from reelforge.core.spec import EDIT, GENERATION, InputRef, VideoRequest, build_spec
from reelforge.engines.preview import PreviewEngine
from reelforge.jobs.render import InputLoader, Renderer
from reelforge.moderation.images import letterbox
from reelforge.moderation.moderator import Moderator
from reelforge.net.policy import FetchPolicy
from reelforge.storage.local import LocalStorage

RUNS = 3


def main() -> None:
    catalog = Catalog.load()
    policy = catalog.moderation
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalStorage(Path(tmp) / "files")
        loader = InputLoader(storage, FetchPolicy())

        def renderer(moderator: Moderator | None) -> Renderer:
            return Renderer(catalog, {"preview": PreviewEngine()}, loader, Path(tmp), moderator)

        on = Moderator(policy)
        start = time.perf_counter()
        on.text.load()
        text_load = time.perf_counter() - start
        start = time.perf_counter()
        detector = on.detector()
        image_load = time.perf_counter() - start
        print(f"one-off per worker: text classifier {text_load:.2f} s, detector {image_load:.2f} s")

        frame = np.random.default_rng(1).integers(0, 256, (720, 1280, 3), np.uint8)
        detector.scores([frame])
        start = time.perf_counter()
        for _ in range(20):
            small = letterbox(frame)
        shrink = (time.perf_counter() - start) / 20
        start = time.perf_counter()
        detector.scores([small] * 20)
        detect = (time.perf_counter() - start) / 20
        print(
            f"per sampled frame: letterbox 720p -> 320 {shrink * 1000:.1f} ms (render thread), "
            f"detector {detect * 1000:.1f} ms (1 thread)"
        )
        start = time.perf_counter()
        for _ in range(20):
            on.text.check("a red ball bouncing on a beach, slow zoom in")
        print(f"per prompt: {(time.perf_counter() - start) / 20 * 1000:.1f} ms")

        def timed(r: Renderer, kind: str, request: VideoRequest, name: str) -> float:
            spec = build_spec(kind, request, catalog)
            start = time.perf_counter()
            rendered = r.render(spec, name, lambda done, total: None)
            assert rendered.withheld is None, rendered.withheld
            return time.perf_counter() - start

        plain, checked = renderer(None), renderer(on)
        model = {"model": "grok-imagine-video"}
        t2v = VideoRequest(prompt="a red ball on a beach", duration=10, resolution="720p", **model)
        timed(plain, GENERATION, dataclasses.replace(t2v, duration=8), "in.mp4")
        storage.put_file("inputs/bench/0", Path(tmp) / "in.mp4")
        edit = VideoRequest(
            prompt="make it black and white",
            video=InputRef(blob="inputs/bench/0", field="video.url"),
            **model,
        )
        short = VideoRequest(prompt="a red ball", duration=1, resolution="480p", **model)
        cases = [
            ("10 s 720p text-to-video", GENERATION, t2v),
            ("1 s 480p text-to-video", GENERATION, short),
            ("8 s 720p edit (input + output sampled)", EDIT, edit),
        ]
        print(f"\nmedian of {RUNS}, alternating     off      on   ratio")
        ratios = {}
        for label, kind, request in cases:
            off_s, on_s = [], []
            for n in range(RUNS):
                off_s.append(timed(plain, kind, request, f"off{n}.mp4"))
                on_s.append(timed(checked, kind, request, f"on{n}.mp4"))
            a, b = statistics.median(off_s), statistics.median(on_s)
            ratios[label] = b / a
            print(f"{label:38s} {a:5.2f} s {b:5.2f} s   {b / a:.2f}")

        print("\noutput stage only, 10 s 720p text-to-video, by sampling rate (alternating):")
        for rate in (1.0, 2.0, 4.0):
            images = dataclasses.replace(policy.images, output_frames_per_second=rate)
            only = dataclasses.replace(policy, stages=frozenset({"output"}), images=images)
            moderator = Moderator(only)
            moderator._detector = detector  # share the loaded session
            r = renderer(moderator)
            off_s, on_s = [], []
            for n in range(RUNS):
                off_s.append(timed(plain, GENERATION, t2v, f"b{n}.mp4"))
                on_s.append(timed(r, GENERATION, t2v, f"r{n}.mp4"))
            a, b = statistics.median(off_s), statistics.median(on_s)
            frames = int(10 * rate)
            print(
                f"  {rate:3.1f} frames/s, {frames:2d} frames: {a:.2f} s -> {b:.2f} s, {b / a:.2f}"
            )
        print(f"\nratio on / off, 10 s 720p: {ratios[cases[0][0]]:.2f} (goal <= 1.15)")


if __name__ == "__main__":
    main()
