"""The operations every surface calls on jobs: create, read back, list, cancel.

Surfaces (REST, gRPC) only translate wire shapes; every rule lives here or in `core`.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import hmac
import logging
import secrets
import shutil
import time
import uuid
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry

from reelforge.config import Settings
from reelforge.core import logs, metrics
from reelforge.core import scenario as scenarios
from reelforge.core.catalog import Catalog
from reelforge.core.enums import Status
from reelforge.core.errors import ApiError, InputError, invalid
from reelforge.core.pricing import max_cost_ticks
from reelforge.core.spec import InputRef, JobSpec, VideoRequest, build_spec, check_input_video
from reelforge.core.units import whole_number
from reelforge.files import FileStore
from reelforge.jobs import janitor, usage
from reelforge.jobs.cost import job_cost
from reelforge.jobs.keys import KeyLimits, KeyStore
from reelforge.jobs.limits import Admission, LimitExceeded, RateState, take_token
from reelforge.jobs.store import (
    DONE,
    EXPIRED,
    FAILED,
    PENDING,
    QUEUED,
    RUNNING,
    DuplicateKey,
    Job,
    JobStore,
    Webhook,
)
from reelforge.media import previews
from reelforge.media.probe import probe_video, sniff_image
from reelforge.net.data_url import parse_data_url
from reelforge.net.fetch import fetch_bytes
from reelforge.net.policy import FetchPolicy, check_url
from reelforge.storage.base import Storage
from reelforge.storage.local import load_secret

log = logging.getLogger("reelforge.service")

MAX_LIST_LIMIT = 100
# Which API created a job, told by its id: OpenAI-surface ids are `video_` + 30 hex digits
# (36 characters, like the UUIDs of the xAI surface, so every id column fits both).
XAI, OPENAI = "xai", "openai"
OPENAI_ID_PREFIX = "video_"


def surface_of(job_id: str) -> str:
    return OPENAI if job_id.startswith(OPENAI_ID_PREFIX) else XAI


def _new_webhook_secret() -> bytes:
    """A Standard Webhooks secret: `whsec_` + base64 of 32 random bytes."""
    return b"whsec_" + base64.b64encode(secrets.token_bytes(32))


def _new_id(surface: str) -> str:
    return OPENAI_ID_PREFIX + secrets.token_hex(15) if surface == OPENAI else str(uuid.uuid4())


MAX_IDEMPOTENCY_KEY = 255
MAX_WEBHOOK_URL = 2048

# A surface puts a list here for each request; `create` appends the caller's request bucket to
# it, so whichever route created the job can send the x-ratelimit-* headers.
rate_states: ContextVar[list[RateState] | None] = ContextVar("rate_states", default=None)


@dataclass(frozen=True)
class JobView:
    """A job as clients see it, independent of the wire."""

    status: Status
    progress: int
    model: str
    video_url: str = ""
    duration: int = 0
    respect_moderation: bool = True
    cost_in_usd_ticks: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    queue_position: int | None = None  # queued jobs only: 1 = the next one a worker takes
    request_id: str = ""
    created_at: float = 0.0
    thumbnail_url: str = ""  # done with a video: its poster, signed and expiring like the video


@dataclass(frozen=True)
class Page:
    views: list[JobView]
    has_more: bool


class VideoService:
    def __init__(
        self,
        settings: Settings,
        store: JobStore,
        storage: Storage,
        catalog: Catalog,
        files: FileStore,
    ):
        self.settings = settings
        self.store = store
        self.storage = storage
        self.catalog = catalog
        self.fetch_policy = FetchPolicy(allow_private=settings.allow_private_urls)
        self.files = files  # for `file_id` inputs
        self.keys = KeyStore(store.engine)  # managed keys' own limits
        # Called after each new job: wakes this process's idle workers (set by `serve`).
        self.on_new_job: Callable[[], None] = lambda: None
        self.webhook_secret = (
            settings.webhook_secret.encode()
            if settings.webhook_secret
            else load_secret(settings.webhook_secret_file, _new_webhook_secret)
        )
        # Thumbnail URLs are signed with a key derived from the webhook secret: the one secret
        # every process of a deployment already shares, whatever the storage.
        self._thumbnail_key = hmac.new(
            self.webhook_secret, b"reelforge thumbnail urls", hashlib.sha256
        ).digest()

    # --- create ---------------------------------------------------------------------------

    def create(
        self,
        owner: str,
        kind: str,
        request: VideoRequest,
        *,
        webhook_url: str | None = None,
        base_url: str | None = None,
        idempotency_key: str | None = None,
        fingerprint: str = "",
        surface: str = XAI,
        surface_fields: dict[str, Any] | None = None,
        scenario: str | None = None,
        scenario_field: str = scenarios.HEADER,
    ) -> str:
        """Queue a job and return its id.

        `surface` picks the id's form; `surface_fields` are kept with the job for that surface
        to show it again (see JobSpec.surface_fields).

        `webhook_url` (else the server's default) is told when the job finishes; `base_url` is
        where the video URL in that message points. With `idempotency_key`, a repeat of the same
        request (same `fingerprint`) within the key's lifetime returns the first job's id, and
        a different request under that key is a 409.

        `scenario` (the raw header, metadata or body value that `scenario_field` names) is
        honoured only when the server runs with scenarios on, and ignored otherwise.
        """
        limits = self.limits_for(owner)
        self._take_request(owner, limits)
        if idempotency_key is not None:
            self._check_key(idempotency_key)
            if (earlier := self._replay(owner, idempotency_key, fingerprint)) is not None:
                return earlier
        chosen = self._scenario(owner, scenario, scenario_field, idempotency_key, fingerprint)
        spec = build_spec(kind, request, self.catalog)
        spec = dataclasses.replace(
            spec,
            surface_fields=dict(surface_fields or {}),
            scenario=chosen.to_dict() if chosen else None,
        )
        webhook = self._webhook(webhook_url, base_url)
        admission = self._admission(limits, spec)
        job_id = _new_id(surface)
        try:
            spec = self._accept_inputs(owner, job_id, spec)
            key = None
            if idempotency_key is not None:
                key = (idempotency_key, fingerprint, self.settings.idempotency_ttl)
            self.store.add(
                job_id, owner, spec.to_dict(), webhook=webhook, idempotency=key, admission=admission
            )
        except LimitExceeded as exc:
            self.storage.delete_prefix(f"inputs/{job_id}")
            raise refusal(exc) from None
        except DuplicateKey:  # an identical request got there first: answer as it was answered
            self.storage.delete_prefix(f"inputs/{job_id}")
            assert idempotency_key is not None
            earlier = self._replay(owner, idempotency_key, fingerprint)
            if earlier is None:  # taken and gone again in between; vanishingly rare
                raise ApiError(
                    409, "Idempotency-Key: a concurrent request is using this key"
                ) from None
            return earlier
        except BaseException:
            self.storage.delete_prefix(f"inputs/{job_id}")
            raise
        metrics.jobs_created.labels(spec.model, spec.mode).inc()
        logs.tag(job_id=job_id)
        logs.event(log, "job accepted", job_id=job_id, model=spec.model, mode=spec.mode)
        self.on_new_job()
        return job_id

    def _scenario(
        self, owner: str, raw: str | None, where: str, key: str | None, fingerprint: str
    ) -> scenarios.Scenario | None:
        """The request's scenario, or None. `reject` refuses the first `times` attempts of the
        same request (its Idempotency-Key, else its body), counted in the database."""
        if not self.settings.scenarios or raw is None or not raw.strip():
            return None
        chosen = scenarios.parse(raw, where)
        if chosen.name != scenarios.REJECT:
            return chosen
        attempt = self.store.count(owner, f"reject:{'key:' + key if key else fingerprint}")
        if attempt > chosen["times"]:
            return None  # accepted: the job itself is an ordinary one
        status, wait = chosen["status"], chosen["retry_after"]
        what = {429: "too many requests", 500: "internal error", 503: "service unavailable"}
        raise ApiError(
            status,
            f"{what[status]} (scenario 'reject': attempt {attempt} of {chosen['times']} "
            "refused); retry",
            headers={"Retry-After": f"{wait:g}"},
            retryable=True,
        )

    def estimate(self, owner: str, kind: str, request: VideoRequest) -> int:
        """What `create` with this request would charge, in ticks; creates nothing. An edit's
        or extension's input video is read (and probed) to know its size and length."""
        spec = build_spec(kind, request, self.catalog)
        model = self.catalog.models[spec.model]
        if spec.video is None:
            return job_cost(model, spec)
        ref = spec.video
        try:
            if ref.file_id is not None:
                record = self.files.require(owner, ref.file_id, ref.field)
                source: bytes | Path = self.storage.local_path(
                    record.key
                ) or self.storage.read_bytes(record.key)
            elif ref.url and ref.url.startswith("data:"):
                source = parse_data_url(ref.url, ref.field)
            else:
                check_url(ref.url or "", ref.field, self.fetch_policy)
                source = fetch_bytes(ref.url or "", ref.field, self.fetch_policy, "video")
            info = probe_video(source, ref.field)
            if problem := check_input_video(model, spec.mode, info.duration_s):
                raise InputError(ref.field, problem)
        except InputError as exc:
            raise invalid(exc.field, exc.message) from None
        return job_cost(model, spec, info)

    # --- limits ---------------------------------------------------------------------------

    def limits_for(self, owner: str) -> KeyLimits:
        """The owner's limits: a managed key's own, each unset one from the server's defaults."""
        key = self.keys.by_id(owner) if owner.startswith("key_") else None
        own = key.limits if key is not None else KeyLimits()
        s = self.settings
        if own.budget_ticks is None:  # the default budget comes with its default period
            own = dataclasses.replace(
                own, budget_ticks=s.default_budget_ticks, budget_period=s.default_budget_period
            )
        return KeyLimits(
            rpm=own.rpm if own.rpm is not None else s.default_rpm,
            max_pending=own.max_pending if own.max_pending is not None else s.default_max_pending,
            budget_ticks=own.budget_ticks,
            budget_period=own.budget_period or "month",
        )

    def _take_request(self, owner: str, limits: KeyLimits) -> None:
        """Count one create request against the key's per-minute bucket (429 when empty)."""
        if limits.rpm is None:
            return
        try:
            state = take_token(self.store.engine, owner, limits.rpm)
        except LimitExceeded as exc:
            raise refusal(exc) from None
        if (states := rate_states.get()) is not None:
            states.append(state)

    def _admission(self, limits: KeyLimits, spec: JobSpec) -> Admission:
        now = time.time()
        monthly = limits.budget_period == "month"
        model = self.catalog.get(spec.model)
        return Admission(
            reserve_ticks=max_cost_ticks(model, spec) if model is not None else 0,
            max_pending=limits.max_pending,
            budget_ticks=limits.budget_ticks,
            budget_since=usage.month_start(now) if monthly else 0.0,
            budget_retry_s=usage.next_month_start(now) - now if monthly else 86400.0,
            max_queued=self.settings.max_queued,
        )

    # --- metrics --------------------------------------------------------------------------

    def metrics_registry(self) -> CollectorRegistry:
        """What /metrics (or --metrics-port) serves: every process's metrics, plus the queue
        as the database has it at scrape time."""

        def queue() -> list:
            counts = self.store.counts()
            depth = {state: counts.get(state, 0) for state in (QUEUED, RUNNING)}
            return [metrics.gauge("reelforge_queue_depth", "Jobs by queue state", "state", depth)]

        return metrics.scrape_registry(metrics.Snapshot(queue))

    # --- usage ----------------------------------------------------------------------------

    def usage(
        self,
        owners: list[str] | None,
        *,
        since: str | None = None,
        until: str | None = None,
        group_by: str | None = None,
    ) -> dict:
        """Usage of `owners`' jobs (None: every job) created in [since, until); default: this
        month so far. Times are unix seconds or ISO dates/times (see `usage.parse_instant`)."""
        return usage.usage_report(
            self.store, owners, since, until, group_by, retention=self.settings.retention
        )

    def _check_key(self, key: str) -> None:
        if not key or len(key) > MAX_IDEMPOTENCY_KEY or not key.isprintable():
            raise invalid(
                "Idempotency-Key",
                f"must be 1 to {MAX_IDEMPOTENCY_KEY} printable characters",
            )

    def _replay(self, owner: str, key: str, fingerprint: str) -> str | None:
        record = self.store.idempotency_record(owner, key, self.settings.idempotency_ttl)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise ApiError(
                409,
                f"Idempotency-Key '{key}' was already used with a different request; "
                "use a new key for a new request",
            )
        return record.job_id

    def _webhook(self, url: str | None, base_url: str | None) -> Webhook | None:
        """The job's webhook: the request's (checked like an input URL) or the server's."""
        base = self.settings.public_url or base_url or ""
        if url is None:
            if not self.settings.webhook_url:
                return None
            return Webhook(self.settings.webhook_url, base, trusted=True)
        field = "webhook_url"
        if len(url) > MAX_WEBHOOK_URL:
            raise invalid(field, f"is longer than {MAX_WEBHOOK_URL} characters")
        if not url.lower().startswith(("http://", "https://")):
            raise invalid(field, "must be an http or https URL")
        try:
            check_url(url, field, self.fetch_policy)
        except InputError as exc:
            raise invalid(exc.field, exc.message) from None
        return Webhook(url, base)

    def _accept_inputs(self, owner: str, job_id: str, spec: JobSpec) -> JobSpec:
        """Check every input now; keep data URLs and files as stored blobs of the job's own."""
        stored: dict[int, InputRef] = {}
        for n, ref in enumerate(spec.inputs()):
            stored[id(ref)] = self._accept_input(
                owner, job_id, n, ref, spec, is_video=ref is spec.video
            )

        def swap(ref: InputRef | None) -> InputRef | None:
            return stored[id(ref)] if ref is not None else None

        return dataclasses.replace(
            spec,
            image=swap(spec.image),
            video=swap(spec.video),
            last_frame=swap(spec.last_frame),
            reference_images=[swap(r) for r in spec.reference_images],
            keyframes=[dataclasses.replace(k, image=swap(k.image)) for k in spec.keyframes],
        )

    def _accept_input(
        self, owner: str, job_id: str, n: int, ref: InputRef, spec: JobSpec, *, is_video: bool
    ) -> InputRef:
        key = f"inputs/{job_id}/{n}"
        limit = self.fetch_policy.max_video_bytes if is_video else self.fetch_policy.max_image_bytes
        try:
            if ref.file_id is not None or ref.blob is not None:
                self._copy_file(owner, ref, key, limit)
                copied = self.storage.local_path(key) or self.storage.read_bytes(key)
                self._check_media(copied, ref.field, spec, is_video=is_video)
                return InputRef(blob=key, field=ref.field)
            if not ref.url:
                raise invalid(ref.field, "needs a url")
            if not ref.url.startswith("data:"):
                check_url(ref.url, ref.field, self.fetch_policy)
                return ref
            data = parse_data_url(ref.url, ref.field)
            if len(data) > limit:
                raise InputError(
                    ref.field, f"is larger than the {limit // (1024 * 1024)} MiB limit"
                )
            self._check_media(data, ref.field, spec, is_video=is_video)
            self.storage.put_bytes(key, data)
        except InputError as exc:
            raise invalid(exc.field, exc.message) from None
        return InputRef(blob=key, field=ref.field)

    def _copy_file(self, owner: str, ref: InputRef, key: str, limit: int) -> None:
        """The caller's file, as the job's own blob: deleting or expiring the file later cannot
        touch a pending job, and the janitor removes the blob with the job. A `blob` ref (a
        surface passing another of the owner's jobs' video, already checked) is copied as is."""
        if ref.blob is not None:
            self.storage.copy(ref.blob, key)
            return
        assert ref.file_id is not None
        record = self.files.require(owner, ref.file_id, ref.field)
        if record.bytes > limit:
            raise InputError(ref.field, f"is larger than the {limit // (1024 * 1024)} MiB limit")
        try:
            self.storage.copy(record.key, key)
        except FileNotFoundError:  # deleted between the lookup and the copy
            raise ApiError(
                404, f"{ref.field}: no file with id '{ref.file_id}'", field=ref.field
            ) from None

    def _check_media(
        self, source: bytes | Path, field: str, spec: JobSpec, *, is_video: bool
    ) -> None:
        """`source` is a usable image, or a video whose length this mode accepts."""
        if not is_video:
            sniff_image(source if isinstance(source, bytes) else source.read_bytes(), field)
            return
        info = probe_video(source, field)
        model = self.catalog.get(spec.model)
        if model is not None and (problem := check_input_video(model, spec.mode, info.duration_s)):
            raise InputError(field, problem)

    # --- read -----------------------------------------------------------------------------

    def _job(self, owner: str, job_id: str) -> Job:
        job = self.store.get(job_id, owner)
        if job is None:
            raise ApiError(404, f"no video request with id '{job_id}'")
        return job

    def view(self, owner: str, job_id: str, base_url: str, *, poll: bool = False) -> JobView:
        """The job as clients see it. `poll`: a client's poll (not a long poll's re-read or an
        event), which the `flaky-poll` scenario may answer with a 503."""
        job = self._job(owner, job_id)
        if poll:
            self.count_poll(job)
        view = self._view_of(job, base_url)
        if view.status == PENDING and (position := self.store.queue_position(job)) is not None:
            view = dataclasses.replace(view, queue_position=position)
        return view

    def job_states(self, job_ids: list[str]) -> dict[str, tuple[str, int]]:
        """(wire status, progress) of each existing job, for watchers; no owner check (the
        caller already read each job as its owner)."""
        return self.store.states(job_ids)

    def count_poll(self, job: Job) -> None:
        """A poll of `job`: with the `flaky-poll` scenario every k-th one is a 503."""
        chosen = scenarios.Scenario.from_dict(job.spec.get("scenario"))
        if chosen is None or chosen.name != scenarios.FLAKY_POLL:
            return
        n = self.store.count(job.owner, f"poll:{job.id}")
        if n % chosen["every"] == 0:
            raise ApiError(
                503,
                f"service unavailable (scenario 'flaky-poll': poll {n}); poll again",
                headers={"Retry-After": "0"},
                retryable=True,
            )

    def forget_scenario_counts(self) -> None:
        """Start every `reject` and `flaky-poll` count again (a test suite's reset)."""
        self.store.purge_counts(older_than=float("inf"))

    def retention_of(self, job: Job) -> float:
        """How long after it finished the job reads expired (the `expire` scenario's time)."""
        chosen = scenarios.Scenario.from_dict(job.spec.get("scenario"))
        if chosen is not None and chosen.name == scenarios.EXPIRE:
            return chosen["after"]
        return self.settings.retention

    def _status_of(self, job: Job) -> str:
        """The wire status: a finished job past its retention reads expired even before the
        janitor has swept it."""
        if job.status in (DONE, FAILED) and job.finished_at + self.retention_of(job) < time.time():
            return EXPIRED
        return job.status if job.status in (DONE, FAILED, EXPIRED) else PENDING

    def _view_of(self, job: Job, base_url: str, status: str | None = None) -> JobView:
        status = status or self._status_of(job)
        common = {"model": job.model, "request_id": job.id, "created_at": job.created_at}
        if status == EXPIRED:
            return JobView(status=Status.EXPIRED, progress=job.progress, **common)
        if status == FAILED:
            return JobView(
                status=Status.FAILED,
                progress=0,
                error_code=job.error_code,
                error_message=job.error_message,
                **common,
            )
        if status != DONE:
            return JobView(status=Status.PENDING, progress=job.progress, **common)
        result = job.result or {}
        url = ""  # withheld by moderation: done, with no video and so no URL (the contract)
        if result.get("video_key"):
            expires = int(job.finished_at + self.settings.url_ttl)
            url = self.storage.signed_url(
                self.settings.public_url or base_url, result["video_key"], expires
            )
        return JobView(
            status=Status.DONE,
            progress=100,
            video_url=url,
            thumbnail_url=self._thumbnail_url(job, base_url) if url else "",
            duration=result["duration"],
            respect_moderation=result.get("respect_moderation", True),
            cost_in_usd_ticks=result["cost_in_usd_ticks"],
            **common,
        )

    def list(
        self,
        owner: str,
        base_url: str,
        *,
        limit: int = 20,
        after: str | None = None,
        status: str | None = None,
    ) -> Page:
        """The owner's xAI-surface jobs, newest first; `after` is the last request_id of the
        previous page."""
        if not 1 <= limit <= MAX_LIST_LIMIT:
            raise invalid("limit", f"must be between 1 and {MAX_LIST_LIMIT}, got {limit}")
        if status is not None and status not in (PENDING, DONE, FAILED, EXPIRED):
            raise invalid(
                "status", f"must be one of pending, done, failed, expired, got {status!r}"
            )
        cursor = None
        if after is not None:
            cursor = self.store.get(after, owner)
            if cursor is None:
                raise invalid("after", f"no video request with id '{after}'")
        jobs = self.store.list(
            owner,
            limit=limit + 1,
            after=cursor,
            status=status,
            expired_before=time.time() - self.settings.retention,
            id_prefix=(OPENAI_ID_PREFIX, False),
        )
        return Page([self._view_of(j, base_url) for j in jobs[:limit]], len(jobs) > limit)

    # --- previews -------------------------------------------------------------------------

    def _thumbnail_signature(self, job_id: str, expires: int) -> str:
        message = f"{job_id}\n{expires}".encode()
        return hmac.new(self._thumbnail_key, message, hashlib.sha256).hexdigest()

    def _thumbnail_url(self, job: Job, base_url: str) -> str:
        expires = int(job.finished_at + self.settings.url_ttl)  # as the video's URL
        base = (self.settings.public_url or base_url).rstrip("/")
        signature = self._thumbnail_signature(job.id, expires)
        return f"{base}/v1/videos/{job.id}/thumbnail?expires={expires}&signature={signature}"

    def signed_thumbnail(self, job_id: str, expires: str | None, signature: str | None) -> str:
        """The storage key of a job's thumbnail, for a URL `_thumbnail_url` signed; 403 when
        the signature is wrong or has lapsed, 404 once the video is gone."""
        when = whole_number(expires or "")
        valid = (
            when is not None
            and bool(signature)
            and hmac.compare_digest(self._thumbnail_signature(job_id, when), signature or "")
        )
        if not valid or (when or 0) < time.time():
            raise ApiError(403, "this URL is invalid or has expired")
        job = self.store.get(job_id)
        key = (job.result or {}).get("video_key") if job is not None else None
        if job is None or not key or self._status_of(job) != DONE:
            raise ApiError(404, "this video is no longer available")
        return self.preview(job.id, key, previews.THUMBNAIL)

    def preview(self, job_id: str, video_key: str, name: str) -> str:
        """The storage key of a still kept beside the video (`previews.THUMBNAIL` or
        `previews.SPRITESHEET`), made from it the first time it is asked for."""
        key = previews.key(job_id, name)
        if self.storage.exists(key):
            return key
        make = previews.MAKERS[name]
        local = self.storage.local_path(video_key)
        if local is not None:
            self.storage.put_bytes(key, make(str(local)))
            return key
        tmp = self.settings.tmp_dir / f"preview-{uuid.uuid4()}.mp4"  # remote storage: copy it here
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            body = self.storage.open(video_key)
            try:
                with open(tmp, "wb") as out:
                    shutil.copyfileobj(body, out)
            finally:
                body.close()
            self.storage.put_bytes(key, make(str(tmp)))
        finally:
            tmp.unlink(missing_ok=True)
        return key

    # --- cancel ---------------------------------------------------------------------------

    def cancel(self, owner: str, job_id: str, base_url: str) -> JobView:
        """Stop a pending job: it reads failed with code `cancelled`. 409 once it finished."""
        cancelled = self.store.cancel(job_id, owner, "the request was cancelled by the client")
        job = self._job(owner, job_id)
        if not cancelled:
            raise ApiError(
                409,
                f"video request '{job_id}' has already finished "
                f"(status: {self._status_of(job)}); only pending requests can be cancelled",
            )
        metrics.jobs_cancelled.labels(job.model, job.mode).inc()
        logs.event(log, "job cancelled", job_id=job_id, model=job.model, mode=job.mode)
        return self._view_of(job, base_url)

    # --- delete ---------------------------------------------------------------------------

    def delete(self, owner: str, job_id: str) -> Job:
        """Cancel the job if it is pending, then remove it and its files; the job as it was."""
        self.store.cancel(job_id, owner, "the request was deleted by the client")
        job = self.store.delete(job_id, owner)
        if job is None:
            raise ApiError(404, f"no video request with id '{job_id}'")
        janitor.remove_files(self.storage, job)
        return job

    # --- webhooks -------------------------------------------------------------------------

    def webhook_view(self, job_id: str, event: str, base_url: str) -> JobView | None:
        """The job as it read when `event` happened (done stays done if it expired since)."""
        job = self.store.get(job_id)
        return None if job is None else self._view_of(job, base_url, status=event)


def refusal(exc: LimitExceeded) -> ApiError:
    """A limit's refusal as the contract's 429, with when to retry and the request bucket."""
    metrics.limit_refusals.labels(exc.kind).inc()
    logs.event(log, "refused by a limit", limit=exc.kind, retry_after=exc.retry_after)
    headers = {"Retry-After": str(exc.retry_after)}
    if exc.rate is not None:
        headers.update(exc.rate.headers())
    return ApiError(429, exc.message, headers=headers)
