"""Scale-out: jobs completed per minute by 1 and by 2 worker processes, and how soon an idle
worker starts a new job.

An API-only replica (`serve --workers 0`) and a `reelforge worker` host share a fresh database on
the PostgreSQL on loopback; storage is a shared directory. Throughput: JOBS text-to-video jobs
(preview engine, 480p, 2 s) queued at once, from the first create to the last `done` as the store
records them; 1 worker then 2, in the same run. Pickup: on an idle system, create -> the worker's
claim (`started_at - created_at` in the store), one job at a time.

Goals: >= 1.7x jobs/min with 2 workers on 2 cores; pickup < 100 ms.

Run from the repo root: .venv/bin/python bench/bench_scale_out.py
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reelforge.jobs.store import jobs  # noqa: E402
from tests.conftest import fresh_database  # noqa: E402
from tests.helpers import Server, WorkerHost, create  # noqa: E402

JOBS = 40
PICKUPS = 20
BODY = {"prompt": "a lighthouse at dusk", "duration": 2, "resolution": "480p"}


def wait_all_done(db: sa.Engine, ids: list[str], timeout: float = 600) -> tuple[float, float]:
    """(first created_at, last finished_at) once every job is done."""
    deadline = time.monotonic() + timeout
    query = sa.select(
        sa.func.count(), sa.func.min(jobs.c.created_at), sa.func.max(jobs.c.finished_at)
    ).where(jobs.c.id.in_(ids), jobs.c.status == "done")
    while time.monotonic() < deadline:
        with db.connect() as conn:
            done, first, last = conn.execute(query).one()
        if done == len(ids):
            return first, last
        time.sleep(0.05)
    raise TimeoutError("jobs did not finish")


def cpu_times() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [float(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def throughput(client: httpx.Client, db: sa.Engine, seed0: int) -> tuple[float, float]:
    """Jobs per minute for a burst of JOBS jobs, and the cores busy meanwhile (all processes)."""
    busy0, total0 = cpu_times()
    ids = [create(client, {**BODY, "seed": seed0 + n}) for n in range(JOBS)]
    first, last = wait_all_done(db, ids)
    busy1, total1 = cpu_times()
    cores = (busy1 - busy0) / (total1 - total0) * os.cpu_count()
    return JOBS / (last - first) * 60, cores


def pickups(client: httpx.Client, db: sa.Engine) -> list[float]:
    """Create -> claim, in ms, for jobs created one at a time on an idle system."""
    out = []
    for n in range(PICKUPS):
        job = create(client, {**BODY, "duration": 1, "seed": 10_000 + n})
        wait_all_done(db, [job])
        with db.connect() as conn:
            row = conn.execute(
                sa.select(jobs.c.created_at, jobs.c.started_at).where(jobs.c.id == job)
            ).one()
        out.append((row.started_at - row.created_at) * 1000)
        time.sleep(0.3)  # let the worker go idle again
    return out


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database() as db_url:
        root = Path(tmp)
        shared = ["--database-url", db_url, "--storage", str(root / "files")]
        api = Server(root / "api", args=["--workers", "0", "--log-level", "warning", *shared])
        api.start()
        db = sa.create_engine(db_url)
        rates: dict[int, tuple[float, float]] = {}
        try:
            with api.client() as client:
                for workers in (1, 2):
                    host = WorkerHost(
                        root / f"host{workers}", args=["--workers", str(workers), *shared]
                    ).start()
                    try:
                        throughput(client, db, seed0=1000 * workers)  # warm-up
                        rates[workers] = throughput(client, db, seed0=100 * workers)
                        if workers == 1:
                            picked = pickups(client, db)
                    finally:
                        host.stop()
        finally:
            db.dispose()
            api.stop()
    ratio = rates[2][0] / rates[1][0]
    p50, p95 = statistics.median(picked), sorted(picked)[int(0.95 * len(picked)) - 1]
    for workers, (rate, cores) in rates.items():
        print(
            f"{workers} worker(s): {rate:.1f} jobs/min, {cores:.2f} of {os.cpu_count()} cores busy"
        )
    print(f"pickup on an idle system: median {p50:.1f} ms, p95 {p95:.1f} ms, max {max(picked):.1f}")
    print(f"ratio 2 workers / 1 worker: {ratio:.2f} (goal >= 1.7); pickup goal < 100 ms")


if __name__ == "__main__":
    main()
