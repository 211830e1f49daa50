"""The webhook dispatcher against real HTTP receivers on 127.0.0.1: signatures, retries with
backoff, giving up, timeouts that hold up nothing else, and the private-address rule."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time

import pytest

from reelforge.jobs.store import FAILED, JobStore, Webhook
from reelforge.jobs.webhooks import DEAD, PENDING, SENT, DeliveryQueue, WebhookDispatcher
from tests.webhook_receiver import Receiver, verify

SECRET = b"test-secret"


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


@pytest.fixture
def store(tmp_path):
    store = JobStore(f"sqlite:///{tmp_path / 'jobs.db'}")
    store.create_schema()
    yield store
    store.dispose()


def finished_job(store: JobStore, job_id: str, url: str, *, trusted: bool = False) -> None:
    """A job with a webhook, cancelled at once: one `failed` delivery is due."""
    spec = {"model": "m", "mode": "text-to-video", "prompt": "p"}
    store.add(job_id, "owner", spec, webhook=Webhook(url, "http://api", trusted))
    store.cancel(job_id, "owner", "cancelled")


def dispatcher(store: JobStore, **kw) -> WebhookDispatcher:
    options = {
        "allow_private": True,
        "attempts": 3,
        "backoff": 0.1,
        "timeout": 2.0,
        "concurrency": 4,
    }
    options.update(kw)
    return WebhookDispatcher(
        DeliveryQueue(store.engine),
        lambda d: {"request_id": d.job_id, "status": d.event},
        SECRET,
        **options,
    )


async def run_until(d: WebhookDispatcher, done, timeout: float = 10.0) -> None:
    """Run the dispatcher's loop until `done()` holds."""
    task = asyncio.create_task(d.run())
    try:
        deadline = time.monotonic() + timeout
        while not done():
            assert time.monotonic() < deadline, "timed out"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def state(store: JobStore, job_id: str) -> dict:
    return DeliveryQueue(store.engine).get(job_id, FAILED)


def test_delivery_is_signed(store, receiver):
    finished_job(store, "job-1", f"{receiver.url}/ok")
    asyncio.run(run_until(dispatcher(store), lambda: state(store, "job-1")["state"] == SENT))
    [got] = receiver.to("/ok")
    assert json.loads(got.body) == {"request_id": "job-1", "status": "failed"}
    verify(SECRET, got)
    assert got.headers["Reelforge-Webhook-Id"] == "job-1:failed"
    assert got.headers["Content-Type"] == "application/json"


def test_retries_with_backoff_then_gives_up(store, receiver):
    finished_job(store, "flaky", f"{receiver.url}/flaky")
    finished_job(store, "broken", f"{receiver.url}/fail")
    asyncio.run(
        run_until(
            dispatcher(store, attempts=3, backoff=0.5),
            lambda: (
                state(store, "flaky")["state"] == SENT and state(store, "broken")["state"] == DEAD
            ),
        )
    )
    flaky = [r.at for r in receiver.to("/flaky")]
    assert len(flaky) == 2 and flaky[1] - flaky[0] >= 0.45
    broken = [r.at for r in receiver.to("/fail")]
    assert len(broken) == 3  # the configured number of attempts, then no more
    assert broken[1] - broken[0] >= 0.45 and broken[2] - broken[1] >= 0.95  # 0.5 s, then 1 s
    assert state(store, "broken")["attempts"] == 3
    assert "HTTP 500" in state(store, "broken")["last_error"]


def test_a_hanging_receiver_holds_up_no_other_delivery(store, receiver):
    finished_job(store, "slow", f"{receiver.url}/hang")
    finished_job(store, "fast", f"{receiver.url}/ok")
    start = time.monotonic()
    asyncio.run(
        run_until(
            dispatcher(store, timeout=1.0, backoff=30),
            lambda: state(store, "slow")["attempts"] == 1,
        )
    )
    [fast] = receiver.to("/ok")
    assert fast.at - start < 0.8  # sent while the other one hung
    slow = state(store, "slow")
    assert slow["state"] == PENDING and "no answer within 1 s" in slow["last_error"]
    assert time.monotonic() - start < 3


def test_private_addresses_are_refused_unless_allowed_or_the_operators(store, receiver):
    finished_job(store, "user", f"{receiver.url}/ok")
    finished_job(store, "operator", f"{receiver.url}/ok", trusted=True)
    d = dispatcher(store, allow_private=False, attempts=1)
    asyncio.run(
        run_until(
            d, lambda: {state(store, j)["state"] for j in ("user", "operator")} == {DEAD, SENT}
        )
    )
    assert state(store, "user")["state"] == DEAD
    assert "non-public" in state(store, "user")["last_error"]
    [got] = receiver.to("/ok")
    assert json.loads(got.body)["request_id"] == "operator"
