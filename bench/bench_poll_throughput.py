"""GET /v1/videos/{id} against a trivial endpoint on the same server, in one run.

1. Throughput: requests/s of polling a finished job vs GET /health (same stack, same client,
   same concurrency). Goal: ratio >= 0.7.
2. Latency while rendering: p99 of polling while two 720p videos render. Goal: < 50 ms.

Run from the repo root: .venv/bin/python bench/bench_poll_throughput.py
"""

from __future__ import annotations

import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.helpers import KEY, Server, create, wait_done  # noqa: E402

CONCURRENCY = 8
SECONDS = 5.0


async def hammer(url: str, seconds: float, concurrency: int) -> tuple[float, list[float]]:
    """Requests per second and per-request latencies (s) of `concurrency` keep-alive loops."""
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {KEY}"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(headers=headers, limits=limits, timeout=10) as client:
        stop = time.perf_counter() + seconds

        async def loop() -> None:
            while time.perf_counter() < stop:
                t0 = time.perf_counter()
                r = await client.get(url)
                latencies.append(time.perf_counter() - t0)
                assert r.status_code in (200, 202), r.text

        start = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies) / elapsed, latencies


def p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(
            Path(tmp) / "data", args=["--workers", "2", "--log-level", "warning"]
        ).start()
        try:
            with server.client() as c:
                job = create(c, {"prompt": "a cat", "duration": 1})
                wait_done(c, job)
            poll_url = f"{server.base_url}/v1/videos/{job}"
            health_url = f"{server.base_url}/health"
            asyncio.run(hammer(health_url, 1.0, CONCURRENCY))  # warm up
            trivial, _ = asyncio.run(hammer(health_url, SECONDS, CONCURRENCY))
            poll, _ = asyncio.run(hammer(poll_url, SECONDS, CONCURRENCY))
            print(f"GET /health:            {trivial:8.0f} req/s")
            print(f"GET /v1/videos/{{id}}:    {poll:8.0f} req/s")

            with server.client() as c:
                rendering = [
                    create(
                        c,
                        {"prompt": f"orbit a gold tree {n}", "duration": 10, "resolution": "720p"},
                    )
                    for n in range(2)
                ]
                time.sleep(0.5)
                _, latencies = asyncio.run(hammer(poll_url, SECONDS, 2))
                still = sum(c.get(f"/v1/videos/{j}").status_code == 202 for j in rendering)
            print(
                f"poll p50/p99 while 2 videos render: {statistics.median(latencies) * 1000:.1f} / "
                f"{p99(latencies) * 1000:.1f} ms ({len(latencies)} requests; "
                f"{still} of 2 still rendering at the end; goal p99 < 50 ms)"
            )
            print(f"ratio poll / trivial throughput: {poll / trivial:.2f} (goal >= 0.7)")
        finally:
            server.stop()


if __name__ == "__main__":
    main()
