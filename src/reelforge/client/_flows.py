"""The client's logic without I/O, shared by `Client` and `AsyncClient`.

Each operation is a generator that yields what it needs done — a `Call` (an HTTP request, retried
by the client), a `Sleep`, a `Progress` report — and is sent back the result. The sync and the
async client each run these generators with their own HTTP and sleep, so both behave the same.
"""

from __future__ import annotations

import base64
import datetime
import email.utils
import math
import mimetypes
import os
import random
import re
import time
import uuid
from collections.abc import Generator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from reelforge.client.errors import ApiError, ReelforgeError, VideoTimeoutError
from reelforge.client.types import (
    EditOptions,
    ExtendOptions,
    GenerateOptions,
    Model,
    Video,
    VideoPage,
)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
DEFAULT_TIMEOUT = 600.0  # how long generate()/wait() wait for a job, as xai-sdk
# Local files up to this size are sent inline as `data:` URLs; bigger ones are uploaded to the
# Files API first and sent as `file_id` (the server takes uploads up to 50 MiB).
INLINE_LIMIT = 15 * 1024 * 1024
LONG_POLL_S = 30  # one `?wait=` request; the server caps it at 60
PROGRESS_POLL_S = 1  # the window while someone watches progress
FALLBACK_POLL_S = 1.0  # the pause between polls when a server answers `?wait=` at once
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:")


@dataclass
class Call:
    method: str
    path: str
    params: dict[str, Any] | None = None
    json: dict[str, Any] | None = None
    headers: dict[str, str] | None = None
    timeout: float | None = None
    upload: Path | None = None  # a multipart `file` part, reopened on each attempt
    form: dict[str, str] | None = None  # other multipart fields, with `upload`


@dataclass
class Sleep:
    seconds: float


@dataclass
class Progress:
    video: Video


Op = Call | Sleep | Progress
Flow = Generator[Op, Any, Any]


# --- settings -------------------------------------------------------------------------------


