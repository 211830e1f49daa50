"""A job's spec as the xAI REST request the upstream expects.

Public URLs go as they are (the upstream fetches them). Stored inputs (uploads, data URLs,
file ids) go inline as data URLs, within the upstream's request size, or the job fails saying so.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

from reelforge.core.enums import Mode
from reelforge.core.errors import INVALID_ARGUMENT, InputError, JobError
from reelforge.core.spec import InputRef, JobSpec
from reelforge.media.probe import sniff_image

_IMAGE_TYPES = {"png": "image/png", "jpeg": "image/jpeg", "webp": "image/webp"}


class _Inline:
    """Turns input refs into `{url}` objects, counting the bytes sent inline."""

    def __init__(self, read: Callable[[InputRef], bytes], limit: int):
        self.read = read
        self.limit = limit
        self.sent = 0

    def __call__(self, ref: InputRef, *, video: bool = False) -> dict[str, str]:
        if not ref.blob:
            return {"url": ref.url or ""}
        data = self.read(ref)
        try:
            mime = "video/mp4" if video else _IMAGE_TYPES[sniff_image(data, ref.field)]
        except InputError as exc:
            raise JobError(INVALID_ARGUMENT, str(exc)) from None
        url = f"data:{mime};base64,{base64.b64encode(data).decode()}"
        self.sent += len(url)
        if self.sent > self.limit:
            raise JobError(
                INVALID_ARGUMENT,
                f"{ref.field}: stored inputs sent inline come to over the upstream's "
                f"{self.limit // (1024 * 1024)} MiB request limit; pass a public URL instead",
            )
        return {"url": url}


def request_body(
    spec: JobSpec, upstream_model: str, read: Callable[[InputRef], bytes], limit: int
) -> tuple[str, dict[str, Any]]:
    """(endpoint under /videos/, JSON body) for `spec`, in the contract's canonical shapes."""
    inline = _Inline(read, limit)
    body: dict[str, Any] = {"model": upstream_model, "prompt": spec.prompt}
    if spec.mode in (Mode.EDIT, Mode.EXTENSION):
        assert spec.video is not None
        body["video"] = inline(spec.video, video=True)
        if spec.mode == Mode.EDIT:  # (over gRPC an edit arrives as a generation with a video)
            return "edits", body
        body["duration"] = int(spec.duration_s or 0)
        return "extensions", body
    body["duration"] = int(spec.duration_s or 0)
    body["resolution"] = spec.resolution
    if spec.aspect_ratio is not None:  # None: the upstream follows the image
        body["aspect_ratio"] = spec.aspect_ratio
    if spec.image is not None:
        body["image"] = inline(spec.image)
    if spec.last_frame is not None:
        body["last_frame"] = inline(spec.last_frame)
    if spec.reference_images:
        body["reference_images"] = [inline(r) for r in spec.reference_images]
    if spec.keyframes:
        body["keyframes"] = [
            {"image": inline(k.image), "timestamp_s": k.timestamp_s} for k in spec.keyframes
        ]
    if spec.voices:
        body["reference_audios"] = [{"voice_id": v} for v in spec.voices]
    if not spec.generate_audio:  # the default is audio on; say so only when it is off
        body["generate_audio"] = False
    return "generations", body
