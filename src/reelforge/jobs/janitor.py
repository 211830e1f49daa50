"""Housekeeping: expire finished jobs after the retention period, fail jobs nobody can finish,
and remove uploaded files past their `expires_after`."""

from __future__ import annotations

import logging
import time

from reelforge.config import DAY
from reelforge.core.errors import INTERNAL_ERROR
from reelforge.files import FileStore
from reelforge.jobs.store import Job, JobStore
from reelforge.jobs.webhooks import DeliveryQueue
from reelforge.storage.base import Storage

log = logging.getLogger("reelforge.janitor")


def sweep(
    store: JobStore, storage: Storage, retention: float, *, idempotency_ttl: float = DAY
) -> None:
    """One pass; safe to run from several processes at once."""
    failed = store.fail_exhausted(
        INTERNAL_ERROR, f"the job's worker stopped {store.max_attempts} times while rendering it"
    )
    if failed:
        log.warning("failed %d job(s) whose workers kept dying", failed)
    for job in store.expire_finished(older_than=time.time() - retention):
        remove_files(storage, job)
    FileStore(store.engine, storage).remove_expired()
    now = time.time()
    store.purge_idempotency_keys(older_than=now - idempotency_ttl)
    store.purge_counts(older_than=now - idempotency_ttl)
    DeliveryQueue(store.engine).purge(older_than=now - max(retention, DAY))


def remove_files(storage: Storage, job: Job) -> None:
    """Everything a job keeps in storage: its video, its inputs and the video's previews."""
    if job.result and job.result.get("video_key"):
        storage.delete(job.result["video_key"])
    storage.delete_prefix(f"inputs/{job.id}")
    storage.delete_prefix(f"previews/{job.id}")


def interval_for(retention: float) -> float:
    """Sweep often enough that a job reads `expired` soon after its retention ends."""
    return max(0.5, min(30.0, retention / 4))