def base_url_from(base_url: str | None) -> str:
    """The server's root URL: the argument, `REELFORGE_BASE_URL`, or 127.0.0.1:8000. A trailing
    `/v1` is dropped, so `https://api.x.ai/v1` and `https://api.x.ai` both work."""
    url = (base_url or os.environ.get("REELFORGE_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
    return url[: -len("/v1")] if url.endswith("/v1") else url


def api_key_from(api_key: str | None) -> str | None:
    return api_key or os.environ.get("REELFORGE_API_KEY") or os.environ.get("XAI_API_KEY")


def seconds(value: float | datetime.timedelta | None, default: float) -> float:
    if value is None:
        return default
    if isinstance(value, datetime.timedelta):
        return value.total_seconds()
    return float(value)


# --- HTTP results and retries ---------------------------------------------------------------


def check(response: httpx.Response) -> httpx.Response:
    """Raise `ApiError` for an HTTP error, reading both error shapes clients meet:
    `{"code", "error": "message"}` and `{"error": {"message", "code"}}`."""
    if response.status_code < 400:
        return response
    try:
        body = response.json()
    except ValueError:
        body = None
    code, message = "", ""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            code, message = str(error.get("code") or ""), str(error.get("message") or "")
        else:
            message = str(error or body.get("message") or "")
        code = str(body.get("code") or code)
    message = message or response.text.strip() or response.reason_phrase
    raise ApiError(response.status_code, code or f"http_{response.status_code}", message, body)


def retry_delay(attempt: int, response: httpx.Response | None, max_wait: float) -> float:
    """Seconds to wait before retry number `attempt + 1`: the response's `Retry-After`
    (delta-seconds or an HTTP date) when it has one, else exponential backoff with jitter;
    never more than `max_wait`."""
    header = response.headers.get("retry-after", "").strip() if response is not None else ""
    if header:
        delay = _retry_after(header)
        if delay is not None:
            return min(max(delay, 0.0), max_wait)
    backoff = min(0.5 * 2**attempt, 8.0)
    return min(backoff * (1 + random.random() / 4), max_wait)


def _retry_after(header: str) -> float | None:
    try:
        delay = float(header)
    except ValueError:
        try:
            delay = email.utils.parsedate_to_datetime(header).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return delay if math.isfinite(delay) else None


# --- inputs ---------------------------------------------------------------------------------


def local_path(source: Any) -> Path | None:
    """The local file `source` names (a `Path`, or a `str` with no URL scheme), else None."""
    if isinstance(source, os.PathLike):
        path = Path(source)
    elif isinstance(source, str) and not _URL_SCHEME.match(source):
        path = Path(source).expanduser()
    else:
        return None
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {str(path)!r} (inputs are local files or URLs)")
    return path


def upload_flow(path: Path, purpose: str | None = None) -> Flow:
    """`POST /v1/files`; returns the file's description (`{"id": "file_...", ...}`)."""
    form = {"purpose": purpose} if purpose else None
    response = yield Call("POST", "/v1/files", upload=path, form=form, timeout=600)
    return response.json()


def input_ref(url: Any, file_id: str | None, field: str) -> Flow:
    """The wire object `{"url"}` / `{"file_id"}` for one image or video input, or None.
    A local file becomes a `data:` URL, or an upload when it is over `INLINE_LIMIT`."""
    if url is not None and file_id is not None:
        raise ValueError(f"{field}: set either the URL or the file id, not both")
    if file_id is not None:
        return {"file_id": file_id}
    if url is None:
        return None
    path = local_path(url)
    if path is None:
        return {"url": str(url)}
    if path.stat().st_size > INLINE_LIMIT:
        uploaded = yield from upload_flow(path)
        return {"file_id": uploaded["id"]}
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return {"url": f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode()}"}


# --- creating jobs --------------------------------------------------------------------------

_PLAIN = ("duration", "aspect_ratio", "resolution", "generate_audio", "seed", "user", "webhook_url")


def _check_options(options: Mapping[str, Any], allowed: type, what: str) -> None:
    unknown = sorted(set(options) - set(allowed.__annotations__))
    if unknown:
        raise TypeError(f"{what}() got unexpected keyword argument(s): {', '.join(unknown)}")


def create_flow(endpoint: str, prompt: str, model: str | None, options: Mapping[str, Any]) -> Flow:
    """Resolve inputs, build the REST body and POST it (with an `Idempotency-Key`, so a retried
    create never makes a second job). Returns the request id."""
    o = dict(options)
    body: dict[str, Any] = {"prompt": prompt}
    if model is not None:
        body["model"] = model
    refs = {
        "image": ("image_url", "image_file_id"),
        "last_frame": ("last_frame_url", "last_frame_file_id"),
        "video": ("video_url", "video_file_id"),
    }
    for wire, (url_key, id_key) in refs.items():
        ref = yield from input_ref(o.get(url_key), o.get(id_key), wire)
        if ref is not None:
            body[wire] = ref
    references = [{"file_id": f} for f in o.get("reference_image_file_ids") or ()]
    for i, url in enumerate(o.get("reference_image_urls") or ()):
        references.append((yield from input_ref(url, None, f"reference_images[{i}]")))
    if references:
        body["reference_images"] = references
    keyframes = []
    for i, keyframe in enumerate(o.get("keyframes") or ()):
        if "timestamp" not in keyframe:
            raise ValueError(f"keyframes[{i}]: needs a timestamp (seconds)")
        image = yield from input_ref(
            keyframe.get("image_url"), keyframe.get("image_file_id"), f"keyframes[{i}]"
        )
        if image is None:
            raise ValueError(f"keyframes[{i}]: needs image_url or image_file_id")
        keyframes.append({"image": image, "timestamp_s": float(keyframe["timestamp"])})
    if keyframes:
        body["keyframes"] = keyframes
    if o.get("reference_audios"):
        body["reference_audios"] = [dict(a) for a in o["reference_audios"]]
    body.update({k: o[k] for k in _PLAIN if o.get(k) is not None})
    key = o.get("idempotency_key") or uuid.uuid4().hex
    response = yield Call(
        "POST", f"/v1/videos/{endpoint}", json=body, headers={"Idempotency-Key": key}
    )
    return response.json()["request_id"]


def generate_flow(prompt: str, model: str | None, options: Mapping[str, Any], what: str) -> Flow:
    """A generation, or an edit when a video is given (as xai-sdk's `generate`)."""
    _check_options(options, GenerateOptions, what)
    edit = options.get("video_url") is not None or options.get("video_file_id") is not None
    return (yield from create_flow("edits" if edit else "generations", prompt, model, options))


def _from_video_flow(
    endpoint: str,
    what: str,
    allowed: type,
    prompt: str,
    model: str | None,
    video_url: Any,
    options: Mapping[str, Any],
) -> Flow:
    """An edit or an extension: a job whose input is a video (`video_url` or `video_file_id`)."""
    _check_options(options, allowed, what)
    options = {**options, "video_url": video_url} if video_url is not None else options
    if options.get("video_url") is None and options.get("video_file_id") is None:
        raise ValueError(f"{what} needs video_url or video_file_id")
    return (yield from create_flow(endpoint, prompt, model, options))


def edit_flow(prompt: str, model: str | None, video_url: Any, options: Mapping[str, Any]) -> Flow:
    return _from_video_flow("edits", "edit", EditOptions, prompt, model, video_url, options)


def extend_flow(prompt: str, model: str | None, video_url: Any, options: Mapping[str, Any]) -> Flow:
    return _from_video_flow(
        "extensions", "extend", ExtendOptions, prompt, model, video_url, options
    )


# --- reading jobs ---------------------------------------------------------------------------


def get_flow(request_id: str, video_type: type[Video], client: Any) -> Flow:
    response = yield Call("GET", f"/v1/videos/{request_id}")
    return video_type.from_body(request_id, _json_or_empty(response), client)


def wait_flow(
    request_id: str,
    timeout: float,
    watching: bool,
    video_type: type[Video],
    client: Any,
) -> Flow:
    """Wait for a job with long polls (`GET /v1/videos/{id}?wait=N`, answered as soon as the job
    finishes). While someone watches progress the window is short, so progress shows as it
    moves. A server that answers at once (no long-poll support) is polled once a second.
    Returns the done `Video`; raises the typed error for failed/expired/moderated/timeout."""
    deadline = time.monotonic() + timeout
    window = PROGRESS_POLL_S if watching else client.long_poll
    reported = -1
    queue_position = None
    video = video_type(request_id=request_id, status="pending", _client=client)
    first_look = watching  # a watcher's first look is immediate, so progress shows from the start
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise VideoTimeoutError(video, timeout)
        wait = 0.0 if first_look else round(max(0.1, min(window, remaining)), 1)
        first_look = False
        asked = time.monotonic()
        params = {"wait": f"{wait:g}"} if wait else None
        response = yield Call("GET", f"/v1/videos/{request_id}", params=params, timeout=wait + 30)
        took = time.monotonic() - asked
        previous = video
        video = video_type.from_body(request_id, _json_or_empty(response), client)
        if video.status != "pending":
            if watching and video.status == "done" and reported < 100:
                yield Progress(video)
            return video.raise_for_status()
        moved = video.progress > reported or (
            video.progress == reported and video.queue_position != queue_position
        )
        if watching and moved:
            reported, queue_position = video.progress, video.queue_position
            yield Progress(video)
        unchanged = (video.progress, video.queue_position) == (
            previous.progress,
            previous.queue_position,
        )
        if wait and unchanged and took < wait / 2:
            yield Sleep(min(FALLBACK_POLL_S, max(0.0, deadline - time.monotonic())))


def cancel_flow(request_id: str, video_type: type[Video], client: Any) -> Flow:
    """`POST /v1/videos/{id}/cancel`; returns the job's status after it (failed `cancelled`).
    A job that already finished is a 409 `ApiError`."""
    response = yield Call("POST", f"/v1/videos/{request_id}/cancel")
    body = _json_or_empty(response)
    if "status" not in body:
        response = yield Call("GET", f"/v1/videos/{request_id}")
        body = _json_or_empty(response)
    return video_type.from_body(request_id, body, client)


def list_flow(
    limit: int | None, after: str | None, status: str | None, video_type: type[Video], client: Any
) -> Flow:
    params = {k: v for k, v in {"limit": limit, "after": after, "status": status}.items() if v}
    response = yield Call("GET", "/v1/video-requests", params=params)
    body = response.json()
    videos = [video_type.from_body("", item, client) for item in body.get("data", [])]
    return VideoPage(videos, bool(body.get("has_more")))


def models_flow() -> Flow:
    response = yield Call("GET", "/v1/video-generation-models")
    return [Model.from_body(m) for m in response.json().get("models", [])]


def download_url(base_url: str, video: Video) -> str:
    """The URL to fetch `video` from; a typed error if it has none (failed, expired, ...)."""
    video.raise_for_status()
    if not video.url:
        raise ReelforgeError(f"video {video.request_id} is {video.status}: it has no URL yet")
    return str(httpx.URL(base_url).join(video.url))


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    """A status body; xAI may answer a pending poll with an empty 202."""
    if not response.content.strip():
        return {}
    body = response.json()
    return body if isinstance(body, dict) else {}
