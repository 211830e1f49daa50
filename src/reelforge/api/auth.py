"""Bearer-key authentication. Jobs are owned by a hash of the key that created them."""

from __future__ import annotations

import hashlib
import hmac

from reelforge.core.errors import ApiError


class KeyChecker:
    def __init__(self, keys: list[str]):
        self._keys = [k.encode() for k in keys if k]

    @property
    def open(self) -> bool:
        """No keys configured: any non-empty key is accepted (loopback-only by default)."""
        return not self._keys

    def owner(self, authorization: str | None) -> str:
        """The owner id for an `Authorization` header value, or a 401."""
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
        if not self.open and not any(hmac.compare_digest(key.encode(), k) for k in self._keys):
            raise ApiError(401, "incorrect API key provided")
        return hashlib.sha256(key.encode()).hexdigest()
