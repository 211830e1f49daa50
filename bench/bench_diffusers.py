"""Diffusers engine: what does Reelforge add to the model itself? (goal: ratio <= 1.1)

Measured: a real server (1 worker, pipeline already warm) rendering a 2 s 480p 16:9 text-to-video
job with a tiny random Wan model (tests/tiny_wan.py) — create to `done` over HTTP (long poll).
Baseline, same run, same machine: the same folder loaded with WanPipeline in this process,
called with the same arguments, its frames resized to 848x480 and encoded with the same encoder
settings (Mp4Writer). No audio in either. Runs alternate; medians compared.

Run from the repository root:  .venv/bin/python bench/bench_diffusers.py
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402

from reelforge.engines.diffusers.shapes import native_frames, render_size, to_uint8  # noqa: E402
from reelforge.media.encode import Mp4Writer  # noqa: E402
from reelforge.media.fit import fit_image  # noqa: E402
from tests.helpers import Server  # noqa: E402
from tests.tiny_wan import TINY_OPTIONS, build  # noqa: E402

WIDTH, HEIGHT, SECONDS = 848, 480, 2
MODEL = {**TINY_OPTIONS, "steps": 8, "max_area": 256 * 144}
BODY = {
    "model": "bench-wan",
    "prompt": "a red cat runs over the hill",
    "duration": SECONDS,
    "aspect_ratio": "16:9",
    "resolution": "480p",
    "generate_audio": False,
    "seed": 7,
}


def catalog(path: Path) -> str:
    lines = ['[models."bench-wan"]', 'engine = "diffusers"', f'path = "{path}"']
    lines += ['modes = ["text-to-video"]', 'resolutions = ["480p"]']
    lines += [f"{k} = {v!r}" for k, v in MODEL.items()]
    return "\n".join(lines) + "\n"


def direct(pipe, out: Path) -> float:
    import torch

    start = time.perf_counter()
    w, h = render_size(WIDTH, HEIGHT, MODEL["max_area"], 16)
    video = pipe(
        prompt=BODY["prompt"],
        height=h,
        width=w,
        num_frames=native_frames(SECONDS * 24, 24, 16),
        num_inference_steps=MODEL["steps"],
        guidance_scale=MODEL["guidance_scale"],
        generator=torch.Generator("cpu").manual_seed(BODY["seed"]),
        max_sequence_length=MODEL["max_sequence_length"],
        output_type="np",
    ).frames[0]
    frames = to_uint8(np.asarray(video))
    with Mp4Writer(out, WIDTH, HEIGHT, with_audio=False) as writer:
        for i in range(SECONDS * 24):  # 24 fps from the native 16, ends aligned
            writer.write_frame(fit_image(frames[round(i * (len(frames) - 1) / 47)], WIDTH, HEIGHT))
    return time.perf_counter() - start


def through_server(client) -> float:
    start = time.perf_counter()
    r = client.post("/v1/videos/generations", json=BODY)
    assert r.status_code == 200, r.text
    request_id = r.json()["request_id"]
    while True:
        r = client.get(f"/v1/videos/{request_id}", params={"wait": 60})
        if r.status_code == 200:
            assert r.json()["status"] == "done", r.text
            return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = build(root / "models")["t2v"]
        (root / "catalog.toml").write_text(catalog(folder))
        server = Server(
            root / "data",
            args=[
                "--workers",
                "1",
                "--catalog",
                str(root / "catalog.toml"),
                "--log-level",
                "warning",
            ],
        )
        server.env = {"HF_HUB_OFFLINE": "1"}
        server.start(timeout=60)
        try:
            from diffusers import WanPipeline

            pipe = WanPipeline.from_pretrained(folder, local_files_only=True)
            pipe.set_progress_bar_config(disable=True)
            with server.client() as client:
                through_server(client)  # warm: the worker loads the pipeline once
                direct(pipe, root / "warm.mp4")
                ours, base = [], []
                for n in range(args.runs):
                    base.append(direct(pipe, root / f"d{n}.mp4"))
                    ours.append(through_server(client))
        finally:
            server.stop()
    b, o = statistics.median(base), statistics.median(ours)
    print(f"direct pipeline + encode: {b:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in base)})")
    print(f"reelforge job, end to end: {o:.3f} s  (runs: {', '.join(f'{x:.3f}' for x in ours)})")
    print(f"ratio: {o / b:.3f} (goal <= 1.1)")


if __name__ == "__main__":
    main()
