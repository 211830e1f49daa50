"""Limits that hold across API replicas, because their state lives in the database.

- Requests per minute per key: a token bucket row per key, taken from with one conditional
  UPDATE, so two replicas can never both spend the last token.
- Pending jobs per key, spend per key per period and the global queue cap are checked in the
  same transaction that inserts the job, under a lock per key (and one for the queue): PostgreSQL
  transaction-scoped advisory locks; SQLite's single writer lock, taken before the first read.
  A refused request writes nothing.

Spend counts a pending job at its reservation (an upper bound of its cost, fixed when it is
accepted) and a finished one at its actual cost; a failed or cancelled job costs nothing, so its
reservation is released by the state change itself.
"""

from __future__ import annotations

import math
import time
import zlib
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Engine

metadata = sa.MetaData()

buckets = sa.Table(
    "reelforge_rate_buckets",
    metadata,
    sa.Column("owner", sa.String(64), primary_key=True),
    sa.Column("tokens", sa.Float, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
)

RATE, PENDING, BUDGET, QUEUE = "rate", "pending", "budget", "queue"  # refusal kinds


@dataclass(frozen=True)
class RateState:
    """A key's request bucket after a request: what the x-ratelimit-* headers say."""

    limit: int
    remaining: int
    reset_s: float  # until the bucket is full again

    def headers(self) -> dict[str, str]:
        return {
            "x-ratelimit-limit-requests": str(self.limit),
            "x-ratelimit-remaining-requests": str(self.remaining),
            "x-ratelimit-reset-requests": f"{self.reset_s:.3g}s",
        }


class LimitExceeded(Exception):
    """A request over a limit; nothing was written for it."""

    def __init__(self, kind: str, message: str, retry_after: float, rate: RateState | None = None):
        super().__init__(message)
        self.kind = kind
        self.message = message
        self.retry_after = max(1, math.ceil(retry_after))
        self.rate = rate


@dataclass(frozen=True)
class Admission:
    """What a new job must fit in, checked when it is inserted."""

    reserve_ticks: int = 0
    max_pending: int | None = None
    budget_ticks: int | None = None
    budget_since: float = 0.0  # the budget counts jobs created from this time
    budget_retry_s: float = 3600.0  # until the period ends
    max_queued: int | None = None

    @property
    def per_key(self) -> bool:
        return self.max_pending is not None or self.budget_ticks is not None


def take_token(engine: Engine, owner: str, per_minute: int) -> RateState:
    """Spend one of `owner`'s requests, or raise LimitExceeded (rate)."""
    rate, cap = per_minute / 60.0, float(per_minute)
    c = buckets.c
    while True:
        now = time.time()
        elapsed = sa.case((c.updated_at < now, now - c.updated_at), else_=0.0)
        refilled = sa.case((c.tokens + elapsed * rate > cap, cap), else_=c.tokens + elapsed * rate)
        spend = (
            buckets.update()
            .where(c.owner == owner, refilled >= 1.0)
            .values(
                tokens=refilled - 1.0,
                updated_at=sa.case((c.updated_at < now, now), else_=c.updated_at),
            )
            .returning(c.tokens)
        )
        with engine.begin() as conn:
            left = conn.execute(spend).scalar()
            row = None
            if left is None:
                row = conn.execute(
                    sa.select(c.tokens, c.updated_at).where(c.owner == owner)
                ).first()
        if left is None and row is None:  # this key's first request: its bucket starts full
            try:
                with engine.begin() as conn:
                    conn.execute(
                        buckets.insert().values(owner=owner, tokens=cap - 1, updated_at=now)
                    )
            except sa.exc.IntegrityError:
                continue  # another replica made the row first: spend from it
            left = cap - 1
        if left is not None:
            return RateState(per_minute, int(left), (cap - left) / rate)
        tokens = min(cap, row.tokens + max(0.0, now - row.updated_at) * rate)
        wait = (1.0 - tokens) / rate
        raise LimitExceeded(
            RATE,
            f"rate limit reached: {per_minute} requests per minute for this key; "
            f"retry in {math.ceil(wait)} s",
            wait,
            RateState(per_minute, 0, (cap - tokens) / rate),
        )


def serialize(conn: sa.Connection, *names: str) -> None:
    """Hold locks on `names` (in this order) until the transaction ends."""
    if conn.dialect.name == "postgresql":
        for name in names:
            key = zlib.crc32(f"reelforge:limit:{name}".encode())
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})
    else:  # SQLite: a write statement takes the database's one write lock; reads come after
        conn.execute(buckets.update().where(sa.false()).values(tokens=buckets.c.tokens))


def check(
    conn: sa.Connection,
    jobs: sa.Table,
    owner: str,
    admission: Admission,
    pending_states: tuple[str, ...],
    queued_state: str,
) -> None:
    """Raise LimitExceeded if one more job for `owner` would break `admission`; call it after
    `serialize` in the transaction that inserts the job."""
    c = jobs.c
    if admission.max_pending is not None:
        pending = conn.execute(
            sa.select(sa.func.count()).where(c.owner == owner, c.status.in_(pending_states))
        ).scalar_one()
        if pending >= admission.max_pending:
            raise LimitExceeded(
                PENDING,
                f"too many pending jobs: this key may have {admission.max_pending} queued or "
                "rendering at once; retry when one finishes",
                5,
            )
    if admission.budget_ticks is not None:
        spent = conn.execute(
            sa.select(spend_of(jobs, pending_states)).where(
                c.owner == owner, c.created_at >= admission.budget_since
            )
        ).scalar_one()
        if spent + admission.reserve_ticks > admission.budget_ticks:
            raise LimitExceeded(
                BUDGET,
                f"spend limit reached: this job may cost up to {admission.reserve_ticks} ticks "
                f"and this key has {max(0, admission.budget_ticks - spent)} of its "
                f"{admission.budget_ticks} left for the period",
                admission.budget_retry_s,
            )
    if admission.max_queued is not None:
        queued = conn.execute(
            sa.select(sa.func.count()).where(c.status == queued_state)
        ).scalar_one()
        if queued >= admission.max_queued:
            raise LimitExceeded(
                QUEUE,
                f"the server's queue is full ({admission.max_queued} jobs waiting); retry later",
                5,
            )


def spend_of(jobs: sa.Table, pending_states: tuple[str, ...]) -> sa.ColumnElement:
    """Ticks spent by the selected jobs: a pending job's reservation, else its actual cost."""
    c = jobs.c
    each = sa.case(
        (c.status.in_(pending_states), sa.func.coalesce(c.reserved_ticks, 0)),
        else_=sa.func.coalesce(c.cost_ticks, 0),
    )
    return sa.func.coalesce(sa.func.sum(each), 0)
