"""The running system, assembled once: every process (`serve`, `worker`) is built here.

`open_backend(settings)` opens what every process shares: the catalog and its moderation policy,
the job store (migrated to the current schema), storage. On top of it:

- `run_api(backend, keys)`: the REST and gRPC surfaces, until SIGTERM (then it stops accepting and
  lets in-flight requests and long polls finish);
- `WorkerPool` (`start_workers`): render worker processes, supervised, drained on SIGTERM;
- `Housekeeping(backend)`: the janitor and the webhook dispatcher. It runs in every process but is
  active in one per deployment at a time: the holder of a PostgreSQL advisory lock (SQLite: a file
  lock beside the database). When that process dies its lock goes with it and another takes over.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import fcntl
import logging
import signal
import sys
import threading
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from reelforge.api.auth import KeyChecker
from reelforge.api.openai.routes import webhook_message
from reelforge.api.wire import status_body
from reelforge.config import Settings
from reelforge.core.catalog import Catalog, CatalogError
from reelforge.engines import check_catalog, check_machine, check_upstreams
from reelforge.files import FileStore
from reelforge.jobs import janitor
from reelforge.jobs.store import JobStore, create_engine
from reelforge.jobs.webhooks import Delivery, DeliveryQueue, Message, WebhookDispatcher
from reelforge.jobs.worker import (
    Worker,
    WorkerPool,
    run_worker_process,
    start_worker_process,
)
from reelforge.moderation.policy import Policy
from reelforge.moderation.preflight import unavailable
from reelforge.openai_videos import OpenAIVideos
from reelforge.service import OPENAI, VideoService, surface_of
from reelforge.storage import StorageError, storage_for
from reelforge.storage.base import Storage

log = logging.getLogger("reelforge.server")

ROLE_POLL_S = 1.0  # how often a standby process tries to become the housekeeper


class StartupError(Exception):
    """The process cannot start; the message says why (the CLI prints it and exits)."""


def load_catalog(catalog_file: Path | None) -> tuple[Catalog, Policy]:
    """The catalog with every engine's options and the moderation table checked."""
    try:
        catalog = Catalog.load(catalog_file)
        check_catalog(catalog)
        return catalog, Policy.from_catalog(catalog)
    except CatalogError as exc:
        raise StartupError(f"catalog: {exc}") from None


@dataclass
class Backend:
    """What every Reelforge process shares; built once per process by `open_backend`."""

    settings: Settings
    catalog: Catalog
    policy: Policy
    store: JobStore
    storage: Storage
    files: FileStore

    def service(self) -> VideoService:
        return VideoService(self.settings, self.store, self.storage, self.catalog, self.files)

    def ready(self) -> str | None:
        """None when the database and storage answer, else what does not."""
        try:
            self.store.ping()
        except Exception as exc:  # noqa: BLE001 - any failure means not ready
            return f"database: {type(exc).__name__}"
        try:
            self.storage.exists("health/probe")  # any key: only the answer matters
        except Exception as exc:  # noqa: BLE001
            return f"storage: {type(exc).__name__}"
        return None

    def close(self) -> None:
        self.store.dispose()


def open_backend(settings: Settings, *, renders: bool) -> Backend:
    """Open the catalog, storage and job store (migrated to head unless settings.migrate is off).

    `renders`: this process runs workers, so moderation must be able to run (it fails closed)."""
    catalog, policy = load_catalog(settings.catalog_file)
    if settings.check_upstream:
        try:
            check_upstreams(catalog)
        except CatalogError as exc:
            raise StartupError(f"catalog: {exc}") from None
    if renders and (problem := unavailable(policy)):
        raise StartupError(problem)
    if renders:
        try:
            # kernels, FP8, devices (and --devices GPUs): what this machine must support
            check_machine(catalog, settings.devices)
        except CatalogError as exc:
            raise StartupError(f"catalog: {exc}") from None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    try:
        storage = storage_for(settings)
    except StorageError as exc:
        raise StartupError(str(exc)) from None
    store = JobStore(
        settings.db_url, lease_ttl=settings.lease_ttl, max_attempts=settings.max_attempts
    )
    _prepare_schema(store, settings.migrate)
    return Backend(settings, catalog, policy, store, storage, FileStore(store.engine, storage))


def _prepare_schema(store: JobStore, migrate: bool) -> None:
    """Upgrade the schema to head (under a lock: every process may be the first to start), or
    with --no-migrate only check that it is there."""
    # (Alembic loads here, not in the spawned worker processes that import this module)
    from reelforge.jobs.migrations import SchemaNotCurrent, check_current

    try:
        if migrate:
            store.create_schema()
        else:
            check_current(store.engine)
    except SchemaNotCurrent as exc:
        raise StartupError(f"database: {exc}") from None


