"""Managed API keys: named identities with limits of their own, stored as hashes of the secret.

A key's identity is its id, never its name or secret: jobs, files and usage belong to the id, so
a key revoked and created again under the same name starts as a new identity. Keys given on the
command line (`--api-key`) are identified by the secret's hash instead, as they always were.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

SECRET_PREFIX = "rf-"

metadata = sa.MetaData()

api_keys = sa.Table(
    "reelforge_api_keys",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),  # "key_" + hex: the owner of its jobs
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("secret_hash", sa.String(64), nullable=False, unique=True),
    sa.Column("rpm", sa.Integer),  # None: the server's default
    sa.Column("max_pending", sa.Integer),
    sa.Column("budget_ticks", sa.BigInteger),
    sa.Column("budget_period", sa.String(8)),  # month | total
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("revoked_at", sa.Float),
    sa.Index("ix_reelforge_api_keys_name", "name"),
)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyProblem(Exception):
    """A keys command that cannot be done (unknown or duplicate name); the message says why."""


@dataclass(frozen=True)
class KeyLimits:
    """A key's own limits; None falls back to the server's default."""

    rpm: int | None = None
    max_pending: int | None = None
    budget_ticks: int | None = None
    budget_period: str | None = None


@dataclass(frozen=True)
class ApiKey:
    id: str
    name: str
    limits: KeyLimits
    created_at: float
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def _key(row: sa.Row) -> ApiKey:
    m = row._mapping
    limits = KeyLimits(m["rpm"], m["max_pending"], m["budget_ticks"], m["budget_period"])
    return ApiKey(m["id"], m["name"], limits, m["created_at"], m["revoked_at"])


def _row(conn: sa.Connection, key_id: str) -> sa.Row | None:
    return conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()


class KeyStore:
    def __init__(self, engine: Engine):
        self.engine = engine

    def create(self, name: str, limits: KeyLimits) -> tuple[ApiKey, str]:
        """A new key and its secret (shown once: only its hash is kept)."""
        secret = SECRET_PREFIX + secrets.token_urlsafe(32)
        key_id = f"key_{uuid.uuid4().hex}"
        with self.engine.begin() as conn:
            if self._active(conn, name) is not None:
                raise KeyProblem(f"a key named '{name}' exists; revoke it or choose another name")
            conn.execute(
                api_keys.insert().values(
                    id=key_id,
                    name=name,
                    secret_hash=secret_hash(secret),
                    rpm=limits.rpm,
                    max_pending=limits.max_pending,
                    budget_ticks=limits.budget_ticks,
                    budget_period=limits.budget_period,
                    created_at=time.time(),
                )
            )
            return _key(_row(conn, key_id)), secret

    def _active(self, conn: sa.Connection, name: str) -> sa.Row | None:
        c = api_keys.c
        return conn.execute(
            sa.select(api_keys).where(c.name == name, c.revoked_at.is_(None))
        ).first()

    def named(self, name: str, *, include_revoked: bool = False) -> list[ApiKey]:
        """Keys with this name: the active one, or (include_revoked) every one, newest first."""
        c = api_keys.c
        query = sa.select(api_keys).where(c.name == name)
        if not include_revoked:
            query = query.where(c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(query.order_by(c.created_at.desc()))]

    def list(self, *, include_revoked: bool = False) -> list[ApiKey]:
        query = sa.select(api_keys).order_by(api_keys.c.name, api_keys.c.created_at)
        if not include_revoked:
            query = query.where(api_keys.c.revoked_at.is_(None))
        with self.engine.connect() as conn:
            return [_key(r) for r in conn.execute(query)]

    def revoke(self, name: str) -> ApiKey:
        with self.engine.begin() as conn:
            row = self._active(conn, name)
            if row is None:
                raise KeyProblem(f"no active key named '{name}'")
            conn.execute(
                api_keys.update().where(api_keys.c.id == row.id).values(revoked_at=time.time())
            )
            return _key(_row(conn, row.id))

    def update(self, name: str, **changes: int | str | None) -> ApiKey:
        """Set some of rpm, max_pending, budget_ticks, budget_period (None: the default)."""
        with self.engine.begin() as conn:
            row = self._active(conn, name)
            if row is None:
                raise KeyProblem(f"no active key named '{name}'")
            if changes:
                conn.execute(api_keys.update().where(api_keys.c.id == row.id).values(**changes))
            return _key(_row(conn, row.id))

    def by_secret(self, secret: str) -> ApiKey | None:
        """The key with this secret, revoked or not."""
        query = sa.select(api_keys).where(api_keys.c.secret_hash == secret_hash(secret))
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _key(row) if row else None

    def by_id(self, key_id: str) -> ApiKey | None:
        with self.engine.connect() as conn:
            row = _row(conn, key_id)
        return _key(row) if row else None

    def any(self) -> bool:
        """Whether any key was ever created (then the server is never open to any key)."""
        with self.engine.connect() as conn:
            return conn.execute(sa.select(api_keys.c.id).limit(1)).first() is not None
