"""The job store, on SQLite and on the PostgreSQL server on loopback."""

from __future__ import annotations

import threading
import time

import pytest

from reelforge.jobs.store import DONE, EXPIRED, FAILED, QUEUED, RUNNING, JobStore
from tests.conftest import emptied


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'jobs.db'}"
    return emptied(request.getfixturevalue("pg_database"))


def make_store(url: str, **kw) -> JobStore:
    store = JobStore(url, **kw)
    store.create_schema()
    return store


def spec(n: int = 0) -> dict:
    return {"model": "grok-imagine-video", "mode": "text-to-video", "prompt": f"job {n}"}


def test_claim_is_fifo_and_exclusive(store_url):
    store = make_store(store_url)
    for n in range(3):
        store.add(f"job-{n}", "owner", spec(n))
        time.sleep(0.01)
    first = store.claim()
    second = store.claim()
    assert (first.job.id, second.job.id) == ("job-0", "job-1")
    assert first.job.status == RUNNING and first.job.attempts == 1
    assert store.claim().job.id == "job-2"
    assert store.claim() is None


def test_concurrent_claims_never_share_a_job(store_url):
    store = make_store(store_url)
    for n in range(40):
        store.add(f"job-{n:02d}", "owner", spec(n))
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer():
        own = JobStore(store_url)
        while (claim := own.claim()) is not None:
            with lock:
                claimed.append(claim.job.id)
        own.dispose()

    threads = [threading.Thread(target=claimer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [f"job-{n:02d}" for n in range(40)]


def test_lapsed_lease_is_reclaimed_and_stale_worker_cannot_complete(store_url):
    store = make_store(store_url, lease_ttl=0.2)
    store.add("job", "owner", spec())
    first = store.claim()
    assert store.claim() is None  # lease still held
    time.sleep(0.3)
    second = store.claim()
    assert second is not None and second.job.attempts == 2
    assert not store.heartbeat(first, 50)
    assert not store.complete(first, {"video_key": "stale"})
    assert store.complete(second, {"video_key": "fresh"})
    job = store.get("job")
    assert job.status == DONE and job.result == {"video_key": "fresh"} and job.progress == 100


def test_heartbeat_records_progress_and_extends_lease(store_url):
    store = make_store(store_url, lease_ttl=0.3)
    store.add("job", "owner", spec())
    claim = store.claim()
    for pct in (10, 40, 70):
        time.sleep(0.15)
        assert store.heartbeat(claim, pct)
    assert store.claim() is None  # the renewals kept the lease alive past its first TTL
    assert store.get("job").progress == 70


def test_release_requeues_without_counting_an_attempt(store_url):
    store = make_store(store_url)
    store.add("job", "owner", spec())
    claim = store.claim()
    assert store.release(claim)
    job = store.get("job")
    assert job.status == QUEUED and job.attempts == 0
    assert store.claim().job.attempts == 1


def test_failed_and_exhausted_jobs(store_url):
    store = make_store(store_url, lease_ttl=0.05, max_attempts=2)
    store.add("bad", "owner", spec())
    claim = store.claim()
    assert store.fail(claim, "invalid_argument", "nope")
    job = store.get("bad")
    assert (job.status, job.error_code, job.error_message) == (FAILED, "invalid_argument", "nope")

    store.add("crashy", "owner", spec())
    store.claim()
    time.sleep(0.1)
    store.claim()  # second and last attempt
    time.sleep(0.1)
    assert store.claim() is None  # no attempts left
    assert store.fail_exhausted("internal_error", "workers died") == 1
    assert store.get("crashy").status == FAILED


def test_owner_scoping_and_expiry(store_url):
    store = make_store(store_url)
    store.add("job", "alice", spec())
    assert store.get("job", "alice") is not None
    assert store.get("job", "bob") is None
    claim = store.claim()
    store.complete(claim, {"video_key": "videos/x.mp4"})
    assert store.expire_finished(older_than=time.time() - 60) == []
    expired = store.expire_finished(older_than=time.time() + 1)
    assert [j.id for j in expired] == ["job"]
    assert store.get("job").status == EXPIRED
