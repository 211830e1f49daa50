"""Wait for jobs to change without a thread per waiter: for long polls and event streams.

Workers run in other processes (or on other machines), so changes are seen by reading the store:
one query every `interval` for all the jobs anyone is waiting on in this process, on one thread,
only while someone waits. A waiter costs a future, not a thread or a query of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

log = logging.getLogger("reelforge.api")

State = tuple[str, int] | None  # (wire status, progress); None: no such job
Until = Callable[[State], bool]
States = Callable[[list[str]], dict[str, tuple[str, int]]]


class JobWatcher:
    def __init__(self, states: States, interval: float = 0.05):
        self.states = states  # job ids -> {id: (wire status, progress)}; missing: no such job
        self.interval = interval
        self._waiting: dict[str, list[tuple[Until, asyncio.Future[None]]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.closed = False

    def close(self) -> None:
        """The server is stopping: wake every waiter now and never wait again, so that long
        polls answer and event streams end instead of holding the shutdown up."""
        self.closed = True
        for entries in self._waiting.values():
            for _, future in entries:
                if not future.done():
                    future.set_result(None)

    async def wait(self, job_id: str, until: Until, timeout: float) -> bool:
        """Wait until `until(state)` holds for the job; False if `timeout` seconds pass first.
        Once closed, returns True at once: callers re-read the job and check `closed`."""
        if self.closed:
            return True
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        entry = (until, future)
        self._waiting.setdefault(job_id, []).append(entry)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run())
        try:
            await asyncio.wait_for(future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            entries = self._waiting.get(job_id, [])
            if entry in entries:
                entries.remove(entry)
            if not entries:
                self._waiting.pop(job_id, None)

    async def _run(self) -> None:
        while self._waiting:
            ids = list(self._waiting)
            try:
                states = await asyncio.to_thread(self.states, ids)
            except Exception:  # a transient DB error: waiters wait on, or time out
                log.exception("could not read job states")
                states = None
            if states is not None:
                for job_id in ids:
                    state = states.get(job_id)
                    for until, future in list(self._waiting.get(job_id, ())):
                        if not future.done() and until(state):
                            future.set_result(None)
            await asyncio.sleep(self.interval)
