"""Migrations with real processes: replicas and workers started at the same instant on an empty
database all come up; a database from before migrations is upgraded by a real server, which then
finishes its jobs; `reelforge migrate` and `--no-migrate`."""

from __future__ import annotations

import contextlib
import hashlib
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import sqlalchemy as sa

from reelforge.jobs.migrations import head_revision, is_up_to_date
from reelforge.jobs.schema import metadata
from reelforge.jobs.store import create_engine
from reelforge.storage.local import LocalStorage
from tests import legacy_schema
from tests.conftest import fresh_database
from tests.helpers import KEY, Server, WorkerHost, decode_mp4, wait_done
from tests.webhook_receiver import Receiver

# A process that loads everything, says "ready", then for each "INSTANT URL" line runs
# `reelforge migrate` on URL at INSTANT and says when it started: four of them are lined up on
# each database so that only the upgrades race, not the imports.
RACER = """
import sys, time
import alembic.command, reelforge.cli.server_commands, reelforge.jobs.migrations
from reelforge import cli
print("ready", flush=True)
for line in sys.stdin:
    instant, url = line.split()
    time.sleep(max(0.0, float(instant) - time.time()))
    started = time.time()
    cli.main(["migrate", "--database-url", url])
    print("started", started, flush=True)
"""


def _until(proc: subprocess.Popen, word: str) -> str:
    """The racer's next line starting with `word` (its other lines are `migrate`'s output)."""
    transcript = []
    while line := proc.stdout.readline():
        if line.startswith(word):
            return line
        transcript.append(line)
    proc.wait()
    raise AssertionError(f"racer exited with {proc.returncode}:\n{''.join(transcript)}")


def race_migrations(urls: list[str]) -> list[float]:
    """Four processes upgrade each database at the same instant; every upgrade must succeed.
    Returns how far apart the four started, per database."""
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", RACER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    spreads = []
    try:
        for proc in procs:
            _until(proc, "ready")
        for url in urls:
            instant = time.time() + 0.05
            for proc in procs:
                proc.stdin.write(f"{instant} {url}\n")
                proc.stdin.flush()
            starts = [float(_until(proc, "started").split()[1]) for proc in procs]
            spreads.append(max(starts) - min(starts))
    finally:
        for proc in procs:
            proc.stdin.close()
            assert proc.wait(30) == 0
    # they really started together: within milliseconds, not one after another
    assert statistics.median(spreads) < 0.1, spreads
    for url in urls:
        engine = create_engine(url)
        assert is_up_to_date(engine)
        assert set(metadata.tables) <= set(sa.inspect(engine).get_table_names())
        engine.dispose()
    return spreads


def start_together(processes: list[Server | WorkerHost]) -> None:
    """Start every process at the same instant (as a compose file or systemd does); all must
    come up."""
    gate = threading.Barrier(len(processes))
    errors: list[BaseException] = []

    def start(process: Server | WorkerHost) -> None:
        gate.wait()
        try:
            process.start(timeout=60)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=start, args=(p,)) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors


def stop_all(processes: list[Server | WorkerHost]) -> None:
    """SIGTERM them all at once and wait: one by one, each drain would wait for the last."""
    threads = [threading.Thread(target=p.stop) for p in processes]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def replicas_and_workers(root: Path, database_args: list[str], shared_dir: bool) -> list:
    def data(name: str) -> Path:
        return root / ("data" if shared_dir else name)

    return [
        Server(data("api0"), args=["--workers", "0", *database_args]),
        Server(data("api1"), args=["--workers", "0", *database_args]),
        WorkerHost(data("worker0"), args=database_args),
        WorkerHost(data("worker1"), args=database_args),
    ]


def test_processes_started_together_on_empty_postgresql_all_come_up(tmp_path):
    with contextlib.ExitStack() as stack:
        urls = [stack.enter_context(fresh_database()) for _ in range(20)]
        race_migrations(urls[:17])
        for n, url in enumerate(urls[17:]):  # the issue's own scenario: 2 replicas, 2 workers
            processes = replicas_and_workers(tmp_path / f"round{n}", ["--database-url", url], False)
            try:
                start_together(processes)
            finally:
                stop_all(processes)


def test_processes_started_together_on_empty_sqlite_all_come_up(tmp_path):
    race_migrations([f"sqlite:///{tmp_path / f'race{n}.db'}" for n in range(5)])
    processes = replicas_and_workers(tmp_path, [], shared_dir=True)  # one data dir, one file
    try:
        start_together(processes)
    finally:
        stop_all(processes)
    assert (tmp_path / "data" / "reelforge.db.migrate-lock").exists()


