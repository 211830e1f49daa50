"""What a client waits beyond the render itself: create → `done` through the SDK, minus the
worker's own time on the job (started_at → finished_at in the store), for a 1 s 480p clip.

Baseline in the same run: the same jobs waited for with a plain 1 s polling loop, as xai-sdk
does. Goal: SDK overhead < 100 ms (a 1 s loop averages ~500 ms).

Run from the repo root: .venv/bin/python bench/bench_client_overhead.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reelforge import Client  # noqa: E402
from reelforge.jobs.store import jobs  # noqa: E402
from tests.helpers import KEY, Server  # noqa: E402

RUNS = 8
BODY = {"prompt": "a cat", "duration": 1, "resolution": "480p", "generate_audio": False}


def render_seconds(db: sa.Engine, request_id: str) -> float:
    with db.connect() as conn:
        row = conn.execute(
            sa.select(jobs.c.started_at, jobs.c.finished_at).where(jobs.c.id == request_id)
        ).one()
    return row.finished_at - row.started_at


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        server = Server(data, args=["--workers", "1", "--log-level", "warning"]).start()
        db = sa.create_engine(f"sqlite:///{data / 'reelforge.db'}")
        try:
            with Client(api_key=KEY, base_url=server.base_url) as client:
                client.video.generate(BODY["prompt"], duration=1)  # warm up the worker
                sdk, loop = [], []
                for _ in range(RUNS):
                    start = time.perf_counter()
                    video = client.video.start(BODY["prompt"], duration=1, generate_audio=False)
                    client.video.wait(video.request_id)
                    sdk.append(time.perf_counter() - start - render_seconds(db, video.request_id))

                    start = time.perf_counter()
                    video = client.video.start(BODY["prompt"], duration=1, generate_audio=False)
                    while client.video.get(video.request_id).status == "pending":
                        time.sleep(1.0)
                    loop.append(time.perf_counter() - start - render_seconds(db, video.request_id))
        finally:
            db.dispose()
            server.stop()
    s, p = statistics.median(sdk) * 1000, statistics.median(loop) * 1000
    print(f"1 s polling loop overhead: median {p:.0f} ms over {RUNS} jobs")
    worst = max(sdk) * 1000
    print(f"SDK (long-poll) overhead:  median {s:.0f} ms, max {worst:.0f} ms (goal < 100 ms)")
    print(f"ratio SDK / polling loop overhead: {s / p:.2f}")


if __name__ == "__main__":
    main()
