"""Server settings, shared by the API process and its workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DAY = 24 * 3600
BUDGET_PERIODS = ("month", "total")  # a spend limit counts jobs created this month, or ever


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int = 50051  # 0: no gRPC surface
    data_dir: Path = Path(".reelforge")
    api_keys: list[str] = field(default_factory=list)
    catalog_file: Path | None = None
    workers: int = 1
    devices: list[str] = field(default_factory=list)  # GPUs the workers are pinned to, in turn
    url_ttl: float = DAY
    retention: float = DAY
    allow_private_urls: bool = False
    insecure_open: bool = False
    database_url: str | None = None  # default: a SQLite file in the data dir
    storage: str | None = None  # s3://BUCKET/PREFIX or a directory; default: files in the data dir
    s3_endpoint_url: str | None = None  # an S3-compatible service other than AWS
    s3_region: str | None = None
    public_url: str | None = None  # base of the URLs handed out; default: the request's own
    lease_ttl: float = 30.0  # how long a silent worker keeps a job before another may take it
    max_attempts: int = 3  # also: tries in a row of an upstream request that fails (5xx)
    check_upstream: bool = False  # at start, ask each `upstream` model's server (network)
    drain_timeout: float = 30.0  # on SIGTERM: how long running jobs and requests may finish
    migrate: bool = True  # upgrade the database schema at start (else refuse if it is behind)
    max_body_bytes: int = 100 * 1024 * 1024
    playground: bool = True  # serve the web playground at /playground (`/` redirects there)
    idempotency_ttl: float = DAY  # how long an Idempotency-Key answers with the same job
    webhook_url: str | None = None  # server-wide default for jobs that name none
    webhook_secret: str | None = None  # default: one generated once in the data dir
    webhook_attempts: int = 5  # deliveries per event before giving up
    webhook_backoff: float = 1.0  # seconds before the first retry; doubled each time
    webhook_timeout: float = 10.0  # one delivery attempt, connect to response
    webhook_concurrency: int = 8  # deliveries in flight at once per API process
    scenarios: bool = False  # honour Reelforge-Scenario and serve the request journal
    fast: bool = False  # the encoder's fastest settings: same sizes, frames and audio
    # Limits for keys that set none of their own (every --api-key key); None: no limit.
    default_rpm: int | None = None  # create requests per minute per key
    default_max_pending: int | None = None  # queued or rendering jobs per key
    default_budget_ticks: int | None = None  # spend per key per period
    default_budget_period: str = "month"  # month | total
    max_queued: int | None = None  # jobs waiting for a worker, whole deployment
    # Prometheus metrics: on the API port for this bearer token, and/or on a port of their own.
    metrics_token: str | None = None
    metrics_port: int = 0  # 0: none
    metrics_host: str = "127.0.0.1"

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'reelforge.db').resolve()}"

    @property
    def storage_location(self) -> str:
        return self.storage or str(self.files_dir)

    @property
    def webhook_secret_file(self) -> Path:
        return self.data_dir / "webhook-secret"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"