# --- housekeeping ------------------------------------------------------------------------------


class _RoleLock:
    """Held by one process per deployment at a time; released when that process dies."""

    def __init__(self, settings: Settings, name: str):
        self.url = settings.db_url
        self.name = name
        self._conn: sa.Connection | None = None
        self._engine: sa.Engine | None = None
        self._file: Any = None

    def try_acquire(self) -> bool:
        if self.url.startswith("sqlite"):
            path = Path(sa.engine.make_url(self.url).database or "reelforge.db")
            self._file = open(path.with_name(path.name + f".{self.name}.lock"), "w")  # noqa: SIM115
            try:
                fcntl.flock(self._file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                self._file.close()
                self._file = None
                return False
        if self._engine is None:
            self._engine = create_engine(self.url, pooled=False)
        conn = self._engine.connect()
        key = zlib.crc32(f"reelforge:{self.name}".encode())
        if conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": key}).scalar():
            conn.commit()
            self._conn = conn
            return True
        conn.close()
        return False

    def still_held(self) -> bool:
        """False when the connection holding an advisory lock is gone (the lock went with it)."""
        if self._conn is None:
            return self._file is not None
        try:
            self._conn.execute(sa.text("SELECT 1"))
            self._conn.commit()
            return True
        except sa.exc.DBAPIError:
            self.release()
            return False

    def release(self) -> None:
        if self._file is not None:
            self._file.close()  # (closing drops the flock)
            self._file = None
        if self._conn is not None:
            with contextlib.suppress(sa.exc.DBAPIError):
                self._conn.close()
            self._conn = None

    def dispose(self) -> None:
        self.release()
        if self._engine is not None:
            self._engine.dispose()


class Housekeeping:
    """The janitor and the webhook dispatcher, on a thread of their own, while this process holds
    the housekeeper role. Every process runs one; the others stand by and poll for the role."""

    def __init__(self, backend: Backend, service: VideoService | None = None):
        self.backend = backend
        self.service = service or backend.service()
        self.active = threading.Event()  # this process holds the role (for tests and logs)
        self._lock = _RoleLock(backend.settings, "housekeeping")
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> Housekeeping:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._main, args=(ready,), name="reelforge-housekeeping", daemon=True
        )
        self._thread.start()
        ready.wait()
        return self

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        self._lock.dispose()

    def _main(self, ready: threading.Event) -> None:
        self._loop = asyncio.new_event_loop()
        self._stop = asyncio.Event()
        ready.set()
        try:
            self._loop.run_until_complete(self._run())
        finally:
            self._loop.close()

    async def _run(self) -> None:
        assert self._stop is not None
        while not self._stop.is_set():
            if await asyncio.to_thread(self._lock.try_acquire):
                log.info("this process is the housekeeper (janitor, webhook deliveries)")
                self.active.set()
                try:
                    await self._while_held()
                finally:
                    self.active.clear()
                    await asyncio.to_thread(self._lock.release)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), ROLE_POLL_S)

    async def _while_held(self) -> None:
        assert self._stop is not None
        tasks = [
            asyncio.create_task(self._janitor_loop()),
            asyncio.create_task(self._dispatcher().run()),
        ]
        try:
            while not self._stop.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), ROLE_POLL_S)
                if not await asyncio.to_thread(self._lock.still_held):
                    log.warning("lost the housekeeper role (database connection gone)")
                    return
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

    def _dispatcher(self) -> WebhookDispatcher:
        settings, service = self.backend.settings, self.service
        openai = OpenAIVideos(service)

        def body_for(delivery: Delivery) -> dict | Message | None:
            if surface_of(delivery.job_id) == OPENAI:
                return webhook_message(openai, delivery)
            view = service.webhook_view(delivery.job_id, delivery.event, delivery.base_url)
            return None if view is None else {"request_id": delivery.job_id, **status_body(view)[1]}

        return WebhookDispatcher(
            DeliveryQueue(self.backend.store.engine),
            body_for,
            service.webhook_secret,
            allow_private=settings.allow_private_urls,
            attempts=settings.webhook_attempts,
            backoff=settings.webhook_backoff,
            timeout=settings.webhook_timeout,
            concurrency=settings.webhook_concurrency,
        )

    async def _janitor_loop(self) -> None:
        settings, backend = self.backend.settings, self.backend
        interval = janitor.interval_for(settings.retention)
        while True:
            try:
                await asyncio.to_thread(
                    janitor.sweep,
                    backend.store,
                    backend.storage,
                    settings.retention,
                    idempotency_ttl=settings.idempotency_ttl,
                )
            except Exception:  # keep sweeping; a transient DB error must not end housekeeping
                log.exception("janitor sweep failed")
            await asyncio.sleep(interval)


