"""What the client raises: HTTP refusals, transport failures, and jobs that did not give a video."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reelforge.client.types import Video


class ReelforgeError(Exception):
    """Base of every error the client raises on purpose."""


class ApiError(ReelforgeError):
    """The server refused a request: HTTP `status` with its `{"code", "error"}` body."""

    def __init__(self, status: int, code: str, message: str, body: object = None):
        super().__init__(f"HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.body = body


class ApiConnectionError(ReelforgeError):
    """The server could not be reached (after the retries)."""


class VideoError(ReelforgeError):
    """A job that was accepted but gave no usable video; `video` is its last status."""

    def __init__(self, message: str, video: Video):
        super().__init__(message)
        self.video = video
        self.request_id = video.request_id


class VideoFailedError(VideoError):
    """`status: failed`, with the job's error `code` (e.g. `invalid_argument`, `cancelled`)."""

    def __init__(self, video: Video):
        self.code = video.error_code or "unknown"
        self.message = video.error_message or "video generation failed with no error details"
        super().__init__(f"video {video.request_id} failed [{self.code}]: {self.message}", video)


class VideoExpiredError(VideoError):
    """`status: expired`: the job finished too long ago and its video is gone."""

    def __init__(self, video: Video):
        super().__init__(f"video {video.request_id} has expired", video)


class VideoModeratedError(VideoError):
    """`status: done` with `respect_moderation: false`: the video was withheld (no URL)."""

    def __init__(self, video: Video):
        super().__init__(f"video {video.request_id} was withheld by moderation", video)


class VideoTimeoutError(VideoError, TimeoutError):
    """Still pending when the wait ran out; the job itself keeps running."""

    def __init__(self, video: Video, timeout: float):
        self.timeout = timeout
        super().__init__(
            f"video {video.request_id} still pending ({video.progress}%) after {timeout:g} s",
            video,
        )
