"""Per-stage timings: the renderer and the diffusers engine record each stage of a job, the
worker stores them in the job's result and logs them, and they add up to the job's time."""

from __future__ import annotations

import logging
import time

import pytest

from reelforge.config import Settings
from reelforge.core.spec import InputRef, JobSpec
from reelforge.engines import available_engines
from reelforge.jobs.render import InputLoader, Renderer
from reelforge.jobs.store import JobStore
from reelforge.jobs.worker import Worker, pin_device
from reelforge.net.policy import FetchPolicy
from reelforge.storage.local import LocalStorage
from tests.helpers import mp4_bytes

DIFFUSERS_STAGES = {"text_encode", "denoise", "vae_decode", "moderation", "mp4_encode"}


def spec(mode: str = "text-to-video", **kw) -> JobSpec:
    values = dict(
        kind="generations",
        mode=mode,
        model="tiny-t2v",
        prompt="a red cat runs",
        duration_s=1.0,
        aspect_ratio="16:9",
        resolution="480p",
        seed=1,
        generate_audio=True,
    )
    return JobSpec(**(values | kw))


def assert_adds_up(timings: dict[str, float], wall: float, untimed: float = 0.0) -> None:
    """The stages make up the job's time, but for `untimed` seconds of work in no stage."""
    assert abs(sum(timings.values()) - wall) <= 0.1 * wall + untimed, (timings, wall)


def test_render_timings_cover_every_stage_and_add_up(catalog, tmp_path):
    storage = LocalStorage(tmp_path / "files")
    renderer = Renderer(
        catalog,
        available_engines(catalog),
        InputLoader(storage, FetchPolicy()),
        tmp_path / "tmp",
    )
    storage.put_bytes("inputs/source.mp4", mp4_bytes(1.0, 96, 64))
    jobs = [
        spec(),  # loads the model: a "load" stage
        spec(),
        spec(
            "edit",
            duration_s=None,
            aspect_ratio=None,
            resolution=None,
            video=InputRef(blob="inputs/source.mp4", field="video"),
        ),
    ]
    for n, job in enumerate(jobs):
        start = time.perf_counter()
        rendered = renderer.render(job, f"out{n}.mp4", lambda done, total: None)
        wall = time.perf_counter() - start
        assert DIFFUSERS_STAGES <= set(rendered.timings), rendered.timings
        assert ("load" in rendered.timings) == (n == 0)
        if job.mode == "edit":  # fetching, probing and decoding the source
            assert rendered.timings["inputs"] > 0
        assert_adds_up(rendered.timings, wall)


def test_the_worker_stores_and_logs_the_timings(catalog, tmp_path, caplog):
    settings = Settings(data_dir=tmp_path)
    store = JobStore(settings.db_url)
    store.create_schema()
    worker = Worker(settings, store, LocalStorage(settings.files_dir), catalog)
    store.add("job-1", "owner", spec().to_dict())
    with caplog.at_level(logging.INFO, logger="reelforge.worker"):
        start = time.perf_counter()
        assert worker.run_once()  # claim, render, store the video, complete
        wall = time.perf_counter() - start
    job = store.get("job-1")
    assert job.status == "done", job.error_message
    timings = job.result["timings"]
    assert DIFFUSERS_STAGES | {"store"} <= set(timings)  # store: the video and its poster
    assert_adds_up(timings, wall, untimed=0.05)  # claiming and completing: database writes
    logged = [r.message for r in caplog.records if "job job-1 rendered in" in r.message]
    assert logged and "denoise" in logged[0] and "mp4_encode" in logged[0]
    store.dispose()


@pytest.mark.parametrize("index,expected", [(0, "3"), (1, "5"), (2, "3")])
def test_each_worker_is_pinned_to_one_gpu_in_turn(index, expected, monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert pin_device(["3", "5"], index) == expected
    import os

    assert os.environ["CUDA_VISIBLE_DEVICES"] == expected
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    assert pin_device([], index) is None and "CUDA_VISIBLE_DEVICES" not in os.environ
