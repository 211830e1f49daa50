"""Load: 500 creates from 50 concurrent clients at a server with 2 workers, under limits.

A `reelforge serve --workers 2` on a fresh database on the PostgreSQL on loopback. 50 clients,
each with its own managed key, each sends 10 creates (preview engine, 1 s at 480p) as fast as it
can, at once. Half the keys are limited (6 requests per minute, 3 pending jobs), so some of their
creates get 429; the other half have no limits. Then every accepted job is waited for.

Reports: create latency p50/p99 (accepted and refused), the 429 count, whether every accepted job
finished `done` and how many were lost (goal: none), and the API process's RSS before and after.

Run from the repo root: .venv/bin/python bench/bench_load.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reelforge.jobs.keys import KeyLimits, KeyStore  # noqa: E402
from reelforge.jobs.store import jobs  # noqa: E402
from tests.conftest import fresh_database  # noqa: E402
from tests.helpers import Server  # noqa: E402

CLIENTS = 50
CREATES = 10  # per client
BODY = {"prompt": "a lighthouse at dusk", "duration": 1, "resolution": "480p"}
LIMITED = KeyLimits(rpm=6, max_pending=3)


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


async def client_run(base_url: str, key: str, n: int, out: dict) -> None:
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as client:
        for i in range(CREATES):
            started = time.perf_counter()
            r = await client.post("/v1/videos/generations", json={**BODY, "seed": n * 100 + i})
            elapsed = time.perf_counter() - started
            if r.status_code == 200:
                out["accepted"].append(r.json()["request_id"])
                out["ok_latency"].append(elapsed)
            elif r.status_code == 429:
                out["refused"] += 1
                out["refused_latency"].append(elapsed)
            else:
                out["other"].append((r.status_code, r.text))


def wait_finished(db: sa.Engine, ids: list[str], timeout: float = 1800) -> dict[str, int]:
    query = (
        sa.select(jobs.c.status, sa.func.count()).where(jobs.c.id.in_(ids)).group_by(jobs.c.status)
    )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.connect() as conn:
            counts = dict(conn.execute(query).all())
        if counts.get("queued", 0) + counts.get("running", 0) == 0:
            return counts
        time.sleep(0.5)
    return counts


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp, fresh_database() as url:
        db = sa.create_engine(url)
        server = Server(Path(tmp) / "data", args=["--workers", "2", "--database-url", url])
        server.start()
        try:
            keys = KeyStore(db)
            secrets = [
                keys.create(f"client-{n}", LIMITED if n % 2 == 0 else KeyLimits())[1]
                for n in range(CLIENTS)
            ]
            httpx.get(f"{server.base_url}/health")
            rss_before = rss_mib(server.proc.pid)
            out = {
                "accepted": [],
                "ok_latency": [],
                "refused": 0,
                "refused_latency": [],
                "other": [],
            }

            async def everyone() -> None:
                await asyncio.gather(
                    *(client_run(server.base_url, s, n, out) for n, s in enumerate(secrets))
                )

            started = time.monotonic()
            asyncio.run(everyone())
            sent_s = time.monotonic() - started
            rss_after_burst = rss_mib(server.proc.pid)
            counts = wait_finished(db, out["accepted"])
            total_s = time.monotonic() - started
            rss_after = rss_mib(server.proc.pid)
        finally:
            server.stop()
            db.dispose()

    accepted = len(out["accepted"])
    done = counts.get("done", 0)
    every = out["ok_latency"] + out["refused_latency"]
    print(f"creates sent: {CLIENTS * CREATES} from {CLIENTS} clients in {sent_s:.1f} s")
    print(f"accepted: {accepted}, 429: {out['refused']}, other: {len(out['other'])}")
    print(
        f"create latency, all: p50 {percentile(every, 50) * 1000:.0f} ms, "
        f"p99 {percentile(every, 99) * 1000:.0f} ms"
    )
    print(
        f"  accepted: p50 {percentile(out['ok_latency'], 50) * 1000:.0f} ms, "
        f"p99 {percentile(out['ok_latency'], 99) * 1000:.0f} ms; "
        f"429: p50 {percentile(out['refused_latency'], 50) * 1000:.0f} ms, "
        f"p99 {percentile(out['refused_latency'], 99) * 1000:.0f} ms"
    )
    print(f"finished: {counts} after {total_s:.0f} s; all done: {done == accepted}")
    print(f"lost: {accepted - done} (accepted but not done; goal: 0)")
    print(
        f"API RSS: {rss_before:.0f} MiB before, {rss_after_burst:.0f} MiB after the burst, "
        f"{rss_after:.0f} MiB after every job finished"
    )
    if out["other"]:
        print("unexpected:", out["other"][:5])


if __name__ == "__main__":
    main()
