"""`--devices`: one worker process per GPU, each pinned with CUDA_VISIBLE_DEVICES; and a
diffusers option this machine cannot run stops `worker` and `serve` at start-up, naming it."""

from __future__ import annotations

import subprocess
import sys
import time

from tests.helpers import WorkerHost
from tests.tiny_wan import catalog_toml


def test_devices_start_one_worker_per_gpu_each_pinned_to_its_own(tmp_path):
    host = WorkerHost(tmp_path / "data", args=["--devices", "3,5"])
    host.start()
    try:
        deadline = time.monotonic() + 60
        while host.log().count(" pinned to GPU ") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert "worker 0 pinned to GPU 3 (CUDA_VISIBLE_DEVICES=3)" in host.log()
        assert "worker 1 pinned to GPU 5 (CUDA_VISIBLE_DEVICES=5)" in host.log()
    finally:
        host.stop()


def test_an_option_this_machine_cannot_run_stops_start_up(tiny_models, tmp_path):
    """(`worker` runs the same start-up check as `serve`: cli._open_backend.)"""
    catalog = tmp_path / "catalog.toml"
    catalog.write_text(
        catalog_toml(
            tiny_models, **{"tiny-t2v": {"attention": "_native_cudnn", "quantize": "int8_weight"}}
        )
    )
    args = ["--data-dir", str(tmp_path / "data"), "--catalog", str(catalog), "--grpc-port", "0"]
    done = subprocess.run(
        [sys.executable, "-m", "reelforge.cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert "models.tiny-t2v.attention: '_native_cudnn' needs a CUDA device" in done.stderr


def test_devices_that_are_not_there_stop_start_up(tiny_models, tmp_path):
    """A worker pinned to a missing GPU would fail every job: `serve` refuses at once instead."""

    def serve(device: str) -> subprocess.CompletedProcess:
        catalog = tmp_path / f"{device}.toml"
        catalog.write_text(catalog_toml(tiny_models, **{"tiny-t2v": {"device": device}}))
        args = ["--data-dir", str(tmp_path / "data"), "--catalog", str(catalog)]
        return subprocess.run(
            [sys.executable, "-m", "reelforge.cli", "serve", *args, "--devices", "7"],
            capture_output=True,
            text=True,
            timeout=120,
        )

    absent = serve("auto")  # this machine has no GPU at all
    assert absent.returncode != 0
    assert "models.tiny-t2v: --devices 7 but torch sees no CUDA device" in absent.stderr
    second = serve("cuda:1")
    assert second.returncode != 0
    assert "'cuda:1' with --devices 7: each worker sees only its own GPU" in second.stderr
