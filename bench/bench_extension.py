"""Extending a 15 s 720p clip by 2 s against generating a 2 s 720p clip, in one run.

Both go through the worker's real render path (inputs from storage, probe, engine, encoder);
the extension copies the original's stream and encodes only the new segment. Goal: ratio <= 1.5.

Run from the repo root: .venv/bin/python bench/bench_extension.py
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

from reelforge.core.catalog import Catalog
from reelforge.core.spec import EXTENSION, GENERATION, InputRef, VideoRequest, build_spec
from reelforge.engines.preview import PreviewEngine
from reelforge.jobs.render import InputLoader, Renderer
from reelforge.net.policy import FetchPolicy
from reelforge.storage.local import LocalStorage

RUNS = 3


def main() -> None:
    catalog = Catalog.load()
    with tempfile.TemporaryDirectory() as tmp:
        storage = LocalStorage(Path(tmp) / "files")
        renderer = Renderer(
            catalog, {"preview": PreviewEngine()}, InputLoader(storage, FetchPolicy()), Path(tmp)
        )

        def render(kind: str, request: VideoRequest, name: str) -> float:
            spec = build_spec(kind, request, catalog)
            start = time.perf_counter()
            renderer.render(spec, name, lambda done, total: None)
            return time.perf_counter() - start

        base = {"model": "grok-imagine-video", "resolution": "720p"}
        first = VideoRequest(prompt="a red ball on a beach", duration=15, **base)
        render(GENERATION, first, "in.mp4")
        storage.put_file("inputs/bench/0", Path(tmp) / "in.mp4")
        source = InputRef(blob="inputs/bench/0", field="video.url")

        generate, extend = [], []
        for n in range(RUNS):
            two = VideoRequest(prompt="the ball rolls away, pan right", duration=2, **base)
            generate.append(render(GENERATION, two, f"gen{n}.mp4"))
            more = VideoRequest(
                model="grok-imagine-video", prompt="the ball rolls away", duration=2, video=source
            )
            extend.append(render(EXTENSION, more, f"ext{n}.mp4"))
        g, e = statistics.median(generate), statistics.median(extend)
        print(f"generate 2 s 720p:            {g:.2f} s (median of {RUNS})")
        print(f"extend 15 s 720p clip by 2 s: {e:.2f} s (median of {RUNS})")
        print(f"ratio extend / generate: {e / g:.2f} (goal <= 1.5)")


if __name__ == "__main__":
    main()
