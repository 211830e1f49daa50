"""The worker's loop rides out a job store that is briefly unreachable."""

from __future__ import annotations

import threading

import sqlalchemy as sa

from reelforge.config import Settings
from reelforge.core.catalog import Catalog
from reelforge.jobs import worker as worker_module
from reelforge.jobs.store import JobStore
from reelforge.jobs.worker import Worker
from reelforge.storage.local import LocalStorage


def test_an_unreachable_store_is_waited_out(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "DB_RETRY_S", 0.01)
    settings = Settings(data_dir=tmp_path)
    store = JobStore(settings.db_url)
    store.create_schema()
    w = Worker(settings, store, LocalStorage(settings.files_dir), Catalog.load())
    calls = []
    real_claim = store.claim

    def flaky_claim():
        calls.append(1)
        if len(calls) <= 3:  # as when PostgreSQL restarts or fails over
            raise sa.exc.OperationalError("SELECT", {}, Exception("connection refused"))
        if len(calls) == 5:
            w.stopping.set()
        return real_claim()

    monkeypatch.setattr(store, "claim", flaky_claim)
    loop = threading.Thread(target=w.run_forever, kwargs={"idle_poll": 0.01})
    loop.start()
    loop.join(10)
    assert not loop.is_alive()
    assert len(calls) >= 5  # it kept claiming after the failures instead of dying
    store.dispose()
