"""Worker processes: claim a job, render it off the API's event loop, record the outcome.

A worker holds a lease on its job and renews it from a heartbeat thread while it renders. If the
worker dies, the lease lapses and another worker claims the job again; if the lease was lost while
rendering, the result is thrown away, so no job completes twice.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from typing import Any

import sqlalchemy as sa

from reelforge.config import Settings
from reelforge.core import logs, metrics
from reelforge.core.catalog import Catalog
from reelforge.core.errors import INTERNAL_ERROR, JobError
from reelforge.core.sizes import resolution_of
from reelforge.core.spec import JobSpec
from reelforge.engines import available_engines
from reelforge.engines.base import FPS, Checkpoint
from reelforge.jobs import scenarios
from reelforge.jobs.render import InputLoader, Rendered, Renderer
from reelforge.jobs.store import Claim, Job, JobStore
from reelforge.jobs.wakeup import JobListener, can_notify
from reelforge.media import previews
from reelforge.moderation.moderator import Moderator
from reelforge.moderation.policy import Policy
from reelforge.net.policy import FetchPolicy
from reelforge.storage.base import Storage

log = logging.getLogger("reelforge.worker")

IDLE_POLL_S = 0.1  # when nothing announces new jobs across processes (SQLite)
LISTENING_POLL_S = 1.0  # with LISTEN/NOTIFY the poll only catches lapsed leases and lost wakes
PROGRESS_EVERY_S = 0.2
DB_RETRY_S = 1.0
ENGINE_STATE = "engine"  # the key of an engine's checkpointed state in the job's result


class Abandon(Exception):
    """Stop rendering this job: the lease was lost or the worker is shutting down."""


class Worker:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        storage: Storage,
        catalog: Catalog,
        policy: Policy | None = None,
    ):
        self.store = store
        self.storage = storage
        self.renderer = Renderer(
            catalog,
            available_engines(catalog, max_attempts=settings.max_attempts),
            InputLoader(storage, FetchPolicy(allow_private=settings.allow_private_urls)),
            settings.tmp_dir,
            Moderator(policy or Policy.from_catalog(catalog)),
            fast=settings.fast,
        )
        self.renderer.moderator.warm_up()  # loads its models while the worker waits for work
        self.drain_timeout = settings.drain_timeout
        self.draining = threading.Event()  # take no new job; finish the current one
        self.stopping = threading.Event()  # give the current job back now

    def drain(self) -> None:
        """SIGTERM: claim nothing more; the job in hand may finish within the drain timeout,
        after which it is handed back (re-queued for another worker, never failed)."""
        if self.draining.is_set():
            return
        self.draining.set()
        timer = threading.Timer(self.drain_timeout, self.stopping.set)
        timer.daemon = True
        timer.start()

    def warm_up(self) -> None:
        """Render once per resolution for each model that asks for it (compiled models do), so
        no user's job pays for compilation; logs when done."""
        engine = self.renderer.engines.get("diffusers")
        if engine is None:
            return
        for model in self.renderer.catalog.models.values():
            if model.engine == "diffusers" and not self.draining.is_set():
                try:
                    engine.warm_up(model)
                except Exception:  # its jobs will fail with the reason; the others still run
                    log.error("warm-up of %s failed:\n%s", model.id, traceback.format_exc())
        log.info("warm-up finished")

    def run_forever(self, wake: Any = None, idle_poll: float = IDLE_POLL_S) -> None:
        """Work until stopped; when idle, poll every `idle_poll` s or sooner when `wake` is set."""
        while not self.stopping.is_set() and not self.draining.is_set():
            try:
                if self.run_once():
                    continue
            except sa.exc.OperationalError as exc:  # the database is unreachable: wait it out
                log.warning("job store unavailable (%s); retrying in %s s", exc.orig, DB_RETRY_S)
                self.stopping.wait(DB_RETRY_S)
                continue
            if wake is None:
                self.draining.wait(idle_poll)
            else:
                wake.wait(idle_poll)  # a lost wake-up only costs one poll interval

    def run_once(self) -> bool:
        """Claim and process one job; False when the queue was empty."""
        claim = self.store.claim()
        if claim is None:
            return False
        self.process(claim)
        return True

    def process(self, claim: Claim) -> None:
        job = claim.job
        logs.event(log, "job claimed", job_id=job.id, attempt=job.attempts, model=job.model)
        if job.attempts == 1:  # (a job taken over after a lost lease waited for other reasons)
            metrics.queue_wait.labels(job.model, job.mode).observe(time.time() - job.created_at)
        metrics.workers_busy.inc()
        try:
            self._process(claim)
        finally:
            metrics.workers_busy.dec()
            metrics.record_gpu_memory()

    def _process(self, claim: Claim) -> None:
        job = claim.job
        lost = threading.Event()
        done = threading.Event()
        heartbeat = threading.Thread(target=self._heartbeat, args=(claim, lost, done), daemon=True)
        heartbeat.start()
        last_write = 0.0

        def progress(frames_done: int, frames_total: int) -> None:
            nonlocal last_write
            if lost.is_set() or self.stopping.is_set():
                raise Abandon()
            now = time.monotonic()
            if now - last_write >= PROGRESS_EVERY_S:
                last_write = now
                if not self.store.heartbeat(claim, frames_done * 100 // max(1, frames_total)):
                    lost.set()
                    raise Abandon()

        def save(state: dict[str, Any]) -> None:
            """An engine's state, kept in the job's result until it completes: a worker that
            takes the job over after this one dies resumes from it."""
            if lost.is_set() or self.stopping.is_set():
                raise Abandon()
            if not self.store.checkpoint(claim, {ENGINE_STATE: state}):
                lost.set()
                raise Abandon()

        checkpoint = Checkpoint(dict((job.result or {}).get(ENGINE_STATE) or {}), save)
        video_key = f"videos/{job.id}-{claim.token}.mp4"
        started = time.perf_counter()
        try:
            rendered = scenarios.render(
                self.renderer,
                JobSpec.from_dict(job.spec),
                f"{job.id}-{claim.token}.mp4",
                progress,
                checkpoint=checkpoint,
                job_id=job.id,
            )
            render_s = time.perf_counter() - started
            log.info(
                "job %s rendered in %.2f s: %s",
                job.id,
                render_s,
                ", ".join(f"{k} {v:.2f}" for k, v in rendered.timings.items()),
            )
            metrics.stage_seconds.labels(job.model, "render").observe(render_s)
            for stage, seconds in rendered.timings.items():  # the stages the engine reports
                metrics.stage_seconds.labels(job.model, stage).observe(seconds)
            timings = dict(rendered.timings)  # seconds per stage, for operators
            result: dict[str, Any] = {
                "duration": int(round(rendered.duration_s)),
                "duration_s": rendered.duration_s,
                "width": rendered.width,
                "height": rendered.height,
                "cost_in_usd_ticks": rendered.cost_in_usd_ticks,
                "timings": timings,
            }
            if rendered.details:
                result[ENGINE_STATE] = rendered.details
            if rendered.withheld is None:
                stored = time.perf_counter()
                # The poster is written with the video, so a listing's thumbnails never wait
                # on a decode; the spritesheet is made on first request.
                poster = previews.thumbnail(str(rendered.path))
                self.storage.put_bytes(previews.key(job.id, previews.THUMBNAIL), poster)
                self.storage.put_file(video_key, rendered.path)  # (moves the file)
                timings["store"] = round(time.perf_counter() - stored, 4)
                metrics.stage_seconds.labels(job.model, "store").observe(timings["store"])
                result["video_key"] = video_key
            else:  # done, but no video exists to store or link to (the contract's shape)
                verdict = rendered.withheld
                result["respect_moderation"] = False
                result["moderation"] = verdict.as_dict()  # for operators; clients never see it
                log.info(
                    "job %s withheld by moderation [%s] %s", job.id, verdict.stage, verdict.reason
                )
            if self.store.complete(claim, result):
                self._finished(job, rendered, render_s, time.perf_counter() - started)
            elif "video_key" in result:
                self.storage.delete(video_key)  # another worker owns the job now
        except scenarios.Stall:
            self.store.park(claim)
        except Abandon:
            if lost.is_set():  # cancelled, or another worker took over: drop it, take the next
                log.info("job %s is no longer ours (cancelled or taken over); dropped", job.id)
            elif self.stopping.is_set():
                self.store.release(claim)  # hand it back at once rather than wait for the lease
        except JobError as exc:
            if self.store.fail(claim, exc.code, exc.message):
                self._failed(job, exc.code, exc.message)
        except Exception as exc:  # a bug or a broken input must fail this job, never the worker
            log.error("job %s failed:\n%s", job.id, traceback.format_exc())
            message = f"rendering failed: {type(exc).__name__}"
            if self.store.fail(claim, INTERNAL_ERROR, message):
                self._failed(job, INTERNAL_ERROR, message)
        finally:
            done.set()
            heartbeat.join()

    def _finished(self, job: Job, rendered: Rendered, render_s: float, total_s: float) -> None:
        resolution = resolution_of(rendered.width, rendered.height)
        metrics.jobs_done.labels(job.model, job.mode).inc()
        metrics.render_seconds.labels(job.model, job.mode, resolution).observe(total_s)
        metrics.render_fps.labels(job.model, job.mode, resolution).set(
            rendered.duration_s * FPS / max(render_s, 1e-6)
        )
        if rendered.withheld is not None:
            metrics.jobs_blocked.labels(job.model, job.mode, rendered.withheld.stage).inc()
        logs.event(
            log,
            "job done",
            job_id=job.id,
            model=job.model,
            mode=job.mode,
            resolution=resolution,
            seconds=rendered.duration_s,
            cost_in_usd_ticks=rendered.cost_in_usd_ticks,
            blocked=rendered.withheld is not None,
            duration_ms=round(total_s * 1000, 1),
        )

    def _failed(self, job: Job, code: str, message: str) -> None:
        metrics.jobs_failed.labels(job.model, job.mode, code).inc()
        logs.event(log, "job failed", job_id=job.id, model=job.model, code=code, error=message)

    def _heartbeat(self, claim: Claim, lost: threading.Event, done: threading.Event) -> None:
        interval = self.store.lease_ttl / 3
        while not done.wait(interval):
            if not self.store.heartbeat(claim):
                lost.set()
                return


def _die_with_parent() -> None:
    """Linux: have the kernel kill this worker if the server process dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def run_worker_process(worker: Worker, wake: Any, idle_poll: float) -> None:
    """The body of a worker process: warm up, then work until SIGTERM (drain) or SIGINT."""
    signal.signal(signal.SIGTERM, lambda *_: worker.drain())
    signal.signal(signal.SIGINT, lambda *_: worker.drain())
    worker.warm_up()
    metrics.workers_alive.set(1)  # a live gauge: gone once the pool marks the process dead
    worker.run_forever(wake, idle_poll)
    if worker.draining.is_set():
        log.info("drained: worker %s exits", os.getpid())


def pin_device(devices: Sequence[str], index: int) -> str | None:
    """Pin this process to one GPU of `devices` (worker `index` takes them in turn) by setting
    CUDA_VISIBLE_DEVICES before torch starts, so it sees that GPU alone, as cuda:0."""
    if not devices:
        return None
    device = devices[index % len(devices)]
    os.environ["CUDA_VISIBLE_DEVICES"] = device
    return device


def start_worker_process(parent_pid: int, devices: Sequence[str] = (), index: int = 0) -> bool:
    """First thing in a worker process: die with the parent (False if it is already gone), and
    take GPU `index` of `devices` (`--devices`) before anything starts torch."""
    _die_with_parent()
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        return False
    device = pin_device(devices, index)
    logs.setup("info")  # in the server's format (it is in the environment)
    if device is not None:
        log.info("worker %d pinned to GPU %s (CUDA_VISIBLE_DEVICES=%s)", index, device, device)
    return True


class WakeUp:
    """Wakes idle worker processes when a job arrives.

    A semaphore, not a multiprocessing Event: an Event's condition makes `set()` wait until every
    sleeping waiter acknowledges, so a worker killed while it waited (SIGKILL, the OOM killer)
    would block the next `set()`, and the API creating a job with it, forever. A semaphore
    operation is one atomic call: a dead process holds nothing."""

    def __init__(self, ctx: Any, workers: int):
        self._sem = ctx.Semaphore(0)
        self._workers = max(1, workers)

    def set(self) -> None:
        """Let up to one waiting call per worker return (a busy worker's permit costs it one
        extra look at the queue later)."""
        for _ in range(self._workers - self._sem.get_value()):
            self._sem.release()

    def wait(self, timeout: float) -> bool:
        return self._sem.acquire(timeout=timeout)


class WorkerPool:
    """The server's worker processes, replaced when one dies (a crash or the OOM killer).

    `target(settings, parent_pid, wake, idle_poll, index)` is a worker process's main function
    (a module-level function: the processes are spawned, not forked); `index` numbers the
    workers from 0 (each takes GPU `index` of `settings.devices` in turn)."""

    def __init__(self, settings: Settings, target: Callable[..., None]):
        self.settings = settings
        self.target = target
        self.procs: list[multiprocessing.Process] = []
        self._ctx = multiprocessing.get_context("spawn")  # no inherited loop, threads or DB handles
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None
        self._wake = WakeUp(self._ctx, settings.workers)  # idle workers claim a new job at once
        self._listener: JobListener | None = None
        self._idle_poll = IDLE_POLL_S
        if settings.workers > 0 and can_notify(settings.db_url):
            self._listener = JobListener(settings.db_url, self.wake)
            self._idle_poll = LISTENING_POLL_S

    def wake(self) -> None:
        self._wake.set()

    def _spawn(self, n: int) -> multiprocessing.Process:
        proc = self._ctx.Process(
            target=self.target,
            args=(self.settings, os.getpid(), self._wake, self._idle_poll, n),
            name=f"reelforge-worker-{n}",
        )
        proc.start()
        return proc

    def start(self, check_every: float = 1.0) -> None:
        self.procs = [self._spawn(n) for n in range(self.settings.workers)]
        if self._listener is not None:
            self._listener.start()
        self._supervisor = threading.Thread(
            target=self._supervise, args=(check_every,), name="reelforge-supervisor", daemon=True
        )
        self._supervisor.start()

    def _supervise(self, check_every: float) -> None:
        while not self._stopping.wait(check_every):
            for n, proc in enumerate(self.procs):
                if not proc.is_alive() and not self._stopping.is_set():
                    log.warning(
                        "worker %s exited with %s; starting another", proc.name, proc.exitcode
                    )
                    proc.join()
                    metrics.process_died(proc.pid)
                    self.procs[n] = self._spawn(n)

    def stop(self, timeout: float | None = None) -> None:
        """SIGTERM every worker (each drains: finishes its job within the drain timeout, or
        hands it back), then wait; a worker still there after `timeout` is killed."""
        if timeout is None:
            timeout = self.settings.drain_timeout + 5.0
        self._stopping.set()
        if self._supervisor is not None:
            self._supervisor.join()
        if self._listener is not None:
            self._listener.stop()
        for proc in self.procs:
            if proc.is_alive():
                proc.terminate()
        deadline = time.monotonic() + timeout
        for proc in self.procs:
            proc.join(max(0.0, deadline - time.monotonic()))
            if proc.is_alive():
                proc.kill()
                proc.join()
            metrics.process_died(proc.pid)
