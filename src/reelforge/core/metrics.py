"""Prometheus metrics, defined once for every process.

`reelforge serve` and `reelforge worker` set PROMETHEUS_MULTIPROC_DIR before anything imports
this module, so API, worker and housekeeping processes all write their samples to files there and
one scrape (`exposition`) adds them up. Without it (tests, library use) the metrics live in this
process only. Gauges say how processes combine: `livesum` counts only live processes.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily, Metric

SECONDS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

http_requests = Counter(
    "reelforge_http_requests", "HTTP requests answered", ["route", "method", "status"]
)
http_latency = Histogram(
    "reelforge_http_request_duration_seconds",
    "Time to answer an HTTP request (to the end of the body)",
    ["route", "method"],
    buckets=SECONDS,
)

JOB = ["model", "mode"]
jobs_created = Counter("reelforge_jobs_created", "Jobs accepted", JOB)
jobs_done = Counter("reelforge_jobs_finished", "Jobs finished done (blocked ones too)", JOB)
jobs_failed = Counter("reelforge_jobs_failed", "Jobs failed, by error code", [*JOB, "code"])
jobs_cancelled = Counter("reelforge_jobs_cancelled", "Jobs cancelled by their client", JOB)
jobs_blocked = Counter(
    "reelforge_jobs_blocked", "Jobs done with the video withheld by moderation", [*JOB, "stage"]
)
queue_wait = Histogram(
    "reelforge_queue_wait_seconds",
    "From accepted to first claimed by a worker",
    JOB,
    buckets=SECONDS,
)
RENDER = [*JOB, "resolution"]
render_seconds = Histogram(
    "reelforge_render_duration_seconds", "A job's render, claim to stored", RENDER, buckets=SECONDS
)
render_fps = Gauge(
    "reelforge_render_fps",
    "Frames per second of the latest render",
    RENDER,
    multiprocess_mode="mostrecent",
)
stage_seconds = Histogram(
    "reelforge_render_stage_seconds",
    "Time in each stage of a job: render (inputs, engine, encode, moderation), store",
    ["model", "stage"],
    buckets=SECONDS,
)
webhook_deliveries = Counter(
    "reelforge_webhook_deliveries",
    "Webhook delivery attempts by outcome (sent, retry, gave_up)",
    ["event", "outcome"],
)
webhook_lag = Histogram(
    "reelforge_webhook_lag_seconds",
    "From the job event to its webhook's successful delivery",
    buckets=SECONDS,
)
moderation_checks = Counter(
    "reelforge_moderation_checks", "Moderation checks run, per stage", ["stage"]
)
moderation_blocks = Counter(
    "reelforge_moderation_blocks", "Moderation checks that blocked, per stage", ["stage"]
)
limit_refusals = Counter(
    "reelforge_limit_refusals", "Requests refused by a limit (429), per kind", ["kind"]
)
workers_alive = Gauge(
    "reelforge_workers_alive", "Render worker processes running", multiprocess_mode="livesum"
)
workers_busy = Gauge(
    "reelforge_workers_busy", "Render workers rendering a job now", multiprocess_mode="livesum"
)
gpu_memory = Gauge(
    "reelforge_gpu_memory_allocated_bytes",
    "CUDA memory held by torch in a worker process",
    ["device"],
    multiprocess_mode="liveall",
)


def multiprocess_mode() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


def process_died(pid: int) -> None:
    """Forget a dead process's live gauges (its counters and histograms stay counted)."""
    if multiprocess_mode():
        multiprocess.mark_process_dead(pid)


def record_gpu_memory() -> None:
    """Only when this process already uses CUDA through torch; never imports torch itself."""
    torch = sys.modules.get("torch")
    if torch is None or not torch.cuda.is_available() or not torch.cuda.is_initialized():
        return
    for n in range(torch.cuda.device_count()):
        gpu_memory.labels(str(n)).set(torch.cuda.memory_allocated(n))


class Snapshot:
    """Gauges read at scrape time from a callback, e.g. the queue depth from the database."""

    def __init__(self, read: Callable[[], Iterable[Metric]]):
        self._read = read

    def collect(self) -> Iterable[Metric]:
        return self._read()


def gauge(name: str, doc: str, label: str, values: dict[str, float]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def scrape_registry(*extra: Snapshot) -> CollectorRegistry:
    """What a scrape reads: every process's metrics (or this one's), plus `extra`, read then."""
    registry = CollectorRegistry()
    if multiprocess_mode():
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    for snapshot in extra:
        registry.register(snapshot)
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a scrape."""
    return generate_latest(registry), CONTENT_TYPE_LATEST


class _ThisProcess:
    """This process's default registry, as one collector of a scrape registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()
