"""What the client returns (`Video`, `VideoPage`, `Model`) and the shapes it takes as options."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from reelforge.client.errors import (
    VideoExpiredError,
    VideoFailedError,
    VideoModeratedError,
)

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

USD_PER_TICK = 1e-10

Status = Literal["pending", "done", "failed", "expired"]
# A local file (a `Path`, or a `str` that is not a URL) or a URL (`http(s)://...`, `data:...`).
Source = str | os.PathLike[str]


class Keyframe(TypedDict, total=False):
    """A pinned mid-video frame, as in xai-sdk: `{"image_url": ..., "timestamp": 2.0}` (or
    `image_file_id` instead of `image_url`). `image_url` may be a local path."""

    image_url: Source
    image_file_id: str
    timestamp: float


class ReferenceAudio(TypedDict):
    """A preset voice, as in xai-sdk: `{"voice_id": "eve"}`."""

    voice_id: str


class CreateOptions(TypedDict, total=False):
    """Options every create call takes."""

    seed: int
    user: str
    webhook_url: str
    idempotency_key: str  # sent as `Idempotency-Key`; a fresh one per call when not given


class EditOptions(CreateOptions, total=False):
    video_url: Source
    video_file_id: str


class ExtendOptions(EditOptions, total=False):
    duration: int


class GenerateOptions(ExtendOptions, total=False):
    """The xai-sdk `video.generate` parameters (REST names in brackets where they differ).
    With `video_url`/`video_file_id` the request is an edit, as in xai-sdk."""

    image_url: Source  # [image]
    image_file_id: str
    last_frame_url: Source  # [last_frame]
    last_frame_file_id: str
    keyframes: Sequence[Keyframe]
    reference_image_urls: Sequence[Source]  # [reference_images]
    reference_image_file_ids: Sequence[str]
    reference_audios: Sequence[ReferenceAudio]
    aspect_ratio: str
    resolution: str
    generate_audio: bool


@dataclass
class Video:
    """One job's status. `done` videos have `url`; `download(path)` saves it."""

    request_id: str
    status: Status
    progress: int = 0
    model: str | None = None
    url: str | None = None
    duration: int | None = None
    respect_moderation: bool | None = None
    cost_in_usd_ticks: int | None = None
    error_code: str | None = None
    error_message: str | None = None
    queue_position: int | None = None
    created_at: int | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    _client: Any = field(default=None, repr=False, compare=False)

    @classmethod
    def from_body(cls, request_id: str, body: dict[str, Any], client: Any = None) -> Video:
        """Parse a status body (`GET /v1/videos/{id}` or a list item); an empty body is pending."""
        video = body.get("video") or {}
        error = body.get("error") or {}
        usage = body.get("usage") or {}
        status = body.get("status") or "pending"
        return cls(
            request_id=body.get("request_id") or request_id,
            status=status,
            progress=int(body.get("progress") or (100 if status == "done" else 0)),
            model=body.get("model") or None,
            url=video.get("url") or None,
            duration=video.get("duration"),
            respect_moderation=video.get("respect_moderation"),
            cost_in_usd_ticks=usage.get("cost_in_usd_ticks"),
            error_code=error.get("code") if isinstance(error, dict) else None,
            error_message=error.get("message") if isinstance(error, dict) else str(error),
            queue_position=body.get("queue_position"),
            created_at=body.get("created_at"),
            raw=body,
            _client=client,
        )

    @property
    def cost_usd(self) -> float | None:
        return None if self.cost_in_usd_ticks is None else self.cost_in_usd_ticks * USD_PER_TICK

    def raise_for_status(self) -> Video:
        """Raise the typed error for a failed, expired or moderated video; else return self."""
        if self.status == "failed":
            raise VideoFailedError(self)
        if self.status == "expired":
            raise VideoExpiredError(self)
        if self.status == "done" and self.respect_moderation is False:
            raise VideoModeratedError(self)
        return self

    def download(self, path: str | os.PathLike[str]) -> Path:
        """Save the video to `path` (written to `path.part`, then renamed); returns the path."""
        return self._client._download(self, path)


class AsyncVideo(Video):
    """A `Video` from `AsyncClient`: `await video.download(path)`."""

    async def download(self, path: str | os.PathLike[str]) -> Path:  # type: ignore[override]
        return await self._client._download(self, path)


@dataclass
class VideoPage:
    """One page of `GET /v1/video-requests`, newest first; `next_after` is the next `after`."""

    data: list[Video]
    has_more: bool

    def __iter__(self) -> Iterator[Video]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    @property
    def next_after(self) -> str | None:
        return self.data[-1].request_id if self.has_more and self.data else None


@dataclass
class Model:
    """A video model from `GET /v1/video-generation-models`."""

    id: str
    aliases: list[str] = field(default_factory=list)
    modes: list[str] = field(default_factory=list)
    resolutions: list[str] = field(default_factory=list)
    aspect_ratios: list[str] = field(default_factory=list)
    durations: dict[str, list[int]] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_body(cls, body: dict[str, Any]) -> Model:
        return cls(
            id=body.get("id", ""),
            aliases=list(body.get("aliases") or []),
            modes=list(body.get("modes") or []),
            resolutions=list(body.get("resolutions") or []),
            aspect_ratios=list(body.get("aspect_ratios") or []),
            durations=dict(body.get("durations") or {}),
            raw=body,
        )
