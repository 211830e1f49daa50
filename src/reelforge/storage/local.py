"""Storage in files under the data directory, handed out through HMAC-signed URLs that expire.

This server answers those URLs itself (`/v1/media/...`). The signing secret is created once in the
storage directory, so URLs survive restarts and every process sharing the directory agrees.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlencode

from reelforge.core.units import whole_number
from reelforge.storage.base import check_key


def load_secret(path: Path, make: Callable[[], bytes] = lambda: secrets.token_bytes(32)) -> bytes:
    """The secret kept in `path`, created by `make` the first time (first process wins)."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = make()
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(secret)
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # atomic and first-wins when several processes start together
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return path.read_bytes()


class LocalStorage:
    def __init__(self, root: str | Path):
        self.root = Path(root).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self._secret = load_secret(self.root / "url-signing.key")

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def local_path(self, key: str) -> Path | None:
        return self.path(key)

    def put_bytes(self, key: str, data: bytes) -> None:
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(target.name + ".part")
        tmp.write_bytes(data)
        tmp.replace(target)

    def put_file(self, key: str, source: str | Path) -> None:
        """Move a finished file into place atomically (the source is consumed)."""
        target = self.path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(source), target)

    def copy(self, source: str, target: str) -> None:
        """Give stored `source` a second, independent key (FileNotFoundError if it is gone).

        A hard link where the filesystem allows: no bytes are copied, and deleting either key
        leaves the other intact (stored files are never rewritten in place, only replaced).
        """
        src, dst = self.path(source), self.path(target)
        dst.parent.mkdir(parents=True, exist_ok=True)
        tmp = dst.with_name(dst.name + ".part")
        tmp.unlink(missing_ok=True)
        try:
            os.link(src, tmp)
        except FileNotFoundError:
            raise
        except OSError:  # no hard links here (another filesystem, FAT, ...): copy the bytes
            shutil.copyfile(src, tmp)
        tmp.replace(dst)

    def read_bytes(self, key: str) -> bytes:
        return self.path(key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        return self.path(key).open("rb")

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Remove a folder of keys, e.g. `inputs/<job>`."""
        shutil.rmtree(self.path(prefix), ignore_errors=True)

    # --- signed URLs ----------------------------------------------------------------------

    def _signature(self, key: str, expires: int) -> str:
        return hmac.new(self._secret, f"{key}\n{expires}".encode(), hashlib.sha256).hexdigest()

    def signed_url(self, base_url: str, key: str, expires: int) -> str:
        query = urlencode({"expires": expires, "signature": self._signature(key, expires)})
        return f"{base_url.rstrip('/')}/v1/media/{key}?{query}"

    def verify(self, key: str, expires: str | None, signature: str | None) -> bool:
        """True when the signature matches and the URL has not expired."""
        when = whole_number(expires or "")
        if when is None or not signature:
            return False
        if not hmac.compare_digest(self._signature(key, when), signature):
            return False
        return when >= time.time()