def test_a_database_from_create_all_is_upgraded_and_its_jobs_complete(tmp_path):
    owner = hashlib.sha256(KEY.encode()).hexdigest()  # the owner id of the tests' key
    receiver = Receiver()
    data = tmp_path / "data"
    storage = LocalStorage(data / "files")
    storage.put_bytes("videos/old.mp4", b"an old video")
    storage.put_bytes("files/file-old", b"uploaded bytes")
    now = time.time()
    spec = {
        "kind": "generation",
        "mode": "text-to-video",
        "model": "grok-imagine-video",
        "prompt": "a cat",
        "duration_s": 1,
        "aspect_ratio": "16:9",
        "resolution": "480p",
        "seed": 0,
        "generate_audio": False,
        "image": None,
        "video": None,
        "last_frame": None,
        "reference_images": [],
        "keyframes": [],
        "voices": [],
    }
    job = {"owner": owner, "model": spec["model"], "mode": spec["mode"], "spec": spec}
    with fresh_database() as url:
        legacy_schema.create(url)
        t = legacy_schema.metadata.tables
        engine = sa.create_engine(url)
        with engine.begin() as conn:
            for row in [
                {**job, "id": "job-queued", "status": "queued", "progress": 0}
                | {"attempts": 0, "created_at": now - 50},
                # its worker died: the lease lapsed long ago
                {**job, "id": "job-running", "status": "running", "progress": 40}
                | {"attempts": 1, "claim_token": "dead", "lease_expires_at": now - 100}
                | {"created_at": now - 60, "started_at": now - 59},
                {**job, "id": "job-done", "status": "done", "progress": 100, "attempts": 1}
                | {"created_at": now - 70, "finished_at": now - 65}
                | {
                    "result": {
                        "video_key": "videos/old.mp4",
                        "duration": 1,
                        "cost_in_usd_ticks": 500000000,
                        "respect_moderation": True,
                    }
                },
                {**job, "id": "job-failed", "status": "failed", "progress": 0, "attempts": 1}
                | {"created_at": now - 80, "finished_at": now - 75}
                | {"error_code": "internal_error", "error_message": "the old worker broke"},
            ]:  # one by one: a many-row insert would take its columns from the first row only
                conn.execute(t["reelforge_jobs"].insert(), row)
            conn.execute(
                t["reelforge_files"].insert(),
                {"id": "file-old", "owner": owner, "filename": "a.bin", "purpose": "assistants"}
                | {"bytes": 14, "created_at": now - 90},
            )
            hook = {"url": f"{receiver.url}/ok", "base_url": "http://old/", "trusted": True}
            conn.execute(t["reelforge_webhooks"].insert(), {"job_id": "job-queued", **hook})
            conn.execute(
                t["reelforge_webhook_deliveries"].insert(),
                {"job_id": "job-failed", "event": "failed", **hook, "state": "sent"}
                | {"attempts": 1, "next_attempt_at": now, "created_at": now - 75}
                | {"finished_at": now - 74},
            )
            conn.execute(
                t["reelforge_idempotency_keys"].insert(),
                {"owner": owner, "key": "old-key", "fingerprint": "x" * 64}
                | {"job_id": "job-done", "created_at": now - 70},
            )
        server = Server(data, args=["--workers", "1", "--database-url", url]).start()
        try:
            with server.client() as client:
                for job_id in ("job-queued", "job-running"):
                    body = wait_done(client, job_id, timeout=120)
                    assert body["status"] == "done", body
                    decode_mp4(httpx.get(body["video"]["url"]).content)  # a real new video
                old = wait_done(client, "job-done")
                assert old["video"]["duration"] == 1
                assert httpx.get(old["video"]["url"]).content == b"an old video"
                failed = client.get("/v1/videos/job-failed").json()
                assert failed["error"]["message"] == "the old worker broke", failed
                assert client.get("/v1/files/file-old").json()["bytes"] == 14
                assert client.get("/v1/files/file-old/content").content == b"uploaded bytes"
            deadline = time.monotonic() + 30
            while not receiver.received and time.monotonic() < deadline:
                time.sleep(0.1)
            assert [r.path for r in receiver.received] == ["/ok"]  # the old webhook row fired
        finally:
            server.stop()
            receiver.close()
        with engine.connect() as conn:
            running = conn.execute(
                sa.select(t["reelforge_jobs"].c.attempts).where(
                    t["reelforge_jobs"].c.id == "job-running"
                )
            ).scalar_one()
            assert running == 2  # re-claimed, not restarted from scratch as a new job
            sent = conn.execute(sa.select(t["reelforge_webhook_deliveries"])).all()
            assert {(r.job_id, r.event, r.state) for r in sent} == {
                ("job-failed", "failed", "sent"),
                ("job-queued", "done", "sent"),
            }
            keys = conn.execute(sa.select(t["reelforge_idempotency_keys"].c.key)).scalars()
            assert list(keys) == ["old-key"]
        assert is_up_to_date(create_engine(url))
        engine.dispose()


def reelforge(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "reelforge.cli", *args], capture_output=True, text=True, timeout=60
    )


def test_migrate_and_no_migrate(tmp_path):
    data = str(tmp_path / "data")
    refusing = [
        subprocess.Popen(
            [sys.executable, "-m", "reelforge.cli", command, "--no-migrate", "--data-dir", data],
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in ("serve", "worker")
    ]
    for proc in refusing:
        stderr = proc.communicate(timeout=60)[1]
        assert proc.returncode == 1
        assert (
            "database: the database is at revision none but this Reelforge needs "
            f"{head_revision()}; run `reelforge migrate`" in stderr
        ), stderr
    engine = create_engine(f"sqlite:///{data}/reelforge.db")
    assert sa.inspect(engine).get_table_names() == []  # they changed nothing
    engine.dispose()
    first = reelforge("migrate", "--data-dir", data)
    assert first.returncode == 0, first.stderr
    assert first.stdout.splitlines()[1:] == ["before: none", f"after:  {head_revision()}"]
    again = reelforge("migrate", "--data-dir", data)
    assert again.stdout.splitlines()[1:] == [
        f"before: {head_revision()}",
        f"after:  {head_revision()}",
    ]
    Server(Path(data), args=["--no-migrate", "--workers", "0"]).start().stop()

    with fresh_database() as url:
        legacy_schema.create(url)
        adopted = reelforge("migrate", "--database-url", url)
        assert adopted.returncode == 0, adopted.stderr
        assert adopted.stdout.splitlines() == [
            f"database: {url}",
            "found tables from before migrations: stamped at the first revision",
            "before: none",
            f"after:  {head_revision()}",
        ]
