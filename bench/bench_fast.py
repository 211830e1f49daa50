"""`--fast`: the time of a 2 s 480p job, create to done, with and without it.

Two real servers on 127.0.0.1 with the built-in catalog (moderation on, one worker), one with
`--fast`; each gets a warm-up job, then five 2 s 480p text-to-video jobs one after another (a
long poll waits for each). Reported: the median create -> done time of each, the ratio, and the
MP4 sizes (the price of the fastest preset: bigger files, same frames and audio).

Run from the repository root:  .venv/bin/python bench/bench_fast.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import av
import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.helpers import Server  # noqa: E402

JOBS = 5
HEADERS = {"Authorization": "Bearer bench"}


def job_time(client: httpx.Client, n: int) -> tuple[float, bytes]:
    body = {"prompt": f"a red ball bouncing on a beach, pan left {n}", "duration": 2}
    start = time.perf_counter()
    request_id = client.post("/v1/videos/generations", json=body).json()["request_id"]
    while (r := client.get(f"/v1/videos/{request_id}", params={"wait": 30})).status_code == 202:
        pass
    elapsed = time.perf_counter() - start
    return elapsed, client.get(r.json()["video"]["url"]).content


def measure(fast: bool, root: Path) -> tuple[float, int]:
    server = Server(root / ("fast" if fast else "default"), args=["--fast"] if fast else [])
    server.start()
    try:
        with httpx.Client(base_url=server.base_url, headers=HEADERS, timeout=60) as client:
            job_time(client, -1)  # warm-up: the worker's moderation models load first
            runs = [job_time(client, n) for n in range(JOBS)]
    finally:
        server.stop()
    video = runs[-1][1]
    with av.open(__import__("io").BytesIO(video)) as container:
        frames = sum(1 for _ in container.decode(video=0))
        assert frames == 48 and container.streams.audio, "the contract: 48 frames and audio"
    return statistics.median(t for t, _ in runs), len(video)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        default, default_size = measure(False, Path(tmp))
        fast, fast_size = measure(True, Path(tmp))
    print(f"default: {default:.2f} s per job, {default_size / 1024:.0f} KiB")
    print(f"--fast:  {fast:.2f} s per job, {fast_size / 1024:.0f} KiB")
    print(f"ratio fast/default: {fast / default:.2f}")


if __name__ == "__main__":
    main()
