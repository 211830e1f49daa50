"""The job table, which is also the queue.

Portable SQLAlchemy Core: the same statements run on SQLite (the default) and PostgreSQL.
Workers claim a row with one atomic UPDATE and hold a lease they renew; every write a worker makes
is conditioned on its claim token, so a worker that lost its lease can never complete a job that
another worker now owns. Nothing about a job lives only in memory.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from reelforge.core.enums import JobState, Status
from reelforge.core.errors import CANCELLED
from reelforge.jobs import limits, webhooks
from reelforge.jobs.limits import Admission
from reelforge.jobs.wakeup import notify

# Row states. Wire status: queued/running -> "pending"; the rest map one to one.
QUEUED, RUNNING, DONE, FAILED, EXPIRED = tuple(JobState)
FINISHED = (DONE, FAILED)
PENDING = Status.PENDING  # wire status of queued and running jobs
PARKED_S = 10 * 365 * 86400.0  # a parked job's lease (see JobStore.park)

metadata = sa.MetaData()

jobs = sa.Table(
    "reelforge_jobs",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("owner", sa.String(64), nullable=False),
    sa.Column("model", sa.String(200), nullable=False),
    sa.Column("mode", sa.String(32), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("progress", sa.Integer, nullable=False, default=0),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("claim_token", sa.String(36)),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float),
    sa.Column("finished_at", sa.Float),
    sa.Column("result", sa.JSON),
    sa.Column("error_code", sa.String(64)),
    sa.Column("error_message", sa.Text),
    # Spend: the most the job may cost, held while it is pending (limits.py); then what it cost
    # and the seconds it made, once done (usage reports add these up).
    sa.Column("reserved_ticks", sa.BigInteger),
    sa.Column("cost_ticks", sa.BigInteger),
    sa.Column("output_seconds", sa.Float),
    # Set when the client deletes a finished job: it is gone from every view, but its row stays
    # so that usage reports and spend limits still count what it cost.
    sa.Column("deleted_at", sa.Float),
    sa.Index("ix_reelforge_jobs_queue", "status", "created_at"),
    sa.Index("ix_reelforge_jobs_owner", "owner", "created_at"),
)

# Idempotency-Key -> the job it created, per owner; the primary key makes a race a clean conflict.
idempotency_keys = sa.Table(
    "reelforge_idempotency_keys",
    metadata,
    sa.Column("owner", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(255), primary_key=True),
    sa.Column("fingerprint", sa.String(64), nullable=False),
    sa.Column("job_id", sa.String(36), nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Index("ix_reelforge_idempotency_keys_age", "created_at"),
)


# Attempts counted per (owner, key) for scenarios (`reject` per request, `flaky-poll` per job):
# in the database, so every API replica counts the same attempts.
scenario_counts = sa.Table(
    "reelforge_scenario_counts",
    metadata,
    sa.Column("owner", sa.String(64), primary_key=True),
    sa.Column("key", sa.String(320), primary_key=True),
    sa.Column("count", sa.Integer, nullable=False),
    sa.Column("updated_at", sa.Float, nullable=False),
    sa.Index("ix_reelforge_scenario_counts_age", "updated_at"),
)


LIVE = jobs.c.deleted_at.is_(None)  # not deleted by its client: what every view shows


def wire_status(status: str) -> str:
    return PENDING if status in (QUEUED, RUNNING) else status


class DuplicateKey(Exception):
    """Another request took this Idempotency-Key first."""


@dataclass(frozen=True)
class IdempotencyRecord:
    job_id: str
    fingerprint: str


@dataclass(frozen=True)
class Webhook:
    url: str
    base_url: str  # where the body's video URL points
    trusted: bool = False  # the operator's own URL: private addresses allowed


@dataclass(frozen=True)
class Job:
    id: str
    owner: str
    model: str
    mode: str
    status: str
    spec: dict[str, Any]
    progress: int
    attempts: int
    created_at: float
    finished_at: float | None
    result: dict[str, Any] | None
    error_code: str | None
    error_message: str | None


@dataclass(frozen=True)
class UsageRow:
    created_at: float
    model: str
    mode: str
    status: str  # the wire status
    cost_ticks: int | None  # set once done
    output_seconds: float | None


@dataclass(frozen=True)
class Claim:
    """A worker's hold on a job: every later write must present the token."""

    job: Job
    token: str


