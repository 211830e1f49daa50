"""The job store's job-control additions on SQLite and PostgreSQL: cancellation, listing,
queue positions, idempotency keys and webhook deliveries."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from reelforge.core.errors import CANCELLED
from reelforge.jobs import webhooks
from reelforge.jobs.store import (
    DONE,
    EXPIRED,
    FAILED,
    DuplicateKey,
    JobStore,
    Webhook,
    jobs,
)
from reelforge.jobs.webhooks import DEAD, PENDING, SENT, DeliveryQueue
from tests.conftest import emptied

DAY = 86400.0


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'jobs.db'}"
    else:
        url = emptied(request.getfixturevalue("pg_database"))
    store = JobStore(url)
    store.create_schema()
    yield store
    store.dispose()


def spec(n: int = 0) -> dict:
    return {"model": "grok-imagine-video", "mode": "text-to-video", "prompt": f"job {n}"}


def set_created(store: JobStore, job_id: str, created_at: float) -> None:
    with store.engine.begin() as conn:
        conn.execute(jobs.update().where(jobs.c.id == job_id).values(created_at=created_at))


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_queued_and_running_jobs(store):
    store.add("queued", "alice", spec(0))
    store.add("running", "alice", spec(1))
    set_created(store, "queued", time.time() + 10)  # so that "running" is claimed first
    claim = store.claim()
    assert claim.job.id == "running"

    assert not store.cancel("running", "bob", "no")  # another owner's job is not touched
    assert store.cancel("queued", "alice", "cancelled by the client")
    assert store.cancel("running", "alice", "cancelled by the client")
    for job_id in ("queued", "running"):
        job = store.get(job_id, "alice")
        assert (job.status, job.error_code) == (FAILED, CANCELLED)
        assert job.finished_at is not None
    # The worker's writes stop matching: it must drop the render and never complete it.
    assert not store.heartbeat(claim, 50)
    assert not store.complete(claim, {"video_key": "videos/x.mp4"})
    assert store.get("running").status == FAILED
    assert store.claim() is None  # a cancelled job is never claimed again
    assert not store.cancel("queued", "alice", "again")  # finished: nothing to cancel


# --- list ---------------------------------------------------------------------------------------


def test_list_is_newest_first_with_a_stable_cursor(store):
    base = time.time() - 100
    for n in range(5):
        store.add(f"job-{n}", "alice", spec(n))
        set_created(store, f"job-{n}", base + n // 2)  # pairs share a created_at: ties on id
    store.add("bobs", "bob", spec(9))

    ids = [j.id for j in store.list("alice", limit=100)]
    assert ids == ["job-4", "job-3", "job-2", "job-1", "job-0"]
    seen, after = [], None
    while page := store.list("alice", limit=2, after=after):
        seen += [j.id for j in page]
        after = page[-1]
        store.add(f"new-{len(seen)}", "alice", spec())  # newer jobs never shift later pages
    assert seen == ids
    assert [j.id for j in store.list("bob", limit=10)] == ["bobs"]


def test_list_filters_by_wire_status(store):
    now = time.time()
    for n in range(4):
        store.add(f"job-{n}", "alice", spec(n))
        set_created(store, f"job-{n}", now + n)
    done = store.claim()  # job-0
    store.complete(done, {"video_key": "videos/0.mp4"})
    store.cancel("job-1", "alice", "cancelled")
    failed_long_ago = store.claim()  # job-2
    store.fail(failed_long_ago, "internal_error", "boom")
    with store.engine.begin() as conn:  # past its retention, not yet swept: reads expired
        conn.execute(jobs.update().where(jobs.c.id == "job-2").values(finished_at=now - 2 * DAY))

    def ids(status: str) -> list[str]:
        return [
            j.id for j in store.list("alice", limit=10, status=status, expired_before=now - DAY)
        ]

    assert ids("pending") == ["job-3"]
    assert ids(DONE) == ["job-0"]
    assert ids(FAILED) == ["job-1"]
    assert ids(EXPIRED) == ["job-2"]
    store.expire_finished(older_than=now - DAY)
    assert ids(EXPIRED) == ["job-2"]


# --- queue position -----------------------------------------------------------------------------


def test_queue_position_counts_queued_jobs_ahead(store):
    base = time.time()
    for n in range(4):
        store.add(f"job-{n}", f"owner-{n}", spec(n))  # every owner's job is in the one queue
        set_created(store, f"job-{n}", base + min(n, 2))  # job-2 and job-3 tie: id decides
    assert [store.queue_position(store.get(f"job-{n}")) for n in range(4)] == [1, 2, 3, 4]
    running = store.claim()
    assert running.job.id == "job-0"
    assert store.queue_position(store.get("job-0")) is None
    assert [store.queue_position(store.get(f"job-{n}")) for n in range(1, 4)] == [1, 2, 3]
    assert store.claim().job.id == "job-1"  # position 1 is what a worker takes next
    assert store.states(["job-0", "job-2", "nope"]) == {
        "job-0": ("pending", 0),
        "job-2": ("pending", 0),
    }


# --- idempotency keys ---------------------------------------------------------------------------


def test_idempotency_keys_are_unique_per_owner_and_expire(store):
    store.add("first", "alice", spec(), idempotency=("k1", "fp", DAY))
    assert store.idempotency_record("alice", "k1", DAY).job_id == "first"
    with pytest.raises(DuplicateKey):
        store.add("second", "alice", spec(), idempotency=("k1", "fp", DAY))
    assert store.get("second") is None  # nothing of the losing request was written
    store.add("bobs", "bob", spec(), idempotency=("k1", "other", DAY))  # keys are per owner
    assert store.idempotency_record("bob", "k1", DAY).fingerprint == "other"

    time.sleep(0.05)  # with a lifetime shorter than the key's age, the key is free again
    assert store.idempotency_record("alice", "k1", 0.01) is None
    store.add("third", "alice", spec(), idempotency=("k1", "fp2", 0.01))
    assert store.idempotency_record("alice", "k1", DAY).job_id == "third"
    assert store.purge_idempotency_keys(older_than=time.time() + 1) == 2
    assert store.idempotency_record("bob", "k1", DAY) is None


# --- webhook deliveries -------------------------------------------------------------------------


def delivery(store: JobStore, job_id: str, event: str) -> dict | None:
    return DeliveryQueue(store.engine).get(job_id, event)


def test_terminal_transitions_queue_webhook_deliveries(store):
    hook = Webhook("http://example.com/hook", "http://api")
    for n in range(4):
        store.add(f"job-{n}", "alice", spec(n), webhook=hook)
        set_created(store, f"job-{n}", time.time() + n)
    store.add("silent", "alice", spec(9))
    set_created(store, "silent", time.time() - 10)

    silent = store.claim()
    assert silent.job.id == "silent"
    store.complete(silent, {"video_key": "videos/s.mp4"})
    store.complete(store.claim(), {"video_key": "videos/0.mp4"})  # job-0
    store.fail(store.claim(), "invalid_argument", "bad input")  # job-1
    store.cancel("job-2", "alice", "cancelled")
    exhausted = JobStore(str(store.engine.url), lease_ttl=-1, max_attempts=1)
    exhausted.claim()  # job-3, its lease already lapsed and its one attempt used
    assert exhausted.fail_exhausted("internal_error", "worker died") == 1
    exhausted.dispose()

    for job_id, event in (("job-0", DONE), ("job-1", FAILED), ("job-2", FAILED), ("job-3", FAILED)):
        row = delivery(store, job_id, event)
        assert row is not None and row["state"] == PENDING, job_id
        assert (row["url"], row["base_url"], row["trusted"]) == (hook.url, "http://api", False)
    assert delivery(store, "silent", DONE) is None  # no webhook, no delivery

    assert len(store.expire_finished(older_than=time.time() + 1)) == 5
    assert delivery(store, "job-0", EXPIRED)["state"] == PENDING
    with store.engine.connect() as conn:  # expired jobs send nothing more: subscriptions go
        assert (
            conn.execute(sa.select(sa.func.count()).select_from(webhooks.subscriptions)).scalar()
            == 0
        )


def test_delivery_queue_claims_retries_and_finishes(store):
    hook = Webhook("http://example.com/hook", "http://api")
    for n in range(3):
        store.add(f"job-{n}", "alice", spec(n), webhook=hook)
        store.cancel(f"job-{n}", "alice", "cancelled")
    queue = DeliveryQueue(store.engine)
    other = DeliveryQueue(JobStore(str(store.engine.url)).engine)

    first = queue.claim_due(2, lease_s=60)
    assert len(first) == 2
    rest = other.claim_due(10, lease_s=60)  # claimed deliveries are not handed out twice
    assert [d.job_id for d in rest] == sorted(
        {"job-0", "job-1", "job-2"} - {d.job_id for d in first}
    )
    assert queue.claim_due(10, lease_s=60) == []

    queue.sent(first[0])
    queue.failed(first[1], "receiver answered HTTP 500", retry_in=0.2)
    queue.failed(rest[0], "receiver answered HTTP 500", retry_in=None)
    assert delivery(store, first[0].job_id, FAILED)["state"] == SENT
    assert delivery(store, rest[0].job_id, FAILED)["state"] == DEAD
    retried = delivery(store, first[1].job_id, FAILED)
    assert (retried["state"], retried["attempts"]) == (PENDING, 1)
    assert queue.claim_due(10, lease_s=60) == []  # not before its backoff
    time.sleep(0.3)
    again = queue.claim_due(10, lease_s=60)
    assert [(d.job_id, d.attempts) for d in again] == [(first[1].job_id, 1)]

    assert queue.purge(older_than=time.time() + 1) == 2  # sent and dead rows; pending stays
    assert delivery(store, first[1].job_id, FAILED) is not None
    other.engine.dispose()
