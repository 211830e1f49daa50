"""`bench/gpu/bench_wan_speed.py --tiny`: the GPU benchmark's every path, on the CPU with tiny
configs, so the script is known to run before a GPU session spends time on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_the_gpu_benchmark_runs_tiny_on_the_cpu(tmp_path):
    out = tmp_path / "figures.json"
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench/gpu/bench_wan_speed.py"), "--tiny", "--json", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "CUDA_VISIBLE_DEVICES": ""},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(out.read_text())
    assert [m["model"] for m in figures["models"]] == ["tiny-wan", "tiny-ltx"]
    assert figures["matmul_peak_tflops"] > 0
    for model in figures["models"]:
        rows = {row["label"]: row for row in model["rows"]}
        assert rows["plain diffusers pipeline"]["s_step"] > 0
        measured = [r for r in rows.values() if "s_step" in r]
        assert len(measured) == 10, rows  # plain, 3 combinations, 6 options alone
        assert "needs a CUDA GPU with FP8" in rows["quantize fp8_dynamic"]["note"]
        e2e = model["end_to_end"]
        assert {"text_encode", "denoise", "vae_decode", "mp4_encode"} <= set(e2e["stages"])
        assert sum(e2e["stages"].values()) <= e2e["seconds"] * 1.1
    assert "end to end, 1 s of 480p at 4 steps" in done.stdout