def _job(row: sa.Row) -> Job:
    m = row._mapping
    return Job(**{f: m[f] for f in Job.__dataclass_fields__})


def create_engine(url: str, *, pooled: bool = True) -> Engine:
    """An engine for `url`; SQLite gets WAL and a busy timeout so API and workers share the file.
    A bare `postgresql://` URL means psycopg 3 (the `[postgres]` extra), not psycopg2.
    `pooled=False`: closing a connection really ends its session (and its advisory locks)."""
    parsed = sa.engine.make_url(url)
    if parsed.drivername == "postgresql":
        url = parsed.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):  # pragma: no cover - trivial
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        return engine
    if not pooled:
        return sa.create_engine(url, poolclass=sa.NullPool)
    return sa.create_engine(url, pool_pre_ping=True)


class JobStore:
    def __init__(self, url: str, *, lease_ttl: float = 30.0, max_attempts: int = 3):
        self.engine = create_engine(url)
        self.lease_ttl = lease_ttl
        self.max_attempts = max_attempts

    def create_schema(self) -> None:
        """Bring the database (jobs, files, webhooks) to the newest schema revision, under a lock:
        every process may be the first to start."""
        from reelforge.jobs.migrations import (
            upgrade_to_head,  # Alembic: only processes that migrate
        )

        upgrade_to_head(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    def ping(self) -> None:
        """Raises when the database does not answer."""
        with self.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))

    # --- API side -------------------------------------------------------------------------

    def add(
        self,
        job_id: str,
        owner: str,
        spec: dict[str, Any],
        *,
        webhook: Webhook | None = None,
        idempotency: tuple[str, str, float] | None = None,
        admission: Admission | None = None,
    ) -> None:
        """Queue a job; with its webhook and its (key, fingerprint, ttl) in the same transaction.

        DuplicateKey (and nothing written) when a live record holds the key already;
        LimitExceeded (nothing written) when the job does not fit in `admission`.
        """
        admission = admission or Admission()
        with self.engine.begin() as conn:
            locks = (["queue"] if admission.max_queued is not None else []) + (
                [owner] if admission.per_key else []
            )
            if locks:
                limits.serialize(conn, *locks)
                limits.check(conn, jobs, owner, admission, (QUEUED, RUNNING), QUEUED)
            if idempotency is not None:
                try:
                    self._take_key(conn, owner, job_id, *idempotency)
                except sa.exc.IntegrityError:
                    raise DuplicateKey() from None  # (the transaction is rolled back)
            self._insert(conn, job_id, owner, spec, admission.reserve_ticks)
            notify(conn)
            if webhook is not None:
                webhooks.subscribe(conn, job_id, webhook.url, webhook.base_url, webhook.trusted)

    def _take_key(
        self, conn: sa.Connection, owner: str, job_id: str, key: str, fingerprint: str, ttl: float
    ) -> None:
        now = time.time()
        k = idempotency_keys.c
        # A key past its lifetime is free again: drop the stale record before claiming it.
        conn.execute(
            idempotency_keys.delete().where(
                k.owner == owner, k.key == key, k.created_at < now - ttl
            )
        )
        conn.execute(
            idempotency_keys.insert().values(
                owner=owner, key=key, fingerprint=fingerprint, job_id=job_id, created_at=now
            )
        )

    def idempotency_record(self, owner: str, key: str, ttl: float) -> IdempotencyRecord | None:
        """The job a live Idempotency-Key of `owner`'s created, with its request fingerprint."""
        k = idempotency_keys.c
        query = sa.select(k.job_id, k.fingerprint).where(
            k.owner == owner, k.key == key, k.created_at >= time.time() - ttl
        )
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return IdempotencyRecord(row.job_id, row.fingerprint) if row else None

    def purge_idempotency_keys(self, older_than: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                idempotency_keys.delete().where(idempotency_keys.c.created_at < older_than)
            ).rowcount

    def count(self, owner: str, key: str) -> int:
        """Add one to `owner`'s counter `key` and return the new count (1 the first time);
        atomic, so concurrent replicas never count the same attempt twice."""
        c = scenario_counts.c
        for _ in range(5):
            now = time.time()
            bump = (
                scenario_counts.update()
                .where(c.owner == owner, c.key == key)
                .values(count=c.count + 1, updated_at=now)
                .returning(c.count)
            )
            try:
                with self.engine.begin() as conn:
                    row = conn.execute(bump).first()
                    if row is not None:
                        return row[0]
                    conn.execute(
                        scenario_counts.insert().values(
                            owner=owner, key=key, count=1, updated_at=now
                        )
                    )
                    return 1
            except sa.exc.IntegrityError:  # another replica inserted it first: bump theirs
                continue
        raise RuntimeError(f"could not count attempts of {key!r}")

    def purge_counts(self, older_than: float) -> int:
        with self.engine.begin() as conn:
            return conn.execute(
                scenario_counts.delete().where(scenario_counts.c.updated_at < older_than)
            ).rowcount

    def _insert(
        self, conn: sa.Connection, job_id: str, owner: str, spec: dict[str, Any], reserve: int
    ) -> None:
        conn.execute(
            jobs.insert().values(
                id=job_id,
                owner=owner,
                model=spec["model"],
                mode=spec["mode"],
                status=QUEUED,
                spec=spec,
                progress=0,
                attempts=0,
                created_at=time.time(),
                reserved_ticks=reserve,
            )
        )

    def get(self, job_id: str, owner: str | None = None) -> Job | None:
        query = sa.select(jobs).where(jobs.c.id == job_id, LIVE)
        if owner is not None:
            query = query.where(jobs.c.owner == owner)
        with self.engine.connect() as conn:
            row = conn.execute(query).first()
        return _job(row) if row else None

    def states(self, job_ids: list[str]) -> dict[str, tuple[str, int]]:
        """(wire status, progress) of each of `job_ids` that exists: what watchers compare."""
        out: dict[str, tuple[str, int]] = {}
        with self.engine.connect() as conn:
            for start in range(0, len(job_ids), 500):
                rows = conn.execute(
                    sa.select(jobs.c.id, jobs.c.status, jobs.c.progress).where(
                        jobs.c.id.in_(job_ids[start : start + 500]), LIVE
                    )
                )
                out.update((i, (wire_status(status), progress)) for i, status, progress in rows)
        return out

    def queue_position(self, job: Job) -> int | None:
        """1 for the next job a worker takes, 2 after it, ...; None unless `job` is queued."""
        if job.status != QUEUED:
            return None
        ahead = sa.or_(
            jobs.c.created_at < job.created_at,
            sa.and_(jobs.c.created_at == job.created_at, jobs.c.id < job.id),
        )
        query = sa.select(sa.func.count()).where(jobs.c.status == QUEUED, ahead)
        with self.engine.connect() as conn:
            return conn.execute(query).scalar_one() + 1

    def list(
        self,
        owner: str,
        *,
        limit: int,
        after: Job | None = None,
        status: str | None = None,
        expired_before: float = 0.0,
        id_prefix: tuple[str, bool] | None = None,
        oldest_first: bool = False,
    ) -> list[Job]:
        """`owner`'s jobs, newest first (or oldest first), `limit` of them after the job `after`
        (a cursor that stays put when jobs are added). `status` is a wire status; jobs finished
        before `expired_before` count as expired, as polling shows them. `id_prefix`
        (prefix, wanted): only the jobs whose ids start (True) or do not start (False) with it."""
        c = jobs.c
        query = sa.select(jobs).where(c.owner == owner, LIVE)
        if id_prefix is not None:
            prefix, wanted = id_prefix
            like = c.id.like(prefix.replace("_", "\\_") + "%", escape="\\")
            query = query.where(like if wanted else sa.not_(like))
        if after is not None:
            before = (
                (c.created_at > after.created_at, c.id > after.id)
                if oldest_first
                else (c.created_at < after.created_at, c.id < after.id)
            )
            query = query.where(
                sa.or_(before[0], sa.and_(c.created_at == after.created_at, before[1]))
            )
        lapsed = sa.and_(c.status.in_(FINISHED), c.finished_at < expired_before)
        if status == PENDING:
            query = query.where(c.status.in_((QUEUED, RUNNING)))
        elif status in FINISHED:
            query = query.where(c.status == status, c.finished_at >= expired_before)
        elif status == EXPIRED:
            query = query.where(sa.or_(c.status == EXPIRED, lapsed))
        order = (c.created_at, c.id) if oldest_first else (c.created_at.desc(), c.id.desc())
        query = query.order_by(*order).limit(limit)
        with self.engine.connect() as conn:
            return [_job(r) for r in conn.execute(query)]

    def cancel(self, job_id: str, owner: str, message: str) -> bool:
        """Fail a queued or running job with `cancelled`; False when it was not pending.

        A running job's worker sees it at its next heartbeat (its owned writes stop matching)
        and drops the render.
        """
        with self.engine.begin() as conn:
            cancelled = conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id,
                    jobs.c.owner == owner,
                    jobs.c.status.in_((QUEUED, RUNNING)),
                )
                .values(
                    status=FAILED,
                    error_code=CANCELLED,
                    error_message=message,
                    finished_at=time.time(),
                    claim_token=None,
                    lease_expires_at=None,
                )
            ).rowcount
            if cancelled:
                webhooks.enqueue(conn, [job_id], FAILED)
        return bool(cancelled)

    def delete(self, job_id: str, owner: str) -> Job | None:
        """Delete a finished (or cancelled) job: the job as it was, or None if there was none.
        The row stays, marked deleted, so that usage and spend still count its cost (a key must
        not win budget back by deleting videos). Its webhook deliveries already queued stay
        queued; nothing new is subscribed."""
        with self.engine.begin() as conn:
            row = conn.execute(
                jobs.update()
                .where(
                    jobs.c.id == job_id,
                    jobs.c.owner == owner,
                    jobs.c.status.not_in((QUEUED, RUNNING)),
                    LIVE,
                )
                .values(deleted_at=time.time())
                .returning(*jobs.c)
            ).first()
            if row is not None:
                webhooks.forget(conn, [job_id])
        return _job(row) if row else None

    def usage_rows(
        self, owners: list[str] | None, since: float, until: float, expired_before: float
    ) -> list[UsageRow]:
        """One row per job of `owners` (None: everyone's) created in [since, until), deleted
        ones included: they were made and paid for."""
        c = jobs.c
        lapsed = sa.and_(c.status.in_(FINISHED), c.finished_at < expired_before)
        status = sa.case(
            (c.status.in_((QUEUED, RUNNING)), PENDING), (lapsed, EXPIRED), else_=c.status
        )
        query = sa.select(
            c.created_at, c.model, c.mode, status.label("status"), c.cost_ticks, c.output_seconds
        ).where(c.created_at >= since, c.created_at < until)
        if owners is not None:
            query = query.where(c.owner.in_(owners))
        with self.engine.connect() as conn:
            return [UsageRow(*r) for r in conn.execute(query)]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(sa.select(jobs.c.status, sa.func.count()).group_by(jobs.c.status))
            return {status: n for status, n in rows}

    # --- worker side ----------------------------------------------------------------------

    def _claimable(self, now: float) -> sa.ColumnElement[bool]:
        lapsed = sa.and_(jobs.c.status == RUNNING, jobs.c.lease_expires_at < now)
        return sa.and_(sa.or_(jobs.c.status == QUEUED, lapsed), jobs.c.attempts < self.max_attempts)

    def claim(self) -> Claim | None:
        """Atomically take the oldest queued job, or one whose worker's lease lapsed."""
        now = time.time()
        token = str(uuid.uuid4())
        oldest = (
            sa.select(jobs.c.id)
            .where(self._claimable(now))
            .order_by(jobs.c.created_at, jobs.c.id)
            .limit(1)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        claim = (
            jobs.update()
            .where(jobs.c.id == oldest, self._claimable(now))
            .values(
                status=RUNNING,
                claim_token=token,
                lease_expires_at=now + self.lease_ttl,
                attempts=jobs.c.attempts + 1,
                started_at=sa.func.coalesce(jobs.c.started_at, now),
            )
            .returning(*jobs.c)
        )
        with self.engine.begin() as conn:
            row = conn.execute(claim).first()
        return Claim(_job(row), token) if row else None

    def _owned(self, claim: Claim) -> sa.ColumnElement[bool]:
        return sa.and_(
            jobs.c.id == claim.job.id, jobs.c.claim_token == claim.token, jobs.c.status == RUNNING
        )

    def _update_owned(
        self, claim: Claim, event: str | None = None, requeued: bool = False, **values: Any
    ) -> bool:
        """Write `values` only while `claim` still owns the job; False if it does not.
        With `event`, the job's webhook (if any) is queued in the same transaction; `requeued`
        wakes idle workers for it."""
        with self.engine.begin() as conn:
            updated = conn.execute(jobs.update().where(self._owned(claim)).values(**values))
            if updated.rowcount == 1 and event is not None:
                webhooks.enqueue(conn, [claim.job.id], event)
            if updated.rowcount == 1 and requeued:
                notify(conn)
            return updated.rowcount == 1

    def heartbeat(self, claim: Claim, progress: int | None = None) -> bool:
        """Renew the lease (and record progress); False if the job is no longer ours."""
        values: dict[str, Any] = {"lease_expires_at": time.time() + self.lease_ttl}
        if progress is not None:
            values["progress"] = max(0, min(99, progress))
        return self._update_owned(claim, **values)

    def checkpoint(self, claim: Claim, result: dict[str, Any]) -> bool:
        """Record an unfinished job's engine state in its result (renewing the lease), before
        the engine acts on it; False (nothing written) if the job is no longer ours."""
        return self._update_owned(
            claim, result=result, lease_expires_at=time.time() + self.lease_ttl
        )

    def complete(self, claim: Claim, result: dict[str, Any]) -> bool:
        """Mark done; False (and nothing written) if another worker owns the job now."""
        return self._update_owned(
            claim,
            DONE,
            status=DONE,
            progress=100,
            result=result,
            cost_ticks=result.get("cost_in_usd_ticks"),
            output_seconds=result.get("duration_s", result.get("duration")),
            finished_at=time.time(),
            lease_expires_at=None,
        )

    def park(self, claim: Claim) -> bool:
        """Leave the job running with a lease no worker renews and none will see lapse: it
        stays pending until it is cancelled (the `stall` scenario), tying up no worker."""
        return self._update_owned(claim, lease_expires_at=time.time() + PARKED_S)

    def release(self, claim: Claim) -> bool:
        """Give a job back to the queue untouched (a worker shutting down), not counting the try."""
        return self._update_owned(
            claim,
            requeued=True,
            status=QUEUED,
            claim_token=None,
            lease_expires_at=None,
            progress=0,
            attempts=jobs.c.attempts - 1,
        )

    def fail(self, claim: Claim, code: str, message: str) -> bool:
        return self._update_owned(
            claim,
            FAILED,
            status=FAILED,
            error_code=code,
            error_message=message,
            finished_at=time.time(),
            lease_expires_at=None,
        )

    # --- janitor side ---------------------------------------------------------------------

    def fail_exhausted(self, code: str, message: str) -> int:
        """Jobs whose every attempt died with its worker: fail them, never leave them pending."""
        now = time.time()
        with self.engine.begin() as conn:
            rows = conn.execute(
                jobs.update()
                .where(
                    jobs.c.status == RUNNING,
                    jobs.c.lease_expires_at < now,
                    jobs.c.attempts >= self.max_attempts,
                )
                .values(
                    status=FAILED,
                    error_code=code,
                    error_message=message,
                    finished_at=now,
                    lease_expires_at=None,
                )
                .returning(jobs.c.id)
            ).all()
            webhooks.enqueue(conn, [r.id for r in rows], FAILED)
        return len(rows)

    def expire_finished(self, older_than: float) -> list[Job]:
        """Mark finished jobs expired; return those whose files are still there to remove (a
        deleted job's went with it)."""
        with self.engine.begin() as conn:
            rows = conn.execute(
                jobs.update()
                .where(jobs.c.status.in_(FINISHED), jobs.c.finished_at < older_than)
                .values(status=EXPIRED)
                .returning(*jobs.c)
            ).all()
            expired = [r.id for r in rows]
            webhooks.enqueue(conn, expired, EXPIRED)
            webhooks.forget(conn, expired)  # nothing more will happen to these jobs
        return [_job(r) for r in rows if r.deleted_at is None]
