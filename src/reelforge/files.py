"""The Files API: uploads kept per key, usable wherever an input takes a `file_id`.

Metadata lives in a table beside the jobs (portable SQLAlchemy Core); contents live in storage
under `files/<id>`. A file is visible only once its contents are in place (row written last), and
only to the key that uploaded it. Files with `expires_after` are removed by the janitor; one past
its expiry reads as gone even before that.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reelforge.core.errors import ApiError, invalid
from reelforge.core.units import whole_number
from reelforge.storage.base import Storage

MiB = 1024 * 1024
MAX_FILE_BYTES = 50 * MiB
MIN_EXPIRES_AFTER = 3600  # 1 hour
MAX_EXPIRES_AFTER = 2_592_000  # 30 days
DEFAULT_PURPOSE = "assistants"  # xAI accepts and ignores `purpose`; this is the usual value
MAX_FILENAME_CHARS = 255
MAX_PURPOSE_CHARS = 64
MAX_LIST = 10_000

metadata = sa.MetaData()

files = sa.Table(
    "reelforge_files",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("filename", sa.String(MAX_FILENAME_CHARS), nullable=False),
    sa.Column("purpose", sa.String(MAX_PURPOSE_CHARS), nullable=False),
    sa.Column("bytes", sa.BigInteger, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("expires_at", sa.Float),
    sa.Index("ix_reelforge_files_owner", "owner", "created_at"),
    sa.Index("ix_reelforge_files_expiry", "expires_at"),
)


@dataclass(frozen=True)
class FileRecord:
    id: str
    owner: str
    filename: str
    purpose: str
    bytes: int
    created_at: float
    expires_at: float | None

    @property
    def key(self) -> str:
        """Where the contents are in storage."""
        return content_key(self.id)

    def describe(self) -> dict[str, Any]:
        """The wire object, shaped like OpenAI's and xAI's file objects."""
        body: dict[str, Any] = {
            "id": self.id,
            "object": "file",
            "bytes": self.bytes,
            "created_at": int(self.created_at),
            "filename": self.filename,
            "purpose": self.purpose,
        }
        if self.expires_at is not None:
            body["expires_at"] = int(self.expires_at)
        return body


def content_key(file_id: str) -> str:
    return f"files/{file_id}"


def _record(row: sa.Row) -> FileRecord:
    m = row._mapping
    return FileRecord(**{f: m[f] for f in FileRecord.__dataclass_fields__})


def parse_expires_after(raw: Any) -> int | None:
    """`expires_after` in seconds (int or digit string), 3600 to 2592000; None: never expires."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str) and whole_number(raw) is not None:
        raw = whole_number(raw)
    if not isinstance(raw, int) or isinstance(raw, bool):
        raise invalid("expires_after", f"must be a whole number of seconds, got {raw!r}")
    if not MIN_EXPIRES_AFTER <= raw <= MAX_EXPIRES_AFTER:
        raise invalid(
            "expires_after",
            f"must be between {MIN_EXPIRES_AFTER} and {MAX_EXPIRES_AFTER} seconds, got {raw}",
        )
    return raw


class FileStore:
    """Upload, read, list, delete and expire files; every read is scoped to an owner."""

    def __init__(self, engine: Engine, storage: Storage):
        self.engine = engine
        self.storage = storage

    def add(
        self,
        owner: str,
        source: Path,
        *,
        filename: str | None,
        purpose: str | None = None,
        expires_after: Any = None,
    ) -> FileRecord:
        """Take `source` (a finished temporary file, consumed) as a new file of `owner`'s."""
        seconds = parse_expires_after(expires_after)
        name = (filename or "").strip() or "file"
        if len(name) > MAX_FILENAME_CHARS:
            raise invalid("file", f"filename is longer than {MAX_FILENAME_CHARS} characters")
        purpose = (purpose or "").strip() or DEFAULT_PURPOSE
        if len(purpose) > MAX_PURPOSE_CHARS:
            raise invalid("purpose", f"is longer than {MAX_PURPOSE_CHARS} characters")
        size = source.stat().st_size
        if size > MAX_FILE_BYTES:
            raise ApiError(413, f"file: is larger than the {MAX_FILE_BYTES // MiB} MiB limit")
        now = time.time()
        record = FileRecord(
            id=f"file_{uuid.uuid4()}",
            owner=owner,
            filename=name,
            purpose=purpose,
            bytes=size,
            created_at=now,
            expires_at=now + seconds if seconds is not None else None,
        )
        self.storage.put_file(record.key, source)  # contents first: a listed file is complete
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    files.insert().values(
                        {f: getattr(record, f) for f in FileRecord.__dataclass_fields__}
                    )
                )
        except BaseException:
            self.storage.delete(record.key)
            raise
        return record

    def _live(self, owner: str) -> sa.ColumnElement[bool]:
        not_expired = sa.or_(files.c.expires_at.is_(None), files.c.expires_at > time.time())
        return sa.and_(files.c.owner == owner, not_expired)

    def get(self, owner: str, file_id: str) -> FileRecord | None:
        """The owner's file, or None (unknown, another key's, deleted or expired)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(files).where(files.c.id == file_id, self._live(owner))
            ).first()
        return _record(row) if row else None

    def require(self, owner: str, file_id: str, field: str = "file_id") -> FileRecord:
        record = self.get(owner, file_id)
        if record is None:
            raise ApiError(404, f"{field}: no file with id '{file_id}'", field=field)
        return record

    def content(self, owner: str, file_id: str) -> tuple[FileRecord, Path | BinaryIO]:
        """The owner's file and its bytes: a local path, or a stream from remote storage (the
        caller closes it). 404 when the file, or its contents, are gone."""
        record = self.require(owner, file_id)
        path = self.storage.local_path(record.key)
        if path is not None:
            if path.is_file():
                return record, path
        else:
            try:
                return record, self.storage.open(record.key)
            except FileNotFoundError:
                pass
        raise ApiError(404, f"file_id: no file with id '{file_id}'")

    def list(
        self, owner: str, *, purpose: str | None = None, limit: int = MAX_LIST
    ) -> list[FileRecord]:
        """The owner's files, newest first."""
        query = sa.select(files).where(self._live(owner))
        if purpose:
            query = query.where(files.c.purpose == purpose)
        query = query.order_by(files.c.created_at.desc(), files.c.id).limit(limit)
        with self.engine.connect() as conn:
            return [_record(r) for r in conn.execute(query)]

    def delete(self, owner: str, file_id: str) -> bool:
        """Remove the owner's file; False if there was none. Jobs keep their own input copies."""
        with self.engine.begin() as conn:
            gone = conn.execute(
                files.delete().where(files.c.id == file_id, files.c.owner == owner)
            ).rowcount
        if gone:
            self.storage.delete(content_key(file_id))
        return bool(gone)

    def remove_expired(self) -> int:
        """Delete every file past its expiry, row then contents; safe from several processes."""
        now = time.time()
        with self.engine.begin() as conn:
            ids = conn.execute(
                files.delete()
                .where(files.c.expires_at.is_not(None), files.c.expires_at <= now)
                .returning(files.c.id)
            ).scalars()
            ids = list(ids)
        for file_id in ids:
            self.storage.delete(content_key(file_id))
        return len(ids)
