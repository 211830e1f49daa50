"""Scale-out: API replicas and worker hosts coordinated only through PostgreSQL and S3.

Two `reelforge serve --workers 0` replicas and three `reelforge worker` hosts (each with its own
data directory, as on machines of their own) share the PostgreSQL on loopback and an S3-compatible
server (s3rver) on loopback.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import fresh_database
from tests.helpers import (
    KEY,
    Server,
    WorkerHost,
    create,
    data_url,
    decode_mp4,
    png_bytes,
    synthetic_image,
    wait_done,
)
from tests.s3_server import CREDENTIALS
from tests.webhook_receiver import Receiver

SHORT = {"prompt": "a red fox in the snow", "duration": 1, "resolution": "480p"}
LONG = {"prompt": "a slow pan over a city", "duration": 10, "resolution": "720p"}


def backend_args(db_url: str, s3_server, prefix: str) -> list[str]:
    """What every process of one deployment shares: the job store and the bucket."""
    return [
        "--database-url",
        db_url,
        "--storage",
        f"s3://reelforge/{prefix}",
        "--s3-endpoint-url",
        s3_server.endpoint_url,
        "--lease-ttl",
        "2",  # a dead worker's job is taken over quickly
        "--max-attempts",
        "20",  # the chaos test kills some jobs' workers several times
    ]


class Cluster:
    def __init__(self, root: Path, db_url: str, s3_server, prefix: str, hook: str | None = None):
        self.root, self.db_url, self.s3, self.prefix = root, db_url, s3_server, prefix
        self.backend = backend_args(db_url, s3_server, prefix)
        self.replicas: list[Server] = []
        self.hosts: list[WorkerHost] = []
        self.hook = hook

    def add_replica(self, *extra: str) -> Server:
        args = ["--workers", "0", *self.backend, *extra]
        if self.hook:
            args += ["--webhook-url", self.hook, "--webhook-secret", "cluster-secret"]
        n = len(self.replicas)
        srv = Server(self.root / f"api{n}" / "data", args=args, env=CREDENTIALS).start()
        self.replicas.append(srv)
        return srv

    def add_host(self, slot: int | None = None) -> WorkerHost:
        n = len(self.hosts) if slot is None else slot
        host = WorkerHost(
            self.root / f"host{n}-{time.time_ns()}" / "data",
            args=["--workers", "1", *self.backend],
            env=CREDENTIALS,
        ).start()
        if slot is None:
            self.hosts.append(host)
        else:
            self.hosts[slot] = host
        return host

    def stop(self) -> None:
        for process in [*self.hosts, *self.replicas]:
            process.stop()

    def db(self) -> sa.Engine:
        return sa.create_engine(self.db_url)


@pytest.fixture(scope="module")
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, pg_database, s3_server, receiver):
    c = Cluster(
        tmp_path_factory.mktemp("cluster"),
        pg_database,
        s3_server,
        "e2e",
        hook=f"{receiver.url}/ok",
    )
    try:
        c.add_replica()
        c.add_replica()
        for _ in range(3):
            c.add_host()
        yield c
    finally:
        c.stop()


def test_a_job_created_on_one_replica_is_served_by_the_other(cluster, s3_server):
    a, b = cluster.replicas
    with a.client() as ca, b.client() as cb:
        job = create(ca, SHORT)
        done = wait_done(cb, job)
        assert done["status"] == "done"
        assert ca.get(f"/v1/videos/{job}").json()["status"] == "done"
        with b.client("someone-else") as other:  # keys stay isolated across replicas
            assert other.get(f"/v1/videos/{job}").status_code == 404
    url = done["video"]["url"]
    assert url.startswith(f"{s3_server.endpoint_url}/reelforge/e2e/videos/{job}-")
    assert "X-Amz-Signature=" in url
    video = decode_mp4(httpx.get(url).content)
    assert (video.width, video.height, len(video.frames)) == (848, 480, 24)


def test_progress_and_cancel_cross_replicas(cluster):
    a, b = cluster.replicas
    with a.client() as ca, b.client() as cb:
        long_ids = [create(ca, LONG) for _ in range(4)]  # three run, one waits
        seen_progress = False
        deadline = time.monotonic() + 60
        while not seen_progress and time.monotonic() < deadline:
            progress = [cb.get(f"/v1/videos/{j}").json().get("progress", 0) for j in long_ids]
            seen_progress = any(0 < p < 100 for p in progress)
            time.sleep(0.1)
        assert seen_progress, "no replica saw the workers' progress"
        for job in long_ids:  # cancel on the replica that did not create them
            assert cb.delete(f"/v1/videos/{job}").status_code == 200
        for job in long_ids:
            body = ca.get(f"/v1/videos/{job}").json()
            assert body["status"] == "failed" and body["error"]["code"] == "cancelled"
        # The workers dropped the cancelled renders: a new job starts at once.
        started = time.monotonic()
        assert wait_done(ca, create(cb, SHORT))["status"] == "done"
        assert time.monotonic() - started < 15


def test_uploaded_files_live_in_the_bucket(cluster, s3_server):
    a, b = cluster.replicas
    image = png_bytes(synthetic_image(640, 360))
    with a.client() as ca, b.client() as cb:
        uploaded = ca.post("/v1/files", files={"file": ("first.png", image, "image/png")}).json()
        assert cb.get(f"/v1/files/{uploaded['id']}/content").content == image
        job = create(cb, {**SHORT, "image": {"file_id": uploaded["id"]}})
        assert wait_done(ca, job)["status"] == "done"
    keys = s3_server.keys("reelforge", "e2e/")
    assert f"e2e/files/{uploaded['id']}" in keys
    assert f"e2e/inputs/{job}/0" in keys  # the job's own copy of its input


def test_chaos_every_job_done_exactly_once(cluster, receiver, s3_server):
    """50 jobs while worker processes and whole worker hosts are SIGKILLed at random mid-render."""
    rng = random.Random(7)
    a, b = cluster.replicas
    engine = cluster.db()
    with a.client() as ca, b.client() as cb:
        jobs = [create(rng.choice([ca, cb]), {**SHORT, "seed": n}) for n in range(50)]
        kills, deadline = Counter(), time.monotonic() + 240

        def unfinished() -> int:
            with engine.connect() as conn:
                return conn.execute(
                    sa.text(
                        "SELECT count(*) FROM reelforge_jobs WHERE status IN ('queued', 'running')"
                    )
                ).scalar_one()

        while unfinished() and time.monotonic() < deadline:
            time.sleep(rng.uniform(0.3, 0.9))
            with engine.connect() as conn:
                running = conn.execute(
                    sa.text("SELECT count(*) FROM reelforge_jobs WHERE status = 'running'")
                ).scalar_one()
            if not running or sum(kills.values()) >= 15:
                continue
            slot = rng.randrange(len(cluster.hosts))
            host = cluster.hosts[slot]
            if rng.random() < 0.7 and host.children():
                os.kill(rng.choice(host.children()), signal.SIGKILL)  # its host starts another
                kills["worker"] += 1
            else:
                host.kill()  # the whole machine goes; a new one takes its place
                cluster.add_host(slot)
                kills["host"] += 1
        bodies = {job: wait_done(rng.choice([ca, cb]), job, timeout=120) for job in jobs}

    assert kills["worker"] >= 3 and kills["host"] >= 1, kills
    assert all(body["status"] == "done" for body in bodies.values()), [
        (job, body.get("error")) for job, body in bodies.items() if body["status"] != "done"
    ]
    for job, body in bodies.items():  # each has its video, served from the bucket
        video = decode_mp4(httpx.get(body["video"]["url"]).content)
        assert len(video.frames) == 24, job
    with engine.connect() as conn:
        attempts = conn.execute(
            sa.text("SELECT sum(attempts) FROM reelforge_jobs WHERE id = ANY(:ids)"),
            {"ids": jobs},
        ).scalar_one()
    assert attempts > len(jobs)  # kills really landed while jobs were rendering

    # Exactly once: one `done` webhook per job, whichever replica sent it.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        done = Counter(
            json.loads(r.body)["request_id"]
            for r in receiver.to("/ok")
            if json.loads(r.body)["status"] == "done"
        )
        if set(jobs) <= set(done):
            break
        time.sleep(0.1)
    assert {job: done[job] for job in jobs} == {job: 1 for job in jobs}
    engine.dispose()


def test_urls_expire_and_the_janitor_empties_the_bucket(tmp_path, s3_server):
    with fresh_database() as db_url:
        c = Cluster(tmp_path, db_url, s3_server, "expiry")
        try:
            api = c.add_replica("--url-ttl", "2", "--retention", "5")
            c.add_host()
            with api.client() as client:
                job = create(
                    client,
                    {**SHORT, "image": {"url": data_url(png_bytes(synthetic_image(320, 180)))}},
                )
                url = wait_done(client, job)["video"]["url"]
                assert httpx.get(url).status_code == 200
                assert any(
                    k.startswith(f"expiry/inputs/{job}/") for k in s3_server.keys("reelforge")
                )
                time.sleep(2.5)
                assert httpx.get(url).status_code == 403  # the presigned URL lapsed
                deadline = time.monotonic() + 20
                while client.get(f"/v1/videos/{job}").json()["status"] != "expired":
                    assert time.monotonic() < deadline
                    time.sleep(0.2)
            deadline = time.monotonic() + 20
            while [k for k in s3_server.keys("reelforge", "expiry/") if job in k]:
                assert time.monotonic() < deadline, "the janitor left the job's objects"
                time.sleep(0.2)
        finally:
            c.stop()


def test_zero_config_api_and_worker_as_separate_processes(tmp_path):
    """SQLite and local files in one data directory, shared by an API-only server and a
    `reelforge worker` on the same machine."""
    data = tmp_path / "data"
    api = Server(data, args=["--workers", "0"]).start()
    host = WorkerHost(data, args=["--workers", "1"]).start()
    try:
        with api.client(KEY) as client:
            done = wait_done(client, create(client, SHORT))
        assert done["status"] == "done"
        assert len(decode_mp4(httpx.get(done["video"]["url"]).content).frames) == 24
    finally:
        host.stop()
        api.stop()


def test_worker_command_refuses_what_cannot_work(tmp_path, s3_server):
    def run(*args: str) -> subprocess.CompletedProcess:
        cmd = [sys.executable, "-m", "reelforge.cli", "worker", "--data-dir", str(tmp_path)]
        return subprocess.run(
            [*cmd, *args],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, **CREDENTIALS},
        )

    none = run("--workers", "0")
    assert none.returncode != 0 and "--workers must be at least 1" in none.stderr
    missing = run("--storage", "s3://no-such-bucket/x", "--s3-endpoint-url", s3_server.endpoint_url)
    assert missing.returncode != 0 and "no-such-bucket" in missing.stderr
