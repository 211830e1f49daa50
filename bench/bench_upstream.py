"""The `upstream` engine's overhead per job: create on the front → video stored and
downloadable there, minus the upstream's own time on the job (its created_at → finished_at).

Two upstreams, each measured in the same run as a client polling that upstream directly every
second and downloading the video, as xai-sdk does (its overhead: create → video in hand, minus
the same upstream time):
- a Reelforge upstream (it long-polls: the front detects and uses `?wait=`);
- a plain upstream that only answers plain polls (a small stand-in in this file speaking the
  contract: pending with progress for a random 2-3 s per job, then done with a real MP4).

Goals: <= 150 ms median against Reelforge; <= the 1 s polling client against the plain one.
Also reported: upstream requests per job (creates, polls and the download).

Run from the repo root: .venv/bin/python bench/bench_upstream.py [--no-output-moderation]
(the flag turns the front's output moderation stage off, for an operator who relies on the
upstream's own: it shows what that stage costs per job).
"""

from __future__ import annotations

import http.server
import json
import random
import statistics
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import httpx
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from reelforge.jobs.store import jobs  # noqa: E402
from tests.helpers import Server  # noqa: E402

RUNS = 8
RENDER_S = (2.0, 3.0)  # the plain upstream's render time: uniform in this range, per job
UP_KEY, FRONT_KEY = "sk-bench-upstream", "front"
BODY = {"prompt": "a cat", "duration": 2, "resolution": "480p"}
OUTPUT_MODERATION_OFF = "--no-output-moderation" in sys.argv


class PlainUpstream:
    """The contract's REST surface without long polls: every answer comes at once."""

    def __init__(self, mp4: bytes):
        self.jobs: dict[str, tuple[float, float]] = {}  # request id -> (created, render s)
        self.requests: dict[str, int] = {}
        plain = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _send(self, status: int, body: bytes, mime: str = "application/json") -> None:
                self.send_response(status)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                request_id = str(uuid.uuid4())
                plain.jobs[request_id] = (time.time(), random.uniform(*RENDER_S))
                plain.requests[request_id] = 1
                self._send(200, json.dumps({"request_id": request_id}).encode())

            def do_GET(self):
                path = self.path.split("?")[0]
                request_id = path.rsplit("/", 1)[1].removesuffix(".mp4")
                plain.requests[request_id] = plain.requests.get(request_id, 0) + 1
                if path.startswith("/media/"):
                    return self._send(200, mp4, "video/mp4")
                created, render_s = plain.jobs[request_id]
                elapsed = time.time() - created
                if elapsed < render_s:
                    body = {"status": "pending", "progress": int(100 * elapsed / render_s)}
                    return self._send(202, json.dumps(body).encode())
                port = self.server.server_address[1]
                video = {"url": f"http://127.0.0.1:{port}/media/{request_id}.mp4"}
                body = {
                    "status": "done",
                    "progress": 100,
                    "video": {**video, "duration": 2, "respect_moderation": True},
                    "usage": {"cost_in_usd_ticks": 1_000_000_000},
                }
                self._send(200, json.dumps(body).encode())

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def render_seconds(self, request_id: str) -> float:
        return self.jobs[request_id][1]


def direct_client(base: str, render_seconds) -> tuple[float, int]:
    """xai-sdk's loop against the upstream itself: poll at once, then every second; download."""
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {UP_KEY}"}) as c:
        start = time.perf_counter()
        request_id = c.post("/v1/videos/generations", json=BODY).json()["request_id"]
        requests = 1
        while True:
            r = c.get(f"/v1/videos/{request_id}")
            requests += 1
            if r.status_code == 200:
                break
            time.sleep(1.0)
        httpx.get(r.json()["video"]["url"]).raise_for_status()
        return time.perf_counter() - start - render_seconds(request_id), requests + 1


