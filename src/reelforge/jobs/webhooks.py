"""Webhooks: tell a URL when a job finishes (done, failed, cancelled) and when it expires.

A job's webhook URL is a row beside the job (`reelforge_webhooks`), written with it. Each terminal
transition the store makes inserts a delivery row (`reelforge_webhook_deliveries`, one per job and
event) in the same transaction, so no event is lost to a crash and none is sent twice by design.
The API process sends them in the background (`WebhookDispatcher`): claimed with a lease like jobs,
several at once, each within a short timeout, retried with exponential backoff. A slow or dead
receiver therefore never holds up a worker, a job's status or another delivery.

Each POST carries what the surface that created the job says (`body_for`), signed by the
Standard Webhooks scheme (https://www.standardwebhooks.com, what OpenAI signs with):
`webhook-id`, `webhook-timestamp` and `webhook-signature: v1,<base64 HMAC-SHA256 of
f"{id}.{timestamp}.{body}">`, keyed by the secret (a `whsec_` secret's base64-decoded rest, any
other secret's own bytes). xAI-surface deliveries also carry the deprecated Reelforge headers:
`Reelforge-Webhook-Signature: v1=<hex HMAC-SHA256(secret, f"{timestamp}.{body}")>`,
`Reelforge-Webhook-Timestamp` and `Reelforge-Webhook-Id`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from reelforge.core import metrics
from reelforge.core.errors import InputError
from reelforge.net.client import apost
from reelforge.net.policy import FetchPolicy

log = logging.getLogger("reelforge.webhooks")

PENDING, SENT, DEAD = "pending", "sent", "dead"
USER_AGENT = "Reelforge-Webhook/1.0"
POLL_S = 0.2  # how often the dispatcher looks for due deliveries

metadata = sa.MetaData()

subscriptions = sa.Table(
    "reelforge_webhooks",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),  # for the video URL in the body
    sa.Column("trusted", sa.Boolean, nullable=False),  # the operator's default URL
)

deliveries = sa.Table(
    "reelforge_webhook_deliveries",
    metadata,
    sa.Column("job_id", sa.String(36), primary_key=True),
    sa.Column("event", sa.String(16), primary_key=True),  # done | failed | expired
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("base_url", sa.Text, nullable=False),
    sa.Column("trusted", sa.Boolean, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("next_attempt_at", sa.Float, nullable=False),
    sa.Column("lease_expires_at", sa.Float),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("finished_at", sa.Float),
    sa.Column("last_error", sa.Text),
    sa.Index("ix_reelforge_webhook_deliveries_due", "state", "next_attempt_at"),
)


# --- written by the job store, inside its own transactions -------------------------------------


def subscribe(conn: Connection, job_id: str, url: str, base_url: str, trusted: bool) -> None:
    conn.execute(
        subscriptions.insert().values(job_id=job_id, url=url, base_url=base_url, trusted=trusted)
    )


def enqueue(conn: Connection, job_ids: Sequence[str], event: str) -> None:
    """A delivery of `event` for each of `job_ids` that has a webhook."""
    if not job_ids:
        return
    now = time.time()
    columns = [
        "job_id",
        "event",
        "url",
        "base_url",
        "trusted",
        "state",
        "attempts",
        "next_attempt_at",
        "created_at",
    ]
    s = subscriptions.c
    for start in range(0, len(job_ids), 500):
        chunk = list(job_ids[start : start + 500])
        source = sa.select(
            s.job_id,
            sa.literal(event, sa.String),
            s.url,
            s.base_url,
            s.trusted,
            sa.literal(PENDING, sa.String),
            sa.literal(0, sa.Integer),
            sa.literal(now, sa.Float),
            sa.literal(now, sa.Float),
        ).where(s.job_id.in_(chunk))
        conn.execute(deliveries.insert().from_select(columns, source))


def forget(conn: Connection, job_ids: Sequence[str]) -> None:
    """Drop the subscriptions of jobs that can send nothing more (expired)."""
    for start in range(0, len(job_ids), 500):
        chunk = list(job_ids[start : start + 500])
        conn.execute(subscriptions.delete().where(subscriptions.c.job_id.in_(chunk)))


# --- the delivery queue ------------------------------------------------------------------------


@dataclass(frozen=True)
class Delivery:
    job_id: str
    event: str
    url: str
    base_url: str
    trusted: bool
    attempts: int
    created_at: float = 0.0  # when the event happened


def _delivery(row: sa.Row) -> Delivery:
    m = row._mapping
    return Delivery(**{f: m[f] for f in Delivery.__dataclass_fields__})


def _key(d: Delivery) -> sa.ColumnElement[bool]:
    return sa.and_(deliveries.c.job_id == d.job_id, deliveries.c.event == d.event)


class DeliveryQueue:
    def __init__(self, engine: Engine):
        self.engine = engine

    def claim_due(self, limit: int, lease_s: float) -> list[Delivery]:
        """Take up to `limit` due deliveries for `lease_s` seconds (safe across processes)."""
        now = time.time()
        c = deliveries.c
        due = sa.and_(
            c.state == PENDING,
            c.next_attempt_at <= now,
            sa.or_(c.lease_expires_at.is_(None), c.lease_expires_at < now),
        )
        claimed: list[Delivery] = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                sa.select(deliveries).where(due).order_by(c.next_attempt_at).limit(limit)
            ).all()
            for row in rows:
                d = _delivery(row)
                took = conn.execute(
                    deliveries.update().where(_key(d), due).values(lease_expires_at=now + lease_s)
                )
                if took.rowcount == 1:
                    claimed.append(d)
        return claimed

    def sent(self, d: Delivery) -> None:
        self._finish(d, SENT, None)

    def failed(self, d: Delivery, error: str, retry_in: float | None) -> None:
        """Record a failed attempt: try again in `retry_in` seconds, or give up when None."""
        if retry_in is None:
            self._finish(d, DEAD, error)
            return
        with self.engine.begin() as conn:
            conn.execute(
                deliveries.update()
                .where(_key(d))
                .values(
                    attempts=d.attempts + 1,
                    next_attempt_at=time.time() + retry_in,
                    lease_expires_at=None,
                    last_error=error[:1000],
                )
            )

    def _finish(self, d: Delivery, state: str, error: str | None) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                deliveries.update()
                .where(_key(d))
                .values(
                    state=state,
                    attempts=d.attempts + 1,
                    finished_at=time.time(),
                    lease_expires_at=None,
                    last_error=error[:1000] if error else None,
                )
            )

    def get(self, job_id: str, event: str) -> dict[str, Any] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(deliveries).where(
                    deliveries.c.job_id == job_id, deliveries.c.event == event
                )
            ).first()
        return dict(row._mapping) if row else None

    def purge(self, older_than: float) -> int:
        """Forget deliveries that finished (sent or given up) before `older_than`."""
        with self.engine.begin() as conn:
            return conn.execute(
                deliveries.delete().where(
                    deliveries.c.state != PENDING, deliveries.c.finished_at < older_than
                )
            ).rowcount


# --- signing and sending -----------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One delivery's body, its Standard Webhooks id, and whether the deprecated Reelforge
    headers go with it."""

    body: dict[str, Any]
    msg_id: str
    legacy: bool = False


