"""Process lifecycle with real processes: drain on SIGTERM, readiness, the housekeeper role."""

from __future__ import annotations

import os
import signal
import threading
import time

import httpx
import pytest
import sqlalchemy as sa

from tests.conftest import PG_URL, fresh_database
from tests.helpers import WorkerHost, create, wait_done
from tests.webhook_receiver import Receiver

LONG = {"prompt": "a red ball bouncing, pan left", "duration": 10, "resolution": "720p"}


def wait_until(check, timeout: float = 30.0, every: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(every)
    raise AssertionError(f"not true within {timeout} s")


def rendering(client: httpx.Client, job_id: str) -> bool:
    body = client.get(f"/v1/videos/{job_id}").json()
    return body["status"] == "pending" and "queue_position" not in body and body["progress"] > 0


def sigterm(proc) -> None:
    """As an orchestrator stops a container: SIGTERM to every process in the group."""
    os.killpg(proc.pid, signal.SIGTERM)


def test_a_draining_worker_finishes_its_job_and_claims_no_other(make_server, tmp_path):
    api = make_server("--workers", "0")
    host = WorkerHost(api.data_dir, ["--drain-timeout", "60"]).start()
    with api.client() as c:
        first = create(c, LONG)
        wait_until(lambda: rendering(c, first))
        second = create(c, {"prompt": "a cat", "duration": 2})
        sigterm(host.proc)
        assert wait_done(c, first)["status"] == "done"  # finished by the draining worker
        assert host.proc.wait(30) == 0
        assert "queue_position" in c.get(f"/v1/videos/{second}").json()  # never claimed
        replacement = WorkerHost(api.data_dir).start()
        try:
            assert wait_done(c, second)["status"] == "done"
        finally:
            replacement.stop()


def test_a_job_outlasting_the_drain_timeout_is_handed_back_not_failed(make_server):
    api = make_server("--workers", "0")
    host = WorkerHost(api.data_dir, ["--drain-timeout", "0.5"]).start()
    with api.client() as c:
        job = create(c, LONG)
        wait_until(lambda: rendering(c, job))
        sigterm(host.proc)
        assert host.proc.wait(20) == 0
        body = c.get(f"/v1/videos/{job}").json()
        assert body["status"] == "pending" and body["queue_position"] == 1  # re-queued at once
        replacement = WorkerHost(api.data_dir).start()
        try:
            assert wait_done(c, job)["status"] == "done"
        finally:
            replacement.stop()


def test_sigterm_on_an_api_replica_answers_its_long_polls_and_exits(make_server):
    api = make_server("--workers", "0")
    with api.client() as c:
        job = create(c, {"prompt": "a cat", "duration": 2})  # no worker: stays pending
        answers: list[httpx.Response] = []
        poll = threading.Thread(
            target=lambda: answers.append(c.get(f"/v1/videos/{job}", params={"wait": 30}))
        )
        poll.start()
        time.sleep(0.5)  # the long poll is in flight
        started = time.monotonic()
        sigterm(api.proc)
        poll.join(10)
        assert answers and answers[0].status_code == 202
        assert answers[0].json()["status"] == "pending"
        assert api.proc.wait(10) == 0
        assert time.monotonic() - started < 5
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{api.base_url}/health", timeout=2)


def test_health_ready_follows_the_database(make_server):
    with fresh_database() as url:
        name = url.rsplit("/", 1)[1]
        api = make_server("--workers", "0", "--database-url", url)
        assert httpx.get(f"{api.base_url}/health/ready").json() == {"status": "ready"}
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
                conn.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :n"
                    ),
                    {"n": name},
                )
            r = httpx.get(f"{api.base_url}/health/ready", timeout=10)
            assert r.status_code == 503 and r.json()["reason"].startswith("database")
            assert httpx.get(f"{api.base_url}/health").status_code == 200  # still alive
            with admin.connect() as conn:
                conn.execute(sa.text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
            wait_until(lambda: httpx.get(f"{api.base_url}/health/ready").status_code == 200)
        finally:
            admin.dispose()
            api.stop()


def housekeeper_logs(processes) -> list:
    return [p for p in processes if "this process is the housekeeper" in p.log()]


def test_one_housekeeper_per_deployment_and_another_takes_over_when_it_dies(make_server, tmp_path):
    receiver = Receiver()
    with fresh_database() as url:
        backend = ["--database-url", url]
        hook = ["--webhook-url", f"{receiver.url}/ok"]
        a = make_server("--workers", "0", *backend, *hook, data_dir=tmp_path / "a")
        b = make_server("--workers", "0", *backend, *hook, data_dir=tmp_path / "b")
        worker = WorkerHost(tmp_path / "w", backend).start()
        processes = [a, b, worker]
        try:
            active = wait_until(lambda: housekeeper_logs(processes))
            time.sleep(2.5)  # standbys poll every second: still exactly one
            assert housekeeper_logs(processes) == active
            (leader,) = active
            with a.client() as c:  # a webhook is delivered while the first housekeeper lives
                assert wait_done(c, create(c, {"prompt": "a cat", "duration": 2}))
                wait_until(lambda: len(receiver.received) == 1)
            leader.kill()
            survivors = [p for p in processes if p is not leader]
            if leader is worker:  # jobs still need a renderer
                worker = WorkerHost(tmp_path / "w2", backend).start()
                survivors.append(worker)
            wait_until(lambda: housekeeper_logs(survivors), timeout=10)
            assert len(housekeeper_logs(survivors)) == 1
            alive = a if leader is not a else b
            with alive.client() as c:  # and one is delivered after it died
                assert wait_done(c, create(c, {"prompt": "a dog", "duration": 2}))
                wait_until(lambda: len(receiver.received) == 2, timeout=15)
        finally:
            worker.stop()
            for p in (a, b):
                p.stop()
            receiver.close()