def front_job(front: Server, front_db: sa.Engine, model: str, render_seconds) -> tuple[float, int]:
    """Create on the front; long-poll it until done (stored: its URL serves the file)."""
    with front.client(FRONT_KEY) as c:
        start = time.perf_counter()
        job_id = c.post("/v1/videos/generations", json={**BODY, "model": model}).json()[
            "request_id"
        ]
        while (r := c.get(f"/v1/videos/{job_id}", params={"wait": 30})).status_code == 202:
            pass
        took = time.perf_counter() - start
        assert r.json()["status"] == "done", r.text
    with front_db.connect() as conn:
        result = conn.execute(sa.select(jobs.c.result).where(jobs.c.id == job_id)).scalar_one()
    engine = result["engine"]
    return took - render_seconds(engine["request_id"]), engine["upstream_requests"]


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        upstream = Server(
            root / "up", args=["--api-key", UP_KEY, "--workers", "1", "--log-level", "warning"]
        ).start()
        up_db = sa.create_engine(f"sqlite:///{root / 'up' / 'reelforge.db'}")

        def reelforge_seconds(request_id: str) -> float:
            with up_db.connect() as conn:
                row = conn.execute(
                    sa.select(jobs.c.created_at, jobs.c.finished_at).where(jobs.c.id == request_id)
                ).one()
            return row.finished_at - row.created_at

        with upstream.client(UP_KEY) as c:  # warm the upstream; its MP4 feeds the plain one
            job = c.post("/v1/videos/generations", json=BODY).json()["request_id"]
            while (r := c.get(f"/v1/videos/{job}", params={"wait": 30})).status_code == 202:
                pass
            plain = PlainUpstream(httpx.get(r.json()["video"]["url"]).content)
        catalog = root / "front.toml"
        catalog.write_text(
            f"""
[models."grok-imagine-video"]
engine = "upstream"
base_url = "{upstream.base_url}/v1"
api_key_env = "BENCH_UPSTREAM_KEY"

[models."plain"]
engine = "upstream"
base_url = "{plain.url}/v1"
api_key_env = "BENCH_UPSTREAM_KEY"
upstream_model = "grok-imagine-video"
modes = ["text-to-video"]
"""
            + ("\n[moderation.stages]\noutput = false\n" if OUTPUT_MODERATION_OFF else "")
        )
        front = Server(
            root / "front",
            args=["--catalog", str(catalog), "--workers", "1", "--log-level", "warning"],
            env={"BENCH_UPSTREAM_KEY": UP_KEY},
        )
        front.args += ["--api-key", FRONT_KEY]
        front.start()
        front_db = sa.create_engine(f"sqlite:///{root / 'front' / 'reelforge.db'}")
        try:
            front_job(front, front_db, "grok-imagine-video", reelforge_seconds)  # warm up
            for name, model, base, seconds in (
                (
                    "Reelforge upstream (long polls)",
                    "grok-imagine-video",
                    upstream.base_url,
                    reelforge_seconds,
                ),
                (
                    f"plain upstream ({RENDER_S[0]:g}-{RENDER_S[1]:g} s renders)",
                    "plain",
                    plain.url,
                    plain.render_seconds,
                ),
            ):
                via_front, direct, front_requests, direct_requests = [], [], [], []
                for _ in range(RUNS):  # interleaved, one job at a time
                    overhead, requests = front_job(front, front_db, model, seconds)
                    via_front.append(overhead)
                    front_requests.append(requests)
                    overhead, requests = direct_client(base, seconds)
                    direct.append(overhead)
                    direct_requests.append(requests)
                print(f"{name}, {RUNS} jobs of a 2 s 480p clip:")
                print(
                    f"  front (upstream engine): median {1000 * statistics.median(via_front):.0f}"
                    f" ms, max {1000 * max(via_front):.0f} ms;"
                    f" upstream requests/job {statistics.mean(front_requests):.1f}"
                )
                print(
                    f"  1 s polling client:      median {1000 * statistics.median(direct):.0f}"
                    f" ms, max {1000 * max(direct):.0f} ms;"
                    f" upstream requests/job {statistics.mean(direct_requests):.1f}"
                )
        finally:
            front.stop()
            upstream.stop()


if __name__ == "__main__":
    main()
