"""REST wire shapes (pydantic) and their translation into the wire-neutral `VideoRequest`.

Unknown fields are ignored, as xAI does. Aliases: `image_url` for `image` (top level) and for
`url` inside an image object; `seconds` for `duration`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt

from reelforge.core.errors import invalid
from reelforge.core.spec import InputRef, Keyframe, VideoRequest


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore")


class ImageUrlIn(_Wire):
    url: str | None = None
    image_url: str | None = None
    file_id: str | None = None

    def ref(self, field: str) -> InputRef:
        url = self.url or self.image_url
        if (url is None) == (self.file_id is None):
            raise invalid(field, "set exactly one of url and file_id")
        return InputRef(
            url=url, file_id=self.file_id, field=f"{field}.url" if url else f"{field}.file_id"
        )


class VideoUrlIn(_Wire):
    url: str | None = None
    file_id: str | None = None

    def ref(self, field: str) -> InputRef:
        if (self.url is None) == (self.file_id is None):
            raise invalid(field, "set exactly one of url and file_id")
        return InputRef(
            url=self.url,
            file_id=self.file_id,
            field=f"{field}.url" if self.url else f"{field}.file_id",
        )


class AudioIn(_Wire):
    voice_id: str | None = None
    url: str | None = None


class KeyframeIn(_Wire):
    image: ImageUrlIn
    timestamp_s: float


Duration = StrictInt | str | float | None


class _Common(_Wire):
    model: str | None = "grok-imagine-video"
    prompt: str = ""
    seed: StrictInt | None = None
    user: str | None = None
    webhook_url: str | None = None  # Reelforge's own: told when the job finishes (not in xAI's)
    # Reelforge's own (`serve --scenarios`): the Reelforge-Scenario header's value, for clients
    # that cannot set headers; the header wins when both are sent.
    reelforge_scenario: str | None = None


class GenerateIn(_Common):
    duration: Duration = None
    seconds: Duration = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    image: ImageUrlIn | None = None
    image_url: str | None = None
    last_frame: ImageUrlIn | None = None
    reference_images: list[ImageUrlIn] | None = Field(default=None)
    reference_audios: list[AudioIn] | None = None
    keyframes: list[KeyframeIn] | None = None
    generate_audio: StrictBool | None = None

    def to_request(self) -> VideoRequest:
        if self.image is not None and self.image_url is not None:
            raise invalid("image", "send either image or image_url, not both")
        image = self.image.ref("image") if self.image else None
        if self.image_url is not None:
            image = InputRef(url=self.image_url, field="image_url")
        voices = []
        for i, audio in enumerate(self.reference_audios or []):
            if not audio.voice_id:
                raise invalid(f"reference_audios[{i}]", "only voice_id references are supported")
            voices.append(audio.voice_id)
        return VideoRequest(
            model=self.model,
            prompt=self.prompt,
            duration=_duration(self.duration, self.seconds),
            aspect_ratio=self.aspect_ratio,
            resolution=self.resolution,
            image=image,
            last_frame=self.last_frame.ref("last_frame") if self.last_frame else None,
            reference_images=[
                r.ref(f"reference_images[{i}]") for i, r in enumerate(self.reference_images or [])
            ],
            keyframes=[
                Keyframe(k.image.ref(f"keyframes[{i}].image"), k.timestamp_s)
                for i, k in enumerate(self.keyframes or [])
            ],
            voices=voices,
            generate_audio=self.generate_audio,
            seed=self.seed,
        )


class EditIn(_Common):
    video: VideoUrlIn
    # Not accepted for edits; kept here only so that sending them is a clear 400.
    duration: Duration = None
    aspect_ratio: str | None = None
    resolution: str | None = None
    generate_audio: StrictBool | None = None

    def to_request(self) -> VideoRequest:
        return VideoRequest(
            model=self.model,
            prompt=self.prompt,
            duration=self.duration,
            aspect_ratio=self.aspect_ratio,
            resolution=self.resolution,
            video=self.video.ref("video"),
            generate_audio=self.generate_audio,
            seed=self.seed,
        )


class ExtendIn(EditIn):
    seconds: Duration = None

    def to_request(self) -> VideoRequest:
        request = super().to_request()
        request.duration = _duration(self.duration, self.seconds)
        return request


def _duration(duration: Any, seconds: Any) -> Any:
    return duration if duration is not None else seconds


# --- responses (for /openapi.json) ------------------------------------------------------------


class JobsByStatus(BaseModel):
    pending: int
    done: int
    failed: int
    expired: int


class UsageTotals(BaseModel):
    jobs: JobsByStatus
    seconds: float = Field(description="seconds of video generated by done jobs")
    cost_in_usd_ticks: int = Field(description="1 tick = 1e-10 USD; the sum of the jobs' usage")
    cost_in_usd: float


class UsageGroup(UsageTotals):
    group: str = Field(description="the day (YYYY-MM-DD, UTC), model or mode")


class UsageOut(BaseModel):
    object: str = "usage"
    from_: int = Field(alias="from", description="unix seconds, inclusive")
    to: int = Field(description="unix seconds, exclusive")
    total: UsageTotals
    group_by: str | None = None
    data: list[UsageGroup] | None = None


class ErrorOut(BaseModel):
    """Every refusal: an HTTP error status with this body."""

    code: str = Field(description="e.g. invalid-argument, unauthenticated, resource-exhausted")
    error: str = Field(description="what is wrong, naming the field")


class CreatedOut(BaseModel):
    request_id: str


class PendingOut(BaseModel):
    """202 while a job is queued or rendering."""

    status: Literal["pending"]
    progress: int = Field(ge=0, le=100)
    queue_position: int | None = Field(None, ge=1, description="Reelforge's own: while queued")


class VideoOut(BaseModel):
    url: str = Field(description="empty when moderation withheld the video")
    duration: int
    respect_moderation: bool


class UsageCost(BaseModel):
    cost_in_usd_ticks: int


class JobErrorOut(BaseModel):
    code: str
    message: str


class DoneOut(BaseModel):
    status: Literal["done"]
    progress: Literal[100]
    model: str
    video: VideoOut
    usage: UsageCost


class FailedOut(BaseModel):
    status: Literal["failed"]
    model: str
    error: JobErrorOut


class ExpiredOut(BaseModel):
    status: Literal["expired"]
    model: str


FinishedOut = DoneOut | FailedOut | ExpiredOut


class VideoItemOut(BaseModel):
    request_id: str
    status: Literal["pending", "done", "failed", "expired"]
    model: str
    created_at: int
    progress: int
    video: VideoOut | None = None
    usage: UsageCost | None = None
    error: JobErrorOut | None = None


class VideoListOut(BaseModel):
    object: Literal["list"]
    data: list[VideoItemOut]
    has_more: bool


class ModelOut(BaseModel):
    id: str
    object: Literal["model"]
    owned_by: str
    aliases: list[str]
    modes: list[str]
    resolutions: list[str]
    aspect_ratios: list[str]
    durations: dict[str, list[float]]
    max_reference_images: int
    max_keyframes: int
    max_reference_audios: int


class ModelListOut(BaseModel):
    models: list[ModelOut]


class FileOut(BaseModel):
    id: str
    object: Literal["file"]
    bytes: int
    created_at: int
    filename: str | None
    purpose: str | None
    expires_at: int | None = None


class FileListOut(BaseModel):
    object: Literal["list"]
    data: list[FileOut]
    has_more: bool


class FileDeletedOut(BaseModel):
    id: str
    object: Literal["file"]
    deleted: Literal[True]


class OpenAIErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class OpenAIErrorOut(BaseModel):
    """The OpenAI Videos API's refusals (its own routes): `{"error": {...}}`."""

    error: OpenAIErrorBody
