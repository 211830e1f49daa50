"""What the rest of Reelforge needs from storage: keyed blobs and URLs that hand them out.

Keys look like `videos/<job>-<claim>.mp4`, `inputs/<job>/<n>` or `files/<file id>`. Two backends:
local files under the data directory (`local.py`) and an S3-compatible bucket (`s3.py`).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import BinaryIO, Protocol

KEY_PATTERN = re.compile(r"^[a-z]+(/[A-Za-z0-9][A-Za-z0-9._-]*)+$")


class StorageError(Exception):
    pass


def check_key(key: str) -> str:
    """`key`, if it is one Reelforge makes; a key never escapes its root or prefix."""
    if not KEY_PATTERN.match(key) or ".." in key:
        raise StorageError(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    def put_bytes(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, source: str | Path) -> None:
        """Store a finished file under `key`; the source is consumed."""
        ...

    def copy(self, source: str, target: str) -> None:
        """Give stored `source` a second, independent key (FileNotFoundError if it is gone)."""
        ...

    def read_bytes(self, key: str) -> bytes:
        """The contents (FileNotFoundError if there are none)."""
        ...

    def open(self, key: str) -> BinaryIO:
        """A stream of the contents, for large reads (FileNotFoundError if there are none)."""
        ...

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...

    def delete_prefix(self, prefix: str) -> None:
        """Remove a folder of keys, e.g. `inputs/<job>`."""
        ...

    def signed_url(self, base_url: str, key: str, expires: int) -> str:
        """A URL that serves `key` without an API key until the Unix time `expires`.
        `base_url` is this server's, for backends whose URLs this server answers itself."""
        ...

    def local_path(self, key: str) -> Path | None:
        """Where the contents are on this machine's disk; None for remote storage."""
        ...