# --- processes ---------------------------------------------------------------------------------


def start_workers(backend: Backend) -> WorkerPool:
    pool = WorkerPool(backend.settings, _worker_process)
    pool.start()
    return pool


def _worker_process(
    settings: Settings, parent_pid: int, wake: Any, idle_poll: float, index: int = 0
) -> None:
    """A worker process's main: its own backend (the parent migrated the schema), one worker."""
    if not start_worker_process(parent_pid, settings.devices, index):
        return
    # (the parent migrated the schema and checked the upstreams)
    own = dataclasses.replace(settings, migrate=False, check_upstream=False)
    backend = open_backend(own, renders=True)
    try:
        worker = Worker(settings, backend.store, backend.storage, backend.catalog, backend.policy)
        run_worker_process(worker, wake, idle_poll)
    finally:
        backend.close()


def run_api(backend: Backend, keys: KeyChecker, log_level: str = "info") -> None:
    """Serve REST (and gRPC, unless its port is 0) with in-process workers and housekeeping,
    until SIGTERM or Ctrl-C: then stop accepting, let in-flight requests finish, drain workers."""
    import uvicorn

    from reelforge.api.app import create_app

    settings = backend.settings
    service = backend.service()
    journal = None
    if settings.scenarios:
        from reelforge.api.journal import Journal

        journal = Journal()
    workers = start_workers(backend)
    service.on_new_job = workers.wake
    housekeeping = Housekeeping(backend, service).start()
    metrics_server = grpc_server = None
    # uvicorn re-raises the SIGTERM it handled; exit through the `finally` below, not around it
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        metrics_server = serve_metrics(settings, service)
        if settings.grpc_port:
            from reelforge.api.grpc import start_server

            try:
                grpc_server = start_server(service, keys, settings, journal=journal)
            except RuntimeError as exc:
                raise StartupError(str(exc)) from None
        uvicorn.run(
            create_app(
                service,
                backend.files,
                backend.catalog,
                backend.storage,
                keys,
                tmp_dir=settings.tmp_dir,
                max_body_bytes=settings.max_body_bytes,
                ready=backend.ready,
                journal=journal,
                playground=settings.playground,
                metrics_token=settings.metrics_token,
            ),
            host=settings.host,
            port=settings.port,
            log_level=log_level,
            log_config=None,  # uvicorn's own lines go through our handler, in our format
            access_log=False,
            timeout_graceful_shutdown=settings.drain_timeout,
        )
    finally:
        if grpc_server is not None:
            grpc_server.stop(grace=5).wait()
        if metrics_server is not None:
            metrics_server.shutdown()
        workers.stop()
        housekeeping.stop()
        backend.close()


def run_worker_host(backend: Backend) -> None:
    """`reelforge worker`: render workers and standby housekeeping, until SIGTERM or Ctrl-C;
    then the workers finish their jobs within the drain timeout or hand them back."""
    settings = backend.settings
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    workers = start_workers(backend)
    housekeeping = Housekeeping(backend).start()
    metrics_server = None
    log.info("%d worker(s) on %s", settings.workers, redacted(settings.db_url))
    try:
        metrics_server = serve_metrics(settings, housekeeping.service)
        stop.wait()
    finally:
        if metrics_server is not None:
            metrics_server.shutdown()
        workers.stop()
        housekeeping.stop()
        backend.close()


def serve_metrics(settings: Settings, service: VideoService) -> Any:
    """`--metrics-port`: Prometheus' text format on a port of its own, off the public API.
    Returns the HTTP server (to shut down), or None when the option is off."""
    if not settings.metrics_port:
        return None
    from prometheus_client import start_http_server

    try:
        server, _thread = start_http_server(
            settings.metrics_port, settings.metrics_host, registry=service.metrics_registry()
        )
    except OSError as exc:
        raise StartupError(
            f"cannot serve metrics on {settings.metrics_host}:{settings.metrics_port}: {exc}"
        ) from None
    log.info("metrics on http://%s:%d/metrics", settings.metrics_host, settings.metrics_port)
    return server


def redacted(url: str) -> str:
    return sa.engine.make_url(url).render_as_string(hide_password=True)
