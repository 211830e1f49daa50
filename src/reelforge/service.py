"""The operations every surface calls: create a job, read it back, list models.

Surfaces (REST now, gRPC later) only translate wire shapes; every rule lives here or in `core`.
"""

from __future__ import annotations

import dataclasses
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from reelforge.config import Settings
from reelforge.core.catalog import Catalog
from reelforge.core.errors import ApiError, invalid
from reelforge.core.spec import InputRef, JobSpec, VideoRequest, build_spec, check_input_video
from reelforge.files import FileStore
from reelforge.jobs.store import DONE, EXPIRED, FAILED, JobStore
from reelforge.media.fetch import (
    FetchPolicy,
    InputError,
    check_url,
    parse_data_url,
    probe_video,
    sniff_image,
)
from reelforge.storage.local import LocalStorage


@dataclass(frozen=True)
class JobView:
    """A job as clients see it, independent of the wire."""

    status: str  # pending | done | failed | expired
    progress: int
    model: str
    video_url: str = ""
    duration: int = 0
    respect_moderation: bool = True
    cost_in_usd_ticks: int | None = None
    error_code: str | None = None
    error_message: str | None = None


class VideoService:
    def __init__(
        self, settings: Settings, store: JobStore, storage: LocalStorage, catalog: Catalog
    ):
        self.settings = settings
        self.store = store
        self.storage = storage
        self.catalog = catalog
        self.fetch_policy = FetchPolicy(allow_private=settings.allow_private_urls)
        self.files = FileStore(store.engine, storage)

    # --- create ---------------------------------------------------------------------------

    def create(self, owner: str, kind: str, request: VideoRequest) -> str:
        spec = build_spec(kind, request, self.catalog)
        job_id = str(uuid.uuid4())
        try:
            spec = self._accept_inputs(owner, job_id, spec)
        except BaseException:
            self.storage.delete_prefix(f"inputs/{job_id}")
            raise
        self.store.add(job_id, owner, spec.to_dict())
        return job_id

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
            if ref.file_id is not None:
                self._copy_file(owner, ref, key, limit)
                self._check_media(self.storage.path(key), ref.field, spec, is_video=is_video)
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
        touch a pending job, and the janitor removes the blob with the job."""
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

    def view(self, owner: str, job_id: str, base_url: str) -> JobView:
        job = self.store.get(job_id, owner)
        if job is None:
            raise ApiError(404, f"no video request with id '{job_id}'")
        status = job.status
        if status in (DONE, FAILED) and job.finished_at + self.settings.retention < time.time():
            status = EXPIRED  # the janitor has not swept it yet; it reads expired all the same
        if status == EXPIRED:
            return JobView(status="expired", progress=job.progress, model=job.model)
        if status == FAILED:
            return JobView(
                status="failed",
                progress=0,
                model=job.model,
                error_code=job.error_code,
                error_message=job.error_message,
            )
        if status != DONE:
            return JobView(status="pending", progress=job.progress, model=job.model)
        result = job.result or {}
        expires = int(job.finished_at + self.settings.url_ttl)
        url = self.storage.signed_url(
            self.settings.public_url or base_url, result["video_key"], expires
        )
        return JobView(
            status="done",
            progress=100,
            model=job.model,
            video_url=url,
            duration=result["duration"],
            cost_in_usd_ticks=result["cost_in_usd_ticks"],
        )
