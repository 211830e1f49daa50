"""Bearer-key authentication.

A caller is an `Identity`: the owner id its jobs and files belong to, and a name for logs.
Managed keys (`reelforge keys create`) are looked up by the hash of their secret and owned by
the key's id; keys given with `--api-key` are owned by a hash of the key, as before. With no keys
of either kind the server is open: any non-empty key works (loopback binds only, by default).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass

from reelforge.core import logs
from reelforge.core.errors import ApiError
from reelforge.jobs.keys import ApiKey, KeyStore

CACHE_S = 1.0  # how long a replica trusts a key lookup: a revocation takes effect within this


@dataclass(frozen=True)
class Identity:
    owner: str
    name: str  # for logs and metrics; never the secret


class KeyChecker:
    def __init__(self, keys: list[str], managed: KeyStore | None = None):
        self._keys = [k.encode() for k in keys if k]
        self._managed = managed
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}
        self._any_managed: tuple[float, bool] = (0.0, False)
        self._lock = threading.Lock()

    @property
    def open(self) -> bool:
        """No keys configured: any non-empty key is accepted (loopback-only by default)."""
        return not self._keys and not self._has_managed()

    def owner(self, authorization: str | None) -> str:
        """The owner id for an `Authorization` header value, or a 401."""
        return self.identify(authorization).owner

    def identify(self, authorization: str | None) -> Identity:
        """The caller; its key's name also goes into the request's log fields."""
        identity = self._identify(authorization)
        logs.tag(key=identity.name)
        return identity

    def _identify(self, authorization: str | None) -> Identity:
        scheme, _, key = (authorization or "").partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            raise ApiError(401, "missing API key: send 'Authorization: Bearer <key>'")
        digest = hashlib.sha256(key.encode()).hexdigest()
        managed = self._lookup(key, digest)
        if managed is not None:
            if not managed.active:
                raise ApiError(401, "this API key has been revoked")
            return Identity(managed.id, managed.name)
        if any(hmac.compare_digest(key.encode(), k) for k in self._keys):
            return Identity(digest, f"static-{digest[:8]}")
        if self.open:
            return Identity(digest, f"open-{digest[:8]}")
        raise ApiError(401, "incorrect API key provided")

    def _lookup(self, key: str, digest: str) -> ApiKey | None:
        if self._managed is None:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        found = self._managed.by_secret(key)
        with self._lock:
            if len(self._cache) > 10_000:  # many wrong keys: start over rather than grow
                self._cache.clear()
            self._cache[digest] = (now + CACHE_S, found)
        return found

    def _has_managed(self) -> bool:
        if self._managed is None:
            return False
        until, known = self._any_managed
        if until > time.monotonic():
            return known
        known = self._managed.any()
        self._any_managed = (time.monotonic() + CACHE_S, known)
        return known
