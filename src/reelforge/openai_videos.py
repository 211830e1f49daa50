"""The OpenAI Videos API's rules (`POST /v1/videos` and the rest), on top of VideoService.

OpenAI-surface jobs are ordinary jobs with `video_` ids; what only this API shows (the size,
seconds and model name as asked, `remixed_from_video_id`) is kept in the job's
`spec.surface_fields`, so the job table is the same for both surfaces. Sizes and lengths are the
catalog's (`sizes`, `seconds`, `durations` of each model); remix, edit and extend are the edit and
extension modes with their limits. The wire shapes are api/openai's.
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reelforge.core.catalog import Model
from reelforge.core.errors import ApiError, InputError, invalid
from reelforge.core.scenario import HEADER
from reelforge.core.sizes import capped_size
from reelforge.core.spec import EDIT, EXTENSION, GENERATION, InputRef, VideoRequest, resolve_model
from reelforge.jobs.store import DONE, EXPIRED, QUEUED, RUNNING, Job
from reelforge.media import previews
from reelforge.media.probe import probe_video
from reelforge.service import OPENAI, OPENAI_ID_PREFIX, VideoService, surface_of

DEFAULT_MODEL = "sora-2"
DEFAULT_SIZE = "720x1280"
DEFAULT_SECONDS = 4
DEFAULT_LIST_LIMIT = 20
MAX_LIST_LIMIT = 100
POLL_AFTER_MS = 500  # the `openai-poll-after-ms` hint on pending retrieves
CONTENT_URL_TTL_S = 300  # remote storage: /content redirects to a URL valid this long

# variant -> (file name beside the video, media type); "video" is the MP4 itself.
VARIANTS = {
    "video": ("", "video/mp4"),
    "thumbnail": (previews.THUMBNAIL, "image/webp"),
    "spritesheet": (previews.SPRITESHEET, "image/jpeg"),
}


class OpenAIError(ApiError):
    """An ApiError with the `code` OpenAI's error object carries."""

    def __init__(self, status: int, message: str, *, field: str | None = None, code: str):
        super().__init__(status, message, field=field)
        self.openai_code = code


