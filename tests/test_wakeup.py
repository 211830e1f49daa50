"""LISTEN/NOTIFY wake-ups on the PostgreSQL server on loopback."""

from __future__ import annotations

import threading
import time
import uuid

from reelforge.jobs.store import JobStore
from reelforge.jobs.wakeup import JobListener, can_notify

SPEC = {"model": "grok-imagine-video", "mode": "text-to-video", "prompt": "a cat"}


def test_only_postgresql_notifies():
    assert can_notify("postgresql+psycopg://u@h/db")
    assert can_notify("postgresql://u@h/db")
    assert not can_notify("sqlite:////tmp/x.db")


def test_a_queued_job_wakes_listeners_at_once(pg_database):
    store = JobStore(pg_database)
    store.create_schema()
    woken: list[float] = []
    ready = threading.Event()

    def on_job() -> None:
        woken.append(time.monotonic())
        ready.set()

    listener = JobListener(pg_database, on_job)
    listener.start()
    try:
        assert ready.wait(10)  # one wake-up on connecting, for jobs queued before it listened
        ready.clear()
        woken.clear()
        queued_at = time.monotonic()
        store.add(str(uuid.uuid4()), "owner", SPEC)
        assert ready.wait(5)
        assert woken[0] - queued_at < 0.1

        # A job handed back to the queue (a worker shutting down) wakes listeners too.
        claim = store.claim()
        assert claim is not None
        ready.clear()
        assert store.release(claim)
        assert ready.wait(5)
    finally:
        listener.stop()
        store.dispose()


def test_the_listener_reconnects_after_losing_its_connection(pg_database):
    store = JobStore(pg_database)
    store.create_schema()
    woken = threading.Event()
    listener = JobListener(pg_database, woken.set)
    listener.start()
    try:
        assert woken.wait(10)
        with store.engine.begin() as conn:  # cut every other session, as a failover would
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        store.engine.dispose()
        woken.clear()
        assert woken.wait(10)  # reconnected: the on-connect wake-up fired again
        woken.clear()
        store.add(str(uuid.uuid4()), "owner", SPEC)
        assert woken.wait(5)
    finally:
        listener.stop()
        store.dispose()
