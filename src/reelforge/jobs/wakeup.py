"""Wake idle workers the moment a job is queued, whichever process or machine queued it.

On PostgreSQL the store sends `NOTIFY reelforge_jobs` in the transaction that queues a job (it is
delivered at commit); each worker pool keeps one connection LISTENing and wakes its idle workers.
Without PostgreSQL (SQLite: one machine) the API wakes its own pool directly and workers poll.
Either way a lost notification costs at most one idle poll.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

log = logging.getLogger("reelforge.wakeup")

CHANNEL = "reelforge_jobs"
RECONNECT_S = 1.0


def can_notify(url: str) -> bool:
    return sa.engine.make_url(url).get_backend_name() == "postgresql"


def notify(conn: sa.Connection) -> None:
    """Announce a claimable job, in the caller's transaction (PostgreSQL; a no-op elsewhere)."""
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_notify(:channel, '')"), {"channel": CHANNEL})


class JobListener:
    """A thread LISTENing on one dedicated connection, calling `on_job` for each notification
    (and once after every (re)connect, for anything queued while it was not listening)."""

    def __init__(self, url: str, on_job: Callable[[], None]):
        self._conninfo = (
            sa.engine.make_url(url).set(drivername="postgresql").render_as_string(False)
        )
        self._on_job = on_job
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="reelforge-listener", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def _run(self) -> None:
        import psycopg

        while not self._stopping.is_set():
            try:
                with psycopg.connect(self._conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self._on_job()
                    while not self._stopping.is_set():
                        # wake at least every half second to notice stop()
                        for _ in conn.notifies(timeout=0.5):
                            self._on_job()
                            if self._stopping.is_set():
                                break
            except psycopg.Error as exc:
                log.warning("job listener lost its connection (%s); reconnecting", exc)
                self._stopping.wait(RECONNECT_S)