@dataclass
class Order:
    """A create, edit or extend request with its wire form translated (values not yet checked).

    `seconds` is the output length (create) or the added length (extend). An edit or extension
    names its video by `video_id` or sends `video_upload` (the file's bytes).
    """

    prompt: str = ""
    model: str | None = None
    seconds: int | None = None
    size: str | None = None
    reference: InputRef | None = None
    video_id: str | None = None
    video_upload: bytes | None = None
    seed: int | None = None
    generate_audio: bool | None = None
    negative_prompt: str | None = None
    webhook_url: str | None = None
    scenario: str | None = None  # the raw Reelforge-Scenario value (honoured with --scenarios)
    scenario_field: str = HEADER  # where it came from, for error messages

    def fingerprint(self, action: str) -> str:
        """What makes two requests "the same" (the `reject` scenario counts attempts by it)."""
        fields = dataclasses.asdict(self)
        if self.video_upload is not None:
            fields["video_upload"] = hashlib.sha256(self.video_upload).hexdigest()
        canonical = json.dumps({"action": action, **fields}, sort_keys=True, default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def extensions(self) -> dict[str, Any]:
        """The `extra_body` keys a VideoRequest takes as they are."""
        return {
            "seed": self.seed,
            "generate_audio": self.generate_audio,
            "negative_prompt": self.negative_prompt,
        }


@dataclass(frozen=True)
class Video:
    """OpenAI's `Video` object: all 13 keys, the nullable ones None."""

    id: str
    object: str
    model: str
    status: str  # queued | in_progress | completed | failed
    progress: int
    created_at: int
    completed_at: int | None
    expires_at: int | None
    prompt: str | None
    remixed_from_video_id: str | None
    seconds: str
    size: str
    error: dict[str, str] | None
    # Reelforge's own, once completed: what the job cost, from the catalog's prices (as on
    # the xAI surface). Not one of the 13.
    usage: dict[str, int] | None = None

    @property
    def pending(self) -> bool:
        return self.status in ("queued", "in_progress")


@dataclass(frozen=True)
class Page:
    videos: list[Video]
    has_more: bool


@dataclass(frozen=True)
class Content:
    """Where a variant's bytes are: a local file, or (remote storage) a signed URL."""

    media_type: str
    path: Path | None = None
    url: str | None = None


@dataclass(frozen=True)
class _Source:
    """The video an edit, extension or remix starts from, and what is known of it."""

    ref: InputRef
    model: str
    model_name: str  # as the client named it
    width: int
    height: int
    duration_s: float


WITHHELD = "moderation_blocked"


class OpenAIVideos:
    def __init__(self, service: VideoService):
        self.service = service
        self.store = service.store
        self.storage = service.storage
        self.catalog = service.catalog
        self.settings = service.settings

    # --- create, remix, edit, extend ------------------------------------------------------

    def create(self, owner: str, order: Order, base_url: str) -> Video:
        name = order.model or DEFAULT_MODEL
        model = resolve_model(self.catalog, name)
        mode = "image-to-video" if order.reference is not None else "text-to-video"
        size = order.size or DEFAULT_SIZE
        table = model.size_table(mode)
        if size not in table:
            raise invalid(
                "size", f"'{size}' is not offered by '{model.id}'; sizes: {sorted(table)}"
            )
        aspect_ratio, resolution = table[size]
        seconds = self._seconds(model, mode, order.seconds, DEFAULT_SECONDS)
        request = VideoRequest(
            model=model.id,
            prompt=order.prompt,
            duration=seconds,
            aspect_ratio=aspect_ratio,
            resolution=resolution,
            image=order.reference,
            **order.extensions(),
        )
        fields = {"model": name, "size": size, "seconds": str(seconds)}
        return self._queue(owner, GENERATION, request, fields, order, base_url)

    def remix(self, owner: str, video_id: str, order: Order, base_url: str) -> Video:
        """A new video: the completed `video_id` edited by `order.prompt` (same model and
        length); the order's other fields are not read, bar its scenario."""
        source = self._source_job(owner, video_id, "video_id")
        return self._edit(owner, order, source, base_url, remixed_from=video_id)

    def edit(self, owner: str, order: Order, base_url: str) -> Video:
        return self._edit(owner, order, self._source(owner, order), base_url)

    def _edit(
        self,
        owner: str,
        order: Order,
        source: _Source,
        base_url: str,
        remixed_from: str | None = None,
    ) -> Video:
        model = resolve_model(self.catalog, order.model or source.model)
        request = VideoRequest(
            model=model.id,
            prompt=order.prompt,
            video=source.ref,
            **order.extensions(),
        )
        fields = {
            "model": order.model or source.model_name,
            "size": self._output_size(model, "edit", source),
            "seconds": str(round(source.duration_s)),
        }
        if remixed_from is not None:
            fields["remixed_from_video_id"] = remixed_from
        return self._queue(owner, EDIT, request, fields, order, base_url)

    def extend(self, owner: str, order: Order, base_url: str) -> Video:
        """The video followed by `seconds` more; the job's `seconds` is the stitched total."""
        source = self._source(owner, order)
        model = resolve_model(self.catalog, order.model or source.model)
        if order.seconds is None:
            raise invalid("seconds", "is required: the length of the added segment")
        added = self._seconds(model, "extension", order.seconds, None)
        request = VideoRequest(
            model=model.id,
            prompt=order.prompt,
            duration=added,
            video=source.ref,
            **order.extensions(),
        )
        fields = {
            "model": order.model or source.model_name,
            "size": self._output_size(model, "extension", source),
            "seconds": str(round(source.duration_s + added)),
        }
        return self._queue(owner, EXTENSION, request, fields, order, base_url)

    def _queue(
        self,
        owner: str,
        kind: str,
        request: VideoRequest,
        fields: dict[str, str],
        order: Order,
        base_url: str,
    ) -> Video:
        job_id = self.service.create(
            owner,
            kind,
            request,
            webhook_url=order.webhook_url,
            base_url=base_url,
            surface=OPENAI,
            surface_fields=fields,
            scenario=order.scenario,
            scenario_field=order.scenario_field,
            fingerprint=order.fingerprint(kind) if order.scenario else "",
        )
        # Read back from the store so the answer is what a retrieve says; the job is queued
        # whatever happens here (and a 5xx on this surface's POSTs says not to retry).
        return self._video(self._job(owner, job_id, "video_id"))

    def _seconds(self, model: Model, mode: str, value: int | None, default: int | None) -> int:
        seconds = default if value is None else value
        assert seconds is not None
        if model.seconds and seconds not in model.seconds:
            raise invalid(
                "seconds",
                f"{seconds} is not offered by '{model.id}'; allowed: {list(model.seconds)}",
            )
        low, high = model.durations.get(mode, (0, 0))
        if not low <= seconds <= high:
            raise invalid(
                "seconds",
                f"must be between {low:g} and {high:g} for {mode} on '{model.id}', got {seconds}",
            )
        return seconds

    def _output_size(self, model: Model, mode: str, source: _Source) -> str:
        """What an edit or extension renders: the source's size, capped as the renderer caps."""
        width, height = capped_size(source.width, source.height, model.resolutions_for(mode)[-1])
        return f"{width}x{height}"

    def _source(self, owner: str, order: Order) -> _Source:
        """An edit's or extension's video: one of the owner's completed videos, or an upload."""
        if (order.video_id is None) == (order.video_upload is None):
            raise invalid("video", "send exactly one of a video file and {id}")
        if order.video_id is not None:
            return self._source_job(owner, order.video_id, "video.id")
        data = order.video_upload or b""
        try:
            info = probe_video(data, "video")
        except InputError as exc:
            raise invalid(exc.field, exc.message) from None
        url = "data:;base64," + base64.b64encode(data).decode()
        name = order.model or DEFAULT_MODEL
        return _Source(
            InputRef(url=url, field="video"), name, name, info.width, info.height, info.duration_s
        )

    def _source_job(self, owner: str, video_id: str, param: str) -> _Source:
        job = self._job(owner, video_id, param)
        self._check_completed(job, param)
        result = job.result or {}
        return _Source(
            InputRef(blob=result["video_key"], field=param),
            job.spec["model"],
            self._fields(job).get("model", job.spec["model"]),
            result["width"],
            result["height"],
            result.get("duration_s", result["duration"]),
        )

    # --- read -----------------------------------------------------------------------------

    def get(self, owner: str, video_id: str) -> Video:
        """A client's retrieve (the `flaky-poll` scenario may answer it with a 503)."""
        job = self._job(owner, video_id, "video_id")
        self.service.count_poll(job)
        return self._video(job)

    def find(self, video_id: str) -> Video | None:
        """Any key's video, or None (for webhooks, which belong to no request)."""
        job = self.store.get(video_id)
        return None if job is None else self._video(job)

    def list(self, owner: str, *, after: str | None, limit: int, order: str) -> Page:
        """The owner's OpenAI-surface videos, newest first (`order="asc"`: oldest first)."""
        if not 0 <= limit <= MAX_LIST_LIMIT:
            raise invalid("limit", f"must be between 0 and {MAX_LIST_LIMIT}, got {limit}")
        if order not in ("asc", "desc"):
            raise invalid("order", f"must be 'asc' or 'desc', got {order!r}")
        cursor = None
        if after is not None:
            cursor = self.store.get(after, owner)
            if cursor is None or surface_of(after) != OPENAI:
                raise invalid("after", f"no video with id '{after}'")
        jobs = self.store.list(
            owner,
            limit=limit + 1,
            after=cursor,
            id_prefix=(OPENAI_ID_PREFIX, True),
            oldest_first=order == "asc",
        )
        return Page([self._video(j) for j in jobs[:limit]], len(jobs) > limit)

    def delete(self, owner: str, video_id: str) -> None:
        """Stop the job if it runs, then remove it and every file it has."""
        self._job(owner, video_id, "video_id")
        self.service.delete(owner, video_id)

    def content(self, owner: str, video_id: str, variant: str) -> Content:
        if variant not in VARIANTS:
            raise invalid("variant", f"must be one of {list(VARIANTS)}, got {variant!r}")
        job = self._job(owner, video_id, "video_id")
        self._check_completed(job, "video_id")
        key = (job.result or {})["video_key"]
        name, media_type = VARIANTS[variant]
        if name:
            key = self.service.preview(job.id, key, name)
        path = self.storage.local_path(key)
        if path is not None:
            if not path.is_file():  # swept a moment ago
                raise OpenAIError(404, f"video_id: video '{video_id}' has expired", code="expired")
            return Content(media_type, path=path)
        expires = int(time.time() + CONTENT_URL_TTL_S)
        base = self.settings.public_url or ""
        return Content(media_type, url=self.storage.signed_url(base, key, expires))

    # --- jobs as OpenAI shows them --------------------------------------------------------

    def _job(self, owner: str, video_id: str, param: str) -> Job:
        job = self.store.get(video_id, owner) if surface_of(video_id) == OPENAI else None
        if job is None:
            raise OpenAIError(
                404, f"{param}: no video with id '{video_id}'", field=param, code="not_found"
            )
        return job

    def _fields(self, job: Job) -> dict[str, Any]:
        return job.spec.get("surface_fields") or {}

    def _expired(self, job: Job) -> bool:
        if job.status == EXPIRED:
            return True
        lapsed = job.finished_at is not None and job.finished_at + self.service.retention_of(job)
        return bool(lapsed) and lapsed < time.time()

    def _check_completed(self, job: Job, param: str) -> None:
        """Only a completed video has content: 409 while pending, 404 once expired, 403 when
        moderation withheld it, 400 when it failed."""
        video = self._video(job)
        if video.pending:
            raise OpenAIError(
                409,
                f"{param}: video '{job.id}' is not completed yet (status: {video.status})",
                field=param,
                code="video_not_ready",
            )
        if self._expired(job):
            raise OpenAIError(
                404, f"{param}: video '{job.id}' has expired", field=param, code="expired"
            )
        if video.error is not None and video.error["code"] == WITHHELD:
            raise OpenAIError(
                403,
                f"{param}: video '{job.id}' was withheld by content moderation",
                field=param,
                code=WITHHELD,
            )
        if video.status == "failed":
            raise OpenAIError(
                400,
                f"{param}: video '{job.id}' failed; it has no content",
                field=param,
                code="video_failed",
            )

    def _video(self, job: Job) -> Video:
        fields = self._fields(job)
        result = job.result or {}
        withheld = result.get("respect_moderation") is False
        error = None
        if job.error_code:
            error = {"code": job.error_code, "message": job.error_message or ""}
        elif withheld:
            error = {"code": WITHHELD, "message": "the video was withheld by content moderation"}
        if job.status == QUEUED:
            status = "queued"
        elif job.status == RUNNING:
            status = "in_progress"
        else:  # done, failed, or either of them since expired
            status = "failed" if error else "completed"
        done = status == "completed" or (job.status in (DONE, EXPIRED) and "duration" in result)
        finished = job.finished_at
        return Video(
            id=job.id,
            object="video",
            model=fields.get("model", job.model),
            status=status,
            progress=100 if status == "completed" else job.progress,
            created_at=int(job.created_at),
            completed_at=int(finished) if finished is not None else None,
            expires_at=int(finished + self.service.retention_of(job))
            if finished is not None
            else None,
            prompt=job.spec.get("prompt"),
            remixed_from_video_id=fields.get("remixed_from_video_id"),
            seconds=str(result["duration"]) if done else fields.get("seconds", ""),
            size=fields.get("size", ""),
            error=error,
            usage={"cost_in_usd_ticks": result["cost_in_usd_ticks"]}
            if status == "completed"
            else None,
        )
