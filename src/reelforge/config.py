"""Server settings, shared by the API process and its workers."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

DAY = 24 * 3600


@dataclass
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    grpc_port: int = 50051  # 0: no gRPC surface
    data_dir: Path = Path(".reelforge")
    api_keys: list[str] = field(default_factory=list)
    catalog_file: Path | None = None
    workers: int = 1
    url_ttl: float = DAY
    retention: float = DAY
    allow_private_urls: bool = False
    insecure_open: bool = False
    database_url: str | None = None  # default: a SQLite file in the data dir
    public_url: str | None = None  # base of the URLs handed out; default: the request's own
    lease_ttl: float = 30.0  # how long a silent worker keeps a job before another may take it
    max_attempts: int = 3
    max_body_bytes: int = 100 * 1024 * 1024

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'reelforge.db').resolve()}"

    @property
    def files_dir(self) -> Path:
        return self.data_dir / "files"

    @property
    def tmp_dir(self) -> Path:
        return self.data_dir / "tmp"