# `body_for` returns this when an event means nothing to the job's surface (OpenAI has no
# expiry event): the delivery is recorded as sent, with nothing sent.
NOTHING = Message({}, "")


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """`v1=` + hex HMAC-SHA256 of `f"{timestamp}.{body}"`: the deprecated Reelforge header."""
    mac = hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def standard_key(secret: bytes) -> bytes:
    """The HMAC key of a Standard Webhooks secret: `whsec_<base64>` decoded, else the bytes."""
    if secret.startswith(b"whsec_"):
        try:
            return base64.b64decode(secret[6:], validate=True)
        except (binascii.Error, ValueError):
            pass
    return secret


def standard_signature(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """`v1,` + base64 HMAC-SHA256 of `f"{msg_id}.{timestamp}.{body}"` (Standard Webhooks)."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


def message_id(d: Delivery) -> str:
    """The same for every attempt at one delivery, so receivers can drop repeats."""
    return "evt_" + hashlib.sha256(f"{d.job_id}:{d.event}".encode()).hexdigest()[:32]


def retry_delay(attempts_made: int, max_attempts: int, backoff: float) -> float | None:
    """Seconds before the next try after `attempts_made` failures; None once they are used up."""
    if attempts_made >= max_attempts:
        return None
    return backoff * 2 ** (attempts_made - 1)


# A Message, or a plain body (sent with the Reelforge headers too), or None: the job is gone.
BodyFor = Callable[[Delivery], Message | dict[str, Any] | None]


class WebhookDispatcher:
    """Sends due deliveries from the API process, `concurrency` at once, never waiting on one."""

    def __init__(
        self,
        queue: DeliveryQueue,
        body_for: BodyFor,
        secret: bytes,
        *,
        allow_private: bool,
        attempts: int,
        backoff: float,
        timeout: float,
        concurrency: int,
    ):
        self.queue = queue
        self.body_for = body_for
        self.secret = secret
        self.allow_private = allow_private
        self.attempts = max(1, attempts)
        self.backoff = backoff
        self.timeout = timeout
        self.concurrency = max(1, concurrency)
        self._in_flight: set[asyncio.Task] = set()

    async def run(self) -> None:
        try:
            while True:
                free = self.concurrency - len(self._in_flight)
                if free > 0:
                    try:
                        due = await asyncio.to_thread(self.queue.claim_due, free, self.timeout + 30)
                    except Exception:  # a transient DB error must not end deliveries
                        log.exception("could not read due webhook deliveries")
                        due = []
                    for d in due:
                        task = asyncio.create_task(self.deliver(d))
                        self._in_flight.add(task)
                        task.add_done_callback(self._in_flight.discard)
                    if len(due) == free:
                        await asyncio.sleep(0)  # more may be due: look again at once
                        continue
                await asyncio.sleep(POLL_S)
        finally:
            for task in list(self._in_flight):
                task.cancel()  # their leases lapse; another pass (or process) sends them

    async def deliver(self, d: Delivery) -> bool:
        """One attempt at `d`, its outcome recorded; True when the receiver took it."""
        error = await self._attempt(d)
        try:
            if error is None:
                await asyncio.to_thread(self.queue.sent, d)
                metrics.webhook_deliveries.labels(d.event, "sent").inc()
                metrics.webhook_lag.observe(max(0.0, time.time() - d.created_at))
            else:
                delay = retry_delay(d.attempts + 1, self.attempts, self.backoff)
                outcome = "gave_up" if delay is None else "retry"
                metrics.webhook_deliveries.labels(d.event, outcome).inc()
                log.info(
                    "webhook %s of job %s: %s (%s)",
                    d.event,
                    d.job_id,
                    error,
                    "giving up" if delay is None else f"retrying in {delay:g} s",
                )
                await asyncio.to_thread(self.queue.failed, d, error, delay)
        except Exception:
            log.exception("could not record the webhook delivery of job %s", d.job_id)
        return error is None

    async def _attempt(self, d: Delivery) -> str | None:
        """None on a 2xx; otherwise why not."""
        try:
            body = await asyncio.to_thread(self.body_for, d)
        except Exception as exc:
            return f"could not build the body ({type(exc).__name__})"
        if body is None:
            return "the job no longer exists"
        if body is NOTHING:
            return None
        message = body if isinstance(body, Message) else Message(body, message_id(d), True)
        payload = json.dumps(message.body, separators=(",", ":")).encode()
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": message.msg_id,
            "webhook-timestamp": timestamp,
            "webhook-signature": standard_signature(
                standard_key(self.secret), message.msg_id, timestamp, payload
            ),
        }
        if message.legacy:  # deprecated; kept for one release
            headers["Reelforge-Webhook-Id"] = f"{d.job_id}:{d.event}"
            headers["Reelforge-Webhook-Timestamp"] = timestamp
            headers["Reelforge-Webhook-Signature"] = signature(self.secret, timestamp, payload)
        policy = FetchPolicy(allow_private=self.allow_private or d.trusted)
        try:
            status = await apost(d.url, payload, headers, policy, self.timeout, "webhook_url")
        except InputError as exc:
            return str(exc)
        except TimeoutError:
            return f"no answer within {self.timeout:g} s"
        except Exception as exc:  # connection refused, reset, TLS, ...
            return f"could not deliver ({type(exc).__name__})"
        return None if 200 <= status < 300 else f"receiver answered HTTP {status}"
